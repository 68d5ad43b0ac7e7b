package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/rpc"
)

var utilWorkerWdPoStCmd = &cli.Command{
	Name:  "wdpost",
	Usage: "WindowPoSt jobs of the worker-prover (daemon run --poster --worker-prover)",
	Subcommands: []*cli.Command{
		{
			Name:  "list",
			Usage: "list jobs: by default the unfinished and the failed ones",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Usage: "show the succeeded jobs too"},
				&cli.BoolFlag{Name: "detail", Usage: "show every time stamp of each job"},
			},
			Action: func(c *cli.Context) error {
				api, closer, err := dialWdPoSt(c)
				if err != nil {
					return err
				}
				defer closer()
				all, err := api.WdPoStAllJobs(c.Context)
				if err != nil {
					return wdpostCallError(err)
				}
				return printWdPoStJobs(os.Stdout, all, c.Bool("all"), c.Bool("detail"), time.Now())
			},
		},
		{
			Name:      "reset",
			Usage:     "put jobs back in the queue with no tries (for jobs that reached JobMaxTry)",
			ArgsUsage: "<job id>...",
			Action: func(c *cli.Context) error {
				return eachWdPoStJob(c, "reset", func(api *rpc.WorkerWdPoStStruct, id string) error {
					_, err := api.WdPoStResetJob(c.Context, id)
					return err
				})
			},
		},
		{
			Name:      "remove",
			Usage:     "delete jobs (a poster still waiting for one queues it again)",
			ArgsUsage: "<job id>...",
			Action: func(c *cli.Context) error {
				return eachWdPoStJob(c, "removed", func(api *rpc.WorkerWdPoStStruct, id string) error {
					_, err := api.WdPoStRemoveJob(c.Context, id)
					return err
				})
			},
		},
		{
			Name:  "remove-all",
			Usage: "delete every job; without --really-do-it only says what it would delete",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "really-do-it", Usage: "delete them"},
			},
			Action: func(c *cli.Context) error {
				api, closer, err := dialWdPoSt(c)
				if err != nil {
					return err
				}
				defer closer()
				all, err := api.WdPoStAllJobs(c.Context)
				if err != nil {
					return wdpostCallError(err)
				}
				if !c.Bool("really-do-it") {
					for _, j := range all.Jobs {
						fmt.Printf("would remove wdpost job %s (miner %d, deadline %d, %s)\n", j.Id, j.Input.MinerId, j.DeadlineIdx, j.DisplayState())
					}
					fmt.Printf("%d jobs would be removed; nothing was changed: add --really-do-it to remove them\n", len(all.Jobs))
					return nil
				}
				var errs []error
				for _, j := range all.Jobs {
					if _, err := api.WdPoStRemoveJob(c.Context, j.Id); err != nil {
						errs = append(errs, fmt.Errorf("remove wdpost job %s: %w", j.Id, err))
						continue
					}
					fmt.Printf("wdpost job %s removed\n", j.Id)
				}
				return errors.Join(errs...)
			},
		},
	},
}

func dialWdPoSt(c *cli.Context) (*rpc.WorkerWdPoStStruct, func(), error) {
	addr, token, err := daemonEndpoint(c)
	if err != nil {
		return nil, nil, err
	}
	api, closer, err := rpc.NewWdPoStClient(c.Context, addr, token, nil)
	if err != nil {
		return nil, nil, err
	}
	return api, func() { closer() }, nil
}

// wdpostCallError explains a daemon without the job API.
func wdpostCallError(err error) error {
	if rpc.IsMethodNotFound(err) {
		return errors.New("the daemon does not run the worker-prover module: it has no WindowPoSt jobs (start it with `daemon run --poster --worker-prover`)")
	}
	return err
}

// eachWdPoStJob calls do for every job id argument, printing
// "wdpost job <id> <done>" for each that worked; every id is tried.
func eachWdPoStJob(c *cli.Context, done string, do func(*rpc.WorkerWdPoStStruct, string) error) error {
	if c.NArg() == 0 {
		return errors.New("name at least one job id (see `util worker wdpost list`)")
	}
	api, closer, err := dialWdPoSt(c)
	if err != nil {
		return err
	}
	defer closer()
	var errs []error
	for _, id := range c.Args().Slice() {
		if err := do(api, id); err != nil {
			if rpc.IsMethodNotFound(err) {
				return wdpostCallError(err)
			}
			errs = append(errs, fmt.Errorf("wdpost job %s: %w", id, err))
			continue
		}
		fmt.Printf("wdpost job %s %s\n", id, done)
	}
	return errors.Join(errs...)
}

// printWdPoStJobs writes the job table of seed 001 (PROTOCOLS §3.3): the
// succeeded jobs only with all, every time stamp with detail.
func printWdPoStJobs(out io.Writer, all rpc.AllWdPoStJob, showAll, detail bool, now time.Time) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	if detail {
		fmt.Fprintln(tw, "JobID\tPrefix\tMiner\tDDL\tPartitions\tSectors\tWorker\tState\tTry\tCreateAt\tStartedAt\tHeartbeatAt\tFinishedAt\tUpdatedAt\tError")
	} else {
		fmt.Fprintln(tw, "JobID\tMinerID\tDDL\tPartitions\tWorker\tState\tTry\tCreateAt\tElapsed\tHeartbeat\tError")
	}
	for _, j := range all.Jobs {
		if !showAll && j.Succeeded() {
			continue
		}
		try := strconv.FormatUint(uint64(j.TryNum), 10)
		if j.TryNum >= all.MaxTry {
			try += "(Max)"
		}
		if detail {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				j.Id, j.State, j.Input.MinerId, j.DeadlineIdx, joinPartitions(j.Partitions), j.Sectors, orDash(j.WorkerName), j.DisplayState(), try,
				stamp(j.CreatedAt), stamp(j.StartedAt), stamp(j.HeartbeatAt), stamp(j.FinishedAt), stamp(j.UpdatedAt), orDash(j.ErrorReason))
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			j.Id, j.Input.MinerId, j.DeadlineIdx, joinPartitions(j.Partitions), orDash(j.WorkerName), j.DisplayState(), try,
			stamp(j.CreatedAt), elapsed(j.WdPoStJob, now), heartbeat(j.WdPoStJob, now), orDash(j.ErrorReason))
	}
	return tw.Flush()
}

func joinPartitions(ps []uint64) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.FormatUint(p, 10)
	}
	return strings.Join(s, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	// One row per job: an error text's newlines would break the table.
	return strings.ReplaceAll(s, "\n", " ")
}

// stamp is a unix time as local MM-DD HH:MM:SS, "-" when unset.
func stamp(unix uint64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(int64(unix), 0).Format("01-02 15:04:05")
}

// elapsed is how long the job ran: "-" before it started, the time since
// its start while it runs, the run time and "(done)" once finished.
func elapsed(j rpc.WdPoStJob, now time.Time) string {
	switch {
	case j.StartedAt == 0:
		return "-"
	case j.FinishedAt == 0:
		return now.Sub(time.Unix(int64(j.StartedAt), 0)).Truncate(time.Second).String()
	}
	return (time.Duration(int64(j.FinishedAt)-int64(j.StartedAt)) * time.Second).String() + "(done)"
}

// heartbeat is the time since the last heartbeat of a running job.
func heartbeat(j rpc.WdPoStJob, now time.Time) string {
	if j.StartedAt == 0 || j.FinishedAt != 0 {
		return "-"
	}
	return now.Sub(time.Unix(int64(j.HeartbeatAt), 0)).Truncate(time.Millisecond).String()
}
