// Package storetest is the conformance suite of package store, after
// River's riverdrivertest: the migration and repository tests are written
// once in Exercise, and each driver's test file runs them on its engine.
//
// It also hands out fresh databases to any package's tests: NewSQLite,
// NewPostgres and NewMySQL return a migrated *store.DB on a database of its
// own that is dropped when the test ends; DatabaseOf and Reopen reach the
// same database again (a second handle behaves like a second process).
// PostgreSQL and MySQL come from the servers named by
// DAMOCLES_TEST_POSTGRES_DSN and DAMOCLES_TEST_MYSQL_DSN (defaults: local
// servers on their standard ports). An unreachable server skips the test,
// unless CI=true, where it fails it.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/store"
)

// concurrency is how many handles race in the concurrent tests.
const concurrency = 8

// Exercise runs the conformance suite against the databases newDB returns:
// each call a fresh, migrated database, made by this package's helpers (the
// concurrency tests open more handles on it with Reopen).
func Exercise(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Helper()
	// The first database names the engine, for the tests that need one
	// never migrated, and skips the whole suite at once when the server
	// is down.
	driver := newDB(t).Driver()
	t.Run("Migrate", func(t *testing.T) { exerciseMigrate(t, driver, newDB) })
	t.Run("Secrets", func(t *testing.T) { exerciseSecrets(t, newDB) })
	t.Run("Workers", func(t *testing.T) { exerciseWorkers(t, newDB) })
	t.Run("SectorNumbers", func(t *testing.T) { exerciseSectorNumbers(t, newDB) })
	t.Run("Sectors", func(t *testing.T) { exerciseSectors(t, newDB) })
	t.Run("Reservations", func(t *testing.T) { exerciseReservations(t, newDB) })
	t.Run("SectorIndex", func(t *testing.T) { exerciseSectorIndex(t, newDB) })
	t.Run("PoStMessages", func(t *testing.T) { exercisePoStMessages(t, newDB) })
	t.Run("WdPoStJobs", func(t *testing.T) { exerciseWdPoStJobs(t, newDB) })
	t.Run("Leases", func(t *testing.T) { exerciseLeases(t, newDB) })
}

func exerciseMigrate(t *testing.T, driver string, newDB func(t *testing.T) *store.DB) {
	latest := store.LatestSchemaVersion()

	t.Run("FromEmpty", func(t *testing.T) {
		ctx := testContext(t)
		db := NewDatabase(t, driver).Open(t)
		if v, err := db.SchemaVersion(ctx); err != nil || v != 0 {
			t.Fatalf("SchemaVersion of an empty database = %d, %v; want 0, nil", v, err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if v, err := db.SchemaVersion(ctx); err != nil || v != latest {
			t.Fatalf("SchemaVersion = %d, %v; want %d, nil", v, err, latest)
		}
		wantVersions(t, db, upTo(latest))
	})

	t.Run("Idempotent", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		for i := range 2 {
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d on a migrated database: %v", i+1, err)
			}
		}
		if v, err := db.SchemaVersion(ctx); err != nil || v != latest {
			t.Fatalf("SchemaVersion = %d, %v; want %d, nil", v, err, latest)
		}
		wantVersions(t, db, upTo(latest))
	})

	t.Run("SchemaTooNew", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		secret := []byte("kept")
		if _, err := db.Secrets().Ensure(ctx, "before", func() ([]byte, error) { return secret, nil }); err != nil {
			t.Fatal(err)
		}
		future := latest + 4
		_, err := db.SQL().ExecContext(ctx, fmt.Sprintf(
			"INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, 'from a newer binary', 0)", future))
		if err != nil {
			t.Fatalf("record a future version: %v", err)
		}

		err = db.Migrate(ctx)
		if !errors.Is(err, store.ErrSchemaTooNew) {
			t.Fatalf("Migrate = %v; want an error wrapping ErrSchemaTooNew", err)
		}
		for _, want := range []string{
			fmt.Sprintf("version %d", future),
			fmt.Sprintf("knows up to %d", latest),
			"upgrade damocles-manager",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Migrate error %q does not say %q", err, want)
			}
		}

		if v, err := db.SchemaVersion(ctx); err != nil || v != future {
			t.Errorf("SchemaVersion = %d, %v; want %d, nil", v, err, future)
		}
		wantVersions(t, db, append(upTo(latest), future))
		if got, err := db.Secrets().Get(ctx, "before"); err != nil || !bytes.Equal(got, secret) {
			t.Errorf("secret after a refused Migrate = %q, %v; want %q, nil", got, err, secret)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		ctx := testContext(t)
		d := NewDatabase(t, driver)
		dbs := make([]*store.DB, concurrency)
		for i := range dbs {
			dbs[i] = d.Open(t)
		}
		errs := race(len(dbs), func(i int) error { return dbs[i].Migrate(ctx) })
		for i, err := range errs {
			if err != nil {
				t.Errorf("Migrate on handle %d: %v", i, err)
			}
		}
		wantVersions(t, dbs[0], upTo(latest))
	})
}

