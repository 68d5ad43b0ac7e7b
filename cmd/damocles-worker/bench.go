package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/damocles-go/damocles/internal/bench"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
)

var benchCmd = &cli.Command{
	Name:  "bench",
	Usage: "measure sealing and WindowPoSt on this machine",
	Description: "Seals CC sectors and proves them with the built-in proof engine (devproof) on this machine's disks,\n" +
		"timing every stage, as lotus-bench does for Lotus. Every proof is verified: a bench exits 0 only\n" +
		"when it did. Progress goes to stderr, results to stdout (one JSON object with --json).",
	Subcommands: []*cli.Command{
		{
			Name:      "seal",
			Usage:     "seal one CC sector and time each stage: staging, PC1, PC2, C1, C2, verify, finalize",
			UsageText: "damocles-worker bench seal --sector-size 8MiB [--dir DIR] [--json]",
			Flags:     benchFlags(),
			Action:    benchSeal,
		},
		{
			Name:      "wdpost",
			Usage:     "time one WindowPoSt over N sealed sectors (sealing them first, or reusing those of --dir)",
			UsageText: "damocles-worker bench wdpost --sector-size 8MiB --sectors N [--dir DIR] [--json]",
			Flags: append(benchFlags(),
				&cli.IntFlag{Name: "sectors", Required: true, Usage: "how many sectors the WindowPoSt proves"}),
			Action: benchWdPoSt,
		},
	},
}

func benchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sector-size", Required: true, Usage: "sector size: " + bench.SectorSizeNames()},
		&cli.StringFlag{Name: "dir", Usage: "where the sectors go, kept for the next run (wdpost reuses its sectors); " +
			"default a temporary directory, removed at the end"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON object on stdout, and nothing else there"},
	}
}

// benchSeal seals sector 0: the wdpost bench numbers its sectors from 1, so
// both can share a --dir.
func benchSeal(c *cli.Context) error {
	size, err := benchSectorSize(c.String("sector-size"))
	if err != nil {
		return err
	}
	warnBigSectors(os.Stderr, size, 1, c.String("dir"))
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Seal(ctx, &proofs.DevEngine{}, bench.SealOptions{SectorSize: size, Dir: c.String("dir")}, benchProgress())
	if err != nil {
		return fmt.Errorf("seal bench: %w", err)
	}
	if err := printBenchResult(c.Bool("json"), res, func(w io.Writer) { printSealResult(w, res) }); err != nil {
		return err
	}
	if !res.Verified {
		return fmt.Errorf("seal bench: the PoRep proof of sector %d did NOT verify: the engine sealed or proved it wrong, "+
			"so its timings measure a broken seal", res.Sector)
	}
	return nil
}

func benchWdPoSt(c *cli.Context) error {
	size, err := benchSectorSize(c.String("sector-size"))
	if err != nil {
		return err
	}
	n := c.Int("sectors")
	if n < 1 {
		return fmt.Errorf("--sectors %d: a WindowPoSt proves at least 1 sector", n)
	}
	warnBigSectors(os.Stderr, size, n, c.String("dir"))
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.WindowPoSt(ctx, &proofs.DevEngine{}, bench.WdPoStOptions{SectorSize: size, Sectors: n, Dir: c.String("dir")}, benchProgress())
	if err != nil {
		return fmt.Errorf("wdpost bench: %w", err)
	}
	if err := printBenchResult(c.Bool("json"), res, func(w io.Writer) { printWdPoStResult(w, res) }); err != nil {
		return err
	}
	var problems []error
	if res.Faulty > 0 {
		problems = append(problems, fmt.Errorf("%d of %d sectors were faulty (%v): their files in %s are damaged; "+
			"delete them, or the directory, and the bench seals them again", res.Faulty, res.Sectors, res.FaultySectors, res.Dir))
	}
	if !res.Verified {
		problems = append(problems, errors.New("the WindowPoSt proof did NOT verify: the engine proved wrong, so its timings measure a broken proof"))
	}
	if len(problems) > 0 {
		return fmt.Errorf("wdpost bench: %w", errors.Join(problems...))
	}
	return nil
}

func benchSectorSize(text string) (abi.SectorSize, error) {
	n, err := config.ParseSectorSize(text)
	if err != nil {
		return 0, err
	}
	size := abi.SectorSize(n)
	if _, err := bench.SealProofForSize(size); err != nil {
		return 0, err
	}
	return size, nil
}

// benchProgress draws progress on a terminal and logs it otherwise: a bar
// redrawn into a file or a pipe is noise. Either way it is stderr, never
// stdout, which --json keeps for the result.
func benchProgress() bench.Progress {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return bench.NewTerminalProgress(os.Stderr)
	}
	return &bench.LogProgress{}
}

