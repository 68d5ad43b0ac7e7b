package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	logging "github.com/ipfs/go-log/v2"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// fakeWdPoStQueue is an in-memory rpc.WorkerWdPoSt standing in for the
// manager's worker-prover job queue, with its rules (§2.3): allocation
// by exact filter match, heartbeats refused for a job that is not
// running, finish accepted in any state.
type fakeWdPoStQueue struct {
	mu    sync.Mutex
	jobs  map[string]*fakeWdPoStJob
	order []string
	// specs and workers are the arguments of every WdPoStAllocateJobs.
	specs   []rpc.AllocateWdPoStJobSpec
	workers []string
}

type fakeWdPoStJob struct {
	rpc.WdPoStJob
	heartbeats int
	finishes   int
}

var _ rpc.WorkerWdPoSt = (*fakeWdPoStQueue)(nil)

func newFakeWdPoStQueue() *fakeWdPoStQueue {
	return &fakeWdPoStQueue{jobs: map[string]*fakeWdPoStJob{}}
}

// add queues a ready job and returns its id.
func (q *fakeWdPoStQueue) add(in rpc.WdPoStInput) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := fmt.Sprintf("job-%d", len(q.order)+1)
	q.jobs[id] = &fakeWdPoStJob{WdPoStJob: rpc.WdPoStJob{Id: id, State: rpc.WdPoStJobReadyToRun, Input: in}}
	q.order = append(q.order, id)
	return id
}

// expire finishes a running job as the manager's heartbeat timeout does.
func (q *fakeWdPoStQueue) expire(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	j.State, j.ErrorReason = rpc.WdPoStJobFinished, "heartbeat timeout"
}

// job returns a copy of a job.
func (q *fakeWdPoStQueue) job(id string) fakeWdPoStJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	return *q.jobs[id]
}

func (q *fakeWdPoStQueue) allocations() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.specs)
}

// finished holds once every listed job was reported.
func (q *fakeWdPoStQueue) finished(ids ...string) func() bool {
	return func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		for _, id := range ids {
			if q.jobs[id].finishes == 0 {
				return false
			}
		}
		return true
	}
}

func (q *fakeWdPoStQueue) WdPoStAllocateJobs(_ context.Context, spec rpc.AllocateWdPoStJobSpec, num uint32, workerName string) ([]rpc.WdPoStAllocatedJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.specs = append(q.specs, spec)
	q.workers = append(q.workers, workerName)
	out := []rpc.WdPoStAllocatedJob{}
	for _, id := range q.order {
		j := q.jobs[id]
		if uint32(len(out)) == num {
			break
		}
		if j.State != rpc.WdPoStJobReadyToRun ||
			len(spec.AllowedMiners) > 0 && !slices.Contains(spec.AllowedMiners, j.Input.MinerId) ||
			len(spec.AllowedProofTypes) > 0 && !slices.Contains(spec.AllowedProofTypes, j.Input.ProofType) {
			continue
		}
		j.State, j.WorkerName = rpc.WdPoStJobRunning, workerName
		j.TryNum++
		out = append(out, rpc.WdPoStAllocatedJob{Id: id, Input: j.Input})
	}
	return out, nil
}

func (q *fakeWdPoStQueue) WdPoStHeartbeatJobs(_ context.Context, jobIDs []string, workerName string) (rpc.Meta, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range jobIDs {
		j, ok := q.jobs[id]
		if !ok {
			return nil, fmt.Errorf("job '%s' does not exist", id)
		}
		if j.State != rpc.WdPoStJobRunning && j.State != rpc.WdPoStJobReadyToRun {
			return nil, fmt.Errorf("job '%s' is %s, not running", id, j.State)
		}
	}
	for _, id := range jobIDs {
		j := q.jobs[id]
		j.State, j.WorkerName = rpc.WdPoStJobRunning, workerName
		j.heartbeats++
	}
	return nil, nil
}

