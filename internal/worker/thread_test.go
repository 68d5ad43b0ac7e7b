package worker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

const testStore = "store-a"

// rig is one sealing thread location, one persist store and a fake manager.
type rig struct {
	loc, store string
	fake       *fakeSealer
	cfg        ThreadConfig
}

func newRig(t *testing.T, sectors ...abi.SectorNumber) *rig {
	t.Helper()
	r := &rig{loc: t.TempDir(), store: t.TempDir()}
	if _, err := InitStore(r.loc, SealingStore); err != nil {
		t.Fatal(err)
	}
	if _, err := InitStore(r.store, PersistStore); err != nil {
		t.Fatal(err)
	}
	r.fake = newFakeSealer(t, map[string]string{testStore: r.store}, sectors...)
	ms := config.HumanDuration(time.Millisecond)
	r.cfg = ThreadConfig{
		Location: r.loc,
		Sealing: config.Sealing{
			AllowedMiners: []uint64{uint64(testMiner)}, AllowedSizes: []string{"2KiB"},
			MaxRetries: 3, SealInterval: ms, RecoverInterval: ms, RPCPollingInterval: ms,
		},
		Attached:     []config.Attached{{Name: "readonly-store", Location: t.TempDir(), Readonly: true}, {Name: testStore, Location: r.store}},
		Instance:     "test-worker",
		Sealer:       r.fake,
		Stages:       EngineStages{Engine: &proofs.DevEngine{}},
		ResubmitWait: time.Millisecond,
	}
	return r
}

// start runs a thread until the returned stop (also a test cleanup) ends
// it and waits for Run to return.
func (r *rig) start(t *testing.T, cfg ThreadConfig) (*Thread, func()) {
	t.Helper()
	th, err := NewThread(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := th.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return th, stop
}

// finished holds once n sectors are finalized and the thread has cleaned
// up after the last (it removes the state file last).
func (r *rig) finished(n int) func() bool {
	return func() bool {
		r.fake.mu.Lock()
		done := len(r.fake.finalized) >= n
		r.fake.mu.Unlock()
		_, err := os.Stat(filepath.Join(r.loc, ThreadStateFile))
		return done && os.IsNotExist(err)
	}
}

// checkPersisted checks sector n's files are in the store and gone from
// the thread's location.
func (r *rig) checkPersisted(t *testing.T, n abi.SectorNumber) {
	t.Helper()
	id := abi.SectorID{Miner: testMiner, Number: n}
	files, _ := persistedFiles(id, testProof)
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(r.store, f)); err != nil {
			t.Errorf("persist store: %v", err)
		}
	}
	cache, _ := proofs.CacheFilesFor(testProof)
	for _, f := range cache.Temporary() {
		if _, err := os.Stat(filepath.Join(proofs.CacheDirPath(r.store, id), f)); err == nil {
			t.Errorf("persist store holds %s, which only sealing needs", f)
		}
	}
	r.checkClean(t, n)
}

// checkClean checks the thread left nothing of sector n in its location.
func (r *rig) checkClean(t *testing.T, n abi.SectorNumber) {
	t.Helper()
	for _, p := range append(sectorScratch(r.loc, abi.SectorID{Miner: testMiner, Number: n}), filepath.Join(r.loc, ThreadStateFile)) {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still in the sealing location", p)
		}
	}
}

// sealerSteps are the reports of one sector sealed without a hitch.
var sealerSteps = []string{
	"Empty>Allocated", "Allocated>DealsAcquired", "DealsAcquired>PieceAdded", "PieceAdded>TreeDBuilt",
	"TreeDBuilt>TicketAssigned", "TicketAssigned>PC1Done", "PC1Done>PC2Done", "PC2Done>PCSubmitted",
	"PCSubmitted>PCLanded", "PCLanded>Persisted", "Persisted>PersistanceSubmitted",
	"PersistanceSubmitted>SeedAssigned", "SeedAssigned>C1Done", "C1Done>C2Done", "C2Done>ProofSubmitted",
	"ProofSubmitted>Finished",
}

// stepsWith returns sealerSteps with extra inserted before the step that
// leaves state from.
func stepsWith(from string, extra ...string) []string {
	i := slices.IndexFunc(sealerSteps, func(s string) bool { return len(s) > len(from) && s[:len(from)+1] == from+">" })
	return slices.Concat(sealerSteps[:i], extra, sealerSteps[i:])
}

