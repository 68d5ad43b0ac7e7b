package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/store"
)

// testTime is a second-aligned time: the tables store unix seconds.
var testTime = time.Unix(1_700_000_000, 0)

func sid(miner, number uint64) abi.SectorID {
	return abi.SectorID{Miner: abi.ActorID(miner), Number: abi.SectorNumber(number)}
}

// onlineSector is a freshly allocated sector's record.
func onlineSector(id abi.SectorID) store.Sector {
	return store.Sector{
		ID: id, ProofType: abi.RegisteredSealProof_StackedDrg2KiBV1_1, State: store.SectorOnline,
		CreatedAt: testTime, UpdatedAt: testTime,
	}
}

// fullSector has every step recorded, with values that tell columns apart.
func fullSector(id abi.SectorID) store.Sector {
	s := onlineSector(id)
	s.ProofType = abi.RegisteredSealProof_StackedDrg32GiBV1_1_Feat_SyntheticPoRep
	s.Worker = store.SectorWorkerReport{
		Instance: "worker-1", Location: "/data/sealing/3",
		State: "C1Done", Event: "SetC1Out", FailureLevel: "Temporary", FailureDesc: "rpc: connection refused",
	}
	s.Pieces = []byte(`[{"Piece":{"Size":2048}}]`)
	s.Ticket = &store.SectorRandomness{Value: bytes.Repeat([]byte{0x01}, 32), Epoch: 1000}
	s.PreCommit = &store.SectorPreCommit{
		CommR:   [32]byte{0xaa, 0x00, 0xff},
		CommD:   [32]byte{0xbb, 31: 0x01},
		Ticket:  store.SectorRandomness{Value: bytes.Repeat([]byte{0x02}, 32), Epoch: 999},
		Message: store.SectorMessage{CID: "bafy2bzaceprecommit", State: 3, Desc: "landed"},
	}
	s.Seed = &store.SectorRandomness{Value: bytes.Repeat([]byte{0x03}, 32), Epoch: 2150}
	s.Commit = &store.SectorCommit{
		Proof:   bytes.Repeat([]byte{0x00, 0xff}, 1000),
		Message: store.SectorMessage{CID: "bafy2bzaceprove", State: 5, Desc: "out of gas"},
	}
	s.AbortReason = ""
	s.UpdatedAt = testTime.Add(time.Hour)
	return s
}

