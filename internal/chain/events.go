package chain

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	logging "github.com/ipfs/go-log/v2"
)

var log = logging.Logger("chain")

// HeadNotifier is what HeadEvents needs of a chain node; an API has it.
type HeadNotifier interface {
	ChainNotify(ctx context.Context) (<-chan []*HeadChange, error)
	ChainHead(ctx context.Context) (*TipSet, error)
	ChainGetTipSetByHeight(ctx context.Context, h abi.ChainEpoch, tsk TipSetKey) (*TipSet, error)
}

// Clock tells time. HeadEvents waits only through it, so tests can drive
// time instead of sleeping.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of HeadEventsConfig.
const (
	PollIntervalDefault        = time.Minute
	StreamRetryIntervalDefault = 5 * time.Minute
	ResubscribeMinDefault      = time.Second
	ResubscribeMaxDefault      = 30 * time.Second
	SubscriberBufferDefault    = 128
	MaxCatchUpDefault          = 120
)

// HeadEventsConfig configures NewHeadEvents; a zero field takes its default.
type HeadEventsConfig struct {
	// PollInterval is how often ChainHead is polled when the node cannot stream head changes: [Common.API] ChainEventInterval.
	PollInterval time.Duration
	// StreamRetryInterval is the longest wait, while polling, before ChainNotify is tried again (the wait doubles from ResubscribeMin).
	StreamRetryInterval time.Duration
	// ResubscribeMin is the first wait before subscribing again after a stream ended; it doubles up to ResubscribeMax.
	ResubscribeMin time.Duration
	// ResubscribeMax is the longest wait before subscribing again after a stream ended.
	ResubscribeMax time.Duration
	// SubscriberBuffer is how many events a subscriber may fall behind before its backlog is replaced by one HCCurrent event.
	SubscriberBuffer int
	// MaxCatchUp is how many tipsets are replayed (and kept for reverts) when the head jumps; a longer jump sends HCCurrent instead.
	MaxCatchUp int
	// Clock tells time; nil means the wall clock.
	Clock Clock
}

func (c HeadEventsConfig) withDefaults() HeadEventsConfig {
	setDuration := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setDuration(&c.PollInterval, PollIntervalDefault)
	setDuration(&c.StreamRetryInterval, StreamRetryIntervalDefault)
	setDuration(&c.ResubscribeMin, ResubscribeMinDefault)
	setDuration(&c.ResubscribeMax, ResubscribeMaxDefault)
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = SubscriberBufferDefault
	}
	if c.MaxCatchUp <= 0 {
		c.MaxCatchUp = MaxCatchUpDefault
	}
	if c.Clock == nil {
		c.Clock = wallClock{}
	}
	return c
}

// HeadEvents follows a chain node's head and hands every change to its
// subscribers, in chain order: HCApply for each new tipset, oldest first,
// and HCRevert for each tipset leaving the chain, newest first (a reorg is
// its reverts then its applies). It streams ChainNotify and subscribes
// again, with backoff, when the stream ends. When the node cannot stream
// (ChainNotify fails, as over plain HTTP) it polls ChainHead every
// PollInterval and makes the same events itself, walking back from the
// new head with ChainGetTipSetByHeight to the last tipset it delivered,
// while it retries ChainNotify now and then.
//
// HCCurrent means "start from here": a subscriber gets one first (when the
// head is known), and again whenever the events in between cannot be
// given: the head moved more than MaxCatchUp tipsets, the walk back failed,
// or the subscriber fell SubscriberBuffer events behind. A slow subscriber
// never blocks the others or the node: its backlog is coalesced into one
// HCCurrent holding the latest head.
type HeadEvents struct {
	node HeadNotifier
	cfg  HeadEventsConfig

	// history holds the delivered chain, oldest first, at most MaxCatchUp
	// tipsets; its last one is the head. Only Run's goroutine uses it.
	history []*TipSet

	mu      sync.Mutex
	head    *TipSet
	subs    map[*subscription]struct{}
	started bool
	stopped bool
}

type subscription struct {
	ch chan HeadChange
}

// NewHeadEvents returns events of node's head; they flow once Run runs.
func NewHeadEvents(node HeadNotifier, cfg HeadEventsConfig) *HeadEvents {
	return &HeadEvents{node: node, cfg: cfg.withDefaults(), subs: map[*subscription]struct{}{}}
}

