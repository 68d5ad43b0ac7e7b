package prover_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/prover"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// storeName is the persist store every test sector is indexed in.
const storeName = "store-a"

// oneStore finds every sector in storeName.
type oneStore struct{}

func (oneStore) Find(_ context.Context, kind sectors.IndexKind, _ abi.SectorID) (rpc.SectorIndexLocation, error) {
	if kind != sectors.IndexNormal {
		return rpc.SectorIndexLocation{}, nil
	}
	return rpc.SectorIndexLocation{Found: true, Instance: rpc.SectorAccessStores{SealedFile: storeName, CacheDir: storeName}}, nil
}

// workerSetup is a worker prover over real sealed sectors and SQLite.
type workerSetup struct {
	t        testing.TB
	prover   *prover.Worker
	task     prover.WindowPoStTask
	root     string
	settings atomic.Pointer[config.WorkerProver]
	engine   proofs.DevEngine
}

func newWorkerSetup(t testing.TB, pollInterval time.Duration) *workerSetup {
	t.Helper()
	d := devnettest.New(t, 5)
	s := &workerSetup{t: t, root: t.TempDir()}
	sealed := d.SealSectors(s.root, 2)
	var privs []proofs.PrivateSectorInfo
	for _, ss := range sealed {
		privs = append(privs, ss.Private())
	}
	s.settings.Store(&config.WorkerProver{JobMaxTry: 2, HeartbeatTimeout: config.Duration(time.Second), JobLifetime: config.Duration(time.Hour)})
	w, err := prover.NewWorker(prover.WorkerConfig{
		DB: storetest.New(t, store.DriverSQLite), Finder: oneStore{}, Engine: &s.engine,
		Settings:     func() config.WorkerProver { return *s.settings.Load() },
		PollInterval: pollInterval, SweepInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.prover = w
	s.task = prover.WindowPoStTask{
		Miner: d.Actor, ProofType: d.PoStProof, Sectors: privs, Randomness: bytes.Repeat([]byte{9}, 32),
		DeadlineIndex: 3, DeadlineOpen: 1234, Partitions: []uint64{0},
	}
	return s
}

// runSweeps runs the prover's heartbeat and retry sweeps until the test ends.
func (s *workerSetup) runSweeps() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.prover.Run(ctx) }()
	s.t.Cleanup(func() { cancel(); <-done })
}

// generate runs GenerateWindowPoSt in the background.
func (s *workerSetup) generate(ctx context.Context) <-chan result {
	out := make(chan result, 1)
	go func() {
		p, f, err := s.prover.GenerateWindowPoSt(ctx, s.task)
		out <- result{p, f, err}
	}()
	return out
}

type result struct {
	proofs []proof.PoStProof
	faulty []abi.SectorNumber
	err    error
}

