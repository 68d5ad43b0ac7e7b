package poster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/prover"
	"github.com/damocles-go/damocles/internal/store"
)

// Defaults of the [Miners.PoSt] keys whose zero means "the default".
const (
	ChallengeConfidenceDefault = 10
	SubmitConfidenceDefault    = 4
)

// RetryIntervalDefault is the wait before a failed proof or chain call of a
// runner is tried again.
const RetryIntervalDefault = time.Second

// pruneAge is how long the records of pushed messages are kept, in epochs:
// two proving periods, well past any deadline they could matter to.
const pruneAge = 2 * chain.WPoStProvingPeriod

// Config wires a Poster.
type Config struct {
	Chain chain.API
	// Events delivers head changes; the caller runs it.
	Events *chain.HeadEvents
	DB     *store.DB
	// Locator finds sector files (the sector indexer).
	Locator Locator
	// Engine checks sectors (strict check) and verifies every proof before
	// it is sent.
	Engine proofs.Engine
	// Prover computes the proofs: local, ext-prover or worker-prover.
	Prover prover.Prover
	// Miners returns the [[Miners]] in force; it is read on every head, so
	// a config reload takes effect at the next deadline.
	Miners func() []config.Miner
	// Proving returns [Common.Proving] in force.
	Proving func() config.Proving
	// Registry receives the metrics; nil means a private registry.
	Registry prometheus.Registerer
	// RetryInterval is the wait before a failed attempt is tried again; 0
	// means RetryIntervalDefault.
	RetryInterval time.Duration
	// Holder names this manager in the leases that keep managers sharing
	// one database from proving a miner twice (see leadership); it must
	// differ between managers and stay the same across restarts of one.
	// Empty means the host name.
	Holder string
	// LeaseTTL is how long a leadership lasts without renewal; 0 means
	// LeaseTTLDefault.
	LeaseTTL time.Duration
	// BlockDelay is the chain's time between epochs; it bounds each
	// proving attempt to half the time left in the window, so a prover
	// that hangs costs an attempt, not the deadline. 0 means
	// BlockDelayDefault (mainnet's 30s).
	BlockDelay time.Duration
}

// BlockDelayDefault is mainnet's time between epochs.
const BlockDelayDefault = 30 * time.Second

// Poster schedules the deadline runners of every miner with WindowPoSt
// enabled.
type Poster struct {
	cfg     Config
	checker *Checker
	metrics *metrics
	heads   headWatch
	leader  *leadership

	mu      sync.Mutex
	miners  map[abi.ActorID]*minerInfo
	runners map[runnerKey]*runner
	// wg owns every runner goroutine.
	wg         sync.WaitGroup
	lastPruned abi.ChainEpoch
}

// runnerKey names one occurrence of a deadline of a miner.
type runnerKey struct {
	miner abi.ActorID
	open  abi.ChainEpoch
}

// minerInfo is what the poster reads about a miner once.
type minerInfo struct {
	actor abi.ActorID
	addr  address.Address
	// offset is any PeriodStart of the miner: with it the deadlines are
	// computed locally.
	offset           abi.ChainEpoch
	postProof        abi.RegisteredPoStProof
	partitionSectors uint64
	entropy          []byte
}

// New checks cfg and returns a Poster; Run starts it.
func New(cfg Config) (*Poster, error) {
	switch {
	case cfg.Chain == nil:
		return nil, errors.New("poster: no chain node: set [Common.API] Chain")
	case cfg.Events == nil, cfg.DB == nil, cfg.Locator == nil, cfg.Engine == nil, cfg.Prover == nil, cfg.Miners == nil, cfg.Proving == nil:
		return nil, errors.New("poster: incomplete config")
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = RetryIntervalDefault
	}
	if cfg.BlockDelay <= 0 {
		cfg.BlockDelay = BlockDelayDefault
	}
	if cfg.Holder == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("poster: no Holder given and no host name: %w", err)
		}
		cfg.Holder = host
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Poster{
		cfg:     cfg,
		checker: NewChecker(cfg.Locator, cfg.Engine),
		metrics: m,
		heads:   headWatch{changed: make(chan struct{})},
		leader:  newLeadership(cfg.DB.Leases(), cfg.Holder, cfg.LeaseTTL),
		miners:  map[abi.ActorID]*minerInfo{},
		runners: map[runnerKey]*runner{},
	}, nil
}

