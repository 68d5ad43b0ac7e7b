package poster_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/poster"
	"github.com/damocles-go/damocles/internal/prover"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
)

// paceInterval is the devnet's block time while a test walks through a
// deadline window: the poster reacts to real head changes in real time.
const paceInterval = 20 * time.Millisecond

const storeName = "store-1"

// harness is an in-process devnet with sealed sectors indexed in a persist
// store, and the poster proving them.
type harness struct {
	t       testing.TB
	d       *devnettest.Chain
	db      *store.DB
	root    string
	index   *sectors.Indexer
	sectors []devnettest.SealedSector
	miner   atomic.Pointer[config.Miner]
	proving config.Proving
	prover  prover.Prover
	// notifier streams head changes to the poster; nil means the node.
	notifier chain.HeadNotifier
	// blockTime is the pace of the walks and the poster's block delay;
	// 0 means paceInterval.
	blockTime time.Duration
}

// epoch is the harness's block time.
func (h *harness) epoch() time.Duration {
	if h.blockTime > 0 {
		return h.blockTime
	}
	return paceInterval
}

func newHarness(t testing.TB, opts devnettest.Options) *harness {
	t.Helper()
	if opts.PreCommitChallengeDelay == 0 {
		opts.PreCommitChallengeDelay = 5
	}
	db, err := store.Open(context.Background(), store.DriverSQLite, filepath.Join(t.TempDir(), "manager.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, d: devnettest.NewWithOptions(t, opts), db: db, root: t.TempDir()}
	stores, err := sectors.NewPersistStores([]config.PersistStore{{Name: storeName, Path: h.root}}, h.db, sectors.PersistStoresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.index = sectors.NewIndexer(h.db, stores, nil)
	h.prover = prover.Local{Engine: h.d.Engine}
	h.proving = config.Proving{ParallelCheckLimit: 8, SingleCheckTimeout: config.Duration(5 * time.Second), PartitionCheckTimeout: config.Duration(20 * time.Second)}
	m := config.Miner{Actor: uint64(h.d.Actor)}
	m.PoSt.Enabled = true
	m.PoSt.StrictCheck = true
	m.PoSt.Sender = config.Address{Address: h.d.Wallet}
	h.miner.Store(&m)
	return h
}

// setPoSt changes the miner's [Miners.PoSt] as a config reload would.
func (h *harness) setPoSt(change func(*config.MinerPoSt)) {
	m := *h.miner.Load()
	change(&m.PoSt)
	h.miner.Store(&m)
}

// seal seals count sectors, activates them and indexes their files.
func (h *harness) seal(count int) {
	h.t.Helper()
	ctx := context.Background()
	for _, s := range h.d.SealSectors(h.root, count) {
		id := abi.SectorID{Miner: h.d.Actor, Number: s.Number}
		if err := h.index.Update(ctx, sectors.IndexNormal, id, rpc.SectorAccessStores{SealedFile: storeName, CacheDir: storeName}); err != nil {
			h.t.Fatal(err)
		}
		h.sectors = append(h.sectors, s)
	}
}

// runningPoster is a started poster.
type runningPoster struct {
	registry *prometheus.Registry
	stop     func()
}

// start runs a poster (and its head events) until the returned stop or
// the test's end.
func (h *harness) start(mods ...func(*poster.Config)) *runningPoster {
	h.t.Helper()
	reg := prometheus.NewRegistry()
	var notifier chain.HeadNotifier = h.d.Node
	if h.notifier != nil {
		notifier = h.notifier
	}
	events := chain.NewHeadEvents(notifier, chain.HeadEventsConfig{PollInterval: h.epoch()})
	cfg := poster.Config{
		Chain:         h.d.Node,
		Events:        events,
		DB:            h.db,
		Locator:       h.index,
		Engine:        h.d.Engine,
		Prover:        h.prover,
		Miners:        func() []config.Miner { return []config.Miner{*h.miner.Load()} },
		Proving:       func() config.Proving { return h.proving },
		Registry:      reg,
		RetryInterval: 50 * time.Millisecond,
		BlockDelay:    h.epoch(),
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	p, err := poster.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = events.Run(ctx) })
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			h.t.Errorf("poster: %v", err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.t.Cleanup(stop)
	return &runningPoster{registry: reg, stop: stop}
}

func (h *harness) height() abi.ChainEpoch { return h.d.Chain.Head().Height }

// pace mines one epoch every block time up to epoch to, stopping early
// when until (if not nil) holds.
func (h *harness) pace(to abi.ChainEpoch, until func() bool) {
	h.t.Helper()
	for h.height() < to {
		if until != nil && until() {
			return
		}
		time.Sleep(h.epoch())
		h.d.Advance(1)
	}
}

// deadlineOf returns the next occurrence (not yet closed) of deadline idx.
func (h *harness) deadlineOf(idx uint64) *dline.Info {
	h.t.Helper()
	di, err := h.d.Node.StateMinerProvingDeadline(context.Background(), h.d.Miner, chain.TipSetKey{})
	if err != nil {
		h.t.Fatal(err)
	}
	for range chain.WPoStPeriodDeadlines + 1 {
		if di.Index == idx && di.Close > h.height() {
			return di
		}
		di = chain.NextDeadline(di)
	}
	h.t.Fatalf("deadline %d not found", idx)
	return nil
}

// sectorDeadlines maps each deadline holding sectors to its partition
// count.
func (h *harness) sectorDeadlines() map[uint64]int {
	h.t.Helper()
	out := map[uint64]int{}
	for idx := range chain.WPoStPeriodDeadlines {
		parts, err := h.d.Node.StateMinerPartitions(context.Background(), h.d.Miner, idx, chain.TipSetKey{})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(parts) > 0 {
			out[idx] = len(parts)
		}
	}
	return out
}

// deadlineHolding returns the deadline holding sector n.
func (h *harness) deadlineHolding(n abi.SectorNumber) uint64 {
	h.t.Helper()
	for idx := range chain.WPoStPeriodDeadlines {
		parts, err := h.d.Node.StateMinerPartitions(context.Background(), h.d.Miner, idx, chain.TipSetKey{})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, p := range parts {
			if ok, _ := p.AllSectors.IsSet(uint64(n)); ok {
				return idx
			}
		}
	}
	h.t.Fatalf("sector %d is in no deadline", n)
	return 0
}

// catchUpEpochs are paced after a jump before the epochs that matter: a
// jump of thousands of epochs floods the head notifications, and the
// poster needs a moment to reach the head.
const catchUpEpochs = 50

// jumpBefore mines quickly to catchUpEpochs before epoch and paces from
// there to epoch.
func (h *harness) jumpBefore(epoch abi.ChainEpoch) {
	h.t.Helper()
	h.d.AdvanceTo(epoch - catchUpEpochs)
	h.pace(epoch, nil)
}

// interval is a stretch of epochs the poster must live through in real
// time: from (the head at) Start to End.
type interval struct{ Start, End abi.ChainEpoch }

// walk paces through every interval, in time order, and jumps over the
// epochs between them.
func (h *harness) walk(intervals ...interval) {
	h.t.Helper()
	slices.SortFunc(intervals, func(a, b interval) int { return int(a.Start - b.Start) })
	for _, iv := range intervals {
		if iv.End <= h.height() {
			continue
		}
		if iv.Start-catchUpEpochs > h.height() {
			h.d.AdvanceTo(iv.Start - catchUpEpochs)
		}
		h.pace(iv.End, nil)
	}
}

// windowInterval is the stretch from a deadline's challenge to just past
// its close.
func windowInterval(di *dline.Info) interval { return interval{di.Challenge, di.Close + 1} }

// walkWindows walks through the next window of every deadline holding
// sectors, and the extra intervals, and returns the windows.
func (h *harness) walkWindows(extra ...interval) []*dline.Info {
	h.t.Helper()
	windows := h.windowsInOrder()
	for _, di := range windows {
		extra = append(extra, windowInterval(di))
	}
	h.walk(extra...)
	return windows
}

// walkWindow jumps to just before the next challenge of deadline idx and
// paces through its window, returning it.
func (h *harness) walkWindow(idx uint64) *dline.Info {
	h.t.Helper()
	di := h.deadlineOf(idx)
	h.jumpBefore(di.Challenge)
	h.pace(di.Close+1, nil)
	return di
}

func (h *harness) stats() devnet.MinerStats {
	h.t.Helper()
	s, err := h.d.Chain.Stats(h.d.Miner)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// postsOf returns the PoSt records of the window that opened at open.
func (h *harness) postsOf(di *dline.Info) []devnet.PoStRecord {
	var out []devnet.PoStRecord
	for _, p := range h.stats().PoSts {
		if p.Deadline == di.Index && p.Epoch >= di.Open && p.Epoch < di.Close+1 {
			out = append(out, p)
		}
	}
	return out
}

func (h *harness) requireNoMissed() {
	h.t.Helper()
	if s := h.stats(); len(s.Missed) > 0 || s.ProofsRejected > 0 {
		h.t.Fatalf("missed partitions %+v, rejected proofs %d", s.Missed, s.ProofsRejected)
	}
}

func (h *harness) sealedPath(n abi.SectorNumber) string {
	for _, s := range h.sectors {
		if s.Number == n {
			return s.SealedPath
		}
	}
	h.t.Fatalf("sector %d not sealed", n)
	return ""
}

func backup(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Clean(path), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// counter sums the values of a counter family (all label sets).
func (p *runningPoster) counter(name string) float64 {
	families, err := p.registry.Gather()
	if err != nil {
		panic(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// histogramSums sums the observations of a histogram family per value of
// label ("" for all).
func (p *runningPoster) histogramSums(name, label string) map[string]float64 {
	families, err := p.registry.Gather()
	if err != nil {
		panic(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					key = l.GetValue()
				}
			}
			out[key] += m.GetHistogram().GetSampleSum()
		}
	}
	return out
}
