// Command damocles-devnet runs a simulated Filecoin chain that speaks the
// subset of the Lotus v1 JSON-RPC API the manager uses. This file parses
// flags and wires packages; the chain itself lives in internal/devnet, its
// RPC face and clock in internal/devnet/node.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/cliutil"
	"github.com/damocles-go/damocles/internal/devnet/node"
	"github.com/damocles-go/damocles/internal/version"
)

func main() { cliutil.Main(newApp()) }

func newApp() *cli.App {
	return &cli.App{
		Name:     "damocles-devnet",
		Usage:    "a simulated Filecoin chain behind the Lotus JSON-RPC API, for demos and tests",
		Version:  version.String(),
		Commands: []*cli.Command{runCmd, demoCmd},
	}
}

var runCmd = &cli.Command{
	Name:  "run",
	Usage: "run the chain",
	Description: "Serves the Lotus v1 API (namespace Filecoin) and the Devnet observer at /rpc/v1, over HTTP and websocket.\n" +
		"Prints, one per line on stdout: API: <multiaddr>, Token: <admin token>, Wallet: <funded address>, and Miner: <id> (<size>)\n" +
		"per pre-created miner; writes the token and the multiaddr to the token and api files of the home.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: node.ListenDefault, Usage: "address of the JSON-RPC listener (/rpc/v1)"},
		&cli.StringFlag{Name: "home", Value: node.HomeDefault, Usage: "directory holding the chain state, token and api files"},
		&cli.DurationFlag{Name: "block-time", Value: node.BlockTimeDefault, Usage: "time between epochs"},
		&cli.StringSliceFlag{Name: "miner", Usage: "pre-create a miner actor, `ID:SIZE` (e.g. t01000:2KiB); repeatable"},
		&cli.Int64Flag{Name: "precommit-challenge-delay", Usage: "epochs between pre-commit and the interactive seed (0: the real 150)"},
		&cli.StringFlag{Name: "seed", Usage: "seed of the chain's randomness"},
		&cli.Uint64Flag{Name: "partition-sectors", Usage: "override the WindowPoSt partition size (scale tests only)"},
	},
	Action: func(c *cli.Context) error {
		// Devnet addresses are testnet addresses: t01000, not f01000.
		address.CurrentNetwork = address.Testnet
		cfg := node.Config{
			Home:                    c.String("home"),
			Listen:                  c.String("listen"),
			BlockTime:               c.Duration("block-time"),
			Seed:                    c.String("seed"),
			PreCommitChallengeDelay: abi.ChainEpoch(c.Int64("precommit-challenge-delay")),
			PartitionSectors:        c.Uint64("partition-sectors"),
		}
		if cfg.BlockTime <= 0 {
			return fmt.Errorf("--block-time %s: it must be positive (e.g. 1s, or 100ms for tests)", cfg.BlockTime)
		}
		if cfg.PreCommitChallengeDelay < 0 {
			return fmt.Errorf("--precommit-challenge-delay %d: it must not be negative", cfg.PreCommitChallengeDelay)
		}
		for _, s := range c.StringSlice("miner") {
			m, err := node.ParseMinerSpec(s)
			if err != nil {
				return fmt.Errorf("--miner: %w", err)
			}
			cfg.Miners = append(cfg.Miners, m)
		}

		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return node.Run(ctx, cfg, func(s node.Started) {
			fmt.Printf("API: %s\nToken: %s\nWallet: %s\n", s.API, s.Token, s.Wallet)
			for _, m := range s.Miners {
				fmt.Printf("Miner: %s (%s)\n", m.Address, m.Size.ShortString())
			}
		})
	},
}
