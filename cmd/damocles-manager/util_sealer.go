package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

var utilSealerCmd = &cli.Command{
	Name:  "sealer",
	Usage: "sectors being sealed and sealed",
	Subcommands: []*cli.Command{
		{
			Name:        "sectors",
			Usage:       "sector states",
			Subcommands: []*cli.Command{utilSectorsListCmd, utilSectorsStateCmd},
		},
		utilProvingCmd,
	},
}

var utilSectorsListCmd = &cli.Command{
	Name:  "list",
	Usage: "list the online sectors (being sealed), or the offline ones",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "offline", Usage: "list finalized and aborted sectors instead"},
		&cli.StringFlag{Name: "miner", Usage: "only this miner's sectors (t01000, f01000 or 1000)"},
	},
	Action: func(c *cli.Context) error {
		var miner abi.ActorID
		if s := c.String("miner"); s != "" {
			m, err := parseActor(s)
			if err != nil {
				return err
			}
			miner = m
		}
		which := rpc.SectorsOnline
		if c.Bool("offline") {
			which = rpc.SectorsOffline
		}
		api, closer, err := dialDaemon(c)
		if err != nil {
			return err
		}
		defer closer()
		list, err := api.SectorsList(c.Context, which, miner)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "Sector\tProof\tState\tWorker\tWorkerState\tFailure\tUpdated")
		for _, s := range list {
			failure := s.Worker.FailureLevel
			if s.AbortReason != "" {
				failure = "aborted: " + s.AbortReason
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", proofs.SectorName(s.ID), s.ProofType, s.State,
				s.Worker.Instance, s.Worker.State, failure, time.Unix(s.UpdatedAt, 0).Format(time.DateTime))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Printf("%d %s sectors\n", len(list), which)
		return nil
	},
}

var utilSectorsStateCmd = &cli.Command{
	Name:      "state",
	Usage:     "print the manager's record of a sector",
	ArgsUsage: "<miner> <number>",
	Action: func(c *cli.Context) error {
		id, err := sectorIDArgs(c)
		if err != nil {
			return err
		}
		api, closer, err := dialDaemon(c)
		if err != nil {
			return err
		}
		defer closer()
		rec, err := api.SectorState(c.Context, id)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	},
}

// sectorIDArgs reads the <miner> <number> arguments.
func sectorIDArgs(c *cli.Context) (abi.SectorID, error) {
	if c.NArg() != 2 {
		return abi.SectorID{}, fmt.Errorf("want 2 arguments, <miner> <number>; got %d", c.NArg())
	}
	miner, err := parseActor(c.Args().Get(0))
	if err != nil {
		return abi.SectorID{}, err
	}
	n, err := strconv.ParseUint(c.Args().Get(1), 10, 64)
	if err != nil {
		return abi.SectorID{}, fmt.Errorf("sector number %q: %w", c.Args().Get(1), err)
	}
	return abi.SectorID{Miner: miner, Number: abi.SectorNumber(n)}, nil
}

// parseActor reads a miner as t01000, f01000 or 1000.
func parseActor(s string) (abi.ActorID, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return abi.ActorID(n), nil
	}
	a, err := address.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("miner %q: want an actor ID like t01000 or 1000", s)
	}
	id, err := address.IDFromAddress(a)
	if err != nil {
		return 0, fmt.Errorf("miner %q: not an ID address", s)
	}
	return abi.ActorID(id), nil
}
