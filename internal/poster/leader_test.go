package poster_test

import (
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/poster"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// usePostgres moves the harness to a PostgreSQL database of its own, the
// engine managers share.
func usePostgres(h *harness) {
	h.t.Helper()
	t := h.t.(*testing.T)
	db := storetest.NewPostgres(t)
	stores, err := sectors.NewPersistStores([]config.PersistStore{{Name: storeName, Path: h.root}}, db, sectors.PersistStoresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.db, h.index = db, sectors.NewIndexer(db, stores, nil)
}

// as runs a poster as manager holder on its own handle of the database,
// with a short leadership lease.
func as(holder string, db *store.DB) func(*poster.Config) {
	return func(c *poster.Config) {
		c.Holder, c.DB, c.LeaseTTL = holder, db, time.Second
	}
}

// Two posters sharing one PostgreSQL database prove each deadline once:
// one leads the miner, the other stays idle. When the leader dies without
// releasing its lease, the other takes over once the lease expires, and
// the next deadlines are proven.
func TestPostersSharingADatabaseProveOnce(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	usePostgres(h)
	h.seal(6)
	dbA, dbB := storetest.Reopen(t, h.db), storetest.Reopen(t, h.db)
	a := h.start(as("manager-a", dbA))
	b := h.start(as("manager-b", dbB))

	windows := h.windowsInOrder()
	if len(windows) < 3 {
		t.Fatalf("6 sectors in %d deadlines: want at least 3", len(windows))
	}
	first := windows[:len(windows)-1]
	for _, di := range first {
		h.walkWindow(di.Index)
		if posts := h.postsOf(di); len(posts) != 1 || !posts[0].Accepted {
			t.Fatalf("deadline %d: PoSt records %+v, want exactly one accepted", di.Index, posts)
		}
	}
	sentA, sentB := a.counter("damocles_poster_proofs_sent_total"), b.counter("damocles_poster_proofs_sent_total")
	if sentA+sentB != float64(len(first)) || sentA != 0 && sentB != 0 {
		t.Fatalf("proofs sent: a %v, b %v; want all %d from one leader", sentA, sentB, len(first))
	}
	leader, follower, leaderDB := a, b, dbA
	if sentB > 0 {
		leader, follower, leaderDB = b, a, dbB
	}

	// The leader dies: its database handle goes first, so it cannot
	// release the lease, which the other takes when it expires.
	leaderDB.Close()
	leader.stop()
	last := windows[len(windows)-1]
	h.walkWindow(last.Index)
	if posts := h.postsOf(last); len(posts) != 1 || !posts[0].Accepted {
		t.Fatalf("deadline %d after the leader died: PoSt records %+v, want exactly one accepted", last.Index, posts)
	}
	if sent := follower.counter("damocles_poster_proofs_sent_total"); sent != 1 {
		t.Fatalf("the follower sent %v proofs after the leader died; want 1", sent)
	}
	h.requireNoMissed()
}
