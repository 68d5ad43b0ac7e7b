package sectors

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

const (
	proof2KiB  = abi.RegisteredSealProof_StackedDrg2KiBV1_1
	proof32GiB = abi.RegisteredSealProof_StackedDrg32GiBV1_1
)

var testNow = time.Unix(1_700_000_000, 0)

func miner(actor uint64, sector config.MinerSector) config.Miner {
	m := config.DefaultMiner(actor)
	m.Sector = sector
	return m
}

// allocate calls Allocate and fails t on an error.
func allocate(t *testing.T, a *Allocator, spec rpc.AllocateSectorSpec, miners ...config.Miner) (*rpc.AllocatedSector, string) {
	t.Helper()
	s, reason, err := a.Allocate(t.Context(), spec, miners)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if (s == nil) == (reason == "") {
		t.Fatalf("Allocate = %+v, reason %q; want a sector or a reason, not both or neither", s, reason)
	}
	return s, reason
}

// wantNumbers allocates len(want) sectors of m and checks their numbers.
func wantNumbers(t *testing.T, a *Allocator, m config.Miner, want ...abi.SectorNumber) {
	t.Helper()
	for _, n := range want {
		s, reason := allocate(t, a, rpc.AllocateSectorSpec{}, m)
		if s == nil {
			t.Fatalf("Allocate = nil (%s); want sector %d", reason, n)
		}
		if s.ID != (abi.SectorID{Miner: abi.ActorID(m.Actor), Number: n}) {
			t.Fatalf("Allocate = %v; want number %d of miner %d", s.ID, n, m.Actor)
		}
	}
}

func newTestAllocator(db *store.DB, chain ChainSectors) *Allocator {
	return NewAllocator(db, fakeMinerInfo{1000: proof2KiB, 1001: proof32GiB}, chain,
		AllocatorOptions{Now: func() time.Time { return testNow }})
}

func TestAllocateHonoursConfigBounds(t *testing.T) {
	tests := []struct {
		name   string
		sector config.MinerSector
		want   []abi.SectorNumber
		// reason is part of the reason given once want is allocated.
		reason string
	}{
		{"no bounds", config.MinerSector{Enabled: true}, []abi.SectorNumber{1, 2, 3}, ""},
		{"InitNumber", config.MinerSector{Enabled: true, InitNumber: 100}, []abi.SectorNumber{101, 102}, ""},
		{"MinNumber above InitNumber", config.MinerSector{Enabled: true, InitNumber: 10, MinNumber: 50}, []abi.SectorNumber{51}, ""},
		{"InitNumber above MinNumber", config.MinerSector{Enabled: true, InitNumber: 60, MinNumber: 50}, []abi.SectorNumber{61}, ""},
		{"MaxNumber", config.MinerSector{Enabled: true, MaxNumber: 2}, []abi.SectorNumber{1, 2},
			"miner 1000 has no sector number left: the last one allocated is 2, the bound is 2 ([[Miners]] Sector.MaxNumber = 2"},
		{"MinNumber equals MaxNumber", config.MinerSector{Enabled: true, MinNumber: 5, MaxNumber: 5}, nil,
			"miner 1000 has no sector number left"},
		{"disabled", config.MinerSector{Enabled: false}, nil, "no miner is enabled for sealing ([[Miners]] Sector.Enabled)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAllocator(storetest.NewSQLite(t), newFakeChain())
			m := miner(1000, tt.sector)
			wantNumbers(t, a, m, tt.want...)
			s, reason := allocate(t, a, rpc.AllocateSectorSpec{}, m)
			if tt.reason == "" {
				if s == nil {
					t.Fatalf("Allocate after %v = nil (%s); want another sector", tt.want, reason)
				}
				return
			}
			if s != nil || !strings.Contains(reason, tt.reason) {
				t.Fatalf("Allocate after %v = %v, %q; want nil and a reason containing %q", tt.want, s, reason, tt.reason)
			}
		})
	}
}

// Numbers are never reused: lowering a bound does not go back, raising
// one jumps, and a restart (a new handle on the database) goes on.
func TestAllocateNeverReusesANumber(t *testing.T) {
	db := storetest.NewSQLite(t)
	a := newTestAllocator(db, newFakeChain())
	wantNumbers(t, a, miner(1000, config.MinerSector{Enabled: true}), 1, 2)
	wantNumbers(t, a, miner(1000, config.MinerSector{Enabled: true, MinNumber: 10}), 11)
	wantNumbers(t, a, miner(1000, config.MinerSector{Enabled: true}), 12)
	wantNumbers(t, a, miner(1001, config.MinerSector{Enabled: true}), 1) // miners count apart

	restarted := newTestAllocator(storetest.Reopen(t, db), newFakeChain())
	wantNumbers(t, restarted, miner(1000, config.MinerSector{Enabled: true}), 13)

	// Even a MaxNumber below what was allocated gives nothing rather than
	// an old number.
	_, reason := allocate(t, restarted, rpc.AllocateSectorSpec{}, miner(1000, config.MinerSector{Enabled: true, MaxNumber: 5}))
	if !strings.Contains(reason, "the last one allocated is 13, the bound is 5") {
		t.Fatalf("reason = %q", reason)
	}
}

