package poster_test

import (
	"context"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/poster"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/prover"
)

// windowsInOrder returns the next window of every deadline holding
// sectors, earliest first.
func (h *harness) windowsInOrder() []*dline.Info {
	var out []*dline.Info
	for idx := range h.sectorDeadlines() {
		out = append(out, h.deadlineOf(idx))
	}
	slices.SortFunc(out, func(a, b *dline.Info) int { return int(a.Open - b.Open) })
	return out
}

func TestPosterProvesEveryDeadline(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.seal(6)
	p := h.start()
	windows := h.windowsInOrder()
	if len(windows) < 2 {
		t.Fatalf("6 sectors landed in %d deadlines; the test wants several", len(windows))
	}
	for _, di := range windows {
		h.walkWindow(di.Index)
		posts := h.postsOf(di)
		if len(posts) != 1 || !posts[0].Accepted {
			t.Fatalf("deadline %d: PoSt records %+v, want one accepted", di.Index, posts)
		}
	}
	h.requireNoMissed()
	s := h.stats()
	if s.Active != 6 || s.Faulty != 0 {
		t.Fatalf("stats %+v: want 6 active, 0 faulty", s)
	}
	if sent := p.counter("damocles_poster_proofs_sent_total"); sent != float64(len(windows)) {
		t.Fatalf("proofs_sent_total = %v, want %d", sent, len(windows))
	}
}

// threePartitionDeadline seals sectors, one per partition, until some
// deadline has three partitions (the assignment spreads partitions over
// the 46 mutable deadlines first), and returns it.
func threePartitionDeadline(h *harness) uint64 {
	h.t.Helper()
	h.seal(2*46 + 1)
	for idx, n := range h.sectorDeadlines() {
		if n >= 3 {
			return idx
		}
	}
	h.t.Fatalf("no deadline with 3 partitions after sealing %d sectors: %v", len(h.sectors), h.sectorDeadlines())
	return 0
}

func TestPosterBatchesPartitions(t *testing.T) {
	h := newHarness(t, devnettest.Options{PartitionSectors: 1})
	idx := threePartitionDeadline(h)
	h.setPoSt(func(c *config.MinerPoSt) { c.MaxPartitionsPerPoStMessage = 1 })
	h.start()

	di := h.walkWindow(idx)
	posts := h.postsOf(di)
	if len(posts) != 3 {
		t.Fatalf("MaxPartitionsPerPoStMessage = 1: %d messages for a 3-partition deadline, want 3: %+v", len(posts), posts)
	}
	for _, p := range posts {
		if !p.Accepted || len(p.Partitions) != 1 {
			t.Fatalf("post %+v: want accepted, one partition", p)
		}
	}

	// A reload to 0 takes effect at the deadline's next window: as few
	// messages as the protocol allows (3 partitions per message).
	h.setPoSt(func(c *config.MinerPoSt) { c.MaxPartitionsPerPoStMessage = 0 })
	di = h.walkWindow(idx)
	posts = h.postsOf(di)
	if len(posts) != 1 || !posts[0].Accepted || len(posts[0].Partitions) != 3 {
		t.Fatalf("MaxPartitionsPerPoStMessage = 0: posts %+v, want one accepted message with 3 partitions", posts)
	}
}

// corrupt overwrites a sealed file with zeros of the same size and
// returns its content.
func corrupt(t *testing.T, path string) []byte {
	data := backup(t, path)
	writeFile(t, path, make([]byte, len(data)))
	return data
}

func TestPosterSkipsCorruptSectorAndRecovers(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.seal(4)
	bad := h.sectors[0].Number
	idx := h.deadlineHolding(bad)
	original := corrupt(t, h.sealedPath(bad))
	h.start()

	di := h.deadlineOf(idx)
	h.walkWindows()
	posts := h.postsOf(di)
	if len(posts) != 1 || !posts[0].Accepted || posts[0].Skipped != 1 {
		t.Fatalf("deadline %d with a corrupt sector: posts %+v, want one accepted with 1 skipped", idx, posts)
	}
	if s := h.stats(); s.Faulty != 1 || s.Active != 3 {
		t.Fatalf("stats %+v: want the corrupt sector faulty, the others active", s)
	}
	h.requireNoMissed()

	// Restored, the sector is declared recovered by the runner of the
	// deadline two before its own (its challenge comes 140 epochs before
	// the sector's window opens), then proven in that window.
	writeFile(t, h.sealedPath(bad), original)
	next := h.deadlineOf(idx)
	recoverAt := next.Open - 2*chain.WPoStChallengeWindow - chain.WPoStChallengeLookback
	h.walkWindows(interval{recoverAt, recoverAt + 30})
	s := h.stats()
	if s.Faulty != 0 || s.Recovered != 1 || s.Active != 4 {
		t.Fatalf("stats %+v: want the sector recovered, 4 active, no fault", s)
	}
	h.requireNoMissed()
}

