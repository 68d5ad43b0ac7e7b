package poster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/store"
)

// LeaseTTLDefault is how long a manager's WindowPoSt leadership of a miner
// lasts without renewal: how long the others wait before they take over
// from a manager that died.
const LeaseTTLDefault = 30 * time.Second

// leadership is the rule that keeps managers sharing one database from
// proving the same miner twice: one lease per miner in the leases table,
// named "poster/<actor>". Only the manager holding it starts that miner's
// deadline runners; it renews the lease as heads arrive (every third of
// the TTL) and confirms it before each push. A manager that stops
// renewing (dead, cut off from the database) loses the lease after the
// TTL and another takes over; a clean stop releases it at once. The
// holder name is stable across restarts of one manager (host and home),
// so a restarted manager gets its lease back without waiting.
//
// On one SQLite database there is only ever one manager, and the lease
// costs one write every TTL/3.
type leadership struct {
	leases *store.Leases
	holder string
	ttl    time.Duration
	now    func() time.Time

	mu sync.Mutex
	// expires is when each held lease ends, as last renewed.
	expires map[abi.ActorID]time.Time
	// other remembers who else held a lease, to log changes only.
	other map[abi.ActorID]string
}

func newLeadership(leases *store.Leases, holder string, ttl time.Duration) *leadership {
	if ttl <= 0 {
		ttl = LeaseTTLDefault
	}
	return &leadership{leases: leases, holder: holder, ttl: ttl, now: time.Now,
		expires: map[abi.ActorID]time.Time{}, other: map[abi.ActorID]string{}}
}

func leaseName(actor abi.ActorID) string { return fmt.Sprintf("poster/%d", actor) }

// leads tells whether this manager proves actor now, renewing the lease
// when a third of its TTL has passed. A database error keeps a lease that
// has not expired yet, and never takes one.
func (l *leadership) leads(ctx context.Context, actor abi.ActorID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	exp, held := l.expires[actor]
	if held && now.Before(exp.Add(-l.ttl*2/3)) {
		return true
	}
	return l.acquireLocked(ctx, actor, now, held && now.Before(exp))
}

// confirm renews the lease now and tells whether it is still held: a
// runner asks before it pushes a message.
func (l *leadership) confirm(ctx context.Context, actor abi.ActorID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	exp, held := l.expires[actor]
	return l.acquireLocked(ctx, actor, now, held && now.Before(exp))
}

func (l *leadership) acquireLocked(ctx context.Context, actor abi.ActorID, now time.Time, stillValid bool) bool {
	lease, ok, err := l.leases.Acquire(ctx, leaseName(actor), l.holder, l.ttl, now)
	if err != nil {
		log.Warnw("cannot renew the WindowPoSt leadership of the miner", "miner", actor, "holder", l.holder, "err", err, "still-valid", stillValid)
		return stillValid
	}
	_, was := l.expires[actor]
	if !ok {
		if was {
			log.Warnw("lost the WindowPoSt leadership of the miner to another manager", "miner", actor, "leader", lease.Holder, "until", lease.ExpiresAt)
		} else if l.other[actor] != lease.Holder {
			log.Infow("another manager proves this miner (WindowPoSt leader)", "miner", actor, "leader", lease.Holder, "until", lease.ExpiresAt)
		}
		delete(l.expires, actor)
		l.other[actor] = lease.Holder
		return false
	}
	if !was {
		log.Infow("WindowPoSt leader for the miner", "miner", actor, "holder", l.holder, "ttl", l.ttl)
	}
	delete(l.other, actor)
	l.expires[actor] = lease.ExpiresAt
	return true
}

// releaseAll gives up every lease held, so another manager takes over at
// once; for a clean stop.
func (l *leadership) releaseAll(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for actor := range l.expires {
		if err := l.leases.Release(ctx, leaseName(actor), l.holder); err != nil {
			log.Warnw("cannot release the WindowPoSt leadership", "miner", actor, "err", err)
		}
		delete(l.expires, actor)
	}
}
