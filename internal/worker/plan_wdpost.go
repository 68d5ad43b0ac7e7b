package worker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/filecoin-project/go-jsonrpc"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// Defaults of WdPoStThreadConfig's zero values.
const (
	// HeartbeatIntervalDefault is damocles-worker's: a job's heartbeat every
	// 3s, against the manager's 15s HeartbeatTimeout.
	HeartbeatIntervalDefault = 3 * time.Second
	// FinishAttemptsDefault is how many times a result is sent before the
	// thread gives up on it (the manager may be restarting).
	FinishAttemptsDefault = 5
	// FinishRetryWaitDefault is the pause between two WdPoStFinishJob tries.
	FinishRetryWaitDefault = 5 * time.Second
	// allocateWarnEvery spaces out the warnings of a WdPoStAllocateJobs that
	// keeps failing: one per claim interval would flood the log.
	allocateWarnEvery = 5 * time.Minute
	// wdpostCallTimeout bounds one call to the manager, so that a hung
	// manager cannot hold a thread.
	wdpostCallTimeout = time.Minute
)

// WdPoStAPI is the part of the manager's WorkerWdPoSt API a wdpost thread
// calls (PROTOCOLS-damocles.md §2.3); *rpc.WorkerWdPoStStruct is one.
type WdPoStAPI interface {
	WdPoStAllocateJobs(ctx context.Context, spec rpc.AllocateWdPoStJobSpec, num uint32, workerName string) ([]rpc.WdPoStAllocatedJob, error)
	WdPoStHeartbeatJobs(ctx context.Context, jobIDs []string, workerName string) (rpc.Meta, error)
	WdPoStFinishJob(ctx context.Context, jobID string, output *rpc.WindowPoStOutput, errorReason string) (rpc.Meta, error)
}

// WindowPoSter computes a WindowPoSt task. Faulty sectors are no error:
// they come back in the output's Faults with no proofs, as the window_post
// processor answers them. *WindowPoStStage is one.
type WindowPoSter interface {
	WindowPoSt(ctx context.Context, task stage.PoStTask) (stage.WindowPoStOutput, error)
}

// WdPoStThreadConfig is what one wdpost sealing thread runs with.
type WdPoStThreadConfig struct {
	// Index is the thread's position among [[sealing_thread]], for logs.
	Index int
	// Sealing is the thread's [sealing] settings: allowed_miners and
	// allowed_sizes filter the jobs, recover_interval is the pause between
	// two claims that found nothing (zero means [sealing]'s default, 60s).
	Sealing config.Sealing
	// Attached are the persist stores the jobs' sectors are read from,
	// found by instance name.
	Attached []config.Attached
	// Instance is the worker's name, the manager's WorkerName of its jobs.
	Instance string
	// Manager is the manager's WindowPoSt job API.
	Manager WdPoStAPI
	// ManagerURL names the manager in logs.
	ManagerURL string
	// Prover computes the proofs; several threads share one.
	Prover WindowPoSter
	// Limiter caps the window_post tasks running at once across threads
	// ([processors.limitation.concurrent] window_post); nil limits nothing.
	Limiter *StageLimiter
	// HeartbeatInterval is the pause between two heartbeats of a running
	// job; zero means HeartbeatIntervalDefault. NewWdPoStThreads reads it
	// from the thread's params (HeartbeatIntervalParam).
	HeartbeatInterval time.Duration
	// FinishAttempts is how many times a result is sent to a manager that
	// does not answer; zero means FinishAttemptsDefault.
	FinishAttempts int
	// FinishRetryWait is the pause between two of those tries; zero means
	// FinishRetryWaitDefault.
	FinishRetryWait time.Duration

	// notice is shared by the threads of a worker, so that a manager
	// without the worker-prover module is reported once, not per thread.
	notice *moduleNotice
}

// WdPoStThread is one [[sealing_thread]] running plan wdpost: it claims
// WindowPoSt jobs from the manager, proves them, heartbeating while it
// does, and returns the result. It keeps no state on disk: a job lost to a
// restart is retried by the manager after its heartbeat timeout.
type WdPoStThread struct {
	cfg    WdPoStThreadConfig
	spec   rpc.AllocateWdPoStJobSpec
	stores map[string]string // attached instance name → location

	// allocFailures counts the failed claims since the last warning;
	// lastAllocWarn is when that warning was logged. Run's goroutine only.
	allocFailures int
	lastAllocWarn time.Time

	mu     sync.Mutex
	status ThreadStatus
	job    string
}