// Run follows the chain head and starts, for every enabled miner, the
// runner of each deadline whose challenge is ChallengeConfidence epochs
// old: the open deadline's and, while it is still open, the next one's.
// It returns when ctx ends, after every runner stopped.
func (p *Poster) Run(ctx context.Context) error {
	ch, unsubscribe := p.cfg.Events.Subscribe()
	defer unsubscribe()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		p.wg.Wait()
		release, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		p.leader.releaseAll(release)
	}()
	log.Infow("poster started", "prover", p.cfg.Prover.Name(), "holder", p.cfg.Holder)
	for {
		select {
		case <-ctx.Done():
			return nil
		case hc, ok := <-ch:
			if !ok {
				return nil
			}
			// Act on the newest head only: a backlog (a restart, a slow
			// node) would otherwise start runners for deadlines long
			// gone. Reverts are still seen, in order.
			latest := p.handle(nil, hc)
			for more := true; more; {
				select {
				case next, ok := <-ch:
					if !ok {
						return nil
					}
					latest = p.handle(latest, next)
				default:
					more = false
				}
			}
			if latest != nil {
				p.onHead(ctx, latest)
			}
		}
	}
}

// handle applies a revert at once and returns the head to act on.
func (p *Poster) handle(latest *chain.TipSet, hc chain.HeadChange) *chain.TipSet {
	switch {
	case hc.Val == nil:
		return latest
	case hc.Type == chain.HCRevert:
		p.onRevert(hc.Val)
		return nil
	default:
		return hc.Val
	}
}

// onHead starts the runners due at ts and stops the ones whose deadline
// closed.
func (p *Poster) onHead(ctx context.Context, ts *chain.TipSet) {
	p.heads.set(ts)
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, r := range p.runners {
		if ts.Height >= r.di.Close {
			r.cancel()
			delete(p.runners, key)
		}
	}
	proving := p.cfg.Proving()
	for _, m := range p.cfg.Miners() {
		if !m.PoSt.Enabled || m.Actor == 0 {
			continue
		}
		if !p.leader.leads(ctx, abi.ActorID(m.Actor)) {
			p.stopRunnersLocked(abi.ActorID(m.Actor))
			continue
		}
		mi, err := p.minerInfoLocked(ctx, abi.ActorID(m.Actor), ts)
		if err != nil {
			log.Warnw("cannot read the miner from the chain; its WindowPoSt waits for the next head", "miner", m.Actor, "err", err)
			continue
		}
		cur := chain.DeadlineAt(mi.offset, ts.Height)
		for _, di := range []*dline.Info{cur, chain.NextDeadline(cur)} {
			if ts.Height < di.Challenge+challengeConfidence(m.PoSt) || ts.Height >= di.Close {
				continue
			}
			key := runnerKey{miner: mi.actor, open: di.Open}
			if _, ok := p.runners[key]; ok {
				continue
			}
			r := p.newRunner(ctx, mi, m.PoSt, proving, di)
			p.runners[key] = r
			p.wg.Go(r.run)
		}
	}
	if ts.Height-p.lastPruned >= chain.WPoStProvingPeriod {
		p.lastPruned = ts.Height
		p.wg.Go(func() { p.prune(ctx, ts.Height) })
	}
}

// stopRunnersLocked stops the runners of a miner this manager no longer
// leads.
func (p *Poster) stopRunnersLocked(actor abi.ActorID) {
	for key, r := range p.runners {
		if key.miner == actor {
			log.Warnw("stopping the deadline runner: another manager leads this miner", r.logw()...)
			r.cancel()
			delete(p.runners, key)
		}
	}
}