func exerciseSectorNumbers(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("LastOfANewMiner", func(t *testing.T) {
		last, err := newDB(t).SectorNumbers().Last(testContext(t), 1000)
		if err != nil || last != 0 {
			t.Fatalf("Last = %d, %v; want 0, nil", last, err)
		}
	})

	t.Run("AdvanceCreatesTheSector", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		numbers := db.SectorNumbers()
		won, err := numbers.Advance(ctx, 1000, 0, 5, onlineSector(sid(1000, 5)))
		if err != nil || !won {
			t.Fatalf("first Advance = %v, %v; want true, nil", won, err)
		}
		won, err = numbers.Advance(ctx, 1000, 5, 6, onlineSector(sid(1000, 6)))
		if err != nil || !won {
			t.Fatalf("second Advance = %v, %v; want true, nil", won, err)
		}
		if last, err := numbers.Last(ctx, 1000); err != nil || last != 6 {
			t.Fatalf("Last = %d, %v; want 6", last, err)
		}
		if last, err := numbers.Last(ctx, 1001); err != nil || last != 0 {
			t.Fatalf("Last of another miner = %d, %v; want 0", last, err)
		}
		for _, n := range []uint64{5, 6} {
			if s, err := db.Sectors().Get(ctx, sid(1000, n)); err != nil || s.State != store.SectorOnline {
				t.Errorf("sector %d after Advance = %+v, %v; want an online record", n, s, err)
			}
		}
	})

	t.Run("AdvanceFromAStaleNumber", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		numbers := db.SectorNumbers()
		if won, err := numbers.Advance(ctx, 1000, 0, 5, onlineSector(sid(1000, 5))); err != nil || !won {
			t.Fatalf("Advance = %v, %v", won, err)
		}
		for _, from := range []abi.SectorNumber{0, 4} {
			won, err := numbers.Advance(ctx, 1000, from, 7, onlineSector(sid(1000, 7)))
			if err != nil || won {
				t.Fatalf("Advance from stale %d = %v, %v; want false, nil", from, won, err)
			}
		}
		if _, err := db.Sectors().Get(ctx, sid(1000, 7)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a lost Advance created its sector: Get = %v", err)
		}
		if last, err := numbers.Last(ctx, 1000); err != nil || last != 5 {
			t.Fatalf("Last = %d, %v; want 5", last, err)
		}
	})

	t.Run("AdvanceRefusesBadInput", func(t *testing.T) {
		ctx := testContext(t)
		numbers := newDB(t).SectorNumbers()
		if _, err := numbers.Advance(ctx, 1000, 5, 5, onlineSector(sid(1000, 5))); err == nil {
			t.Error("Advance to the same number succeeded")
		}
		if _, err := numbers.Advance(ctx, 1000, 0, 5, onlineSector(sid(1000, 6))); err == nil {
			t.Error("Advance with the record of another number succeeded")
		}
		if _, err := numbers.Advance(ctx, 1000, 0, 1<<63, onlineSector(sid(1000, 1<<63))); err == nil {
			t.Error("Advance past 2^63-1 succeeded")
		}
	})

	t.Run("AdvanceOntoARecordedSector", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		if err := db.Sectors().Create(ctx, onlineSector(sid(1000, 3))); err != nil {
			t.Fatal(err)
		}
		_, err := db.SectorNumbers().Advance(ctx, 1000, 0, 3, onlineSector(sid(1000, 3)))
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("Advance onto a recorded sector = %v; want ErrExists", err)
		}
		if last, err := db.SectorNumbers().Last(ctx, 1000); err != nil || last != 0 {
			t.Fatalf("Last after a failed Advance = %d, %v; want 0: the transaction must roll back", last, err)
		}
	})

	t.Run("ConcurrentAdvances", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		dbs := handles(t, db)
		const perHandle = 10
		var mu sync.Mutex
		var got []abi.SectorNumber
		errs := race(len(dbs), func(i int) error {
			numbers := dbs[i].SectorNumbers()
			for won := 0; won < perHandle; {
				last, err := numbers.Last(ctx, 1000)
				if err != nil {
					return err
				}
				ok, err := numbers.Advance(ctx, 1000, last, last+1, onlineSector(sid(1000, uint64(last+1))))
				if err != nil {
					return err
				}
				if ok {
					won++
					mu.Lock()
					got = append(got, last+1)
					mu.Unlock()
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("handle %d: %v", i, err)
			}
		}
		slices.Sort(got)
		for i, n := range got {
			if n != abi.SectorNumber(i+1) {
				t.Fatalf("numbers won = %v; want 1..%d, each once", got, len(dbs)*perHandle)
			}
		}
		if len(got) != len(dbs)*perHandle {
			t.Fatalf("won %d numbers; want %d", len(got), len(dbs)*perHandle)
		}
	})
}