func exerciseSecrets(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("GetMissing", func(t *testing.T) {
		_, err := newDB(t).Secrets().Get(testContext(t), "missing")
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing secret = %v; want ErrNotFound", err)
		}
	})

	t.Run("EnsureStoresOnce", func(t *testing.T) {
		ctx := testContext(t)
		secrets := newDB(t).Secrets()
		first := []byte{0x00, 0xff, 0x10, 'a', 0x00} // bytes, not text
		got, err := secrets.Ensure(ctx, "jwt", func() ([]byte, error) { return first, nil })
		if err != nil || !bytes.Equal(got, first) {
			t.Fatalf("first Ensure = %x, %v; want %x, nil", got, err, first)
		}
		got, err = secrets.Ensure(ctx, "jwt", func() ([]byte, error) {
			t.Error("Ensure generated a secret that already exists")
			return []byte("other"), nil
		})
		if err != nil || !bytes.Equal(got, first) {
			t.Fatalf("second Ensure = %x, %v; want %x, nil", got, err, first)
		}
		if got, err := secrets.Get(ctx, "jwt"); err != nil || !bytes.Equal(got, first) {
			t.Fatalf("Get = %x, %v; want %x, nil", got, err, first)
		}
		if _, err := secrets.Get(ctx, "JWT"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(JWT) = %v; want ErrNotFound: names are case-sensitive", err)
		}
	})

	t.Run("EnsureGenerateFails", func(t *testing.T) {
		ctx := testContext(t)
		secrets := newDB(t).Secrets()
		boom := errors.New("no entropy")
		_, err := secrets.Ensure(ctx, "jwt", func() ([]byte, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Ensure = %v; want the generator's error", err)
		}
		if _, err := secrets.Get(ctx, "jwt"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after a failed Ensure = %v; want ErrNotFound", err)
		}
	})

	t.Run("EnsureConcurrent", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		dbs := []*store.DB{db}
		for len(dbs) < concurrency {
			dbs = append(dbs, Reopen(t, db))
		}
		// Hold every generator until all have started, so that every
		// caller has seen the secret missing and all of them insert.
		var generating sync.WaitGroup
		generating.Add(len(dbs))
		allGenerating := make(chan struct{})
		go func() { generating.Wait(); close(allGenerating) }()

		var mu sync.Mutex
		var generated [][]byte
		got := make([][]byte, len(dbs))
		errs := race(len(dbs), func(i int) error {
			var once sync.Once
			defer once.Do(generating.Done)
			secret, err := dbs[i].Secrets().Ensure(ctx, "jwt", func() ([]byte, error) {
				once.Do(generating.Done)
				<-allGenerating
				b := make([]byte, 32)
				rand.Read(b)
				mu.Lock()
				generated = append(generated, b)
				mu.Unlock()
				return b, nil
			})
			got[i] = secret
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Ensure on handle %d: %v", i, err)
			}
		}
		for i := range got {
			if !bytes.Equal(got[i], got[0]) {
				t.Errorf("Ensure on handle %d = %x; handle 0 got %x", i, got[i], got[0])
			}
		}
		if !slices.ContainsFunc(generated, func(b []byte) bool { return bytes.Equal(b, got[0]) }) {
			t.Errorf("Ensure returned %x, which no generator made", got[0])
		}
		stored, err := db.Secrets().Get(ctx, "jwt")
		if err != nil || !bytes.Equal(stored, got[0]) {
			t.Errorf("Get = %x, %v; want %x", stored, err, got[0])
		}
	})
}

