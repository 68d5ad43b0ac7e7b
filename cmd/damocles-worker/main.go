// Command damocles-worker seals sectors and computes WindowPoSt jobs for a
// damocles-manager. This file parses flags and wires packages; the logic
// lives in internal/worker.
package main

import (
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/cliutil"
	"github.com/damocles-go/damocles/internal/version"
)

func main() { cliutil.Main(newApp()) }

func newApp() *cli.App {
	return &cli.App{
		Name:     "damocles-worker",
		Usage:    "seal sectors and compute WindowPoSt for damocles-manager",
		Version:  version.String(),
		Commands: []*cli.Command{daemonCmd, storeCmd, processorCmd, benchCmd},
	}
}
