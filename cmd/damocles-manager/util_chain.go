package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
)

// defaultMessageConfidence is how many epochs `util miner create` waits
// after its message is executed: Lotus's MessageConfidence.
const defaultMessageConfidence = 5

var utilChainCmd = &cli.Command{
	Name:  "chain",
	Usage: "ask the chain node of [Common.API] Chain",
	Subcommands: []*cli.Command{
		{
			Name:  "head",
			Usage: "print the chain head: height, tipset key and timestamp",
			Action: func(c *cli.Context) error {
				api, closer, err := dialChain(c)
				if err != nil {
					return err
				}
				defer closer()
				head, err := api.ChainHead(c.Context)
				if err != nil {
					return fmt.Errorf("get the chain head: %w", err)
				}
				ts := head.MinTimestamp()
				fmt.Printf("Height:    %d\nTipSet:    %s\nTimestamp: %s (%d)\n",
					head.Height, head.Key(), time.Unix(int64(ts), 0).UTC().Format(time.RFC3339), ts)
				return nil
			},
		},
	},
}

var utilMinerCmd = &cli.Command{
	Name:  "miner",
	Usage: "miner actors on the chain of [Common.API] Chain",
	Subcommands: []*cli.Command{
		{
			Name:  "create",
			Usage: "create a miner actor and print its ID",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "from", Required: true, Usage: "Wallet address used for sending the `CreateMiner` message"},
				&cli.StringFlag{Name: "owner", Usage: "Actor address used as the `Owner` field. Will use the AccountActor ID of `from` if not provided"},
				&cli.StringFlag{Name: "worker", Usage: "Actor address used as the `Worker` field. Will use the AccountActor ID of `from` if not provided"},
				&cli.StringFlag{Name: "sector-size", Required: true, Usage: "Sector size of the miner, 512MiB, 32GiB, 64GiB, etc"},
				&cli.StringFlag{Name: "peer", Usage: "P2P peer id of the miner"},
				&cli.StringSliceFlag{Name: "multiaddr", Usage: "P2P peer address of the miner (repeat for several)"},
				&cli.Uint64Flag{Name: "confidence", Value: defaultMessageConfidence, Usage: "epochs to wait after the message is executed"},
			},
			Action: func(c *cli.Context) error {
				req, err := createMinerRequest(c)
				if err != nil {
					return err
				}
				api, closer, err := dialChain(c)
				if err != nil {
					return err
				}
				defer closer()
				smsg, err := chain.PushCreateMiner(c.Context, api, req)
				if err != nil {
					return err
				}
				msgCid, err := smsg.Cid()
				if err != nil {
					return err
				}
				fmt.Printf("CreateMiner message %s sent from %s; waiting for it to be executed and %d epochs deep\n",
					msgCid, req.From, c.Uint64("confidence"))
				ret, err := chain.WaitCreateMiner(c.Context, api, msgCid, c.Uint64("confidence"))
				if err != nil {
					return err
				}
				fmt.Printf("New miner: %s (robust address %s)\n", ret.IDAddress, ret.RobustAddress)
				return nil
			},
		},
	},
}

// createMinerRequest reads `util miner create`'s flags.
func createMinerRequest(c *cli.Context) (chain.CreateMinerRequest, error) {
	var req chain.CreateMinerRequest
	for _, f := range []struct {
		flag string
		to   *address.Address
	}{{"from", &req.From}, {"owner", &req.Owner}, {"worker", &req.Worker}} {
		s := c.String(f.flag)
		if s == "" {
			continue
		}
		a, err := address.NewFromString(s)
		if err != nil {
			return req, fmt.Errorf("--%s %q: not an address: %v", f.flag, s, err)
		}
		*f.to = a
	}
	size, err := config.ParseSectorSize(c.String("sector-size"))
	if err != nil {
		return req, fmt.Errorf("--sector-size: %w", err)
	}
	req.SectorSize = abi.SectorSize(size)
	req.PeerID = c.String("peer")
	req.Multiaddrs = c.StringSlice("multiaddr")
	return req, nil
}

// dialChain connects to the chain node that the manager config in the home
// names in [Common.API] Chain, with [Common.API] Token.
func dialChain(c *cli.Context) (chain.API, func(), error) {
	h, err := homeOf(c, "")
	if err != nil {
		return nil, nil, err
	}
	path := h.ConfPath(config.ManagerFileName)
	cfg, _, err := config.LoadManager(path)
	if err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(cfg.Common.API.Chain) == "" {
		return nil, nil, fmt.Errorf("%s: [Common.API] Chain is empty: set it to the chain node's API address, "+
			`e.g. Chain = "/ip4/127.0.0.1/tcp/1234/ws", and its token in [Common.API] Token`, path)
	}
	api, closer, err := chain.NewClient(c.Context, cfg.Common.API.Chain, cfg.Common.API.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (set in %s, [Common.API] Chain)", err, path)
	}
	return api, func() { closer() }, nil
}