// NewWdPoStThread checks cfg and returns an idle thread; nothing runs
// until Run.
func NewWdPoStThread(cfg WdPoStThreadConfig) (*WdPoStThread, error) {
	if cfg.Manager == nil || cfg.Prover == nil {
		return nil, fmt.Errorf("sealing_thread[%d]: a wdpost thread needs a manager and a prover", cfg.Index)
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = HeartbeatIntervalDefault
	}
	if cfg.FinishAttempts <= 0 {
		cfg.FinishAttempts = FinishAttemptsDefault
	}
	if cfg.FinishRetryWait <= 0 {
		cfg.FinishRetryWait = FinishRetryWaitDefault
	}
	if cfg.Sealing.RecoverInterval <= 0 {
		// A zero claim interval would ask the manager in a tight loop.
		cfg.Sealing.RecoverInterval = config.DefaultWorker().Sealing.RecoverInterval
	}
	if cfg.notice == nil {
		cfg.notice = &moduleNotice{}
	}
	spec, err := wdpostSpec(cfg.Sealing)
	if err != nil {
		return nil, fmt.Errorf("sealing_thread[%d]: %w", cfg.Index, err)
	}
	t := &WdPoStThread{cfg: cfg, spec: spec, stores: map[string]string{}, status: ThreadEmpty}
	for _, a := range cfg.Attached {
		t.stores[a.InstanceName()] = a.Location
	}
	return t, nil
}

// HeartbeatIntervalParam is the [[sealing_thread]] params key of a wdpost
// thread's heartbeat interval ("1s"), HeartbeatIntervalDefault when
// absent. damocles-worker has no such key; it is for managers run with a
// HeartbeatTimeout shorter than the default 15s.
const HeartbeatIntervalParam = "heartbeat_interval"

// NewWdPoStThreads builds a WdPoStThread for every [[sealing_thread]] whose
// plan is wdpost, sharing the manager, the prover and the window_post
// concurrency limit.
func NewWdPoStThreads(cfg *config.Worker, instance string, manager WdPoStAPI, prover WindowPoSter) ([]*WdPoStThread, error) {
	limiter := NewStageLimiter(cfg.Processors.ConcurrentLimits())
	notice := &moduleNotice{}
	var threads []*WdPoStThread
	for i, st := range cfg.SealingThreads {
		if st.PlanName() != config.PlanWdPoSt {
			continue
		}
		var heartbeat time.Duration
		if v, ok := st.Params[HeartbeatIntervalParam]; ok {
			d, err := config.ParseHumanDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("sealing_thread[%d]: params.%s = %q: want a positive duration such as \"1s\"", i, HeartbeatIntervalParam, v)
			}
			heartbeat = d
		}
		t, err := NewWdPoStThread(WdPoStThreadConfig{
			Index: i, Sealing: cfg.ThreadSealing(i), Attached: cfg.AttachedStores(),
			Instance: instance, Manager: manager, ManagerURL: cfg.ManagerURL(),
			Prover: prover, Limiter: limiter, HeartbeatInterval: heartbeat, notice: notice,
		})
		if err != nil {
			return nil, err
		}
		threads = append(threads, t)
	}
	return threads, nil
}

// wdpostSpec turns allowed_miners and allowed_sizes into
// WdPoStAllocateJobs' filter. Every size allows its winning, window V1 and
// window V1_1 PoSt names, as damocles-worker sends them (32GiB →
// StackedDrgWinning32GiBV1, StackedDrgWindow32GiBV1,
// StackedDrgWindow32GiBV1_2). The lists are never nil: the worker sends
// [] for "any".
func wdpostSpec(s config.Sealing) (rpc.AllocateWdPoStJobSpec, error) {
	miners, sizes, err := allowedMinersAndSizes(s)
	spec := rpc.AllocateWdPoStJobSpec{AllowedMiners: miners, AllowedProofTypes: []string{}}
	if err != nil {
		return spec, err
	}
	for _, seal := range sizes {
		winning, err := proofs.WinningPoStProof(seal)
		if err != nil {
			return spec, fmt.Errorf("allowed_sizes: %w", err)
		}
		// go-state-types numbers each family five apart: winning, window
		// V1, window V1_1 (§5.1).
		for _, p := range []abi.RegisteredPoStProof{winning, winning + 5, winning + 10} {
			name, err := proofs.PoStProofName(p)
			if err != nil {
				return spec, fmt.Errorf("allowed_sizes: %w", err)
			}
			spec.AllowedProofTypes = append(spec.AllowedProofTypes, name)
		}
	}
	return spec, nil
}