func TestThreadSealsSector(t *testing.T) {
	r := newRig(t, 1)
	r.fake.pcPolls = []rpc.OnChainState{rpc.OnChainPending, rpc.OnChainPacked}
	r.fake.proofPolls = []rpc.OnChainState{rpc.OnChainPending}
	r.fake.nilReserves = 1
	th, stop := r.start(t, r.cfg)
	waitFor(t, "sector 1 finalized", r.finished(1))
	stop()
	if _, _, busy := th.Sector(); busy {
		t.Error("thread still holds a sector after finishing it")
	}

	if got := r.fake.transitions(1); !slices.Equal(got, sealerSteps) {
		t.Errorf("reported states:\n got %v\nwant %v", got, sealerSteps)
	}
	if r.fake.persisted[1] != testStore {
		t.Errorf("SubmitPersistedEx named store %q, want %q", r.fake.persisted[1], testStore)
	}
	if r.fake.count("AcquireDeals") != 0 {
		t.Error("AcquireDeals called with deals disabled")
	}
	for _, rep := range r.fake.reports {
		if rep.req.Worker != (rpc.WorkerIdentifier{Instance: "test-worker", Location: r.loc}) {
			t.Errorf("report from %+v", rep.req.Worker)
		}
	}
	r.checkPersisted(t, 1)
}

// A worker killed during PC2 left its state at PC1Done; a new thread on the
// same location reruns PC2 from PC1's output and finishes the sector.
func TestThreadResumesAfterKill(t *testing.T) {
	r := newRig(t, 1)
	killed := make(chan struct{})
	cfg := r.cfg
	cfg.Stages = killingPC2{Stages: r.cfg.Stages, killed: killed}
	_, stop := r.start(t, cfg)
	<-killed
	stop()
	rec, err := loadRecord(r.loc)
	if err != nil || rec == nil || rec.State != StatePC1Done {
		t.Fatalf("state after the kill: %+v, %v; want PC1Done", rec, err)
	}

	r.start(t, r.cfg)
	waitFor(t, "sector 1 finalized", r.finished(1))
	if got := r.fake.transitions(1); !slices.Equal(got, sealerSteps) {
		t.Errorf("reported states across both runs:\n got %v\nwant %v", got, sealerSteps)
	}
	if n := r.fake.count("AssignTicket"); n != 1 {
		t.Errorf("AssignTicket called %d times; the resumed thread must reuse the saved ticket", n)
	}
	r.checkPersisted(t, 1)
}

// killingPC2 simulates a worker killed in the middle of PC2.
type killingPC2 struct {
	Stages
	killed chan struct{}
}

func (k killingPC2) PC2(ctx context.Context, pc1 proofs.PC1Out, cacheDir, sealedPath string) (cid.Cid, cid.Cid, error) {
	close(k.killed)
	<-ctx.Done()
	return cid.Undef, cid.Undef, ctx.Err()
}

func TestThreadFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(f *fakeSealer, cfg *ThreadConfig)
		want   []string
		// paused is true when the thread must stop at the last state of want.
		paused bool
	}{
		{
			name:   "temporary failure retried",
			script: func(f *fakeSealer, _ *ThreadConfig) { f.fail["AssignTicket"] = 2 },
			want:   stepsWith("TreeDBuilt", "TreeDBuilt!Temporary", "TreeDBuilt!Temporary"),
		},
		{
			name: "temporary failure past max_retries pauses",
			script: func(f *fakeSealer, cfg *ThreadConfig) {
				f.fail["AssignTicket"] = 5
				cfg.Sealing.MaxRetries = 1
			},
			want:   slices.Concat(sealerSteps[:4], []string{"TreeDBuilt!Temporary", "TreeDBuilt!Permanent"}),
			paused: true,
		},
		{
			name: "failed pre-commit resubmitted with reset",
			script: func(f *fakeSealer, _ *ThreadConfig) {
				f.pcPolls = []rpc.OnChainState{rpc.OnChainPending, rpc.OnChainFailed}
			},
			want: stepsWith("PCSubmitted", "PCSubmitted>PC2Done", "PC2Done>PCSubmitted"),
		},
		{
			name:   "failed proof resubmitted",
			script: func(f *fakeSealer, _ *ThreadConfig) { f.proofPolls = []rpc.OnChainState{rpc.OnChainFailed} },
			want:   stepsWith("ProofSubmitted", "ProofSubmitted>C2Done", "C2Done>ProofSubmitted"),
		},
		{
			name:   "pre-commit not found pauses",
			script: func(f *fakeSealer, _ *ThreadConfig) { f.pcPolls = []rpc.OnChainState{rpc.OnChainNotFound} },
			want:   slices.Concat(sealerSteps[:8], []string{"PCSubmitted!Permanent"}),
			paused: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			cfg := r.cfg
			tc.script(r.fake, &cfg)
			th, stop := r.start(t, cfg)
			if tc.paused {
				waitFor(t, "thread paused", func() bool { return th.Status() == ThreadPaused })
			} else {
				waitFor(t, "sector 1 finalized", r.finished(1))
			}
			stop()
			if got := r.fake.transitions(1); !slices.Equal(got, tc.want) {
				t.Errorf("reported states:\n got %v\nwant %v", got, tc.want)
			}
			if tc.paused {
				rec, err := loadRecord(r.loc)
				if last := tc.want[len(tc.want)-1]; err != nil || rec == nil || !strings.HasPrefix(last, string(rec.State)+"!") {
					t.Errorf("paused thread's state file: %+v, %v", rec, err)
				}
				return
			}
			r.checkPersisted(t, 1)
		})
	}
	t.Run("resets", func(t *testing.T) {
		r := newRig(t, 1)
		r.fake.pcPolls = []rpc.OnChainState{rpc.OnChainFailed}
		r.start(t, r.cfg)
		waitFor(t, "sector 1 finalized", r.finished(1))
		if want := []bool{false, true}; !slices.Equal(r.fake.resets, want) {
			t.Errorf("SubmitPreCommit reset flags %v, want %v", r.fake.resets, want)
		}
	})
	t.Run("null allocations retried", func(t *testing.T) {
		r := newRig(t, 1)
		r.fake.nilAllocs = 3
		r.fake.fail["AllocateSector"] = 1
		r.start(t, r.cfg)
		waitFor(t, "sector 1 finalized", r.finished(1))
		if n := r.fake.count("AllocateSector"); n < 5 {
			t.Errorf("AllocateSector called %d times, want at least 5", n)
		}
	})
}