func TestAllocateSkipsNumbersInUse(t *testing.T) {
	db := storetest.NewSQLite(t)
	chain := newFakeChain(sid(1000, 1), sid(1000, 2), sid(1000, 4), sid(1001, 1))
	a := newTestAllocator(db, chain)
	m := miner(1000, config.MinerSector{Enabled: true})
	wantNumbers(t, a, m, 3, 5)

	// A state created outside allocation (a rebuilt sector) takes its
	// number too.
	if _, err := NewStates(db, nil).Create(t.Context(), sid(1000, 6), proof2KiB); err != nil {
		t.Fatal(err)
	}
	wantNumbers(t, a, m, 7)

	// Every number left up to MaxNumber is on chain: nothing to give.
	chain.allocated[sid(1000, 8)] = true
	chain.allocated[sid(1000, 9)] = true
	_, reason := allocate(t, a, rpc.AllocateSectorSpec{}, miner(1000, config.MinerSector{Enabled: true, MaxNumber: 9}))
	if !strings.Contains(reason, "miner 1000 has no sector number left") {
		t.Fatalf("reason = %q", reason)
	}
	// The chain answers for the next numbers again once MaxNumber allows.
	wantNumbers(t, a, miner(1000, config.MinerSector{Enabled: true, MaxNumber: 10}), 10)

	chain.err = errors.New("chain node unreachable")
	s, _, err := a.Allocate(t.Context(), rpc.AllocateSectorSpec{}, []config.Miner{m})
	if err == nil || !strings.Contains(err.Error(), "chain node unreachable") || s != nil {
		t.Fatalf("Allocate with the chain down = %v, %v; want the chain's error", s, err)
	}
	chain.err = nil
	wantNumbers(t, a, m, 11) // the failed call took nothing
}

func TestAllocateFilters(t *testing.T) {
	db := storetest.NewSQLite(t)
	m1000 := miner(1000, config.MinerSector{Enabled: true})
	m1001 := miner(1001, config.MinerSector{Enabled: true})
	pickFirst := NewAllocator(db, fakeMinerInfo{1000: proof2KiB, 1001: proof32GiB}, newFakeChain(),
		AllocatorOptions{IntN: func(n int) int { return n - 1 }}) // the shuffle leaves the order
	pickLast := NewAllocator(db, fakeMinerInfo{1000: proof2KiB, 1001: proof32GiB}, newFakeChain(),
		AllocatorOptions{IntN: func(int) int { return 0 }}) // the shuffle reverses it
	tests := []struct {
		name   string
		a      *Allocator
		spec   rpc.AllocateSectorSpec
		want   abi.SectorID
		proof  abi.RegisteredSealProof
		reason string
	}{
		{"random pick, first", pickFirst, rpc.AllocateSectorSpec{}, sid(1000, 1), proof2KiB, ""},
		{"random pick, last", pickLast, rpc.AllocateSectorSpec{}, sid(1001, 1), proof32GiB, ""},
		{"empty lists allow all", pickLast, rpc.AllocateSectorSpec{AllowedMiners: []abi.ActorID{}, AllowedProofTypes: []abi.RegisteredSealProof{}},
			sid(1001, 2), proof32GiB, ""},
		{"allowed miners", pickFirst, rpc.AllocateSectorSpec{AllowedMiners: []abi.ActorID{1001}}, sid(1001, 3), proof32GiB, ""},
		{"allowed proof types", pickLast, rpc.AllocateSectorSpec{AllowedProofTypes: []abi.RegisteredSealProof{proof2KiB}},
			sid(1000, 2), proof2KiB, ""},
		{"no miner allowed", pickFirst, rpc.AllocateSectorSpec{AllowedMiners: []abi.ActorID{2000}}, abi.SectorID{}, 0,
			"no enabled miner matches the worker's allowed miners [2000]"},
		{"no proof type allowed", pickFirst, rpc.AllocateSectorSpec{AllowedProofTypes: []abi.RegisteredSealProof{13, 18}}, abi.SectorID{}, 0,
			"miner 1000 seals with proof type 5, not one of the worker's [13 18]; miner 1001 seals with proof type 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reason := allocate(t, tt.a, tt.spec, m1000, m1001)
			if tt.reason != "" {
				if s != nil || !strings.Contains(reason, tt.reason) {
					t.Fatalf("Allocate = %v, %q; want nil and a reason containing %q", s, reason, tt.reason)
				}
				return
			}
			if s == nil || s.ID != tt.want || s.ProofType != tt.proof {
				t.Fatalf("Allocate = %+v (%s); want %v with proof %d", s, reason, tt.want, tt.proof)
			}
		})
	}
}

