package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/rpc"
)

// apiInfoEnv holds "TOKEN:MULTIADDR", as FULLNODE_API_INFO does for Lotus.
const apiInfoEnv = "DAMOCLES_API_INFO"

var utilCmd = &cli.Command{
	Name:  "util",
	Usage: "operator commands that talk to a running daemon over RPC",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "api", Usage: "daemon address (multiaddr, URL or host:port); default: the home's api file, or " + apiInfoEnv},
		&cli.StringFlag{Name: "token", Usage: "API token; default: the home's token file, or " + apiInfoEnv},
	},
	Subcommands: []*cli.Command{
		{
			Name:  "version",
			Usage: "print the version of the running daemon",
			Action: func(c *cli.Context) error {
				api, closer, err := dialDaemon(c)
				if err != nil {
					return err
				}
				defer closer()
				v, err := api.Version(c.Context)
				if err != nil {
					return err
				}
				fmt.Println(v)
				return nil
			},
		},
		utilAuthCmd,
		utilWorkerCmd,
		utilChainCmd,
		utilMinerCmd,
		utilSealerCmd,
		utilStorageCmd,
	},
}

var utilAuthCmd = &cli.Command{
	Name:  "auth",
	Usage: "API tokens",
	Subcommands: []*cli.Command{
		{
			Name:  "create-token",
			Usage: "create a token carrying a permission and every lower one",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "perm", Required: true, Usage: "read, write, sign or admin"},
			},
			Action: func(c *cli.Context) error {
				token, err := createToken(c)
				if err != nil {
					return err
				}
				fmt.Println(token)
				return nil
			},
		},
		{
			Name:  "api-info",
			Usage: "print " + apiInfoEnv + " for a new token with the given permission",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "perm", Required: true, Usage: "read, write, sign or admin"},
			},
			Action: func(c *cli.Context) error {
				addr, _, err := daemonEndpoint(c)
				if err != nil {
					return err
				}
				token, err := createToken(c)
				if err != nil {
					return err
				}
				fmt.Printf("%s=%s:%s\n", apiInfoEnv, token, addr)
				return nil
			},
		},
	},
}

var utilWorkerCmd = &cli.Command{
	Name:  "worker",
	Usage: "damocles-workers known to the daemon",
	Subcommands: []*cli.Command{
		{
			Name:  "list",
			Usage: "list workers and their last ping",
			Action: func(c *cli.Context) error {
				api, closer, err := dialDaemon(c)
				if err != nil {
					return err
				}
				defer closer()
				workers, err := api.WorkerList(c.Context)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "Name\tDest\tVersion\tThreads\tEmpty\tPaused\tRunning\tWaiting\tErrors\tLastPing")
				now := time.Now()
				for _, w := range workers {
					s := w.Info.Summary
					last := time.Unix(w.LastPing, 0)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s (%s ago)\n",
						w.Info.Name, w.Info.Dest, w.Info.Version, s.Threads, s.Empty, s.Paused, s.Running, s.Waiting, s.Errors,
						last.Format("01-02 15:04:05"), now.Sub(last).Truncate(time.Second))
				}
				return tw.Flush()
			},
		},
		utilWorkerWdPoStCmd,
	},
}

// createToken asks the daemon for a token carrying --perm and every lower
// permission.
func createToken(c *cli.Context) (string, error) {
	perms, err := rpc.PermsUpTo(rpc.Permission(c.String("perm")))
	if err != nil {
		return "", err
	}
	api, closer, err := dialDaemon(c)
	if err != nil {
		return "", err
	}
	defer closer()
	token, err := api.AuthNew(c.Context, perms)
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return string(token), nil
}

// daemonEndpoint finds the daemon's address and token: flags first, then
// DAMOCLES_API_INFO, then the home's api and token files.
func daemonEndpoint(c *cli.Context) (addr, token string, err error) {
	addr, token = c.String("api"), c.String("token")
	if info := os.Getenv(apiInfoEnv); info != "" && (addr == "" || token == "") {
		t, a, ok := strings.Cut(info, ":")
		if !ok {
			return "", "", fmt.Errorf("%s must be TOKEN:ADDRESS", apiInfoEnv)
		}
		if addr == "" {
			addr = a
		}
		if token == "" {
			token = t
		}
	}
	if addr != "" && token != "" {
		return addr, token, nil
	}
	h, err := homeOf(c, "")
	if err != nil {
		return "", "", err
	}
	if addr == "" {
		if addr, err = h.ReadFile(home.APIFile); err != nil {
			return "", "", err
		}
	}
	if token == "" {
		if token, err = h.ReadFile(home.TokenFile); err != nil {
			return "", "", err
		}
	}
	return addr, token, nil
}

func dialDaemon(c *cli.Context) (*rpc.VenusStruct, func(), error) {
	addr, token, err := daemonEndpoint(c)
	if err != nil {
		return nil, nil, err
	}
	api, closer, err := rpc.NewVenusClient(c.Context, addr, token, nil)
	if err != nil {
		return nil, nil, err
	}
	return api, func() { closer() }, nil
}