func (q *fakeWdPoStQueue) WdPoStFinishJob(_ context.Context, jobID string, output *rpc.WindowPoStOutput, errorReason string) (rpc.Meta, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.jobs[jobID]
	if !ok {
		return nil, fmt.Errorf("job '%s' does not exist", jobID)
	}
	j.State, j.Output, j.ErrorReason = rpc.WdPoStJobFinished, output, errorReason
	j.finishes++
	return nil, nil
}

func (q *fakeWdPoStQueue) WdPoStResetJob(_ context.Context, jobID string) (rpc.Meta, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.jobs[jobID]
	if !ok {
		return nil, fmt.Errorf("job '%s' does not exist", jobID)
	}
	j.State, j.TryNum, j.Output, j.ErrorReason = rpc.WdPoStJobReadyToRun, 0, nil, ""
	return nil, nil
}

func (q *fakeWdPoStQueue) WdPoStRemoveJob(_ context.Context, jobID string) (rpc.Meta, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.jobs, jobID)
	q.order = slices.DeleteFunc(q.order, func(id string) bool { return id == jobID })
	return nil, nil
}

func (q *fakeWdPoStQueue) WdPoStAllJobs(context.Context) (rpc.AllWdPoStJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var all rpc.AllWdPoStJob
	for _, id := range q.order {
		all.Jobs = append(all.Jobs, rpc.WdPoStJobBrief{WdPoStJob: q.jobs[id].WdPoStJob})
	}
	return all, nil
}

// fakeVenus serves the Venus methods the daemon calls at start-up and
// while it runs; the others are the embedded nil interface's and panic
// if called (the server turns that into an error answer).
type fakeVenus struct {
	rpc.Venus
	stores map[string]string // persist store name → path

	mu    sync.Mutex
	pings []rpc.WorkerInfo
}

func (f *fakeVenus) StoreBasicInfo(_ context.Context, name string) (*rpc.StoreBasicInfo, error) {
	path, ok := f.stores[name]
	if !ok {
		return nil, nil
	}
	return &rpc.StoreBasicInfo{Name: name, Path: path, Weight: 1}, nil
}

func (f *fakeVenus) WorkerPing(_ context.Context, info rpc.WorkerInfo) (rpc.Meta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings = append(f.pings, info)
	return nil, nil
}

func (f *fakeVenus) lastPing() (rpc.WorkerInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pings) == 0 {
		return rpc.WorkerInfo{}, false
	}
	return f.pings[len(f.pings)-1], true
}

// swappableHandler lets a test replace the manager behind a listener, as
// a manager restarted with other flags would be.
type swappableHandler struct {
	h atomic.Pointer[http.Handler]
}