// A miner the chain cannot tell about does not stop the others; alone, it
// is an error.
func TestAllocateMinerInfoErrors(t *testing.T) {
	db := storetest.NewSQLite(t)
	a := NewAllocator(db, fakeMinerInfo{1000: proof2KiB}, newFakeChain(), AllocatorOptions{})
	unknown := miner(1002, config.MinerSector{Enabled: true})
	for range 5 {
		s, _, err := a.Allocate(t.Context(), rpc.AllocateSectorSpec{}, []config.Miner{unknown, miner(1000, config.MinerSector{Enabled: true})})
		if err != nil || s == nil || s.ID.Miner != 1000 {
			t.Fatalf("Allocate = %v, %v; want a sector of miner 1000", s, err)
		}
	}
	if _, _, err := a.Allocate(t.Context(), rpc.AllocateSectorSpec{}, []config.Miner{unknown}); err == nil || !strings.Contains(err.Error(), "miner 1002") {
		t.Fatalf("Allocate of an unknown miner only = %v; want an error naming it", err)
	}
}

func TestAllocateCreatesTheOnlineState(t *testing.T) {
	db := storetest.NewSQLite(t)
	s, _ := allocate(t, newTestAllocator(db, newFakeChain()), rpc.AllocateSectorSpec{}, miner(1001, config.MinerSector{Enabled: true}))
	got, err := NewStates(db, nil).Get(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := Sector{ID: s.ID, ProofType: proof32GiB, State: store.SectorOnline, CreatedAt: testNow, UpdatedAt: testNow}
	if got.ID != want.ID || got.ProofType != want.ProofType || got.State != want.State || !got.CreatedAt.Equal(testNow) {
		t.Fatalf("state of the allocated sector = %+v; want %+v", got, want)
	}
}

// Many goroutines on two handles (as two managers on one database) never
// get the same number, and skip the chain's numbers.
func TestAllocateConcurrently(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			const (
				goroutines = 50
				perCall    = 3
			)
			db := engine.newDB(t)
			dbs := []*store.DB{db, storetest.Reopen(t, db)}
			chain := newFakeChain(sid(1000, 5), sid(1000, 6), sid(1001, 20))
			miners := []config.Miner{
				miner(1000, config.MinerSector{Enabled: true}),
				miner(1001, config.MinerSector{Enabled: true, MinNumber: 10}),
			}
			var (
				mu   sync.Mutex
				got  = map[abi.ActorID][]abi.SectorNumber{}
				wg   sync.WaitGroup
				errs = make(chan error, goroutines*len(dbs))
			)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			for _, db := range dbs {
				a := newTestAllocator(db, chain)
				for range goroutines {
					wg.Go(func() {
						for range perCall {
							s, reason, err := a.Allocate(ctx, rpc.AllocateSectorSpec{}, miners)
							if err != nil || s == nil {
								errs <- errors.Join(err, errors.New(reason))
								return
							}
							mu.Lock()
							got[s.ID.Miner] = append(got[s.ID.Miner], s.ID.Number)
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			total := 0
			for actor, floor := range map[abi.ActorID]abi.SectorNumber{1000: 0, 1001: 10} {
				numbers := got[actor]
				total += len(numbers)
				slices.Sort(numbers)
				// Contiguous above the floor but for the chain's.
				var want []abi.SectorNumber
				for n := floor + 1; len(want) < len(numbers); n++ {
					if !chain.allocated[abi.SectorID{Miner: actor, Number: n}] {
						want = append(want, n)
					}
				}
				if !slices.Equal(numbers, want) {
					t.Errorf("miner %d got numbers %v; want %v, each once", actor, numbers, want)
				}
			}
			if total != goroutines*len(dbs)*perCall {
				t.Errorf("allocated %d sectors; want %d", total, goroutines*len(dbs)*perCall)
			}
			online, err := NewStates(db, nil).List(ctx, OnlineSectors, 0)
			if err != nil || len(online) != total {
				t.Errorf("online states = %d, %v; want one per allocation (%d)", len(online), err, total)
			}
		})
	}
}