func TestPosterHungSectorFileCostsOnlyThatSector(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.proving.SingleCheckTimeout = config.Duration(300 * time.Millisecond)
	h.seal(2)
	hung := h.sectors[0].Number
	path := h.sealedPath(hung)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Opening a FIFO for reading blocks until a writer comes: a read that
	// never returns, as on a hung NFS mount.
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Release the abandoned check: a writer lets its open return.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	h.start()
	di := h.walkWindow(h.deadlineHolding(hung))
	posts := h.postsOf(di)
	if len(posts) != 1 || !posts[0].Accepted || posts[0].Skipped != 1 || posts[0].Proven != 1 {
		t.Fatalf("posts %+v: want one accepted proof, the hung sector skipped and the other proven", posts)
	}
	h.requireNoMissed()
}

func TestPosterRestartDoesNotSendTwice(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.seal(2)
	idx := h.deadlineHolding(h.sectors[0].Number)
	di := h.deadlineOf(idx)
	first := h.start()

	// Walk to the epoch the first poster submits at, then mine nothing
	// until it has pushed its proof, and stop it: the message waits in
	// the pool, the next epoch would include it.
	h.jumpBefore(di.Challenge)
	h.pace(di.Open+poster.SubmitConfidenceDefault, nil)
	waitFor(t, "the first poster's push", func() bool {
		rows, err := h.db.PoStMessages().List(context.Background(), h.d.Actor, di.Open)
		return err == nil && len(rows) == 1 && rows[0].Message != ""
	})
	first.stop()

	// A new poster over the same database finds the pushed message and
	// waits for it instead of sending another. No epoch is mined until it
	// has read the deadline, so the message is still in the pool: only
	// the record tells it the proof was sent.
	second := h.start()
	waitFor(t, "the restarted poster to check the deadline", func() bool {
		return second.counter("damocles_poster_sectors_checked_total") >= 2
	})
	h.pace(di.Close+1, nil)
	posts := h.postsOf(di)
	if len(posts) != 1 || !posts[0].Accepted {
		t.Fatalf("posts %+v: want exactly one accepted proof", posts)
	}
	if sent := second.counter("damocles_poster_proofs_sent_total"); sent != 0 {
		t.Fatalf("the restarted poster sent %v proofs, want 0", sent)
	}
	h.requireNoMissed()
}

func TestPosterRestartMidDeadlineStillProves(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.seal(2)
	idx := h.deadlineHolding(h.sectors[0].Number)
	di := h.deadlineOf(idx)
	first := h.start()
	// Stop the first poster after the challenge, before anything is sent.
	h.jumpBefore(di.Challenge + 12)
	first.stop()
	if rows, err := h.db.PoStMessages().List(context.Background(), h.d.Actor, di.Open); err != nil || len(rows) != 0 {
		t.Fatalf("records %v, %v: want nothing sent yet", rows, err)
	}
	h.pace(di.Open+10, nil)
	h.start()
	h.pace(di.Close+1, nil)
	if posts := h.postsOf(di); len(posts) != 1 || !posts[0].Accepted {
		t.Fatalf("posts %+v: want one accepted proof", posts)
	}
	h.requireNoMissed()
}

// Without the strict check a zeroed sealed file passes (its size is
// right): the prover then reports the sector faulty, and the batch is
// proven again without it.
func TestPosterProvesAgainWithoutProverFaults(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.setPoSt(func(c *config.MinerPoSt) { c.StrictCheck = false })
	h.seal(2)
	corrupt(t, h.sealedPath(h.sectors[1].Number))
	h.start()
	di := h.walkWindow(h.deadlineHolding(h.sectors[0].Number))
	posts := h.postsOf(di)
	if len(posts) != 1 || !posts[0].Accepted || posts[0].Skipped != 1 || posts[0].Proven != 1 {
		t.Fatalf("posts %+v: want one accepted proof, the zeroed sector skipped", posts)
	}
	h.requireNoMissed()
}

// MaxRecoverSectorLimit caps the sectors declared recovered at once.
func TestPosterRecoverySectorLimit(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.setPoSt(func(c *config.MinerPoSt) { c.MaxRecoverSectorLimit = 1 })
	h.seal(2)
	idx := h.deadlineHolding(h.sectors[0].Number)
	var saved [][]byte
	for _, s := range h.sectors {
		saved = append(saved, corrupt(t, s.SealedPath))
	}
	h.start()
	// Both sectors bad: the partition has nothing to prove, is missed,
	// and its sectors turn faulty.
	h.walkWindow(idx)
	if s := h.stats(); s.Faulty != 2 {
		t.Fatalf("stats %+v: want both sectors faulty", s)
	}
	for i, s := range h.sectors {
		writeFile(t, s.SealedPath, saved[i])
	}
	next := h.deadlineOf(idx)
	recoverAt := next.Open - 2*chain.WPoStChallengeWindow - chain.WPoStChallengeLookback
	h.walk(interval{recoverAt, recoverAt + 30})
	if s := h.stats(); s.Recovering != 1 {
		t.Fatalf("stats %+v: want 1 sector declared recovered (MaxRecoverSectorLimit = 1)", s)
	}
}

