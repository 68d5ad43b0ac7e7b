// Command damocles-worker seals sectors and computes WindowPoSt jobs for a
// damocles-manager. This file parses flags and wires packages; the logic
// lives in internal/worker.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/logs"
	"github.com/damocles-go/damocles/internal/version"
)

func main() {
	logs.Setup()
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v\n", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:     "damocles-worker",
		Usage:    "seal sectors and compute WindowPoSt for damocles-manager",
		Version:  version.String(),
		Commands: []*cli.Command{daemonCmd, storeCmd, processorCmd, benchCmd},
	}
}
