package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// A job over sectors in two stores, one of them snap-upgraded (update/ and
// update-cache/, its cache in the other store), is proven and the proof
// verifies.
func TestWdPoStThreadProvesJob(t *testing.T) {
	r := newWdPoStRig(t)
	sectors := sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1, 2)
	upgraded := sealForPoSt(t, testWdPoStMiner, 3, r.storeA, proofs.UpdateDirName, r.storeB, proofs.UpdateCacheDirName)
	upgraded.Upgrade = true
	upgraded.Accesses = rpc.SectorAccessStores{SealedFile: "store-a", CacheDir: "store-b"}
	in := postInput(testWdPoStMiner, append(sectors, upgraded)...)
	id := r.queue.add(in)

	th, _ := startWdPoSt(t, r.cfg)
	waitFor(t, "job finished", r.queue.finished(id))
	job := r.queue.job(id)
	if job.ErrorReason != "" || job.WorkerName != "test-worker" || job.finishes != 1 {
		t.Fatalf("job %+v; want finished once by test-worker without error", job.WdPoStJob)
	}
	verifyWindowPoSt(t, in, job.Output)
	waitFor(t, "thread idle", func() bool { _, busy := th.Job(); return !busy && th.Status() == ThreadEmpty })
}

// Sectors the prover cannot read are the job's faults, with no proofs, and
// the job succeeds (§4.4).
func TestWdPoStThreadReportsFaults(t *testing.T) {
	r := newWdPoStRig(t)
	sectors := sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1, 2, 3, 4)
	if err := os.Truncate(proofs.SealedPath(r.storeA, abi.SectorID{Miner: testWdPoStMiner, Number: 2}), 100); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(proofs.CacheDirPath(r.storeA, abi.SectorID{Miner: testWdPoStMiner, Number: 3})); err != nil {
		t.Fatal(err)
	}
	id := r.queue.add(postInput(testWdPoStMiner, sectors...))

	startWdPoSt(t, r.cfg)
	waitFor(t, "job finished", r.queue.finished(id))
	job := r.queue.job(id)
	if job.ErrorReason != "" || job.Output == nil {
		t.Fatalf("job %+v; want an output, no error", job.WdPoStJob)
	}
	if len(job.Output.Proofs) != 0 || !slices.Equal(job.Output.Faults, []uint64{2, 3}) {
		t.Fatalf("output %+v; want no proofs and faults [2 3]", job.Output)
	}
}

// The thread heartbeats its job while it proves, and says it is running.
func TestWdPoStThreadHeartbeats(t *testing.T) {
	r := newWdPoStRig(t)
	in := postInput(testWdPoStMiner, sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1)...)
	id := r.queue.add(in)
	var th *WdPoStThread
	cfg := r.cfg
	cfg.Prover = hookedProver{WindowPoSter: r.cfg.Prover, before: func(ctx context.Context, _ stage.PoStTask) error {
		if got, _ := th.Job(); got != id || th.Status() != ThreadRunning {
			t.Errorf("while proving: job %q, status %s; want %s, %s", got, th.Status(), id, ThreadRunning)
		}
		// Hold the proof until the manager has seen three heartbeats.
		deadline := time.Now().Add(10 * time.Second)
		for r.queue.job(id).heartbeats < 3 {
			if time.Now().After(deadline) {
				return errors.New("test: no heartbeats while proving")
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}}
	th, err := NewWdPoStThread(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runThreads(t, th)
	waitFor(t, "job finished", r.queue.finished(id))
	job := r.queue.job(id)
	if job.ErrorReason != "" {
		t.Fatalf("job failed: %s", job.ErrorReason)
	}
	verifyWindowPoSt(t, in, job.Output)
}

// A job the manager stops running (its heartbeat timeout finished it) is
// abandoned: its proof is cancelled, nothing is reported for it, and the
// thread takes the next job.
func TestWdPoStThreadAbandonsLostJob(t *testing.T) {
	r := newWdPoStRig(t)
	in := postInput(testWdPoStMiner, sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1)...)
	lostID := r.queue.add(in)
	nextID := r.queue.add(in)
	var calls atomic.Int32
	cancelled := make(chan bool, 1)
	cfg := r.cfg
	cfg.Prover = hookedProver{WindowPoSter: r.cfg.Prover, before: func(ctx context.Context, _ stage.PoStTask) error {
		if calls.Add(1) > 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			cancelled <- true
			return ctx.Err()
		case <-time.After(10 * time.Second):
			cancelled <- false
			return errors.New("test: the proof of the lost job was not cancelled")
		}
	}}
	startWdPoSt(t, cfg)
	waitFor(t, "a heartbeat of the first job", func() bool { return r.queue.job(lostID).heartbeats > 0 })
	r.queue.expire(lostID)
	waitFor(t, "the next job finished", r.queue.finished(nextID))
	if !<-cancelled {
		t.Fatal("the lost job's proof ran on")
	}
	if lost := r.queue.job(lostID); lost.finishes != 0 || lost.ErrorReason != "heartbeat timeout" {
		t.Fatalf("lost job reported %d times, error %q; want left alone", lost.finishes, lost.ErrorReason)
	}
	verifyWindowPoSt(t, in, r.queue.job(nextID).Output)
}