// Subscribe returns a channel of head changes, starting with HCCurrent
// when the head is already known, and a function that ends the
// subscription and closes the channel. The channel is also closed when Run
// returns.
func (e *HeadEvents) Subscribe() (<-chan HeadChange, func()) {
	s := &subscription{ch: make(chan HeadChange, e.cfg.SubscriberBuffer)}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		close(s.ch)
		return s.ch, func() {}
	}
	if e.head != nil {
		s.ch <- HeadChange{Type: HCCurrent, Val: e.head}
	}
	e.subs[s] = struct{}{}
	return s.ch, sync.OnceFunc(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.subs[s]; ok {
			delete(e.subs, s)
			close(s.ch)
		}
	})
}

// Head returns the last head delivered, nil before the first.
func (e *HeadEvents) Head() *TipSet {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.head
}

// Run follows the head until ctx ends, then closes every subscription and
// returns nil. It runs once.
func (e *HeadEvents) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("chain head events: Run called twice")
	}
	e.started = true
	e.mu.Unlock()
	defer e.stop()

	retry := e.cfg.ResubscribeMin
	polling := false
	for ctx.Err() == nil {
		ch, err := e.node.ChainNotify(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !polling {
				log.Warnw("chain node does not stream head changes; polling its head instead",
					"interval", e.cfg.PollInterval, "err", err)
				polling = true
			} else {
				log.Debugw("chain node still does not stream head changes", "err", err)
			}
			e.poll(ctx, retry)
			retry = min(2*retry, e.cfg.StreamRetryInterval)
			continue
		}
		if polling {
			log.Infow("chain node streams head changes again; polling stopped")
			polling = false
		}
		if e.stream(ctx, ch) {
			retry = e.cfg.ResubscribeMin
		}
		if ctx.Err() != nil {
			break
		}
		log.Warnw("chain head change stream ended; subscribing again", "in", retry)
		if !e.sleep(ctx, retry) {
			break
		}
		retry = min(2*retry, e.cfg.ResubscribeMax)
	}
	return nil
}

// stream handles ChainNotify batches until the channel closes or ctx
// ends, and tells whether any batch came.
func (e *HeadEvents) stream(ctx context.Context, ch <-chan []*HeadChange) bool {
	got := false
	for {
		select {
		case <-ctx.Done():
			return got
		case batch, ok := <-ch:
			if !ok {
				return got
			}
			got = true
			for _, hc := range batch {
				if hc == nil || hc.Val == nil {
					continue
				}
				e.handle(ctx, hc)
			}
		}
	}
}

func (e *HeadEvents) handle(ctx context.Context, hc *HeadChange) {
	last := e.last()
	switch hc.Type {
	case HCCurrent:
		e.reconcile(ctx, hc.Val)
	case HCApply:
		if last != nil && hc.Val.Parents() == last.Key() {
			e.apply(hc.Val)
		} else {
			// Not on top of what we delivered (events were missed, or
			// this is a duplicate): work out the path to it.
			e.reconcile(ctx, hc.Val)
		}
	case HCRevert:
		if last != nil && hc.Val.Key() == last.Key() {
			e.revertHead(ctx)
		} else {
			log.Debugw("ignoring revert of a tipset that is not the head", "tipset", hc.Val.Key(), "height", hc.Val.Height)
		}
	default:
		log.Warnw("ignoring head change of unknown type", "type", hc.Type)
	}
}

// poll reconciles with ChainHead at once and every PollInterval, for dur.
func (e *HeadEvents) poll(ctx context.Context, dur time.Duration) {
	until := e.cfg.Clock.After(dur)
	for {
		head, err := e.node.ChainHead(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Warnw("cannot get chain head", "err", err)
			}
		case head != nil:
			e.reconcile(ctx, head)
		}
		select {
		case <-ctx.Done():
			return
		case <-until:
			return
		case <-e.cfg.Clock.After(e.cfg.PollInterval):
		}
	}
}

func (e *HeadEvents) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-e.cfg.Clock.After(d):
		return true
	}
}

