package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease is a named lease: who holds it and until when. Managers sharing a
// database elect, say, the one that posts a miner's proofs by acquiring the
// lease named after the task and renewing it while they work.
type Lease struct {
	Name string
	// Holder is who acquired the lease last; empty once released.
	Holder string
	// ExpiresAt is when the lease becomes free unless renewed, the zero
	// time once released. The times of leases are stored to the
	// millisecond, not the second like other tables': a lease lives for
	// seconds.
	ExpiresAt time.Time
	// UpdatedAt is when the lease was last acquired or renewed.
	UpdatedAt time.Time
}

// Leases is the repository of leases (table leases). Acquire is one
// conditional statement, so holders racing through different processes
// elect exactly one.
type Leases struct {
	db *DB
}

// Leases returns the repository of leases.
func (db *DB) Leases() *Leases { return &Leases{db: db} }

// Acquire takes or renews the lease called name for holder until now+ttl:
// it succeeds when the lease is free (never taken or released), expired
// (ExpiresAt <= now) or already held by holder. It returns the lease as
// stored after the call and whether holder holds it. Of several holders
// acquiring a free or expired lease at once, in this process or others,
// exactly one gets it.
func (l *Leases) Acquire(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (Lease, bool, error) {
	fail := func(err error) (Lease, bool, error) {
		return Lease{}, false, fmt.Errorf("acquire lease %q for %q: %w", name, holder, err)
	}
	switch {
	case name == "":
		return fail(errors.New("empty lease name"))
	case holder == "":
		return fail(errors.New("empty holder"))
	case ttl <= 0:
		return fail(fmt.Errorf("non-positive time to live %v", ttl))
	}
	at, expires := now.UnixMilli(), now.Add(ttl).UnixMilli()
	want := Lease{Name: name, Holder: holder, ExpiresAt: time.UnixMilli(expires), UpdatedAt: time.UnixMilli(at)}
	res, err := l.db.exec(ctx, insertIfAbsent(l.db.driver,
		`INSERT INTO leases (name, holder, expires_at, updated_at) VALUES (?, ?, ?, ?)`, "name", "name"),
		name, holder, expires, at)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(err)
	} else if n > 0 {
		return want, true, nil
	}
	// Rows are never deleted, so the lease exists from here on.
	res, err = l.db.exec(ctx, `UPDATE leases SET holder = ?, expires_at = ?, updated_at = ?
		WHERE name = ? AND (holder = ? OR expires_at <= ?)`,
		holder, expires, at, name, holder, at)
	if err != nil {
		return fail(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fail(err)
	}
	stored, err := l.Get(ctx, name)
	if err != nil {
		return fail(err)
	}
	// MySQL counts the rows changed, not those matched: a renewal that
	// writes the values already stored reports none.
	held := stored.Holder == holder &&
		(n > 0 || stored.ExpiresAt.Equal(want.ExpiresAt) && stored.UpdatedAt.Equal(want.UpdatedAt))
	return stored, held, nil
}

// Release gives the lease called name up, if holder holds it: it becomes
// free at once. Releasing a lease one does not hold does nothing. The
// lease's UpdatedAt is left as it was.
func (l *Leases) Release(ctx context.Context, name, holder string) error {
	_, err := l.db.exec(ctx, `UPDATE leases SET holder = '', expires_at = 0 WHERE name = ? AND holder = ?`, name, holder)
	if err != nil {
		return fmt.Errorf("release lease %q held by %q: %w", name, holder, err)
	}
	return nil
}

// Get returns the lease called name, or an error wrapping ErrNotFound if
// it was never acquired.
func (l *Leases) Get(ctx context.Context, name string) (Lease, error) {
	var (
		lease              Lease
		expires, updatedAt int64
	)
	err := l.db.queryRow(ctx, `SELECT name, holder, expires_at, updated_at FROM leases WHERE name = ?`, name).
		Scan(&lease.Name, &lease.Holder, &expires, &updatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("get lease %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("get lease %q: %w", name, err)
	}
	lease.ExpiresAt, lease.UpdatedAt = millisOrZero(expires), millisOrZero(updatedAt)
	return lease, nil
}

// millisOrZero reads a time stored in unix milliseconds, 0 as the zero
// time.
func millisOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