// A sector in a store this worker does not attach fails the job with an
// error naming the store, without proving anything.
func TestWdPoStThreadUnknownStore(t *testing.T) {
	r := newWdPoStRig(t)
	sectors := sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1, 2)
	sectors[1].Accesses.CacheDir = "store-gone"
	id := r.queue.add(postInput(testWdPoStMiner, sectors...))
	var proved atomic.Int32
	cfg := r.cfg
	cfg.Prover = hookedProver{WindowPoSter: r.cfg.Prover, before: func(context.Context, stage.PoStTask) error {
		proved.Add(1)
		return nil
	}}
	startWdPoSt(t, cfg)
	waitFor(t, "job finished", r.queue.finished(id))
	job := r.queue.job(id)
	if job.Output != nil || !strings.Contains(job.ErrorReason, `"store-gone"`) || !strings.Contains(job.ErrorReason, "[[attached]]") {
		t.Fatalf("output %+v, error %q; want no output and an error naming store-gone and [[attached]]", job.Output, job.ErrorReason)
	}
	if n := proved.Load(); n != 0 {
		t.Fatalf("proved %d times; want none", n)
	}
}

// A manager without --worker-prover answers "method not found": the
// thread says so once, keeps asking, and says once more when the manager
// serves jobs.
func TestWdPoStThreadWithoutWorkerProver(t *testing.T) {
	logs := captureLogs(t)
	r := newWdPoStRig(t)
	in := postInput(testWdPoStMiner, sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1)...)
	id := r.queue.add(in)

	var requests atomic.Int32
	var manager swappableHandler
	manager.set(newManagerHandler(t, rpc.API{Namespace: rpc.Namespace, Impl: &fakeVenus{}, Proxy: &rpc.VenusStruct{}}))
	hs := serveManager(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1)
		manager.ServeHTTP(w, req)
	}))
	cfg := r.cfg
	cfg.Manager, cfg.ManagerURL = dialWdPoSt(t, hs.URL), hs.URL
	startWdPoSt(t, cfg)

	missing := []string{"the manager at " + hs.URL + " does not run the worker-prover module", "daemon run --poster --worker-prover"}
	waitFor(t, "the missing module reported", func() bool { return logs.count("error", missing...) > 0 })
	from := requests.Load()
	waitFor(t, "five more claims", func() bool { return requests.Load() >= from+5 })
	if n := logs.count("error", missing...); n != 1 {
		t.Fatalf("the missing module was reported %d times; want once", n)
	}
	if n := logs.count("warn", "WdPoStAllocateJobs failed"); n != 0 {
		t.Fatalf("%d allocation warnings; a missing module is no incident", n)
	}

	manager.set(newManagerHandler(t, rpc.WdPoStAPI(r.queue)))
	waitFor(t, "job finished", r.queue.finished(id))
	verifyWindowPoSt(t, in, r.queue.job(id).Output)
	if n := logs.count("info", "the manager at "+hs.URL+" runs the worker-prover module now"); n != 1 {
		t.Fatalf("the module's arrival was reported %d times; want once", n)
	}
	if n := logs.count("error", missing...); n != 1 {
		t.Fatalf("the missing module was reported %d times; want once", n)
	}
}