func exerciseWorkers(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("GetMissing", func(t *testing.T) {
		_, err := newDB(t).Workers().Get(testContext(t), "missing")
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing worker = %v; want ErrNotFound", err)
		}
	})

	t.Run("ListEmpty", func(t *testing.T) {
		ws, err := newDB(t).Workers().List(testContext(t))
		if err != nil || len(ws) != 0 {
			t.Fatalf("List of an empty table = %v, %v; want none", ws, err)
		}
	})

	t.Run("UpsertInsertsThenUpdates", func(t *testing.T) {
		ctx := testContext(t)
		workers := newDB(t).Workers()
		w := store.Worker{
			Name: "worker-1", Dest: "10.0.0.1:17890", Version: "v0.1.0",
			Threads: 16, Empty: 3, Paused: 1, Running: 10, Waiting: 2, Errors: 0,
			LastPing: time.Unix(1_700_000_000, 0),
		}
		mustUpsert(t, workers, w)
		wantWorker(t, workers, w)

		w = store.Worker{
			Name: "worker-1", Dest: "10.0.0.2:17890", Version: "v0.2.0",
			Threads: math.MaxUint32, Empty: 1, Paused: 2, Running: 3, Waiting: 4, Errors: 5,
			LastPing: time.Unix(1_700_000_060, 0),
		}
		mustUpsert(t, workers, w)
		wantWorker(t, workers, w)
		if ws, err := workers.List(ctx); err != nil || len(ws) != 1 {
			t.Fatalf("List after an update = %v, %v; want one worker", ws, err)
		}
	})

	t.Run("LastPingToTheSecond", func(t *testing.T) {
		workers := newDB(t).Workers()
		mustUpsert(t, workers, store.Worker{Name: "w", LastPing: time.Unix(1_700_000_000, 999_999_999)})
		got, err := workers.Get(testContext(t), "w")
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Unix(1_700_000_000, 0); !got.LastPing.Equal(want) {
			t.Fatalf("LastPing = %v; want %v", got.LastPing, want)
		}
	})

	t.Run("EmptyName", func(t *testing.T) {
		if err := newDB(t).Workers().Upsert(testContext(t), store.Worker{Dest: "x"}); err == nil {
			t.Fatal("Upsert of a worker without a name succeeded")
		}
	})

	t.Run("ListSortedByName", func(t *testing.T) {
		ctx := testContext(t)
		workers := newDB(t).Workers()
		// Mixed case and punctuation: every engine must sort bytewise
		// and tell "worker-a" from "Worker-A".
		names := []string{"worker-b", "Worker-A", "worker-a", "w_1", "w-1", "é-node", "10", "9"}
		for i, name := range names {
			mustUpsert(t, workers, store.Worker{Name: name, Threads: uint(i)})
		}
		ws, err := workers.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.Name)
		}
		want := slices.Sorted(slices.Values(names))
		if !slices.Equal(got, want) {
			t.Fatalf("List names = %q; want %q", got, want)
		}
	})

	t.Run("ConcurrentUpserts", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		dbs := []*store.DB{db}
		for len(dbs) < concurrency {
			dbs = append(dbs, Reopen(t, db))
		}
		errs := race(len(dbs), func(i int) error {
			return dbs[i].Workers().Upsert(ctx, store.Worker{Name: "same", Threads: uint(i)})
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("Upsert on handle %d: %v", i, err)
			}
		}
		ws, err := db.Workers().List(ctx)
		if err != nil || len(ws) != 1 {
			t.Fatalf("List = %v, %v; want one worker", ws, err)
		}
	})
}

// onlyWinner returns the index of the one true in won, the outcome of
// racing callers, and fails t unless exactly one won.
func onlyWinner(t *testing.T, what string, won []bool) int {
	t.Helper()
	winners := 0
	for _, w := range won {
		if w {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent %s; want exactly 1", winners, len(won), what)
	}
	return slices.Index(won, true)
}

// race runs f(0) to f(n-1) at once and returns their errors, by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func upTo(n int) []int {
	vs := make([]int, n)
	for i := range vs {
		vs[i] = i + 1
	}
	return vs
}

// wantVersions checks schema_migrations row by row: a migration applied
// twice or skipped shows here even when the highest version is right.
func wantVersions(t *testing.T, db *store.DB, want []int) {
	t.Helper()
	rows, err := db.SQL().QueryContext(testContext(t), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("schema_migrations versions = %v; want %v", got, want)
	}
}

func mustUpsert(t *testing.T, workers *store.Workers, w store.Worker) {
	t.Helper()
	if err := workers.Upsert(testContext(t), w); err != nil {
		t.Fatalf("Upsert(%q): %v", w.Name, err)
	}
}

func wantWorker(t *testing.T, workers *store.Workers, want store.Worker) {
	t.Helper()
	got, err := workers.Get(testContext(t), want.Name)
	if err != nil {
		t.Fatalf("Get(%q): %v", want.Name, err)
	}
	if !got.LastPing.Equal(want.LastPing) {
		t.Errorf("Get(%q).LastPing = %v; want %v", want.Name, got.LastPing, want.LastPing)
	}
	got.LastPing, want.LastPing = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("Get(%q) = %+v; want %+v", want.Name, got, want)
	}
}