// reconcile delivers the events that lead from the last delivered head to
// head: reverts down to their common tipset, then applies up to head.
func (e *HeadEvents) reconcile(ctx context.Context, head *TipSet) {
	last := e.last()
	if last == nil {
		e.resync(head)
		return
	}
	if last.Key() == head.Key() {
		return
	}
	var path []*TipSet // tipsets to apply, newest first
	cur := head
	for {
		if i := e.indexOf(cur.Key()); i >= 0 {
			for len(e.history) > i+1 {
				e.revertHead(ctx)
			}
			for j := len(path) - 1; j >= 0; j-- {
				e.apply(path[j])
			}
			return
		}
		if cur.Height <= e.history[0].Height {
			// The common tipset is older than the history kept.
			if e.extendHistory(ctx) {
				continue
			}
			if ctx.Err() == nil {
				log.Warnw("no common tipset within reach of the new chain head; subscribers start again from it",
					"from", last.Height, "to", head.Height)
				e.resync(head)
			}
			return
		}
		if len(path) >= e.cfg.MaxCatchUp {
			log.Warnw("chain head moved further than can be replayed; subscribers start again from it",
				"from", last.Height, "to", head.Height)
			e.resync(head)
			return
		}
		path = append(path, cur)
		parent, err := e.parent(ctx, cur, head.Key())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warnw("cannot walk back the chain to replay head changes; subscribers start again from the head",
				"height", cur.Height, "err", err)
			e.resync(head)
			return
		}
		cur = parent
	}
}

// extendHistory prepends the parent of the oldest tipset kept, unless
// MaxCatchUp are kept already.
func (e *HeadEvents) extendHistory(ctx context.Context) bool {
	if len(e.history) >= e.cfg.MaxCatchUp {
		return false
	}
	oldest := e.history[0]
	parent, err := e.parent(ctx, oldest, oldest.Key())
	if err != nil {
		if ctx.Err() == nil {
			log.Warnw("cannot get an older tipset of the delivered chain", "height", oldest.Height, "err", err)
		}
		return false
	}
	e.history = append([]*TipSet{parent}, e.history...)
	return true
}

// parent returns the parent of ts on the chain ending at chainHead.
func (e *HeadEvents) parent(ctx context.Context, ts *TipSet, chainHead TipSetKey) (*TipSet, error) {
	if ts.Height <= 0 {
		return nil, errors.New("genesis has no parent")
	}
	// The tipset at or before the height below ts is its parent: the
	// heights in between are null rounds.
	p, err := e.node.ChainGetTipSetByHeight(ctx, ts.Height-1, chainHead)
	switch {
	case err != nil:
		return nil, err
	case p == nil || p.Height >= ts.Height:
		return nil, fmt.Errorf("node returned no tipset below height %d", ts.Height)
	}
	return p, nil
}

func (e *HeadEvents) last() *TipSet {
	if len(e.history) == 0 {
		return nil
	}
	return e.history[len(e.history)-1]
}

func (e *HeadEvents) indexOf(k TipSetKey) int {
	for i := len(e.history) - 1; i >= 0; i-- {
		if e.history[i].Key() == k {
			return i
		}
	}
	return -1
}

func (e *HeadEvents) resync(head *TipSet) {
	e.history = append(e.history[:0], head)
	e.emit(HeadChange{Type: HCCurrent, Val: head})
}

func (e *HeadEvents) apply(ts *TipSet) {
	e.history = append(e.history, ts)
	if over := len(e.history) - e.cfg.MaxCatchUp; over > 0 {
		e.history = append(e.history[:0], e.history[over:]...)
	}
	e.emit(HeadChange{Type: HCApply, Val: ts})
}

// revertHead reverts the head. The history never empties: when the head
// is its only tipset, its parent is fetched first, and when that fails the
// revert is held back for the next apply or current to sort out.
func (e *HeadEvents) revertHead(ctx context.Context) {
	if len(e.history) == 1 && !e.extendHistory(ctx) {
		return
	}
	top := e.last()
	e.history = e.history[:len(e.history)-1]
	e.emit(HeadChange{Type: HCRevert, Val: top})
}

// emit hands hc to every subscriber, without ever waiting for one.
func (e *HeadEvents) emit(hc HeadChange) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.head = e.last()
	for s := range e.subs {
		select {
		case s.ch <- hc:
			continue
		default:
		}
		// Full: replace the backlog with the latest head. Only emit sends,
		// under e.mu, so the channel has room once drained.
		for drained := false; !drained; {
			select {
			case <-s.ch:
			default:
				drained = true
			}
		}
		s.ch <- HeadChange{Type: HCCurrent, Val: e.head}
	}
}

func (e *HeadEvents) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	for s := range e.subs {
		close(s.ch)
		delete(e.subs, s)
	}
}