func TestWdPoStSpec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sealing config.Sealing
		want    rpc.AllocateWdPoStJobSpec
	}{
		{"no restriction", config.Sealing{}, rpc.AllocateWdPoStJobSpec{AllowedMiners: []abi.ActorID{}, AllowedProofTypes: []string{}}},
		{"miners and sizes", config.Sealing{AllowedMiners: []uint64{6666, 7777}, AllowedSizes: []string{"2KiB", "32GiB"}}, rpc.AllocateWdPoStJobSpec{
			AllowedMiners: []abi.ActorID{6666, 7777},
			AllowedProofTypes: []string{
				"StackedDrgWinning2KiBV1", "StackedDrgWindow2KiBV1", "StackedDrgWindow2KiBV1_2",
				"StackedDrgWinning32GiBV1", "StackedDrgWindow32GiBV1", "StackedDrgWindow32GiBV1_2",
			},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wdpostSpec(tc.sealing)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("spec %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := wdpostSpec(config.Sealing{AllowedSizes: []string{"3GiB"}}); err == nil {
		t.Fatal("a size that is no sector size was accepted")
	}
}

// allowed_miners and allowed_sizes reach the manager, which hands out
// only the jobs they match.
func TestWdPoStThreadSendsSpec(t *testing.T) {
	r := newWdPoStRig(t)
	sectors := sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1)
	other := r.queue.add(postInput(testWdPoStMiner+1, sectors...))
	mine := r.queue.add(postInput(testWdPoStMiner, sectors...))
	cfg := r.cfg
	cfg.Sealing.AllowedMiners, cfg.Sealing.AllowedSizes = []uint64{uint64(testWdPoStMiner)}, []string{"2KiB"}
	startWdPoSt(t, cfg)
	waitFor(t, "job finished", r.queue.finished(mine))
	waitFor(t, "another claim", func() bool { return r.queue.allocations() >= 3 })
	if j := r.queue.job(other); j.State != rpc.WdPoStJobReadyToRun {
		t.Fatalf("the other miner's job is %s; want it left ready", j.State)
	}
	want := rpc.AllocateWdPoStJobSpec{
		AllowedMiners:     []abi.ActorID{testWdPoStMiner},
		AllowedProofTypes: []string{"StackedDrgWinning2KiBV1", "StackedDrgWindow2KiBV1", testWindowProof},
	}
	r.queue.mu.Lock()
	defer r.queue.mu.Unlock()
	for i, spec := range r.queue.specs {
		if !reflect.DeepEqual(spec, want) || r.queue.workers[i] != "test-worker" {
			t.Fatalf("claim %d: spec %+v by %q; want %+v by test-worker", i, spec, r.queue.workers[i], want)
		}
	}
}

// noLocalPoSt is the built-in engine unable to prove a window PoSt, so a
// proof that verifies must come from a processor.
type noLocalPoSt struct{ proofs.DevEngine }

func (*noLocalPoSt) GenerateWindowPoSt(context.Context, abi.ActorID, abi.RegisteredPoStProof, []proofs.PrivateSectorInfo, abi.PoStRandomness) ([]proof.PoStProof, []abi.SectorNumber, error) {
	return nil, nil, errors.New("test: window PoSt proven in process")
}

// With [[processors.window_post]] (no bin: the worker's own binary, built
// here, as `processor window_post`), proofs come from the child.
func TestWdPoStThreadExternalProcessor(t *testing.T) {
	bin := workerBinary(t)
	procs := &config.Processors{WindowPoSt: []config.Processor{{StableWait: config.HumanDuration(30 * time.Second)}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	post, err := OpenWindowPoStStage(ctx, procs, &noLocalPoSt{}, bin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := post.Close(); err != nil {
			t.Logf("close processors: %v", err)
		}
	}()
	r := newWdPoStRig(t)
	in := postInput(testWdPoStMiner, sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1, 2)...)
	id := r.queue.add(in)
	cfg := r.cfg
	cfg.Prover = post
	_, stop := startWdPoSt(t, cfg)
	waitFor(t, "job finished", r.queue.finished(id))
	stop()
	job := r.queue.job(id)
	if job.ErrorReason != "" {
		t.Fatalf("job failed: %s", job.ErrorReason)
	}
	verifyWindowPoSt(t, in, job.Output)
}

// [processors.limitation.concurrent] window_post caps the proofs running
// at once across the wdpost threads; the unlimited case shows the test
// sees overlap when there is some.
func TestWdPoStConcurrencyLimit(t *testing.T) {
	for _, tc := range []struct {
		limit, wantMax int
	}{{1, 1}, {2, 2}} {
		t.Run(fmt.Sprintf("window_post=%d", tc.limit), func(t *testing.T) {
			r := newWdPoStRig(t)
			in := postInput(testWdPoStMiner, sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1)...)
			var ids []string
			for range 4 {
				ids = append(ids, r.queue.add(in))
			}
			var mu sync.Mutex
			active, most := 0, 0
			prover := hookedProver{WindowPoSter: inProcessProver(t), before: func(ctx context.Context, _ stage.PoStTask) error {
				mu.Lock()
				active++
				most = max(most, active)
				mu.Unlock()
				defer func() { mu.Lock(); active--; mu.Unlock() }()
				// Give a second proof the time to start alongside, if it may.
				deadline := time.Now().Add(300 * time.Millisecond)
				for time.Now().Before(deadline) {
					mu.Lock()
					both := active >= 2
					mu.Unlock()
					if both {
						break
					}
					time.Sleep(time.Millisecond)
				}
				return nil
			}}
			cfg := &config.Worker{
				SectorManager:  config.SectorManagerClient{RPCClient: config.RPCClient{Addr: r.url}},
				Sealing:        config.Sealing{RecoverInterval: config.HumanDuration(5 * time.Millisecond)},
				SealingThreads: []config.SealingThread{{Plan: config.PlanWdPoSt}, {Plan: config.PlanWdPoSt}},
				Attached:       r.cfg.Attached,
				Processors:     config.Processors{Limitation: config.Limitation{Concurrent: map[string]int{"window_post": tc.limit}}},
			}
			threads, err := NewWdPoStThreads(cfg, "test-worker", r.cfg.Manager, prover)
			if err != nil {
				t.Fatal(err)
			}
			if len(threads) != 2 {
				t.Fatalf("%d threads; want 2", len(threads))
			}
			runThreads(t, threads...)
			waitFor(t, "all jobs finished", r.queue.finished(ids...))
			for _, id := range ids {
				if j := r.queue.job(id); j.ErrorReason != "" {
					t.Fatalf("job %s failed: %s", id, j.ErrorReason)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if most != tc.wantMax {
				t.Fatalf("%d proofs ran at once; want %d", most, tc.wantMax)
			}
		})
	}
}

// A result the manager does not receive (the connection drops, as when it
// restarts) is sent again.
func TestWdPoStThreadRetriesFinish(t *testing.T) {
	r := newWdPoStRig(t)
	in := postInput(testWdPoStMiner, sealInStore(t, testWdPoStMiner, "store-a", r.storeA, 1)...)
	id := r.queue.add(in)
	var dropped atomic.Int32
	manager := newManagerHandler(t, rpc.WdPoStAPI(r.queue))
	hs := serveManager(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("WdPoStFinishJob")) && dropped.Add(1) <= 2 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		manager.ServeHTTP(w, req)
	}))
	cfg := r.cfg
	cfg.Manager, cfg.ManagerURL = dialWdPoSt(t, hs.URL), hs.URL
	startWdPoSt(t, cfg)
	waitFor(t, "job finished", r.queue.finished(id))
	if n := dropped.Load(); n != 3 {
		t.Fatalf("%d finish requests; want 2 dropped, then 1 received", n)
	}
	verifyWindowPoSt(t, in, r.queue.job(id).Output)
}

