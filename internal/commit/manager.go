package commit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/store"
)

// PollIntervalDefault is how often, without batching, the Manager looks at
// the chain for the messages it sent and for sectors still to send.
const PollIntervalDefault = 30 * time.Second

// Config configures New.
type Config struct {
	// Miners are the [[Miners]] blocks of sector-manager.cfg; their order
	// names them in errors (Miners[i]).
	Miners []config.Miner
	// DB holds the sector rows.
	DB *store.DB
	// Chain sends the messages and reads their results.
	Chain chain.API
	// Now tells the time that MaxWait is measured in; nil means time.Now.
	Now func() time.Time
	// Clock paces the loop of Run; nil means the wall clock.
	Clock chain.Clock
	// PollInterval is the longest wait of Run between two passes; 0 is
	// PollIntervalDefault. An enabled batch's CheckInterval shortens it.
	PollInterval time.Duration
}

// ErrNoSender is returned (wrapped) by a submission for a miner whose
// policy names no sender for the message.
var ErrNoSender = errors.New("no sender address")

// minerCfg is one configured miner and the key of its block in errors.
type minerCfg struct {
	cfg   config.Miner
	key   string
	maddr address.Address
}

// Manager sends the commitment messages of the configured miners. Its
// methods are safe for concurrent use.
type Manager struct {
	db      *store.DB
	sectors *store.Sectors
	chain   chain.API
	now     func() time.Time
	clock   chain.Clock
	miners  map[abi.ActorID]*minerCfg
	// interval is the wait of Run between passes.
	interval time.Duration
	// kick wakes Run when a submission may be sent at once.
	kick chan struct{}

	// sendMu orders submissions and the packing of messages, so that a
	// reset never rewrites a sector between its message being built and
	// being recorded.
	sendMu sync.Mutex

	mu sync.Mutex
	// waitingSince is when each pending sector was first seen waiting for
	// a batch, the start of its MaxWait. It is memory only: a restarted
	// manager counts from the row's UpdatedAt instead.
	waitingSince map[pendingKey]time.Time
}

type pendingKey struct {
	id   abi.SectorID
	kind kind
}

// New returns a Manager for the miners of cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.DB == nil || cfg.Chain == nil {
		return nil, errors.New("commit manager: DB and Chain are required")
	}
	m := &Manager{
		db:           cfg.DB,
		sectors:      cfg.DB.Sectors(),
		chain:        cfg.Chain,
		now:          cfg.Now,
		clock:        cfg.Clock,
		miners:       map[abi.ActorID]*minerCfg{},
		interval:     cfg.PollInterval,
		kick:         make(chan struct{}, 1),
		waitingSince: map[pendingKey]time.Time{},
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.clock == nil {
		m.clock = wallClock{}
	}
	if m.interval <= 0 {
		m.interval = PollIntervalDefault
	}
	for i, mc := range cfg.Miners {
		key := fmt.Sprintf("Miners[%d]", i)
		maddr, err := address.NewIDAddress(mc.Actor)
		if err != nil {
			return nil, fmt.Errorf("commit manager: %s.Actor %d: %w", key, mc.Actor, err)
		}
		if _, dup := m.miners[abi.ActorID(mc.Actor)]; dup {
			return nil, fmt.Errorf("commit manager: %s: miner %d is configured twice", key, mc.Actor)
		}
		m.miners[abi.ActorID(mc.Actor)] = &minerCfg{cfg: mc, key: key, maddr: maddr}
		for _, p := range []config.CommitPolicy{mc.Commitment.Pre, mc.Commitment.Prove} {
			if d := p.Batch.CheckInterval.Std(); p.Batch.Enabled && d > 0 && d < m.interval {
				m.interval = d
			}
		}
	}
	return m, nil
}

type wallClock struct{}

func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Run sends and follows messages until ctx ends: a pass every interval,
// and one as soon as a submission can go out alone. It returns nil when
// ctx ends; a failed pass is logged and retried at the next.
func (m *Manager) Run(ctx context.Context) error {
	for {
		if err := m.Process(ctx); err != nil && ctx.Err() == nil {
			log.Warnw("commitment pass failed; retrying at the next", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-m.clock.After(m.interval):
		}
	}
}

// wake asks Run for a pass without waiting for the interval.
func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Process is one pass of Run, for every miner: follow the messages sent,
// then send what is due. Tests call it to step the Manager.
func (m *Manager) Process(ctx context.Context) error {
	var errs []error
	for actor, mi := range m.miners {
		if err := m.processMiner(ctx, mi); err != nil {
			errs = append(errs, fmt.Errorf("miner %d: %w", actor, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) processMiner(ctx context.Context, mi *minerCfg) error {
	sectors, err := m.sectors.List(ctx, store.SectorFilter{States: []store.SectorState{store.SectorOnline}, Miner: abi.ActorID(mi.cfg.Actor)})
	if err != nil {
		return err
	}
	head, err := m.chain.ChainHead(ctx)
	if err != nil {
		return fmt.Errorf("chain head: %w", err)
	}
	var errs []error
	for _, k := range []kind{preCommit, proveCommit} {
		if err := m.track(ctx, mi, k, sectors, head.Height); err != nil {
			errs = append(errs, err)
		}
	}
	// The rows changed while tracking: a landed pre-commit lets its proof go.
	if sectors, err = m.sectors.List(ctx, store.SectorFilter{States: []store.SectorState{store.SectorOnline}, Miner: abi.ActorID(mi.cfg.Actor)}); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, k := range []kind{preCommit, proveCommit} {
		if err := m.send(ctx, mi, k, sectors, head.Height); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
