package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
)

var processorCmd = &cli.Command{
	Name:      "processor",
	Usage:     "run a proof stage as an external processor (stdin/stdout protocol)",
	ArgsUsage: "<stage>",
	Description: "Started by damocles-manager (ext-prover.cfg) or by a worker ([[processors.<stage>]]) as a child process:\n" +
		"it answers the stage's tasks read from stdin on stdout, logs to stderr, and exits with status 1 when stdin closes.\n" +
		"Stages: " + strings.Join(stage.Stages(), ", "),
	Subcommands: processorStageCmds(),
	// Reached only when no stage subcommand matched.
	Action: func(c *cli.Context) error {
		if !c.Args().Present() {
			return fmt.Errorf("processor: name a stage: %s", strings.Join(stage.Stages(), ", "))
		}
		return fmt.Errorf("processor: unknown stage %q; the stages are %s", c.Args().First(), strings.Join(stage.Stages(), ", "))
	},
}

func processorStageCmds() []*cli.Command {
	handlers := stage.Handlers(&proofs.DevEngine{})
	var cmds []*cli.Command
	for _, name := range stage.Stages() {
		cmds = append(cmds, &cli.Command{
			Name:  name,
			Usage: "serve " + name + " tasks with the built-in devproof engine",
			Action: func(c *cli.Context) error {
				return runProcessor(c.Context, name, handlers[name])
			},
		})
	}
	return cmds
}

// runProcessor serves one stage until the parent closes stdin.
func runProcessor(ctx context.Context, name string, handle extproc.Handler) error {
	// stdout carries the protocol alone. Anything else that prints to
	// os.Stdout from here on (a library, a stray debug print) lands in the
	// log on stderr instead of corrupting a response line.
	protocolOut := os.Stdout
	os.Stdout = os.Stderr

	err := extproc.Serve(ctx, name, os.Stdin, protocolOut, handle)
	if errors.Is(err, extproc.ErrInputClosed) {
		// The parent's way of stopping a child. Exit non-zero, as
		// damocles's processors do, but without an error message: nothing
		// went wrong (a failed response write, if any, is already logged).
		return cli.Exit("", 1)
	}
	return err
}