func exerciseSectors(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("GetMissing", func(t *testing.T) {
		_, err := newDB(t).Sectors().Get(testContext(t), sid(1000, 1))
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing sector = %v; want ErrNotFound", err)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		ctx := testContext(t)
		sectors := newDB(t).Sectors()
		for _, s := range []store.Sector{onlineSector(sid(1000, 1)), fullSector(sid(1000, 2))} {
			if err := sectors.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			wantSector(t, sectors, s)
		}
	})

	t.Run("CreateTwice", func(t *testing.T) {
		ctx := testContext(t)
		sectors := newDB(t).Sectors()
		s := onlineSector(sid(1000, 1))
		if err := sectors.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		other := fullSector(s.ID)
		if err := sectors.Create(ctx, other); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second Create = %v; want ErrExists", err)
		}
		wantSector(t, sectors, s)
	})

	t.Run("Update", func(t *testing.T) {
		ctx := testContext(t)
		sectors := newDB(t).Sectors()
		s := onlineSector(sid(1000, 1))
		if err := sectors.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		want := fullSector(s.ID)
		got, err := sectors.Update(ctx, s.ID, func(cur *store.Sector) error {
			if !reflect.DeepEqual(*cur, s) {
				t.Errorf("Update's change saw %+v; want %+v", *cur, s)
			}
			*cur = want
			cur.ID = sid(9, 9) // ignored
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Update returned %+v; want %+v", got, want)
		}
		wantSector(t, sectors, want)

		// Back to nothing recorded: every step's columns go NULL again.
		if _, err := sectors.Update(ctx, s.ID, func(cur *store.Sector) error { *cur = s; return nil }); err != nil {
			t.Fatal(err)
		}
		wantSector(t, sectors, s)

		boom := errors.New("mismatched submission")
		_, err = sectors.Update(ctx, s.ID, func(cur *store.Sector) error {
			cur.Worker.State = "changed"
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update whose change fails = %v; want its error", err)
		}
		wantSector(t, sectors, s)

		_, err = sectors.Update(ctx, sid(1000, 2), func(*store.Sector) error {
			t.Error("change called for a missing sector")
			return nil
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Update of a missing sector = %v; want ErrNotFound", err)
		}
	})

	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		id := sid(1000, 1)
		if err := db.Sectors().Create(ctx, onlineSector(id)); err != nil {
			t.Fatal(err)
		}
		dbs := handles(t, db)
		const perHandle = 5
		errs := race(len(dbs), func(i int) error {
			for range perHandle {
				_, err := dbs[i].Sectors().Update(ctx, id, func(s *store.Sector) error {
					s.Worker.Event += "x"
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("handle %d: %v", i, err)
			}
		}
		s, err := db.Sectors().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(dbs) * perHandle; len(s.Worker.Event) != want {
			t.Fatalf("after %d concurrent updates the record shows %d: updates were lost", want, len(s.Worker.Event))
		}
	})

	t.Run("Finish", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		sectors := db.Sectors()
		done, aborted := sid(1000, 1), sid(1000, 2)
		for _, id := range []abi.SectorID{done, aborted} {
			if err := sectors.Create(ctx, onlineSector(id)); err != nil {
				t.Fatal(err)
			}
			if err := db.Reservations().Put(ctx, store.Reservation{Sector: id, Store: "nfs-1", Size: 4096, CreatedAt: testTime}); err != nil {
				t.Fatal(err)
			}
		}
		later := testTime.Add(time.Minute)
		s, changed, err := sectors.Finish(ctx, done, store.SectorFinalized, "", later)
		if err != nil || !changed || s.State != store.SectorFinalized || !s.UpdatedAt.Equal(later) {
			t.Fatalf("Finish = %+v, %v, %v; want finalized at %v, changed", s, changed, err, later)
		}
		s, changed, err = sectors.Finish(ctx, aborted, store.SectorAborted, "ticket expired", later)
		if err != nil || !changed || s.State != store.SectorAborted || s.AbortReason != "ticket expired" {
			t.Fatalf("Finish(aborted) = %+v, %v, %v", s, changed, err)
		}
		for _, id := range []abi.SectorID{done, aborted} {
			if _, err := db.Reservations().Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("reservation of %v after Finish: %v; want released", id, err)
			}
		}
		// Retried reports leave an offline sector as it is.
		s, changed, err = sectors.Finish(ctx, done, store.SectorAborted, "late abort", later.Add(time.Hour))
		if err != nil || changed || s.State != store.SectorFinalized || s.AbortReason != "" || !s.UpdatedAt.Equal(later) {
			t.Fatalf("Finish of a finalized sector = %+v, %v, %v; want it unchanged", s, changed, err)
		}
		wantSector(t, sectors, s)

		if _, _, err := sectors.Finish(ctx, sid(1000, 3), store.SectorFinalized, "", later); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Finish of a missing sector = %v; want ErrNotFound", err)
		}
		if _, _, err := sectors.Finish(ctx, done, store.SectorOnline, "", later); err == nil {
			t.Error("Finish to the online state succeeded")
		}
	})

	t.Run("List", func(t *testing.T) {
		ctx := testContext(t)
		sectors := newDB(t).Sectors()
		// Numbers that sort differently as text and as integers.
		for _, id := range []abi.SectorID{sid(1001, 2), sid(1000, 10), sid(1000, 2), sid(1000, 9)} {
			if err := sectors.Create(ctx, onlineSector(id)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := sectors.Finish(ctx, sid(1000, 9), store.SectorFinalized, "", testTime); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sectors.Finish(ctx, sid(1000, 2), store.SectorAborted, "x", testTime); err != nil {
			t.Fatal(err)
		}
		offline := []store.SectorState{store.SectorFinalized, store.SectorAborted}
		for _, tt := range []struct {
			filter store.SectorFilter
			want   []abi.SectorID
		}{
			{store.SectorFilter{}, []abi.SectorID{sid(1000, 2), sid(1000, 9), sid(1000, 10), sid(1001, 2)}},
			{store.SectorFilter{States: []store.SectorState{store.SectorOnline}}, []abi.SectorID{sid(1000, 10), sid(1001, 2)}},
			{store.SectorFilter{States: offline}, []abi.SectorID{sid(1000, 2), sid(1000, 9)}},
			{store.SectorFilter{Miner: 1001}, []abi.SectorID{sid(1001, 2)}},
			{store.SectorFilter{Miner: 1000, States: offline}, []abi.SectorID{sid(1000, 2), sid(1000, 9)}},
			{store.SectorFilter{Miner: 1002}, nil},
		} {
			list, err := sectors.List(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []abi.SectorID
			for _, s := range list {
				got = append(got, s.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%+v) = %v; want %v", tt.filter, got, tt.want)
			}
		}
	})
}

func exerciseReservations(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("PutGetReplaceRelease", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		res := db.Reservations()
		a, b := sid(1000, 1), sid(1000, 2)
		for _, id := range []abi.SectorID{a, b} {
			if err := db.Sectors().Create(ctx, onlineSector(id)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := res.Get(ctx, a); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get before Put = %v; want ErrNotFound", err)
		}
		const big = 2 * 64 << 30 // a 64GiB sector's reservation does not fit 32 bits
		ra := store.Reservation{Sector: a, Store: "nfs-1", Size: big, CreatedAt: testTime}
		rb := store.Reservation{Sector: b, Store: "nfs-1", Size: 4096, CreatedAt: testTime}
		for _, r := range []store.Reservation{ra, rb} {
			if err := res.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := res.Get(ctx, a); err != nil || got != ra {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, ra)
		}
		wantTotals(t, res, map[string]uint64{"nfs-1": big + 4096})

		rb.Store, rb.Size = "NFS-1", 8192 // store names are case-sensitive
		if err := res.Put(ctx, rb); err != nil {
			t.Fatal(err)
		}
		wantTotals(t, res, map[string]uint64{"nfs-1": big, "NFS-1": 8192})
		list, err := res.List(ctx)
		if err != nil || !slices.Equal(list, []store.Reservation{rb, ra}) {
			t.Fatalf("List = %+v, %v; want %+v", list, err, []store.Reservation{rb, ra})
		}

		if released, err := res.Release(ctx, a); err != nil || !released {
			t.Fatalf("Release = %v, %v; want true", released, err)
		}
		if released, err := res.Release(ctx, a); err != nil || released {
			t.Fatalf("second Release = %v, %v; want false", released, err)
		}
		wantTotals(t, res, map[string]uint64{"NFS-1": 8192})
	})

	t.Run("OnlyForOnlineSectors", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		res := db.Reservations()
		r := store.Reservation{Sector: sid(1000, 1), Store: "nfs-1", Size: 1, CreatedAt: testTime}
		if err := res.Put(ctx, r); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Put for a missing sector = %v; want ErrNotFound", err)
		}
		if err := db.Sectors().Create(ctx, onlineSector(r.Sector)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Sectors().Finish(ctx, r.Sector, store.SectorFinalized, "", testTime); err != nil {
			t.Fatal(err)
		}
		if err := res.Put(ctx, r); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Put for a finalized sector = %v; want ErrNotFound", err)
		}
		wantTotals(t, res, map[string]uint64{})
	})
}

func exerciseSectorIndex(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("GetMissing", func(t *testing.T) {
		_, err := newDB(t).SectorIndex().Get(testContext(t), "normal", sid(1000, 1))
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of an unindexed sector = %v; want ErrNotFound", err)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		ctx := testContext(t)
		index := newDB(t).SectorIndex()
		if empty, err := index.Empty(ctx); err != nil || !empty {
			t.Fatalf("Empty of a new index = %v, %v; want true", empty, err)
		}
		if err := index.Put(ctx, "upgrade", sid(1000, 1), store.SectorLocation{CacheStore: "nfs-1"}, testTime); err != nil {
			t.Fatal(err)
		}
		if empty, err := index.Empty(ctx); err != nil || empty {
			t.Fatalf("Empty with one entry = %v, %v; want false", empty, err)
		}
	})

	t.Run("PutGet", func(t *testing.T) {
		ctx := testContext(t)
		index := newDB(t).SectorIndex()
		id := sid(1000, 1)
		put := func(kind string, loc store.SectorLocation) {
			t.Helper()
			if err := index.Put(ctx, kind, id, loc, testTime); err != nil {
				t.Fatal(err)
			}
		}
		want := func(kind string, loc store.SectorLocation) {
			t.Helper()
			got, err := index.Get(ctx, kind, id)
			if err != nil || got != loc {
				t.Fatalf("Get(%s) = %+v, %v; want %+v", kind, got, err, loc)
			}
		}
		put("normal", store.SectorLocation{SealedStore: "nfs-1", CacheStore: "nfs-1"})
		want("normal", store.SectorLocation{SealedStore: "nfs-1", CacheStore: "nfs-1"})
		if _, err := index.Get(ctx, "upgrade", id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(upgrade) = %v; want ErrNotFound: kinds are separate", err)
		}

		put("normal", store.SectorLocation{SealedStore: "NFS-2", CacheStore: "nfs-3"})
		want("normal", store.SectorLocation{SealedStore: "NFS-2", CacheStore: "nfs-3"})

		// One part at a time keeps the other.
		put("upgrade", store.SectorLocation{SealedStore: "nfs-4"})
		want("upgrade", store.SectorLocation{SealedStore: "nfs-4"})
		put("upgrade", store.SectorLocation{CacheStore: "nfs-5"})
		want("upgrade", store.SectorLocation{SealedStore: "nfs-4", CacheStore: "nfs-5"})
		want("normal", store.SectorLocation{SealedStore: "NFS-2", CacheStore: "nfs-3"})

		if err := index.Put(ctx, "normal", id, store.SectorLocation{}, testTime); err == nil {
			t.Error("Put of an empty location succeeded")
		}
		if err := index.Put(ctx, "", id, store.SectorLocation{SealedStore: "x"}, testTime); err == nil {
			t.Error("Put with an empty kind succeeded")
		}
		want("normal", store.SectorLocation{SealedStore: "NFS-2", CacheStore: "nfs-3"})
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		dbs := handles(t, db)
		errs := race(len(dbs), func(i int) error {
			return dbs[i].SectorIndex().Put(ctx, "normal", sid(1000, 1),
				store.SectorLocation{SealedStore: fmt.Sprint("s", i), CacheStore: strings.Repeat("c", i+1)}, testTime)
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("Put on handle %d: %v", i, err)
			}
		}
		if _, err := db.SectorIndex().Get(ctx, "normal", sid(1000, 1)); err != nil {
			t.Fatal(err)
		}
	})
}

func wantSector(t *testing.T, sectors *store.Sectors, want store.Sector) {
	t.Helper()
	got, err := sectors.Get(testContext(t), want.ID)
	if err != nil {
		t.Fatalf("Get(%v): %v", want.ID, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Get(%v) =\n\t%+v\nwant\n\t%+v", want.ID, got, want)
	}
}

func wantTotals(t *testing.T, res *store.Reservations, want map[string]uint64) {
	t.Helper()
	got, err := res.Totals(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Totals = %v; want %v", got, want)
	}
}

// handles returns db and more handles on its database, concurrency in all.
func handles(t *testing.T, db *store.DB) []*store.DB {
	t.Helper()
	dbs := []*store.DB{db}
	for len(dbs) < concurrency {
		dbs = append(dbs, Reopen(t, db))
	}
	return dbs
}
