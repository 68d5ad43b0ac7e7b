package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/store"
)

// leaseTTL is how long the tests' leases last.
const leaseTTL = 15 * time.Second

func exerciseLeases(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("GetNeverTaken", func(t *testing.T) {
		if _, err := newDB(t).Leases().Get(testContext(t), "poster/1000"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a lease never taken = %v; want ErrNotFound", err)
		}
	})

	t.Run("Lifecycle", func(t *testing.T) {
		leases := newDB(t).Leases()
		const name = "poster/1000"
		// Stored to the millisecond.
		start := testTime.Add(123*time.Millisecond + 999*time.Microsecond)
		at := func(d time.Duration) time.Time { return testTime.Add(123*time.Millisecond + d) }
		lease := func(holder string, updated time.Duration) store.Lease {
			return store.Lease{Name: name, Holder: holder, ExpiresAt: at(updated + leaseTTL), UpdatedAt: at(updated)}
		}
		steps := []struct {
			what   string
			holder string
			now    time.Time
			want   store.Lease
			held   bool
		}{
			{"free", "m1", start, lease("m1", 0), true},
			{"renewed by its holder", "m1", at(5 * time.Second), lease("m1", 5*time.Second), true},
			{"renewed with the values stored", "m1", at(5 * time.Second), lease("m1", 5*time.Second), true},
			{"held by another", "m2", at(10 * time.Second), lease("m1", 5*time.Second), false},
			{"a millisecond before expiry", "m2", at(20*time.Second - time.Millisecond), lease("m1", 5*time.Second), false},
			{"at expiry", "m2", at(20 * time.Second), lease("m2", 20*time.Second), true},
			{"taken over", "m1", at(21 * time.Second), lease("m2", 20*time.Second), false},
			{"long expired", "m1", at(time.Hour), lease("m1", time.Hour), true},
		}
		for _, s := range steps {
			acquire(t, leases, s.what, name, s.holder, s.now, s.want, s.held)
		}
		// Another lease is independent.
		other := store.Lease{Name: "poster/1001", Holder: "m2", ExpiresAt: at(time.Hour + leaseTTL), UpdatedAt: at(time.Hour)}
		acquire(t, leases, "another name", other.Name, "m2", at(time.Hour), other, true)
		wantLease(t, leases, lease("m1", time.Hour))
	})

	t.Run("Release", func(t *testing.T) {
		ctx := testContext(t)
		leases := newDB(t).Leases()
		const name = "poster/1000"
		held := store.Lease{Name: name, Holder: "m1", ExpiresAt: testTime.Add(leaseTTL), UpdatedAt: testTime}
		acquire(t, leases, "free", name, "m1", testTime, held, true)
		for _, holder := range []string{"m2", "M1", ""} {
			if err := leases.Release(ctx, name, holder); err != nil {
				t.Fatalf("Release by %q, who does not hold it: %v", holder, err)
			}
			wantLease(t, leases, held)
		}
		if err := leases.Release(ctx, "never-taken", "m1"); err != nil {
			t.Fatalf("Release of a lease never taken: %v", err)
		}
		for i := range 2 {
			if err := leases.Release(ctx, name, "m1"); err != nil {
				t.Fatalf("Release #%d by its holder: %v", i+1, err)
			}
		}
		free := store.Lease{Name: name, UpdatedAt: testTime}
		wantLease(t, leases, free)
		// Free at once, long before it would have expired.
		now := testTime.Add(time.Second)
		acquire(t, leases, "released", name, "m2", now,
			store.Lease{Name: name, Holder: "m2", ExpiresAt: now.Add(leaseTTL), UpdatedAt: now}, true)
	})

	t.Run("Invalid", func(t *testing.T) {
		ctx := testContext(t)
		leases := newDB(t).Leases()
		for _, tt := range []struct {
			name, holder string
			ttl          time.Duration
		}{{"", "m1", leaseTTL}, {"poster/1000", "", leaseTTL}, {"poster/1000", "m1", 0}, {"poster/1000", "m1", -time.Second}} {
			if _, held, err := leases.Acquire(ctx, tt.name, tt.holder, tt.ttl, testTime); err == nil || held {
				t.Errorf("Acquire(%q, %q, %v) = %v, %v; want an error", tt.name, tt.holder, tt.ttl, held, err)
			}
		}
		if _, err := leases.Get(ctx, "poster/1000"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after invalid Acquires = %v; want ErrNotFound", err)
		}
	})

	// Several managers start (or find the lease expired) at once: exactly
	// one becomes the holder, and every one of them sees it.
	t.Run("ConcurrentAcquire", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		dbs := handles(t, db)
		const rounds = 10
		for round := range rounds {
			name := fmt.Sprintf("poster/%d", 1000+round)
			now := testTime
			if round%2 == 1 { // taken, then expired
				acquire(t, db.Leases(), "before the race", name, "old", testTime, store.Lease{
					Name: name, Holder: "old", ExpiresAt: testTime.Add(leaseTTL), UpdatedAt: testTime}, true)
				now = testTime.Add(leaseTTL)
			}
			got := make([]store.Lease, len(dbs))
			held := make([]bool, len(dbs))
			errs := race(len(dbs), func(i int) error {
				var err error
				got[i], held[i], err = dbs[i].Leases().Acquire(ctx, name, fmt.Sprintf("manager-%d", i), leaseTTL, now)
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d: Acquire on handle %d: %v", round, i, err)
				}
			}
			winner := onlyWinner(t, fmt.Sprintf("Acquires of %s held it (round %d)", name, round), held)
			want := store.Lease{Name: name, Holder: fmt.Sprintf("manager-%d", winner), ExpiresAt: now.Add(leaseTTL), UpdatedAt: now}
			for i := range got {
				if !sameLease(got[i], want) {
					t.Errorf("round %d: Acquire on handle %d returned %+v; want the winner's %+v", round, i, got[i], want)
				}
			}
			wantLease(t, db.Leases(), want)
		}
	})
}

// acquire calls Acquire and checks what it returns and stores.
func acquire(t *testing.T, leases *store.Leases, what, name, holder string, now time.Time, want store.Lease, wantHeld bool) {
	t.Helper()
	got, held, err := leases.Acquire(testContext(t), name, holder, leaseTTL, now)
	if err != nil || held != wantHeld || !sameLease(got, want) {
		t.Fatalf("Acquire(%s, %s) of a lease %s = %+v, %v, %v; want %+v, %v, nil", name, holder, what, got, held, err, want, wantHeld)
	}
	wantLease(t, leases, want)
}

func wantLease(t *testing.T, leases *store.Leases, want store.Lease) {
	t.Helper()
	got, err := leases.Get(testContext(t), want.Name)
	if err != nil || !sameLease(got, want) {
		t.Fatalf("Get(%s) = %+v, %v; want %+v", want.Name, got, err, want)
	}
}

func sameLease(a, b store.Lease) bool {
	return a.Name == b.Name && a.Holder == b.Holder && a.ExpiresAt.Equal(b.ExpiresAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}
