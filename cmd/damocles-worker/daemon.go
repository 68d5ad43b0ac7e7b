package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	logging "github.com/ipfs/go-log/v2"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/worker"
)

var log = logging.Logger("cmd")

var daemonCmd = &cli.Command{
	Name:  "daemon",
	Usage: "run the worker",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Required: true, Usage: "worker config file (TOML)"},
	},
	Action: func(c *cli.Context) error {
		cfg, warnings, err := config.LoadWorker(c.String("config"))
		if err != nil {
			return err
		}
		for _, w := range warnings {
			log.Warnw("config: " + w)
		}
		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the worker's own binary (the default processor): %w", err)
		}
		d, err := worker.NewDaemon(ctx, cfg, self)
		if err != nil {
			return err
		}
		return d.Run(ctx)
	},
}