// Status is what the thread is doing now: Empty while it has no job,
// Running while it proves or reports one, Waiting between two tries to
// report it.
func (t *WdPoStThread) Status() ThreadStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

// Job is the id of the job the thread works on; ok is false while it has
// none.
func (t *WdPoStThread) Job() (id string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.job, t.job != ""
}

func (t *WdPoStThread) setStatus(s ThreadStatus) {
	t.mu.Lock()
	t.status = s
	t.mu.Unlock()
}

func (t *WdPoStThread) setJob(id string, s ThreadStatus) {
	t.mu.Lock()
	t.job, t.status = id, s
	t.mu.Unlock()
}

// Run claims and proves jobs until ctx ends, then returns nil. A claim
// that finds nothing, or fails, is retried after recover_interval; after
// a job the thread claims again at once, as a deadline may be waiting.
func (t *WdPoStThread) Run(ctx context.Context) error {
	for {
		job, release, ok := t.claim(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if ok {
			t.work(ctx, job, release)
			t.setJob("", ThreadEmpty)
			continue
		}
		if sleepCtx(ctx, t.cfg.Sealing.RecoverInterval.Std()) != nil {
			return nil
		}
	}
}

// claim takes a window_post slot and asks the manager for one job. It
// returns the job with the slot's release, or ok false (slot released)
// when there is none. The slot is taken first so that a thread only takes
// a job it can start: another worker may be free for it.
func (t *WdPoStThread) claim(ctx context.Context) (job rpc.WdPoStAllocatedJob, release func(), ok bool) {
	t.setStatus(ThreadEmpty)
	release, err := t.cfg.Limiter.Acquire(ctx, stage.WindowPoSt)
	if err != nil {
		return job, nil, false
	}
	callCtx, cancel := context.WithTimeout(ctx, wdpostCallTimeout)
	jobs, err := t.cfg.Manager.WdPoStAllocateJobs(callCtx, t.spec, 1, t.cfg.Instance)
	cancel()
	if ctx.Err() != nil {
		release()
		return job, nil, false
	}
	if err != nil {
		release()
		t.allocateFailed(err)
		return job, nil, false
	}
	t.allocateWorked()
	if len(jobs) == 0 {
		release()
		return job, nil, false
	}
	if len(jobs) > 1 {
		// Asked for one; the others stay running on the manager until their
		// heartbeat timeout hands them out again.
		log.Warnw("the manager handed out more WindowPoSt jobs than asked; proving the first", "thread", t.cfg.Index, "jobs", len(jobs))
	}
	return jobs[0], release, true
}

// allocateFailed reports a failed claim: a manager without the
// worker-prover module once (it is a setup problem, not an incident),
// other errors at most every allocateWarnEvery.
func (t *WdPoStThread) allocateFailed(err error) {
	if rpc.IsMethodNotFound(err) {
		t.cfg.notice.missing(t.cfg.ManagerURL)
		return
	}
	t.allocFailures++
	if !t.lastAllocWarn.IsZero() && time.Since(t.lastAllocWarn) < allocateWarnEvery {
		return
	}
	log.Warnw("WdPoStAllocateJobs failed; will ask again every recover_interval", "thread", t.cfg.Index, "manager", t.cfg.ManagerURL,
		"failures", t.allocFailures, "recover_interval", t.cfg.Sealing.RecoverInterval.Std(), "error", err)
	t.lastAllocWarn, t.allocFailures = time.Now(), 0
}

// allocateWorked notes an answered claim, telling the operator when it
// follows failures.
func (t *WdPoStThread) allocateWorked() {
	t.cfg.notice.available(t.cfg.ManagerURL)
	if !t.lastAllocWarn.IsZero() {
		log.Infow("WdPoStAllocateJobs works again", "thread", t.cfg.Index, "manager", t.cfg.ManagerURL)
	}
	t.lastAllocWarn, t.allocFailures = time.Time{}, 0
}

// work proves one job and reports the result. Heartbeats go out from the
// claim until the result is reported; if the manager refuses one (the job
// was finished by a heartbeat timeout, reset or removed), the proof is
// abandoned and nothing is reported. release frees the window_post slot,
// once the proof is done.
func (t *WdPoStThread) work(ctx context.Context, job rpc.WdPoStAllocatedJob, release func()) {
	t.setJob(job.Id, ThreadRunning)
	in := job.Input
	log.Infow("WindowPoSt job claimed", "thread", t.cfg.Index, "job", job.Id, "miner", in.MinerId, "sectors", len(in.Sectors), "proof_type", in.ProofType)

	proveCtx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { t.heartbeat(hbCtx, job.Id, lost) })
	defer func() {
		stopHeartbeat()
		wg.Wait()
	}()

	start := time.Now()
	out, err := t.prove(proveCtx, job)
	release()
	took := time.Since(start).Round(time.Millisecond)
	var jl *jobLostError
	if errors.As(context.Cause(proveCtx), &jl) {
		log.Warnw("WindowPoSt job abandoned: the manager no longer runs it", "thread", t.cfg.Index, "job", job.Id, "miner", in.MinerId, "took", took, "reason", jl.err)
		return
	}
	if ctx.Err() != nil {
		return // the worker stops; the manager retries the job after its heartbeat timeout
	}
	if err != nil {
		log.Warnw("WindowPoSt proof failed", "thread", t.cfg.Index, "job", job.Id, "miner", in.MinerId, "took", took, "error", err)
		t.finish(ctx, job, nil, err.Error())
		return
	}
	log.Infow("WindowPoSt proof done", "thread", t.cfg.Index, "job", job.Id, "miner", in.MinerId, "sectors", len(in.Sectors), "faults", len(out.Faults), "took", took)
	t.finish(ctx, job, &out, "")
}