// allocate waits until worker gets a job.
func (s *workerSetup) allocate(ctx context.Context, worker string) rpc.WdPoStAllocatedJob {
	s.t.Helper()
	for {
		jobs, err := s.prover.WdPoStAllocateJobs(ctx, rpc.AllocateWdPoStJobSpec{}, 1, worker)
		if err != nil {
			s.t.Fatalf("allocate: %v", err)
		}
		if len(jobs) == 1 {
			return jobs[0]
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("%s got no job: %v", worker, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// prove is what a wdpost worker does with a job: resolve the store names
// and run the engine.
func (s *workerSetup) prove(ctx context.Context, job rpc.WdPoStAllocatedJob) *rpc.WindowPoStOutput {
	s.t.Helper()
	proofType, err := proofs.ParsePoStProofName(job.Input.ProofType)
	if err != nil {
		s.t.Fatal(err)
	}
	var privs []proofs.PrivateSectorInfo
	for _, in := range job.Input.Sectors {
		if in.Accesses.SealedFile != storeName || in.Accesses.CacheDir != storeName {
			s.t.Fatalf("sector %d accesses %+v; want %s", in.SectorId, in.Accesses, storeName)
		}
		var priv proofs.PrivateSectorInfo
		for _, p := range s.task.Sectors {
			if p.SectorNumber == in.SectorId {
				priv = p
			}
		}
		name := proofs.SectorName(abi.SectorID{Miner: job.Input.MinerId, Number: in.SectorId})
		priv.SealedPath = filepath.Join(s.root, proofs.SealedDirName, name)
		priv.CacheDir = filepath.Join(s.root, proofs.CacheDirName, name)
		privs = append(privs, priv)
	}
	ps, faulty, err := s.engine.GenerateWindowPoSt(ctx, job.Input.MinerId, proofType, privs, job.Input.Seed[:])
	if err != nil {
		s.t.Fatal(err)
	}
	out := &rpc.WindowPoStOutput{Faults: []uint64{}}
	for _, f := range faulty {
		out.Faults = append(out.Faults, uint64(f))
	}
	for _, p := range ps {
		out.Proofs = append(out.Proofs, p.ProofBytes)
	}
	return out
}

func (s *workerSetup) finish(ctx context.Context, id string, out *rpc.WindowPoStOutput, reason string) {
	s.t.Helper()
	if _, err := s.prover.WdPoStFinishJob(ctx, id, out, reason); err != nil {
		s.t.Fatalf("finish %s: %v", id, err)
	}
}

func (s *workerSetup) wantProof(r result) {
	s.t.Helper()
	if r.err != nil || len(r.faulty) != 0 || len(r.proofs) == 0 {
		s.t.Fatalf("GenerateWindowPoSt = %d proofs, faulty %v, %v; want a proof", len(r.proofs), r.faulty, r.err)
	}
	public := make([]proof.SectorInfo, len(s.task.Sectors))
	for i, p := range s.task.Sectors {
		public[i] = proof.SectorInfo{SealProof: p.SealProof, SectorNumber: p.SectorNumber, SealedCID: p.SealedCID}
	}
	ok, err := s.engine.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{Randomness: s.task.Randomness, Proofs: r.proofs, ChallengedSectors: public, Prover: s.task.Miner})
	if err != nil || !ok {
		s.t.Fatalf("the proof does not verify: %v", err)
	}
}

func receive(t testing.TB, ch <-chan result, within time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("GenerateWindowPoSt did not return within %s", within)
		return result{}
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// A job goes to a worker and its proof comes back to the poster, which is
// woken by the finish call itself: the fallback poll is an hour here.
func TestWorkerProverRoundTrip(t *testing.T) {
	s := newWorkerSetup(t, time.Hour)
	ctx := testCtx(t)
	res := s.generate(ctx)
	job := s.allocate(ctx, "worker-1")
	if job.Input.MinerId != s.task.Miner || len(job.Input.Sectors) != len(s.task.Sectors) || job.Input.Seed[31] != 9&0x3f {
		t.Fatalf("job input = %+v", job.Input)
	}
	if id, err := prover.JobID(job.Input); err != nil || id != job.Id {
		t.Fatalf("job id %s, JobID(input) = %s, %v: want the id derived from the input", job.Id, id, err)
	}
	s.finish(ctx, job.Id, s.prove(ctx, job), "")
	s.wantProof(receive(t, res, 10*time.Second))

	// The same task again is the same, finished job: no new allocation.
	s.wantProof(receive(t, s.generate(ctx), 10*time.Second))
	all, err := s.prover.WdPoStAllJobs(ctx)
	if err != nil || len(all.Jobs) != 1 || !all.Jobs[0].Succeeded() || all.Jobs[0].TryNum != 1 || all.MaxTry != 2 ||
		all.Jobs[0].DeadlineIdx != 3 || all.Jobs[0].Sectors != 2 || all.Jobs[0].WorkerName != "worker-1" {
		t.Fatalf("WdPoStAllJobs = %+v, %v; want the one succeeded job", all, err)
	}
}

// A worker that stops sending heartbeats loses its job after
// HeartbeatTimeout; another worker takes it and the proof comes back.
func TestWorkerProverHeartbeatTimeout(t *testing.T) {
	s := newWorkerSetup(t, time.Hour)
	s.runSweeps()
	ctx := testCtx(t)
	res := s.generate(ctx)
	dead := s.allocate(ctx, "worker-dead")
	died := time.Now()
	job := s.allocate(ctx, "worker-alive")
	t.Logf("job moved to the other worker %s after its worker died (HeartbeatTimeout 1s)", time.Since(died).Round(time.Millisecond))
	if job.Id != dead.Id {
		t.Fatalf("the live worker got job %s; want the dead worker's %s", job.Id, dead.Id)
	}
	if _, err := s.prover.WdPoStHeartbeatJobs(ctx, []string{job.Id}, "worker-alive"); err != nil {
		t.Fatalf("heartbeat of the running job: %v", err)
	}
	s.finish(ctx, job.Id, s.prove(ctx, job), "")
	s.wantProof(receive(t, res, 10*time.Second))
	all, _ := s.prover.WdPoStAllJobs(ctx)
	if len(all.Jobs) != 1 || all.Jobs[0].TryNum != 2 || all.Jobs[0].WorkerName != "worker-alive" {
		t.Fatalf("jobs = %+v; want one job, tried twice, last by worker-alive", all.Jobs)
	}
}

// A job that failed JobMaxTry times is an error naming the reset command;
// once reset, it runs again.
func TestWorkerProverMaxTryWaitsForReset(t *testing.T) {
	s := newWorkerSetup(t, time.Hour)
	s.runSweeps()
	ctx := testCtx(t)
	res := s.generate(ctx)
	var id string
	for range 2 {
		job := s.allocate(ctx, "worker-1")
		id = job.Id
		s.finish(ctx, job.Id, nil, "gpu on fire")
	}
	r := receive(t, res, 10*time.Second)
	if r.err == nil || !strings.Contains(r.err.Error(), "gpu on fire") || !strings.Contains(r.err.Error(), "util worker wdpost reset "+id) {
		t.Fatalf("GenerateWindowPoSt after %d failures = %v; want the worker's error and the reset command", 2, r.err)
	}
	// Nothing to allocate until the reset.
	time.Sleep(200 * time.Millisecond)
	if jobs, err := s.prover.WdPoStAllocateJobs(ctx, rpc.AllocateWdPoStJobSpec{}, 1, "worker-1"); err != nil || len(jobs) != 0 {
		t.Fatalf("allocation of a job at JobMaxTry = %v, %v; want none", jobs, err)
	}
	if _, err := s.prover.WdPoStResetJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	res = s.generate(ctx)
	job := s.allocate(ctx, "worker-1")
	s.finish(ctx, job.Id, s.prove(ctx, job), "")
	s.wantProof(receive(t, res, 10*time.Second))
	if _, err := s.prover.WdPoStResetJob(ctx, "nosuchjob"); err == nil || !strings.Contains(err.Error(), "job 'nosuchjob' does not exist") {
		t.Fatalf("reset of an unknown job = %v; want it named", err)
	}
}

// A job removed by hand while the poster waits for it is queued again.
func TestWorkerProverRequeuesRemovedJob(t *testing.T) {
	s := newWorkerSetup(t, time.Hour)
	ctx := testCtx(t)
	res := s.generate(ctx)
	first := s.allocate(ctx, "worker-1")
	if _, err := s.prover.WdPoStRemoveJob(ctx, first.Id); err != nil {
		t.Fatal(err)
	}
	job := s.allocate(ctx, "worker-2")
	if job.Id != first.Id {
		t.Fatalf("requeued job %s; want the same id %s", job.Id, first.Id)
	}
	s.finish(ctx, job.Id, s.prove(ctx, job), "")
	s.wantProof(receive(t, res, 10*time.Second))
}

// A proof that does not verify is not handed to the poster: the job fails
// and runs again.
func TestWorkerProverRejectsBadProof(t *testing.T) {
	s := newWorkerSetup(t, time.Hour)
	s.runSweeps()
	ctx := testCtx(t)
	res := s.generate(ctx)
	job := s.allocate(ctx, "worker-liar")
	s.finish(ctx, job.Id, &rpc.WindowPoStOutput{Proofs: [][]byte{[]byte("not a proof")}}, "")
	again := s.allocate(ctx, "worker-honest")
	if again.Id != job.Id {
		t.Fatalf("job %s allocated after the rejection; want %s again", again.Id, job.Id)
	}
	s.finish(ctx, again.Id, s.prove(ctx, again), "")
	s.wantProof(receive(t, res, 10*time.Second))
}

// Faulty sectors a worker reports go back to the poster as faulty.
func TestWorkerProverFaults(t *testing.T) {
	s := newWorkerSetup(t, time.Hour)
	ctx := testCtx(t)
	res := s.generate(ctx)
	job := s.allocate(ctx, "worker-1")
	bad := s.task.Sectors[1].SectorNumber
	s.finish(ctx, job.Id, &rpc.WindowPoStOutput{Proofs: [][]byte{}, Faults: []uint64{uint64(bad)}}, "")
	r := receive(t, res, 10*time.Second)
	if r.err != nil || len(r.proofs) != 0 || len(r.faulty) != 1 || r.faulty[0] != bad {
		t.Fatalf("GenerateWindowPoSt = %d proofs, faulty %v, %v; want sector %d faulty", len(r.proofs), r.faulty, r.err, bad)
	}
	all, _ := s.prover.WdPoStAllJobs(ctx)
	if len(all.Jobs) != 1 || all.Jobs[0].DisplayState() != "Faults(1)" {
		t.Fatalf("jobs = %+v; want one job shown Faults(1)", all.Jobs)
	}
}

// The poster stops waiting when its attempt ends; the job stays queued
// and the next attempt waits on the same job.
func TestWorkerProverAttemptTimeoutKeepsJob(t *testing.T) {
	s := newWorkerSetup(t, 20*time.Millisecond)
	ctx := testCtx(t)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	r := receive(t, s.generate(short), 10*time.Second)
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("GenerateWindowPoSt past its ctx = %v; want DeadlineExceeded", r.err)
	}
	res := s.generate(ctx)
	job := s.allocate(ctx, "worker-1")
	s.finish(ctx, job.Id, s.prove(ctx, job), "")
	s.wantProof(receive(t, res, 10*time.Second))
	all, _ := s.prover.WdPoStAllJobs(ctx)
	if len(all.Jobs) != 1 {
		t.Fatalf("%d jobs; want the one job of both attempts", len(all.Jobs))
	}
}

// BenchmarkWorkerProverFailover measures how long a job whose worker died
// takes to run on another worker: from the dead worker's last heartbeat
// (its allocation) to the other worker's allocation, with HeartbeatTimeout
// 1s, the sweep every 50ms and the live worker asking every 10ms. The
// floor is HeartbeatTimeout; heartbeats are stored to the second, which
// adds up to one more.
func BenchmarkWorkerProverFailover(b *testing.B) {
	s := newWorkerSetup(b, time.Hour)
	s.runSweeps()
	ctx := testCtx(b)
	var total time.Duration
	for i := range b.N {
		s.task.DeadlineOpen = abi.ChainEpoch(10_000 + i) // a new job each round
		s.task.Randomness = bytes.Repeat([]byte{byte(i)}, 32)
		res := s.generate(ctx)
		dead := s.allocate(ctx, "worker-dead")
		died := time.Now()
		job := s.allocate(ctx, "worker-alive")
		total += time.Since(died)
		if job.Id != dead.Id {
			b.Fatalf("the live worker got job %s; want %s", job.Id, dead.Id)
		}
		s.finish(ctx, job.Id, s.prove(ctx, job), "")
		if r := receive(b, res, 10*time.Second); r.err != nil {
			b.Fatal(r.err)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/failover")
}

// Jobs created longer than JobLifetime ago are deleted by the sweeps.
func TestWorkerProverDeletesJobsPastTheirLifetime(t *testing.T) {
	s := newWorkerSetup(t, time.Hour)
	ctx := testCtx(t)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	receive(t, s.generate(short), 10*time.Second)
	if all, err := s.prover.WdPoStAllJobs(ctx); err != nil || len(all.Jobs) != 1 {
		t.Fatalf("jobs = %+v, %v; want the one job queued", all, err)
	}
	s.settings.Store(&config.WorkerProver{JobMaxTry: 2, HeartbeatTimeout: config.Duration(time.Second), JobLifetime: config.Duration(time.Nanosecond)})
	time.Sleep(time.Second) // jobs are stamped to the second
	s.runSweeps()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := s.prover.WdPoStAllJobs(ctx)
		if err == nil && len(all.Jobs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs = %+v, %v; want none left past JobLifetime", all, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