// hangingProver is the local prover, except that the first proof holding
// sector hangs: its sealed file turns into a FIFO (storage that hangs
// after the sector was checked) and the call waits for its ctx.
type hangingProver struct {
	prover.Local
	sector abi.SectorNumber
	path   string
	hung   atomic.Bool
}

func (p *hangingProver) GenerateWindowPoSt(ctx context.Context, task prover.WindowPoStTask) ([]proof.PoStProof, []abi.SectorNumber, error) {
	if slices.ContainsFunc(task.Sectors, func(s proofs.PrivateSectorInfo) bool { return s.SectorNumber == p.sector }) && p.hung.CompareAndSwap(false, true) {
		if err := os.Remove(p.path); err == nil {
			_ = syscall.Mkfifo(p.path, 0o644)
		}
		<-ctx.Done()
		return nil, nil, ctx.Err()
	}
	return p.Local.GenerateWindowPoSt(ctx, task)
}

// Storage that hangs after the check costs the proving attempt, then the
// sector (its new check times out), not the deadline.
func TestPosterStorageHangingAfterTheCheck(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.proving.SingleCheckTimeout = config.Duration(300 * time.Millisecond)
	h.seal(2)
	hung := h.sectors[0]
	t.Cleanup(func() {
		if f, err := os.OpenFile(hung.SealedPath, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	hp := &hangingProver{Local: prover.Local{Engine: h.d.Engine}, sector: hung.Number, path: hung.SealedPath}
	h.prover = hp
	h.start()
	di := h.walkWindow(h.deadlineHolding(hung.Number))
	if !hp.hung.Load() {
		t.Fatal("the prover never hung")
	}
	posts := h.postsOf(di)
	if len(posts) != 1 || !posts[0].Accepted || posts[0].Skipped != 1 || posts[0].Proven != 1 {
		t.Fatalf("posts %+v: want one accepted proof, the hung sector skipped", posts)
	}
	h.requireNoMissed()
}

// reorgNode is the devnet node whose head-change stream also carries the
// changes a test injects: the devnet never reorganises, a Lotus node can.
type reorgNode struct {
	chain.API
	inject chan []*chain.HeadChange
}

func (n *reorgNode) ChainNotify(ctx context.Context) (<-chan []*chain.HeadChange, error) {
	in, err := n.API.ChainNotify(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan []*chain.HeadChange, 16)
	go func() {
		defer close(out)
		for {
			var batch []*chain.HeadChange
			var ok bool
			select {
			case batch, ok = <-in:
				if !ok {
					return
				}
			case batch = <-n.inject:
			case <-ctx.Done():
				return
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// reorgTo reverts the chain's tipsets down to height from and applies
// them again, as a node does when it switches to another branch.
func (h *harness) reorgTo(n *reorgNode, from abi.ChainEpoch) {
	h.t.Helper()
	head := h.height()
	var tipsets []*chain.TipSet
	for e := from; e <= head; e++ {
		ts, err := h.d.Node.ChainGetTipSetByHeight(context.Background(), e, chain.TipSetKey{})
		if err != nil {
			h.t.Fatal(err)
		}
		tipsets = append(tipsets, ts)
	}
	var changes []*chain.HeadChange
	for i := len(tipsets) - 1; i >= 0; i-- {
		changes = append(changes, &chain.HeadChange{Type: chain.HCRevert, Val: tipsets[i]})
	}
	for _, ts := range tipsets {
		changes = append(changes, &chain.HeadChange{Type: chain.HCApply, Val: ts})
	}
	n.inject <- changes
}

// A reorg down to a deadline's challenge epoch may change its randomness:
// the runner is stopped and the deadline proven again from the start,
// once.
func TestPosterProvesAgainAfterAReorgBelowTheChallenge(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.seal(2)
	n := &reorgNode{API: h.d.Node, inject: make(chan []*chain.HeadChange)}
	h.notifier = n
	p := h.start()
	di := h.deadlineOf(h.deadlineHolding(h.sectors[0].Number))
	h.jumpBefore(di.Challenge + 12)
	if checked := p.counter("damocles_poster_sectors_checked_total"); checked != 2 {
		t.Fatalf("%v sectors checked before the reorg, want the deadline's 2", checked)
	}
	h.reorgTo(n, di.Challenge)
	h.pace(di.Close+1, nil)
	if checked := p.counter("damocles_poster_sectors_checked_total"); checked != 4 {
		t.Fatalf("%v sectors checked, want 4: the deadline checked again after the reorg", checked)
	}
	if posts := h.postsOf(di); len(posts) != 1 || !posts[0].Accepted {
		t.Fatalf("posts %+v: want one accepted proof", posts)
	}
	h.requireNoMissed()
}

// waitFor polls cond, without mining, for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