// prove resolves the job's sectors to files and computes the proof.
func (t *WdPoStThread) prove(ctx context.Context, job rpc.WdPoStAllocatedJob) (stage.WindowPoStOutput, error) {
	task, err := t.task(job.Input)
	if err != nil {
		return stage.WindowPoStOutput{}, err
	}
	return t.cfg.Prover.WindowPoSt(ctx, task)
}

// task turns a job's input into the window_post task: each sector's
// persist store instance names become this worker's [[attached]]
// locations, joined with the sector's relative paths (§6).
func (t *WdPoStThread) task(in rpc.WdPoStInput) (stage.PoStTask, error) {
	task := stage.PoStTask{MinerID: uint64(in.MinerId), ProofType: in.ProofType, Seed: in.Seed, Replicas: make([]stage.Replica, 0, len(in.Sectors))}
	for _, s := range in.Sectors {
		id := abi.SectorID{Miner: in.MinerId, Number: s.SectorId}
		sealedDir, cacheDir := proofs.SealedDirName, proofs.CacheDirName
		if s.Upgrade {
			sealedDir, cacheDir = proofs.UpdateDirName, proofs.UpdateCacheDirName
		}
		sealedRoot, err := t.store(s.Accesses.SealedFile, id, "sealed file")
		if err != nil {
			return task, err
		}
		cacheRoot, err := t.store(s.Accesses.CacheDir, id, "cache dir")
		if err != nil {
			return task, err
		}
		name := proofs.SectorName(id)
		task.Replicas = append(task.Replicas, stage.Replica{
			SectorID:   uint64(s.SectorId),
			CommR:      s.CommR,
			SealedFile: filepath.Join(sealedRoot, sealedDir, name),
			CacheDir:   filepath.Join(cacheRoot, cacheDir, name),
		})
	}
	return task, nil
}

// store is the location of the attached persist store named instance.
func (t *WdPoStThread) store(instance string, id abi.SectorID, what string) (string, error) {
	loc, ok := t.stores[instance]
	if !ok {
		return "", fmt.Errorf("sector %s: its %s is in persist store %q, which worker %s does not attach: add an [[attached]] entry with name = %q and its mount point as location",
			proofs.SectorName(id), what, instance, t.cfg.Instance, instance)
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return "", fmt.Errorf("persist store %q: %w", instance, err)
	}
	return abs, nil
}

