package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/filecoin-project/go-address"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/demo"
)

var demoCmd = &cli.Command{
	Name:  "demo",
	Usage: "seal sectors on a devnet with a manager and a worker, and watch them proven",
	Description: "Runs a devnet in this process, and damocles-manager (daemon run --poster, SQLite) and damocles-worker\n" +
		"(found next to this executable) on 127.0.0.1, in a temporary directory. It seals --sectors 2KiB sectors,\n" +
		"shows each deadline holding sectors (waiting, proving, submitted, proven, missed) and ends, once every\n" +
		"such deadline was proven after the last sector's activation, with the line proven=P missed=M faulty=F.\n" +
		"It exits 0 only when nothing was missed and no sector is faulty. Ctrl-C stops every process it started.",
	Flags: []cli.Flag{
		&cli.IntFlag{Name: "sectors", Value: demo.SectorsDefault, Usage: "number of 2KiB sectors to seal and prove"},
		&cli.DurationFlag{Name: "block-time", Value: demo.BlockTimeDefault, Usage: "time between the devnet's epochs"},
		&cli.StringFlag{Name: "home", Usage: "run in this new or empty directory and keep it (default: a temporary directory, removed at the end)"},
		&cli.BoolFlag{Name: "keep-running", Usage: "after the summary, leave the cluster up and print how to reach it, until Ctrl-C"},
		&cli.DurationFlag{Name: "timeout", Value: demo.TimeoutDefault, Usage: "give up when the summary is not reached by then"},
		&cli.IntFlag{Name: "threads", Value: demo.ThreadsDefault, Usage: "the worker's sealing threads"},
		&cli.BoolFlag{Name: "real-time", Usage: "wait for every epoch at --block-time; by default, once the sectors are on chain, the devnet mines ahead through stretches where no deadline holding sectors is due"},
		&cli.BoolFlag{Name: "quiet", Usage: "print one line per change instead of redrawing the view (always so when stdout is not a terminal)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("demo takes no arguments, got %q", c.Args().Slice())
		}
		// Devnet addresses are testnet addresses: t01000, not f01000.
		address.CurrentNetwork = address.Testnet
		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()
		sum, err := demo.Run(ctx, demo.Config{
			Sectors:     c.Int("sectors"),
			BlockTime:   c.Duration("block-time"),
			Home:        c.String("home"),
			KeepRunning: c.Bool("keep-running"),
			Timeout:     c.Duration("timeout"),
			Threads:     c.Int("threads"),
			RealTime:    c.Bool("real-time"),
			Redraw:      !c.Bool("quiet") && demo.IsTerminal(os.Stdout),
		})
		if err != nil {
			return err
		}
		if !sum.OK() {
			return fmt.Errorf("the demo ended with %s: partitions were missed or sectors are faulty; see the manager's log", sum)
		}
		return nil
	},
}