// Sector paths follow §6 from the attached store's location, made
// absolute for the processor.
func TestWdPoStTaskPaths(t *testing.T) {
	th, err := NewWdPoStThread(WdPoStThreadConfig{
		Manager: newFakeWdPoStQueue(), Prover: inProcessProver(t), Instance: "w",
		Attached: []config.Attached{{Name: "a", Location: "/mnt/a"}, {Location: "rel/b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := filepath.Abs("rel/b")
	task, err := th.task(rpc.WdPoStInput{MinerId: 1000, ProofType: testWindowProof, Sectors: []rpc.WdPoStSectorInfo{
		{SectorId: 42, Accesses: rpc.SectorAccessStores{SealedFile: "a", CacheDir: "a"}},
		{SectorId: 43, Upgrade: true, Accesses: rpc.SectorAccessStores{SealedFile: "a", CacheDir: "rel/b"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []stage.Replica{
		{SectorID: 42, SealedFile: "/mnt/a/sealed/s-t01000-42", CacheDir: "/mnt/a/cache/s-t01000-42"},
		{SectorID: 43, SealedFile: "/mnt/a/update/s-t01000-43", CacheDir: b + "/update-cache/s-t01000-43"},
	}
	if !reflect.DeepEqual(task.Replicas, want) || task.MinerID != 1000 || task.ProofType != testWindowProof {
		t.Fatalf("task %+v; want replicas %+v", task, want)
	}
}

// params.heartbeat_interval sets a wdpost thread's heartbeat interval; the
// default is damocles's 3s, and a bad value is refused naming the key.
func TestWdPoStThreadsHeartbeatParam(t *testing.T) {
	cfg := &config.Worker{SealingThreads: []config.SealingThread{
		{Plan: config.PlanWdPoSt},
		{Plan: config.PlanWdPoSt, Params: map[string]string{HeartbeatIntervalParam: "250ms"}},
		{Plan: config.PlanSealer, Location: "/unused"},
	}}
	threads, err := NewWdPoStThreads(cfg, "w", newFakeWdPoStQueue(), inProcessProver(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) != 2 || threads[0].cfg.HeartbeatInterval != HeartbeatIntervalDefault || threads[1].cfg.HeartbeatInterval != 250*time.Millisecond {
		t.Fatalf("%d threads, heartbeat intervals %v, %v; want 2 threads, 3s and 250ms", len(threads), threads[0].cfg.HeartbeatInterval, threads[1].cfg.HeartbeatInterval)
	}
	cfg.SealingThreads[1].Params[HeartbeatIntervalParam] = "soon"
	if _, err := NewWdPoStThreads(cfg, "w", newFakeWdPoStQueue(), inProcessProver(t)); err == nil || !strings.Contains(err.Error(), "sealing_thread[1]: params.heartbeat_interval") {
		t.Fatalf("bad interval: %v; want an error naming sealing_thread[1]'s params.heartbeat_interval", err)
	}
}