func (s *swappableHandler) set(h http.Handler) { s.h.Store(&h) }
func (s *swappableHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// newManagerHandler is a real RPC server serving apis, trusting loopback
// clients with write permission as a manager trusts its workers' subnet.
func newManagerHandler(t *testing.T, apis ...rpc.API) http.Handler {
	t.Helper()
	secret, err := rpc.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rpc.NewAPIServer(rpc.ServerConfig{Secret: secret, TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, apis...)
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler()
}

// serveManager serves h on a loopback listener for the test.
func serveManager(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// dialWdPoSt is the worker's client of a manager at url.
func dialWdPoSt(t *testing.T, url string) *rpc.WorkerWdPoStStruct {
	t.Helper()
	client, closer, err := rpc.NewWdPoStClient(context.Background(), url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closer)
	return client
}

// testWindowProof is the 2KiB V1_1 window PoSt, by its wire name.
const testWindowProof = "StackedDrgWindow2KiBV1_2"

// sealForPoSt seals a 2KiB CC sector of miner with the built-in engine
// and finalizes it, writing the replica to sealedRoot/sealedDir/<name>
// and the cache to cacheRoot/cacheDir/<name> (a persist store's layout,
// §6), and returns the job's view of it.
func sealForPoSt(t *testing.T, miner abi.ActorID, n abi.SectorNumber, sealedRoot, sealedDir, cacheRoot, cacheDir string) rpc.WdPoStSectorInfo {
	t.Helper()
	ctx := context.Background()
	engine := &proofs.DevEngine{}
	id := abi.SectorID{Miner: miner, Number: n}
	name := proofs.SectorName(id)
	staged := filepath.Join(t.TempDir(), "staged")
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(sealedRoot, sealedDir, name)
	cache := filepath.Join(cacheRoot, cacheDir, name)
	for _, dir := range []string{filepath.Dir(sealed), cache} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pc1, err := engine.SealPreCommitPhase1(ctx, testProof, cache, staged, sealed, n, miner, randomness(1, n), nil)
	if err != nil {
		t.Fatal(err)
	}
	sealedCID, _, err := engine.SealPreCommitPhase2(ctx, pc1, cache, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.FinalizeSector(ctx, testProof, cache); err != nil {
		t.Fatal(err)
	}
	commR, err := commcid.CIDToReplicaCommitmentV1(sealedCID)
	if err != nil {
		t.Fatal(err)
	}
	return rpc.WdPoStSectorInfo{SectorId: n, CommR: [32]byte(commR)}
}

// sealInStore seals sectors of miner into the persist store named store
// at root, at the usual sealed/ and cache/ paths.
func sealInStore(t *testing.T, miner abi.ActorID, store, root string, nums ...abi.SectorNumber) []rpc.WdPoStSectorInfo {
	t.Helper()
	var out []rpc.WdPoStSectorInfo
	for _, n := range nums {
		s := sealForPoSt(t, miner, n, root, proofs.SealedDirName, root, proofs.CacheDirName)
		s.Accesses = rpc.SectorAccessStores{SealedFile: store, CacheDir: store}
		out = append(out, s)
	}
	return out
}

// postInput is a job proving sectors, with a seed as the manager sends it.
func postInput(miner abi.ActorID, sectors ...rpc.WdPoStSectorInfo) rpc.WdPoStInput {
	return rpc.WdPoStInput{Sectors: sectors, MinerId: miner, ProofType: testWindowProof, Seed: [32]byte(randomness(3, abi.SectorNumber(miner)))}
}

// verifyWindowPoSt checks a job's output the way the chain would: the
// proofs verify for every sector of the input.
func verifyWindowPoSt(t *testing.T, in rpc.WdPoStInput, out *rpc.WindowPoStOutput) {
	t.Helper()
	if out == nil || len(out.Proofs) == 0 || len(out.Faults) != 0 {
		t.Fatalf("output %+v; want proofs and no faults", out)
	}
	postProof, err := proofs.ParsePoStProofName(in.ProofType)
	if err != nil {
		t.Fatal(err)
	}
	sectors := make([]proof.SectorInfo, 0, len(in.Sectors))
	for _, s := range in.Sectors {
		sealed, err := commcid.ReplicaCommitmentV1ToCID(s.CommR[:])
		if err != nil {
			t.Fatal(err)
		}
		sectors = append(sectors, proof.SectorInfo{SealProof: testProof, SectorNumber: s.SectorId, SealedCID: sealed})
	}
	ok, err := (&proofs.DevEngine{}).VerifyWindowPoSt(proof.WindowPoStVerifyInfo{
		Randomness: in.Seed[:], Proofs: out.PoStProofs(postProof), ChallengedSectors: sectors, Prover: in.MinerId,
	})
	if err != nil || !ok {
		t.Fatalf("VerifyWindowPoSt = %v, %v; want a valid proof", ok, err)
	}
}

// hookedProver runs before, then the real prover: tests use it to hold a
// proof while they watch the thread, or to count proofs in flight.
type hookedProver struct {
	WindowPoSter
	before func(ctx context.Context, task stage.PoStTask) error
}

func (p hookedProver) WindowPoSt(ctx context.Context, task stage.PoStTask) (stage.WindowPoStOutput, error) {
	if err := p.before(ctx, task); err != nil {
		return stage.WindowPoStOutput{}, err
	}
	return p.WindowPoSter.WindowPoSt(ctx, task)
}

// inProcessProver is the in-process WindowPoStStage on the built-in engine.
func inProcessProver(t *testing.T) *WindowPoStStage {
	t.Helper()
	s, err := OpenWindowPoStStage(context.Background(), &config.Processors{}, &proofs.DevEngine{}, "unused-self-bin")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wdpostRig is a real RPC server in front of a fake job queue, two
// persist stores, and the config of a wdpost thread using them.
type wdpostRig struct {
	storeA, storeB string
	queue          *fakeWdPoStQueue
	url            string
	cfg            WdPoStThreadConfig
}

const testWdPoStMiner = abi.ActorID(1000)

func newWdPoStRig(t *testing.T) *wdpostRig {
	t.Helper()
	r := &wdpostRig{storeA: t.TempDir(), storeB: t.TempDir(), queue: newFakeWdPoStQueue()}
	hs := serveManager(t, newManagerHandler(t, rpc.WdPoStAPI(r.queue)))
	r.url = hs.URL
	r.cfg = WdPoStThreadConfig{
		Sealing:           config.Sealing{RecoverInterval: config.HumanDuration(5 * time.Millisecond)},
		Attached:          []config.Attached{{Name: "store-a", Location: r.storeA}, {Name: "store-b", Location: r.storeB, Readonly: true}},
		Instance:          "test-worker",
		Manager:           dialWdPoSt(t, hs.URL),
		ManagerURL:        hs.URL,
		Prover:            inProcessProver(t),
		HeartbeatInterval: 10 * time.Millisecond,
		FinishRetryWait:   time.Millisecond,
	}
	return r
}

// startWdPoSt runs a thread until the returned stop (also a test cleanup)
// ends it and waits for Run to return.
func startWdPoSt(t *testing.T, cfg WdPoStThreadConfig) (*WdPoStThread, func()) {
	t.Helper()
	th, err := NewWdPoStThread(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return th, runThreads(t, th)
}

// runThreads runs threads until the returned stop (also a test cleanup).
func runThreads[T interface{ Run(context.Context) error }](t *testing.T, threads ...T) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, th := range threads {
		wg.Go(func() {
			if err := th.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// logLine is one entry of the worker's log.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
}

// capturedLogs collects what the worker logger writes, at info and above.
type capturedLogs struct {
	mu    sync.Mutex
	lines []logLine
}

func captureLogs(t *testing.T) *capturedLogs {
	t.Helper()
	if err := logging.SetLogLevel("worker", "info"); err != nil {
		t.Fatal(err)
	}
	pipe := logging.NewPipeReader(logging.PipeFormat(logging.JSONOutput), logging.PipeLevel(logging.LevelInfo))
	c := &capturedLogs{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				c.mu.Lock()
				c.lines = append(c.lines, l)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		pipe.Close()
		<-done
		_ = logging.SetLogLevel("worker", "error")
	})
	return c
}

// count counts the lines at level whose message holds all of words.
func (c *capturedLogs) count(level string, words ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if l.Level != level {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(l.Msg, w)
		}
		if all {
			n++
		}
	}
	return n
}

var (
	workerBinOnce sync.Once
	workerBinDir  string
	workerBin     string
	workerBinErr  error
)

// workerBinary builds ../../cmd/damocles-worker once for the package's
// tests (TestMain removes it) and returns its path.
func workerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the damocles-worker binary; skipped with -short")
	}
	workerBinOnce.Do(func() {
		workerBinDir, workerBinErr = os.MkdirTemp("", "damocles-worker-test-")
		if workerBinErr != nil {
			return
		}
		workerBin = filepath.Join(workerBinDir, "damocles-worker")
		build := exec.Command("go", "build", "-o", workerBin, "../../cmd/damocles-worker")
		build.Env = append(build.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			workerBinErr = fmt.Errorf("go build damocles-worker: %v\n%s", err, out)
		}
	})
	if workerBinErr != nil {
		t.Fatal(workerBinErr)
	}
	return workerBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if workerBinDir != "" {
		os.RemoveAll(workerBinDir)
	}
	os.Exit(code)
}