// onRevert stops the runners whose challenge randomness the reverted
// tipset may change; the next head starts them again.
func (p *Poster) onRevert(ts *chain.TipSet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, r := range p.runners {
		if ts.Height <= r.di.Challenge {
			log.Warnw("chain reverted below a deadline's challenge: proving it again", "miner", r.mi.actor, "deadline", r.di.Index, "reverted", ts.Height, "challenge", r.di.Challenge)
			r.cancel()
			delete(p.runners, key)
		}
	}
}

func (p *Poster) prune(ctx context.Context, height abi.ChainEpoch) {
	n, err := p.cfg.DB.PoStMessages().PruneBefore(ctx, height-pruneAge)
	if err != nil {
		log.Warnw("cannot prune old WindowPoSt message records", "err", err)
		return
	}
	if n > 0 {
		log.Debugw("pruned old WindowPoSt message records", "rows", n)
	}
}

func (p *Poster) minerInfoLocked(ctx context.Context, actor abi.ActorID, ts *chain.TipSet) (*minerInfo, error) {
	if mi, ok := p.miners[actor]; ok {
		return mi, nil
	}
	addr, err := address.NewIDAddress(uint64(actor))
	if err != nil {
		return nil, err
	}
	info, err := p.cfg.Chain.StateMinerInfo(ctx, addr, ts.Key())
	if err != nil {
		return nil, fmt.Errorf("miner info: %w", err)
	}
	di, err := p.cfg.Chain.StateMinerProvingDeadline(ctx, addr, ts.Key())
	if err != nil {
		return nil, fmt.Errorf("proving deadline: %w", err)
	}
	var entropy bytes.Buffer
	if err := addr.MarshalCBOR(&entropy); err != nil {
		return nil, err
	}
	mi := &minerInfo{
		actor:            actor,
		addr:             addr,
		offset:           di.PeriodStart,
		postProof:        info.WindowPoStProofType,
		partitionSectors: info.WindowPoStPartitionSectors,
		entropy:          entropy.Bytes(),
	}
	if mi.partitionSectors == 0 {
		return nil, fmt.Errorf("miner %s reports a WindowPoSt partition size of 0", addr)
	}
	p.miners[actor] = mi
	log.Infow("proving for miner", "miner", addr, "proof", mi.postProof, "partition-sectors", mi.partitionSectors, "period-start", mi.offset)
	return mi, nil
}

// maxPartitionsPerMessage is how many partitions one SubmitWindowedPoSt
// may carry: the protocol's limit for the miner's partition size, lowered
// by MaxPartitionsPerPoStMessage when set.
func (mi *minerInfo) maxPartitionsPerMessage(cfg config.MinerPoSt) int {
	limit := min(miner.AddressedSectorsMax/mi.partitionSectors, miner.AddressedPartitionsMax, miner.PoStedPartitionsMax)
	if cfg.MaxPartitionsPerPoStMessage > 0 {
		limit = min(limit, cfg.MaxPartitionsPerPoStMessage)
	}
	return int(max(limit, 1))
}

func challengeConfidence(c config.MinerPoSt) abi.ChainEpoch {
	if c.ChallengeConfidence == 0 {
		return ChallengeConfidenceDefault
	}
	return abi.ChainEpoch(c.ChallengeConfidence)
}

func submitConfidence(c config.MinerPoSt) abi.ChainEpoch {
	if c.SubmitConfidence == 0 {
		return SubmitConfidenceDefault
	}
	return abi.ChainEpoch(c.SubmitConfidence)
}

// headWatch is the latest head, for runners to wait on.
type headWatch struct {
	mu      sync.Mutex
	ts      *chain.TipSet
	changed chan struct{}
}

func (w *headWatch) set(ts *chain.TipSet) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ts = ts
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *headWatch) head() *chain.TipSet {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ts
}

// wait returns the head once it is at height h or above.
func (w *headWatch) wait(ctx context.Context, h abi.ChainEpoch) (*chain.TipSet, error) {
	for {
		w.mu.Lock()
		ts, changed := w.ts, w.changed
		w.mu.Unlock()
		if ts != nil && ts.Height >= h {
			return ts, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}
