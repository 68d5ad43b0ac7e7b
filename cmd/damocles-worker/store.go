package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/worker"
)

var storeCmd = &cli.Command{
	Name:  "store",
	Usage: "initialise local and persist stores",
	Subcommands: []*cli.Command{
		storeInitCmd("sealing-init", "initialise sealing thread locations (local scratch)", worker.SealingStore),
		storeInitCmd("file-init", "initialise persist stores (after mounting them)", worker.PersistStore),
	},
}

func storeInitCmd(name, usage string, kind worker.StoreKind) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "loc", Aliases: []string{"l"}, Usage: "directories to initialise; repeat the flag or list them after it"},
		},
		Action: func(c *cli.Context) error {
			// damocles-worker takes `-l a b c`: the first directory is the
			// flag's value, the rest arrive as arguments.
			dirs := append(c.StringSlice("loc"), c.Args().Slice()...)
			if len(dirs) == 0 {
				return errors.New("no directories given: use -l DIR [DIR...]")
			}
			var failed []error
			for _, dir := range dirs {
				created, err := worker.InitStore(dir, kind)
				switch {
				case err != nil:
					failed = append(failed, err)
				case created:
					fmt.Printf("initialised %s store %s\n", kind, dir)
				default:
					fmt.Printf("%s store %s was already initialised\n", kind, dir)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d stores failed: %w", len(failed), len(dirs), errors.Join(failed...))
			}
			return nil
		},
	}
}