// jobLostError is why a proof was abandoned: the manager refused a
// heartbeat of its job.
type jobLostError struct {
	job string
	err error
}

func (e *jobLostError) Error() string {
	return fmt.Sprintf("WindowPoSt job %s is no longer running on the manager: %v", e.job, e.err)
}

// heartbeat tells the manager every HeartbeatInterval that the job is
// still being worked on, until ctx ends. A refusal (the manager answered
// with an error: the job is finished, or gone) ends the work through lost;
// a manager that does not answer is tried again at the next tick, as the
// job is still ours until its heartbeat timeout says otherwise.
func (t *WdPoStThread) heartbeat(ctx context.Context, job string, lost context.CancelCauseFunc) {
	ticker := time.NewTicker(t.cfg.HeartbeatInterval)
	defer ticker.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		callCtx, cancel := context.WithTimeout(ctx, wdpostCallTimeout)
		_, err := t.cfg.Manager.WdPoStHeartbeatJobs(callCtx, []string{job}, t.cfg.Instance)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if failing {
				log.Infow("WindowPoSt job heartbeat works again", "thread", t.cfg.Index, "job", job)
			}
			failing = false
		case managerRefused(err):
			lost(&jobLostError{job: job, err: err})
			return
		default:
			if !failing {
				log.Warnw("WindowPoSt job heartbeat failed; still proving, will retry", "thread", t.cfg.Index, "job", job, "manager", t.cfg.ManagerURL, "error", err)
			}
			failing = true
		}
	}
}

// finish reports the job's result: output on success, nil and the error
// text on failure. A manager that does not answer is tried FinishAttempts
// times; one that refuses (unknown job) is not asked again.
func (t *WdPoStThread) finish(ctx context.Context, job rpc.WdPoStAllocatedJob, out *rpc.WindowPoStOutput, reason string) {
	for attempt := 1; ; attempt++ {
		t.setStatus(ThreadRunning)
		callCtx, cancel := context.WithTimeout(ctx, wdpostCallTimeout)
		_, err := t.cfg.Manager.WdPoStFinishJob(callCtx, job.Id, out, reason)
		cancel()
		if err == nil {
			if reason != "" {
				log.Warnw("WindowPoSt job failed", "thread", t.cfg.Index, "job", job.Id, "miner", job.Input.MinerId, "reason", reason)
			} else {
				log.Infow("WindowPoSt job finished", "thread", t.cfg.Index, "job", job.Id, "miner", job.Input.MinerId, "faults", len(out.Faults))
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if managerRefused(err) || attempt >= t.cfg.FinishAttempts {
			log.Errorw("cannot report the WindowPoSt job's result; the manager retries the job after its heartbeat timeout",
				"thread", t.cfg.Index, "job", job.Id, "miner", job.Input.MinerId, "manager", t.cfg.ManagerURL, "attempts", attempt, "error", err)
			return
		}
		log.Warnw("WdPoStFinishJob failed, will retry", "thread", t.cfg.Index, "job", job.Id, "attempt", attempt, "error", err)
		t.setStatus(ThreadWaiting)
		if sleepCtx(ctx, t.cfg.FinishRetryWait) != nil {
			return
		}
	}
}

// managerRefused tells an error the manager answered (a JSON-RPC error
// object) from one where it did not answer (connection refused, timeout).
func managerRefused(err error) bool {
	var remote *jsonrpc.JSONRPCError
	return errors.As(err, &remote)
}

// sleepCtx waits d; it returns ctx's error if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// moduleNotice reports, once for all the wdpost threads of a worker, that
// the manager does not serve the WindowPoSt job API, and once more when it
// does again.
type moduleNotice struct {
	mu     sync.Mutex
	absent bool
}

func (n *moduleNotice) missing(manager string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.absent {
		return
	}
	n.absent = true
	log.Errorw(fmt.Sprintf("the manager at %s does not run the worker-prover module: start it with `daemon run --poster --worker-prover`; the wdpost threads keep asking for jobs every recover_interval", manager),
		"manager", manager)
}

func (n *moduleNotice) available(manager string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.absent {
		log.Infow(fmt.Sprintf("the manager at %s runs the worker-prover module now; the wdpost threads take its WindowPoSt jobs", manager), "manager", manager)
	}
	n.absent = false
}
