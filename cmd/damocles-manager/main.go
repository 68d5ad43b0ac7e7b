// Command damocles-manager owns sector metadata, talks to the chain,
// schedules WindowPoSt and WinningPoSt, and serves workers over JSON-RPC.
// This file parses flags and wires packages; the logic lives in internal/.
package main

import (
	logging "github.com/ipfs/go-log/v2"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/cliutil"
	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/version"
)

var log = logging.Logger("cmd")

func main() { cliutil.Main(newApp()) }

func newApp() *cli.App {
	return &cli.App{
		Name:                 "damocles-manager",
		Usage:                "manage the sectors of Filecoin storage providers: sealing, WindowPoSt, WinningPoSt",
		Version:              version.String(),
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "home",
				Usage:   "manager home directory (config files, database, api and token files)",
				Value:   home.DefaultDir,
				EnvVars: []string{"DAMOCLES_PATH"},
			},
			&cli.StringFlag{
				Name:  "net",
				Usage: "deprecated and ignored: the network comes from the chain node",
			},
		},
		Before: func(c *cli.Context) error {
			if c.IsSet("net") {
				log.Warnw("the --net flag is deprecated and ignored: the network is taken from the chain node", "net", c.String("net"))
			}
			return nil
		},
		Commands: []*cli.Command{daemonCmd, utilCmd},
	}
}

// homeOf resolves the --home flag (and an optional --conf-dir).
func homeOf(c *cli.Context, confDir string) (home.Home, error) {
	return home.New(c.String("home"), confDir)
}
