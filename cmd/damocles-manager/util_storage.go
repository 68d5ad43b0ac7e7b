package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
)

var utilStorageCmd = &cli.Command{
	Name:        "storage",
	Usage:       "persist stores and the sector index",
	Subcommands: []*cli.Command{utilStorageListCmd, utilStorageFindCmd, utilStorageAttachCmd},
}

var utilStorageListCmd = &cli.Command{
	Name:  "list",
	Usage: "list the configured persist stores, their free and reserved space",
	Action: func(c *cli.Context) error {
		api, closer, err := dialDaemon(c)
		if err != nil {
			return err
		}
		defer closer()
		list, err := api.StorageList(c.Context)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "Name\tPath\tStrict\tReadOnly\tWeight\tFree\tReserved")
		for _, s := range list {
			free := fmt.Sprint(s.Free)
			if s.FreeErr != "" {
				free = "? (" + s.FreeErr + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%d\t%s\t%d\n", s.Name, s.Path, s.Strict, s.ReadOnly, s.Weight, free, s.Reserved)
		}
		return tw.Flush()
	},
}

var utilStorageFindCmd = &cli.Command{
	Name:      "find",
	Usage:     "print which persist stores hold a sector's files",
	ArgsUsage: "<miner> <number>",
	Action: func(c *cli.Context) error {
		id, err := sectorIDArgs(c)
		if err != nil {
			return err
		}
		api, closer, err := dialDaemon(c)
		if err != nil {
			return err
		}
		defer closer()
		for _, kind := range []sectors.IndexKind{sectors.IndexNormal, sectors.IndexUpgrade} {
			loc, err := api.SectorIndexerFind(c.Context, string(kind), id)
			if err != nil {
				return err
			}
			if !loc.Found {
				fmt.Printf("%s: not found\n", kind)
				continue
			}
			fmt.Printf("%s: sealed file in %q, cache dir in %q\n", kind, loc.Instance.SealedFile, loc.Instance.CacheDir)
		}
		return nil
	},
}

var utilStorageAttachCmd = &cli.Command{
	Name:      "attach",
	Usage:     "import the sectors already in a storage directory into the sector index",
	ArgsUsage: "<path>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "the store's name in the index and the config; default: its path"},
		&cli.BoolFlag{Name: "strict", Usage: "also check file sizes, and refuse a path that is a symbolic link"},
		&cli.BoolFlag{Name: "read-only", Usage: "mark the store read-only in the printed config"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every sector"},
		&cli.BoolFlag{Name: "allow-splitted", Usage: "import sectors of which this store holds only the sealed file or only the cache dir"},
		&cli.StringFlag{Name: "pattern", Usage: "only sector names matching this `GLOB`, e.g. s-t01000-1[0-9]"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("want 1 argument, the storage <path>; got %d", c.NArg())
		}
		api, closer, err := dialDaemon(c)
		if err != nil {
			return err
		}
		defer closer()
		// An empty batch writes nothing, but a daemon whose index is read
		// only (a proxy node) refuses it: say so before scanning the store.
		if _, err := api.StorageAttachIndex(c.Context, nil); err != nil {
			return fmt.Errorf("the daemon cannot index this store: %w", err)
		}
		opts := sectors.AttachOptions{
			Name: c.String("name"), Path: c.Args().First(), Strict: c.Bool("strict"), ReadOnly: c.Bool("read-only"),
			AllowSplitted: c.Bool("allow-splitted"), Pattern: c.String("pattern"), Verbose: c.Bool("verbose"),
		}
		index := &remoteIndex{api: api}
		var progress sectors.AttachProgress
		if term.IsTerminal(int(os.Stderr.Fd())) {
			bar := &attachBar{}
			defer bar.finish()
			progress = bar
		}
		report, err := sectors.Attach(c.Context, opts, index, progress)
		if ferr := index.flush(c.Context); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		fmt.Printf("store %q at %s: %d imported, %d already present, %d skipped\n",
			report.Name, report.Path, report.Imported, report.AlreadyPresent, len(report.Skipped))
		for _, s := range report.Skipped {
			fmt.Printf("  skipped %s s-t0%d-%d: %s\n", s.Kind, s.ID.Miner, s.ID.Number, s.Reason)
		}
		fmt.Printf("\nAdd this store to sector-manager.cfg, if it is not there yet:\n\n%s\n", report.Config)
		return nil
	},
}

// attachBatch is how many index entries go to the daemon in one call.
const attachBatch = 256

// remoteIndex is the sector index of the daemon, as sectors.Attach needs
// it: lookups go one by one, writes in batches through StorageAttachIndex.
// Attach checks each sector once, so a write still in a batch is never
// looked up.
type remoteIndex struct {
	api     *rpc.VenusStruct
	pending []rpc.SectorIndexEntry
}

func (r *remoteIndex) Find(ctx context.Context, kind sectors.IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, error) {
	return r.api.SectorIndexerFind(ctx, string(kind), id)
}

func (r *remoteIndex) Update(ctx context.Context, kind sectors.IndexKind, id abi.SectorID, stores rpc.SectorAccessStores) error {
	r.pending = append(r.pending, rpc.SectorIndexEntry{Kind: string(kind), ID: id, Stores: stores})
	if len(r.pending) >= attachBatch {
		return r.flush(ctx)
	}
	return nil
}

func (r *remoteIndex) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	n, err := r.api.StorageAttachIndex(ctx, r.pending)
	if err != nil {
		return fmt.Errorf("index %d sectors (%d written): %w", len(r.pending), n, err)
	}
	r.pending = r.pending[:0]
	return nil
}

// attachBar draws one bar per index kind on stderr.
type attachBar struct {
	bar *progressbar.ProgressBar
}

func (b *attachBar) Scanned(kind sectors.IndexKind, n int) {
	b.finish()
	b.bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("%-8s", kind)), progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish())
}

func (b *attachBar) Checked(sectors.IndexKind, abi.SectorID) {
	if b.bar != nil {
		_ = b.bar.Add(1)
	}
}

func (b *attachBar) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
		b.bar = nil
	}
}
