package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/cliutil"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/poster"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/prover"
	"github.com/damocles-go/damocles/internal/store"
)

// workerBinaryName is the program whose `processor <stage>` computes proofs
// for an ext-prover block without Bin.
const workerBinaryName = "damocles-worker"

// posterDeps are what the WindowPoSt module takes from the rest of the
// daemon.
type posterDeps struct {
	db       *store.DB
	sealing  *sealing
	engine   proofs.Engine
	registry prometheus.Registerer
	miners   func() []config.Miner
	proving  func() config.Proving
}

// posterModule is the daemon's WindowPoSt side: run is nil without
// --poster; jobs, the WdPoSt job API, is nil without --worker-prover;
// close stops the ext-prover processors.
type posterModule struct {
	run   func(ctx context.Context)
	jobs  *prover.Worker
	close func()
}

// newPoster builds the prover (--ext-prover: the processors of
// ext-prover.cfg; else the engine in this process) and, with --poster,
// the poster over it.
func newPoster(ctx context.Context, c *cli.Context, h home.Home, cfg *config.Manager, d posterDeps) (*posterModule, error) {
	m := &posterModule{close: func() {}}
	var pr prover.Prover = prover.Local{Engine: d.engine}
	if c.Bool("ext-prover") {
		ext, err := startExtProver(ctx, h, pr)
		if err != nil {
			return nil, err
		}
		m.close = func() {
			if err := ext.Close(); err != nil {
				log.Warnw("ext-prover processors did not stop cleanly", "err", err)
			}
		}
		pr = ext
	}
	if c.Bool("worker-prover") {
		w, err := prover.NewWorker(prover.WorkerConfig{
			DB: d.db, Finder: d.sealing.indexer, Engine: d.engine, Registry: d.registry,
			Settings: func() config.WorkerProver { return d.proving().WorkerProver },
		})
		if err != nil {
			return nil, err
		}
		m.jobs, pr = w, w
	}
	if !c.Bool("poster") {
		if c.Bool("ext-prover") {
			log.Warnw("--ext-prover without --poster: the processors have nothing to prove until WinningPoSt (--miner) lands")
		}
		return m, nil
	}
	if d.sealing.node == nil {
		m.close()
		return nil, errors.New("--poster needs a chain node: set [Common.API] Chain (and Token) in sector-manager.cfg")
	}
	enabled := 0
	for _, mi := range cfg.Miners {
		if mi.PoSt.Enabled && mi.Actor != 0 {
			enabled++
		}
	}
	if enabled == 0 {
		log.Warnw("--poster: no [[Miners]] has PoSt.Enabled = true; nothing is proven until one has (SIGUSR1 reloads the config)")
	}
	events := chain.NewHeadEvents(d.sealing.node, chain.HeadEventsConfig{PollInterval: time.Duration(cfg.Common.API.ChainEventInterval)})
	p, err := poster.New(poster.Config{
		Chain:      d.sealing.node,
		Events:     events,
		DB:         d.db,
		Locator:    d.sealing.indexer,
		Engine:     d.engine,
		Prover:     pr,
		Miners:     d.miners,
		Proving:    d.proving,
		Registry:   d.registry,
		BlockDelay: blockDelay(ctx, d.sealing.node),
		Holder:     leaseHolder(h),
	})
	if err != nil {
		m.close()
		return nil, err
	}
	m.run = func(ctx context.Context) {
		var wg sync.WaitGroup
		if m.jobs != nil {
			wg.Go(func() { m.jobs.Run(ctx) })
		}
		wg.Go(func() {
			if err := events.Run(ctx); err != nil && ctx.Err() == nil {
				log.Errorw("chain head events stopped: WindowPoSt stops until a restart", "err", err)
			}
		})
		if err := p.Run(ctx); err != nil {
			log.Errorw("poster stopped: no WindowPoSt until a restart", "err", err)
		}
		wg.Wait()
	}
	log.Infow("poster enabled", "miners", enabled, "prover", pr.Name())
	return m, nil
}

// startExtProver starts the processors of ext-prover.cfg (from --conf-dir
// when given). Blocks without Bin run damocles-worker from this binary's
// directory.
func startExtProver(ctx context.Context, h home.Home, fallback prover.Prover) (*prover.Ext, error) {
	path := h.ConfPath(config.ExtProverFileName)
	cfg, err := config.LoadExtProver(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--ext-prover needs %s: create it (daemon init writes a template) with at least one [[WdPost]] block", path)
	}
	if err != nil {
		return nil, err
	}
	self := ""
	for _, e := range append(cfg.WdPost, cfg.WinPost...) {
		if e.Bin == "" {
			if self, err = cliutil.SiblingBinary(workerBinaryName); err != nil {
				return nil, fmt.Errorf("%s: a block without Bin runs %s: %w", path, workerBinaryName, err)
			}
			break
		}
	}
	return prover.NewExt(ctx, cfg, self, fallback)
}

// leaseHolder names this manager in the WindowPoSt leadership leases: its
// host and home directory, so two managers differ and a restarted one
// gets its lease back at once.
func leaseHolder(h home.Home) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return host + ":" + h.Dir
}