// warnBigSectors tells, before a bench of sectors of bench.BigSectorSize or
// more starts, the disk space and time it takes, so nobody learns it hours
// in from a full disk.
func warnBigSectors(w io.Writer, size abi.SectorSize, sectors int, dir string) {
	if size < bench.BigSectorSize {
		return
	}
	p, err := bench.SealProofForSize(size)
	if err != nil {
		return
	}
	sealing, kept, err := bench.DiskEstimate(p)
	if err != nil {
		return
	}
	need := sealing + int64(sectors-1)*kept
	where := dir
	if where == "" {
		where = os.TempDir() + " (a temporary directory: pick a disk with --dir)"
		dir = os.TempDir()
	}
	free := "unknown"
	if bytes, ok := bench.FreeSpace(existingParent(dir)); ok {
		free = bench.FormatBytes(bytes)
		if bytes < need {
			free += ", NOT ENOUGH"
		}
	}
	line := strings.Repeat("!", 78)
	fmt.Fprintf(w, "%s\n", line)
	fmt.Fprintf(w, "!! WARNING: a %s sector bench seals real %s sectors.\n", size.ShortString(), size.ShortString())
	fmt.Fprintf(w, "!!   disk: up to %s (%d bytes) in %s\n", bench.FormatBytes(need), need, where)
	fmt.Fprintf(w, "!!         %s to seal one sector, %s kept per sealed sector; free there now: %s\n",
		bench.FormatBytes(sealing), bench.FormatBytes(kept), free)
	fmt.Fprintf(w, "!!   time: hours per sector: PC1 and PC2 run over every node of every layer.\n")
	fmt.Fprintf(w, "!!   Starting now; Ctrl-C stops it (a wdpost bench with --dir keeps the sectors it finished).\n")
	fmt.Fprintf(w, "%s\n", line)
}

// existingParent is dir or its closest ancestor that exists, where free
// space can be asked before the bench creates dir.
func existingParent(dir string) string {
	dir, _ = filepath.Abs(dir)
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

// printBenchResult prints res as one JSON object, or as people read it.
func printBenchResult(asJSON bool, res any, human func(io.Writer)) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	human(os.Stdout)
	return nil
}

func printSealResult(out io.Writer, r bench.SealResult) {
	fmt.Fprintf(out, "seal bench: one %s CC sector (%s), miner t0%d, sector %d\n", r.SectorSizeName, r.ProofType, r.Miner, r.Sector)
	printBenchMachine(out, r.Dir, r.DirRemoved, r.Machine)
	fmt.Fprintln(out)
	const row = "%-12s %12s %12s %12s\n"
	fmt.Fprintf(out, row, "stage", "time", "written", "removed")
	for _, s := range r.Stages {
		fmt.Fprintf(out, row, s.Name, s.Duration.Text, benchBytes(s.BytesWritten), benchBytes(s.BytesRemoved))
	}
	fmt.Fprintf(out, row, "total", r.Total.Text, benchBytes(r.BytesWritten), "")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "disk:      %s at the peak, %s once finalized\n", bench.FormatBytes(r.PeakBytes), bench.FormatBytes(r.FinalizedBytes))
	fmt.Fprintf(out, "comm_d:    %s\n", r.CommD)
	fmt.Fprintf(out, "comm_r:    %s\n", r.CommR)
	fmt.Fprintf(out, "proof:     %d bytes, verified: %s\n", r.ProofBytes, yesNo(r.Verified))
}

func printWdPoStResult(out io.Writer, r bench.WdPoStResult) {
	fmt.Fprintf(out, "wdpost bench: %d × %s sectors (%s), miner t0%d\n", r.Sectors, r.SectorSizeName, r.PoStProofType, r.Miner)
	printBenchMachine(out, r.Dir, r.DirRemoved, r.Machine)
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	sealed := fmt.Sprintf("%d sealed", r.SectorsSealed)
	if r.SectorsSealed > 0 {
		sealed += " in " + r.Seal.Text
	}
	if len(r.Resealed) > 0 {
		sealed += fmt.Sprintf(" (resealed %v)", r.Resealed)
	}
	fmt.Fprintf(w, "sectors\t%d: %s, %d reused\n", r.Sectors, sealed, r.SectorsReused)
	fmt.Fprintf(w, "prove\t%s, %s per sector\n", r.Prove.Text, r.PerSector.Text)
	if r.BytesRead != nil && r.BytesReadFromStorage != nil {
		fmt.Fprintf(w, "read\t%s, %s per sector (rchar of %s); %s from storage (read_bytes)\n",
			bench.FormatBytes(*r.BytesRead), bench.FormatBytes(*r.BytesRead/int64(r.Sectors)), r.BytesReadSource,
			bench.FormatBytes(*r.BytesReadFromStorage))
	} else {
		fmt.Fprintf(w, "read\tunknown\n")
	}
	if r.Faulty > 0 {
		fmt.Fprintf(w, "faulty\t%d: sectors %v\n", r.Faulty, r.FaultySectors)
	} else {
		fmt.Fprintf(w, "faulty\t0\n")
	}
	fmt.Fprintf(w, "proof\t%d bytes\n", r.ProofBytes)
	fmt.Fprintf(w, "verify\t%s\n", r.Verify.Text)
	fmt.Fprintf(w, "verified\t%s\n", yesNo(r.Verified))
	fmt.Fprintf(w, "total\t%s\n", r.Total.Text)
	w.Flush()
}

func printBenchMachine(out io.Writer, dir string, removed bool, m bench.Machine) {
	state := "kept"
	if removed {
		state = "temporary, removed"
	}
	fmt.Fprintf(out, "dir:  %s (%s)\n", dir, state)
	load := "unknown"
	if len(m.LoadAvg) == 3 {
		load = fmt.Sprintf("%.2f %.2f %.2f", m.LoadAvg[0], m.LoadAvg[1], m.LoadAvg[2])
	}
	fmt.Fprintf(out, "host: %d CPUs (GOMAXPROCS %d), %s/%s, load average %s\n", m.CPUs, m.GOMAXPROCS, m.OS, m.Arch, load)
}

func benchBytes(n int64) string {
	if n == 0 {
		return "-"
	}
	return bench.FormatBytes(n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
