// Command damocles-devnet runs a simulated Filecoin chain that speaks the
// subset of the Lotus v1 JSON-RPC API the manager uses. This file parses
// flags and wires packages; the chain itself lives in internal/devnet.
package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/cliutil"
	"github.com/damocles-go/damocles/internal/version"
)

func main() { cliutil.Main(newApp()) }

func newApp() *cli.App {
	return &cli.App{
		Name:     "damocles-devnet",
		Usage:    "a simulated Filecoin chain behind the Lotus JSON-RPC API, for demos and tests",
		Version:  version.String(),
		Commands: []*cli.Command{runCmd},
	}
}

var runCmd = &cli.Command{
	Name:  "run",
	Usage: "run the chain",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: "127.0.0.1:1234", Usage: "address of the JSON-RPC listener (/rpc/v1)"},
		&cli.StringFlag{Name: "home", Usage: "directory holding the chain state, token and api files"},
		&cli.DurationFlag{Name: "block-time", Usage: "time between epochs"},
		&cli.StringSliceFlag{Name: "miner", Usage: "pre-create a miner actor, `ID:SIZE` (e.g. t01000:2KiB); repeatable"},
		&cli.Int64Flag{Name: "precommit-challenge-delay", Usage: "epochs between pre-commit and the interactive seed"},
		&cli.StringFlag{Name: "seed", Usage: "seed of the chain's randomness"},
		&cli.Uint64Flag{Name: "partition-sectors", Usage: "override the WindowPoSt partition size (scale tests only)"},
	},
	Action: func(c *cli.Context) error {
		return errors.New("damocles-devnet run: the simulated chain is not implemented yet in this build")
	},
}
