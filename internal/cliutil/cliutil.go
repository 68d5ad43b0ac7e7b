// Package cliutil owns what the three binaries' main functions share:
// logging set-up, running the urfave/cli app, the exit status, and
// finding the other binaries next to the running one.
package cliutil

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/logs"
)

// Main sets up logging, runs app with the process arguments, and exits 1
// with the error on stderr when it fails.
func Main(app *cli.App) {
	logs.Setup()
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v\n", err)
		os.Exit(1)
	}
}