// An aborted sector is reported, its local files removed, and the thread
// takes the next sector.
func TestThreadAbort(t *testing.T) {
	r := newRig(t, 1, 2)
	r.fake.pcPolls = []rpc.OnChainState{rpc.OnChainShouldAbort}
	r.start(t, r.cfg)
	waitFor(t, "sector 2 finalized", r.finished(1))

	want := slices.Concat(sealerSteps[:8], []string{"PCSubmitted!Abort"})
	if got := r.fake.transitions(1); !slices.Equal(got, want) {
		t.Errorf("sector 1 reported states:\n got %v\nwant %v", got, want)
	}
	r.fake.mu.Lock()
	reason, aborted := r.fake.aborted[1]
	r.fake.mu.Unlock()
	if !aborted || reason == "" {
		t.Errorf("ReportAborted(1) = %v, reason %q", aborted, reason)
	}
	r.checkClean(t, 1)
	if got := r.fake.transitions(2); !slices.Equal(got, sealerSteps) {
		t.Errorf("sector 2 reported states:\n got %v\nwant %v", got, sealerSteps)
	}
}

func TestAllocateSpec(t *testing.T) {
	spec, err := allocateSpec(config.Sealing{AllowedMiners: []uint64{1000}, AllowedSizes: []string{"32GiB", "2KiB"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []abi.RegisteredSealProof{8, 13, 18, 5, 10, 15}; !slices.Equal(spec.AllowedProofTypes, want) {
		t.Errorf("proof types %v, want %v", spec.AllowedProofTypes, want)
	}
	if want := []abi.ActorID{1000}; !slices.Equal(spec.AllowedMiners, want) {
		t.Errorf("miners %v, want %v", spec.AllowedMiners, want)
	}
	empty, _ := allocateSpec(config.Sealing{})
	if empty.AllowedMiners == nil || empty.AllowedProofTypes == nil {
		t.Error("no restriction must be sent as [], not null")
	}
}

func TestPersistReserveSize(t *testing.T) {
	for size, want := range map[abi.SectorSize]uint64{2 << 10: 4 << 10, 512 << 20: 1 << 30, 32 << 30: 35046933135, 64 << 30: 70093866270} {
		if got := persistReserveSize(size); got != want {
			t.Errorf("persistReserveSize(%d) = %d, want %d", size, got, want)
		}
	}
}

func TestSummarizeThreads(t *testing.T) {
	var threads []*Thread
	for _, s := range []ThreadStatus{ThreadEmpty, ThreadRunning, ThreadRunning, ThreadWaiting, ThreadPaused, ThreadErrors} {
		threads = append(threads, &Thread{status: s})
	}
	want := rpc.WorkerThreadsSummary{Threads: 6, Empty: 1, Running: 2, Waiting: 1, Paused: 1, Errors: 1}
	if got := SummarizeThreads(threads); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
}

func TestStageLimiter(t *testing.T) {
	l := NewStageLimiter(map[string]int{"pc2": 1, "c2": 0})
	release, err := l.Acquire(context.Background(), "pc2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, "pc2"); err == nil {
		t.Error("second pc2 slot granted with a limit of 1")
	}
	release()
	if r, err := l.Acquire(context.Background(), "pc2"); err != nil {
		t.Errorf("pc2 slot after release: %v", err)
	} else {
		r()
	}
	for _, stage := range []string{"c2", "pc1"} {
		if _, err := l.Acquire(ctx, stage); err != nil {
			t.Errorf("%s is unlimited, got %v", stage, err)
		}
	}
}
