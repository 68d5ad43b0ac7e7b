package devnet

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/crypto"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// populate gives the chain miners with sectors each, activated directly
// (no proofs: the benchmark measures the chain, not the verifier) and
// already proven once.
func populate(tb testing.TB, h *harness, miners, sectors int) {
	tb.Helper()
	h.advance(1)
	for range miners {
		maddr, err := h.c.CreateMiner(0, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		h.c.mu.Lock()
		m := h.c.st.Miners[minerID(tb, maddr)]
		var pcs []*miner.SectorPreCommitOnChainInfo
		for n := range sectors {
			pcs = append(pcs, &miner.SectorPreCommitOnChainInfo{Info: miner.SectorPreCommitInfo{
				SectorNumber: abi.SectorNumber(n), SealProof: testSeal, Expiration: 1 << 30,
			}})
		}
		if err := h.c.activateSectors(m, pcs, h.c.st.Height); err != nil {
			tb.Fatal(err)
		}
		for _, s := range m.Sectors {
			s.Unproven = false
		}
		h.c.mu.Unlock()
	}
}

// BenchmarkAdvanceEpoch measures one epoch of a chain whose messages are
// all executed: the deadline cron and, with a home, persistence (amortized
// snapshots every SnapshotEvery epochs). Miners never prove, so the cron
// also marks misses as their deadlines close.
func BenchmarkAdvanceEpoch(b *testing.B) {
	for _, tc := range []struct {
		miners, sectors int
	}{{1, 16}, {10, 500}} {
		for _, persisted := range []bool{false, true} {
			name := fmt.Sprintf("miners=%d/sectors=%d/memory", tc.miners, tc.sectors)
			cfg := Config{}
			if persisted {
				name = fmt.Sprintf("miners=%d/sectors=%d/home", tc.miners, tc.sectors)
				cfg.Home = b.TempDir()
			}
			b.Run(name, func(b *testing.B) {
				h := newHarness(b, cfg)
				populate(b, h, tc.miners, tc.sectors)
				now := time.Now()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := h.c.AdvanceEpoch(now); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// Queries, pushes and epochs from many goroutines at once, for the race
// detector.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, Config{Home: t.TempDir()})
	populate(t, h, 2, 20)
	maddr := h.c.Miners()[0]
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				head := h.c.Head()
				if _, err := h.c.TicketRandomness(crypto.DomainSeparationTag_PoStChainCommit, head.Height, nil); err != nil {
					t.Error(err)
				}
				if _, err := h.c.Partitions(maddr, 5); err != nil {
					t.Error(err)
				}
				h.c.Records()
				h.c.Pending()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if _, err := h.c.PushMessage(Message{To: maddr, From: h.wallet, Method: builtin.MethodSend}); err != nil {
				t.Error(err)
			}
		}
	})
	changed := h.c.HeadChanged()
	h.advance(200)
	<-changed
	close(stop)
	wg.Wait()
	h.advance(1)
	if len(h.c.Pending()) != 0 {
		t.Error("messages left pending")
	}
}
