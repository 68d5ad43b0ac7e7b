package prover

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/mr-tron/base58"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
)

// Finder says which persist store instances hold a sector's files: the
// sector indexer (local, or the source's through a proxy).
type Finder interface {
	Find(ctx context.Context, kind sectors.IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, error)
}

// Defaults of WorkerConfig.
const (
	// WorkerPollIntervalDefault is how often a waited job is read again
	// when no finish call on this manager woke its waiter: a job finished
	// through another manager sharing the database.
	WorkerPollIntervalDefault = time.Second
	// WorkerSweepIntervalDefault is how often heartbeats are checked and
	// failed jobs put back in the queue.
	WorkerSweepIntervalDefault = time.Second
	// workerPruneInterval is how often jobs older than JobLifetime are
	// deleted.
	workerPruneInterval = 30 * time.Minute
)

// WorkerConfig wires a Worker prover.
type WorkerConfig struct {
	DB *store.DB
	// Finder names the store instances of each sector, which the workers
	// resolve to their [[attached]] stores.
	Finder Finder
	// Engine verifies each proof a worker returns before it is accepted.
	Engine proofs.Engine
	// Settings returns [Common.Proving.WorkerProver] in force.
	Settings func() config.WorkerProver
	// Registry receives the metrics; nil means a private registry.
	Registry prometheus.Registerer
	// PollInterval and SweepInterval: 0 means the defaults above.
	PollInterval, SweepInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Worker is the worker-prover (`daemon run --worker-prover`, seed 001):
// each WindowPoSt becomes a job in the database, which damocles-workers
// with wdpost threads claim, prove and finish over the WorkerWdPoSt API.
// Jobs live in the database, so they survive a restart of the manager
// and, on PostgreSQL or MySQL, are seen by every manager sharing it.
//
// A job's id is derived from its input, so the same proof asked twice (a
// retried attempt, a restarted manager) is the same job. A running job
// whose worker stops sending heartbeats fails after HeartbeatTimeout and
// goes back to the queue while it has tries left (JobMaxTry); after that
// it waits for `util worker wdpost reset`. A job removed by hand while the
// poster waits for it is created again.
type Worker struct {
	cfg     WorkerConfig
	jobs    *store.WdPoStJobs
	metrics *workerMetrics

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

var (
	_ Prover           = (*Worker)(nil)
	_ rpc.WorkerWdPoSt = (*Worker)(nil)
)

// NewWorker returns the worker prover; Run runs its sweeps.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.DB == nil || cfg.Finder == nil || cfg.Engine == nil || cfg.Settings == nil {
		return nil, errors.New("worker prover: incomplete config")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = WorkerPollIntervalDefault
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = WorkerSweepIntervalDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newWorkerMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, jobs: cfg.DB.WdPoStJobs(), metrics: m, waiters: map[string]map[chan struct{}]struct{}{}}, nil
}

// Name is "worker".
func (w *Worker) Name() string { return "worker" }

// JobID is the id of the job proving input: base58 of the little-endian
// xxHash64 of input's JSON, as damocles derives it, so identical inputs
// share a job.
func JobID(input rpc.WdPoStInput) (string, error) {
	b, err := json.Marshal(input)
	if err != nil {
		return "", fmt.Errorf("encode WindowPoSt job input: %w", err)
	}
	return jobIDOf(b), nil
}

// jobIDOf is the id of the job whose input encodes to raw.
func jobIDOf(raw []byte) string {
	var sum [8]byte
	binary.LittleEndian.PutUint64(sum[:], xxhash.Sum64(raw))
	return base58.Encode(sum[:])
}

// GenerateWindowPoSt queues task as a job (or finds the job already
// queued for it) and waits until a worker finishes it. Faulty sectors a
// worker reports come back in faulty; a job that failed JobMaxTry times is
// an error until someone resets it.
func (w *Worker) GenerateWindowPoSt(ctx context.Context, task WindowPoStTask) ([]proof.PoStProof, []abi.SectorNumber, error) {
	input, err := w.jobInput(ctx, task)
	if err != nil {
		return nil, nil, err
	}
	raw, err := json.Marshal(input)
	if err != nil {
		return nil, nil, fmt.Errorf("encode WindowPoSt job input: %w", err)
	}
	id := jobIDOf(raw)
	job := store.WdPoStJob{
		ID: id, Miner: task.Miner, DeadlineIndex: task.DeadlineIndex, DeadlineOpen: task.DeadlineOpen,
		Partitions: task.Partitions, ProofType: input.ProofType, Sectors: uint32(len(input.Sectors)), Input: raw,
	}
	logw := []any{"job", id, "miner", task.Miner, "deadline", task.DeadlineIndex, "partitions", task.Partitions, "sectors", len(input.Sectors)}

	wake := w.subscribe(id)
	defer w.unsubscribe(id, wake)
	if err := w.create(ctx, job, logw); err != nil {
		return nil, nil, err
	}
	start := w.cfg.Now()
	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	for {
		// The status leaves the input out: a job of thousands of sectors
		// is read every PollInterval while it runs.
		stored, err := w.jobs.Status(ctx, id)
		if err == nil && stored.State == store.WdPoStFinished && stored.ErrorReason == "" {
			stored, err = w.jobs.Get(ctx, id) // with its output
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			log.Warnw("wdpost job was removed while the poster waits for it: queueing it again", logw...)
			if err := w.create(ctx, job, logw); err != nil {
				return nil, nil, err
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			log.Warnw("cannot read the wdpost job; trying again", append(logw, "err", err)...)
		case stored.State == store.WdPoStFinished:
			proofs, faulty, done, err := w.finished(ctx, task, stored, logw)
			if done {
				w.metrics.wait.Observe(w.cfg.Now().Sub(start).Seconds())
				return proofs, faulty, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("wdpost job %s: %w", id, ctx.Err())
		case <-wake:
		case <-poll.C:
		}
	}
}

// create queues job unless it exists.
func (w *Worker) create(ctx context.Context, job store.WdPoStJob, logw []any) error {
	stored, created, err := w.jobs.Create(ctx, job, w.cfg.Now())
	if err != nil {
		return fmt.Errorf("queue wdpost job %s: %w", job.ID, err)
	}
	if created {
		w.metrics.created.Inc()
		log.Infow("wdpost job created", logw...)
	} else {
		log.Infow("wdpost job already queued: waiting for it", append(logw, "state", stored.State, "try", stored.TryNum, "worker", stored.WorkerName)...)
	}
	return nil
}

// finished reads a finished job: done is false while the job may still
// be retried (a failure with tries left, or a proof that did not verify,
// which is failed here and so retried); err only counts when done.
func (w *Worker) finished(ctx context.Context, task WindowPoStTask, job store.WdPoStJob, logw []any) (ps []proof.PoStProof, faulty []abi.SectorNumber, done bool, err error) {
	maxTry := w.cfg.Settings().JobMaxTry
	if job.ErrorReason != "" {
		if job.TryNum < maxTry {
			return nil, nil, false, nil // the sweep puts it back in the queue
		}
		return nil, nil, true, fmt.Errorf("wdpost job %s failed %d times (JobMaxTry %d), last on worker %q: %s; "+
			"it runs again after `damocles-manager util worker wdpost reset %s`", job.ID, job.TryNum, maxTry, job.WorkerName, job.ErrorReason, job.ID)
	}
	var out rpc.WindowPoStOutput
	if err := json.Unmarshal(job.Output, &out); err != nil {
		return nil, nil, false, w.reject(ctx, job, fmt.Sprintf("output does not decode: %v", err), logw)
	}
	if len(out.Faults) > 0 {
		faulty = make([]abi.SectorNumber, len(out.Faults))
		for i, n := range out.Faults {
			faulty[i] = abi.SectorNumber(n)
		}
		log.Warnw("wdpost job finished with faulty sectors", append(logw, "worker", job.WorkerName, "faulty", faulty)...)
		return nil, faulty, true, nil
	}
	ps = out.PoStProofs(task.ProofType)
	public := make([]proof.SectorInfo, len(task.Sectors))
	for i, s := range task.Sectors {
		public[i] = proof.SectorInfo{SealProof: s.SealProof, SectorNumber: s.SectorNumber, SealedCID: s.SealedCID}
	}
	ok, err := w.cfg.Engine.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{Randomness: task.Randomness, Proofs: ps, ChallengedSectors: public, Prover: task.Miner})
	if err != nil || !ok {
		// A worker with a bad prover must not make the deadline wait on
		// its answer: fail the job, so that it runs again (elsewhere,
		// with luck) while tries are left.
		return nil, nil, false, w.reject(ctx, job, fmt.Sprintf("the proof from worker %q does not verify (err: %v)", job.WorkerName, err), logw)
	}
	return ps, nil, true, nil
}

// reject turns a job's result into a failure; the sweep retries it.
func (w *Worker) reject(ctx context.Context, job store.WdPoStJob, reason string, logw []any) error {
	log.Errorw("wdpost job result rejected", append(logw, "worker", job.WorkerName, "reason", reason)...)
	w.metrics.finished.WithLabelValues("rejected").Inc()
	if err := w.jobs.Finish(ctx, job.ID, nil, 0, reason, w.cfg.Now()); err != nil {
		return fmt.Errorf("wdpost job %s: record the rejection: %w", job.ID, err)
	}
	return nil
}

// jobInput is the job input of task: the sectors with their store
// instance names, the proof name and the masked seed.
func (w *Worker) jobInput(ctx context.Context, task WindowPoStTask) (rpc.WdPoStInput, error) {
	name, err := proofs.PoStProofName(task.ProofType)
	if err != nil {
		return rpc.WdPoStInput{}, err
	}
	if len(task.Randomness) != 32 {
		return rpc.WdPoStInput{}, fmt.Errorf("PoSt randomness is %d bytes, want 32", len(task.Randomness))
	}
	in := rpc.WdPoStInput{MinerId: task.Miner, ProofType: name, Sectors: make([]rpc.WdPoStSectorInfo, 0, len(task.Sectors))}
	copy(in.Seed[:], task.Randomness)
	in.Seed[31] &= 0x3f
	for _, s := range task.Sectors {
		id := abi.SectorID{Miner: task.Miner, Number: s.SectorNumber}
		// The checker located the files through the same index: an
		// upgraded sector's replica is in update/.
		kind := sectors.IndexNormal
		if filepath.Base(filepath.Dir(s.SealedPath)) == proofs.UpdateDirName {
			kind = sectors.IndexUpgrade
		}
		loc, err := w.cfg.Finder.Find(ctx, kind, id)
		if err != nil {
			return rpc.WdPoStInput{}, fmt.Errorf("sector %s: find its stores: %w", proofs.SectorName(id), err)
		}
		if !loc.Found {
			return rpc.WdPoStInput{}, fmt.Errorf("sector %s is not in the %s sector index", proofs.SectorName(id), kind)
		}
		commR, err := commcid.CIDToReplicaCommitmentV1(s.SealedCID)
		if err != nil {
			return rpc.WdPoStInput{}, fmt.Errorf("sector %s: sealed CID %s: %w", proofs.SectorName(id), s.SealedCID, err)
		}
		in.Sectors = append(in.Sectors, rpc.WdPoStSectorInfo{
			SectorId: s.SectorNumber, CommR: [32]byte(commR), Upgrade: kind == sectors.IndexUpgrade, Accesses: loc.Instance,
		})
	}
	return in, nil
}

// GenerateWinningPoSt is not the worker prover's: damocles-workers only
// take WindowPoSt jobs, and the miner module proves WinningPoSt itself.
func (w *Worker) GenerateWinningPoSt(context.Context, abi.ActorID, abi.RegisteredPoStProof, []proofs.PrivateSectorInfo, abi.PoStRandomness) ([]proof.PoStProof, error) {
	return nil, errors.New("worker prover: WinningPoSt is not sent to workers; it is proven by the manager")
}

func (w *Worker) subscribe(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiters[id] == nil {
		w.waiters[id] = map[chan struct{}]struct{}{}
	}
	w.waiters[id][ch] = struct{}{}
	return ch
}

func (w *Worker) unsubscribe(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiters[id], ch)
	if len(w.waiters[id]) == 0 {
		delete(w.waiters, id)
	}
}

// wake tells the pollers of job id to read it again now.
func (w *Worker) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.waiters[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run expires jobs whose heartbeats stopped, puts failed jobs with tries
// left back in the queue, and deletes jobs older than JobLifetime, until
// ctx ends. Managers sharing a database may all run it.
func (w *Worker) Run(ctx context.Context) {
	sweep := time.NewTicker(w.cfg.SweepInterval)
	defer sweep.Stop()
	var lastPrune time.Time
	for {
		now := w.cfg.Now()
		settings := w.cfg.Settings()
		w.sweep(ctx, now, settings)
		if now.Sub(lastPrune) >= workerPruneInterval {
			lastPrune = now
			if n, err := w.jobs.DeleteCreatedBefore(ctx, now.Add(-time.Duration(settings.JobLifetime))); err != nil {
				log.Warnw("cannot delete old wdpost jobs", "err", err)
			} else if n > 0 {
				log.Infow("deleted wdpost jobs older than JobLifetime", "jobs", n, "lifetime", time.Duration(settings.JobLifetime))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
		}
	}
}

func (w *Worker) sweep(ctx context.Context, now time.Time, settings config.WorkerProver) {
	expired, err := w.jobs.ExpireHeartbeats(ctx, now.Add(-time.Duration(settings.HeartbeatTimeout)), now)
	if err != nil && ctx.Err() == nil {
		log.Warnw("cannot check wdpost job heartbeats", "err", err)
	}
	for _, j := range expired {
		w.metrics.heartbeatTimeouts.Inc()
		log.Warnw("wdpost job heartbeat timeout: its worker stopped answering", "job", j.ID, "miner", j.Miner, "deadline", j.DeadlineIndex,
			"partitions", j.Partitions, "worker", j.WorkerName, "try", j.TryNum, "max-try", settings.JobMaxTry)
		w.wake(j.ID)
	}
	retried, err := w.jobs.RetryFailed(ctx, settings.JobMaxTry, now)
	if err != nil && ctx.Err() == nil {
		log.Warnw("cannot put failed wdpost jobs back in the queue", "err", err)
	}
	for _, j := range retried {
		log.Infow("wdpost job queued again after a failure", "job", j.ID, "miner", j.Miner, "deadline", j.DeadlineIndex, "try", j.TryNum, "max-try", settings.JobMaxTry)
	}
}

// WdPoStAllocateJobs hands up to num ready jobs matching spec to
// workerName.
func (w *Worker) WdPoStAllocateJobs(ctx context.Context, spec rpc.AllocateWdPoStJobSpec, num uint32, workerName string) ([]rpc.WdPoStAllocatedJob, error) {
	if workerName == "" {
		return nil, errors.New("WdPoStAllocateJobs: empty worker name")
	}
	if num == 0 {
		return []rpc.WdPoStAllocatedJob{}, nil
	}
	jobs, err := w.jobs.Allocate(ctx, store.WdPoStJobFilter{Miners: spec.AllowedMiners, ProofTypes: spec.AllowedProofTypes}, int(num), workerName, w.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("allocate wdpost jobs: %w", err)
	}
	out := make([]rpc.WdPoStAllocatedJob, 0, len(jobs))
	for _, j := range jobs {
		var in rpc.WdPoStInput
		if err := json.Unmarshal(j.Input, &in); err != nil {
			// Cannot happen with inputs this manager wrote; fail the job
			// rather than hand out something the worker cannot read.
			_ = w.jobs.Finish(ctx, j.ID, nil, 0, fmt.Sprintf("stored input does not decode: %v", err), w.cfg.Now())
			continue
		}
		w.metrics.allocated.Inc()
		log.Infow("wdpost job allocated", "job", j.ID, "miner", j.Miner, "deadline", j.DeadlineIndex, "partitions", j.Partitions,
			"sectors", j.Sectors, "worker", workerName, "try", j.TryNum)
		out = append(out, rpc.WdPoStAllocatedJob{Id: j.ID, Input: in})
	}
	return out, nil
}

// WdPoStHeartbeatJobs keeps jobs running for workerName.
func (w *Worker) WdPoStHeartbeatJobs(ctx context.Context, jobIDs []string, workerName string) (rpc.Meta, error) {
	if err := w.jobs.Heartbeat(ctx, jobIDs, workerName, w.cfg.Now()); err != nil {
		return nil, fmt.Errorf("wdpost heartbeat from %q: %w", workerName, err)
	}
	return nil, nil
}

// WdPoStFinishJob records a worker's result and wakes the poster waiting
// for it.
func (w *Worker) WdPoStFinishJob(ctx context.Context, jobID string, output *rpc.WindowPoStOutput, errorReason string) (rpc.Meta, error) {
	var raw []byte
	var faults uint32
	if output != nil && errorReason == "" {
		var err error
		if raw, err = json.Marshal(output); err != nil {
			return nil, fmt.Errorf("encode the output of wdpost job %s: %w", jobID, err)
		}
		faults = uint32(len(output.Faults))
	} else if errorReason == "" {
		errorReason = "the worker finished the job with neither output nor error"
	}
	if err := w.jobs.Finish(ctx, jobID, raw, faults, errorReason, w.cfg.Now()); err != nil {
		return nil, fmt.Errorf("finish wdpost job: %w", err)
	}
	switch {
	case errorReason != "":
		w.metrics.finished.WithLabelValues("error").Inc()
		log.Warnw("wdpost job failed on its worker", "job", jobID, "error", errorReason)
	case faults > 0:
		w.metrics.finished.WithLabelValues("faults").Inc()
		log.Infow("wdpost job finished", "job", jobID, "faults", faults)
	default:
		w.metrics.finished.WithLabelValues("ok").Inc()
		log.Infow("wdpost job finished", "job", jobID, "proofs", len(output.Proofs))
	}
	w.wake(jobID)
	return nil, nil
}

// WdPoStResetJob puts a job back in the queue with no tries.
func (w *Worker) WdPoStResetJob(ctx context.Context, jobID string) (rpc.Meta, error) {
	if err := w.jobs.Reset(ctx, jobID, w.cfg.Now()); err != nil {
		return nil, err
	}
	log.Infow("wdpost job reset", "job", jobID)
	w.wake(jobID)
	return nil, nil
}

// WdPoStRemoveJob deletes a job; a poster waiting for it queues it again.
func (w *Worker) WdPoStRemoveJob(ctx context.Context, jobID string) (rpc.Meta, error) {
	if err := w.jobs.Remove(ctx, jobID); err != nil {
		return nil, err
	}
	log.Infow("wdpost job removed", "job", jobID)
	w.wake(jobID)
	return nil, nil
}

// WdPoStAllJobs lists every job, newest first.
func (w *Worker) WdPoStAllJobs(ctx context.Context) (rpc.AllWdPoStJob, error) {
	jobs, err := w.jobs.List(ctx)
	if err != nil {
		return rpc.AllWdPoStJob{}, err
	}
	out := rpc.AllWdPoStJob{Jobs: make([]rpc.WdPoStJobBrief, 0, len(jobs)), MaxTry: w.cfg.Settings().JobMaxTry}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, rpc.WdPoStJobBrief{
			WdPoStJob: rpc.WdPoStJob{
				Id: j.ID, State: j.State, DeadlineIdx: j.DeadlineIndex, Partitions: j.Partitions,
				Input: rpc.WdPoStInput{MinerId: j.Miner}, TryNum: j.TryNum, ErrorReason: j.ErrorReason, WorkerName: j.WorkerName,
				StartedAt: unixOrZero(j.StartedAt), HeartbeatAt: unixOrZero(j.HeartbeatAt), FinishedAt: unixOrZero(j.FinishedAt),
				CreatedAt: unixOrZero(j.CreatedAt), UpdatedAt: unixOrZero(j.UpdatedAt),
			},
			Sectors: j.Sectors,
			Faults:  j.Faults,
		})
	}
	return out, nil
}

func unixOrZero(t time.Time) uint64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix())
}

type workerMetrics struct {
	created, allocated, heartbeatTimeouts prometheus.Counter
	finished                              *prometheus.CounterVec
	wait                                  prometheus.Histogram
}

func newWorkerMetrics(reg prometheus.Registerer) (*workerMetrics, error) {
	m := &workerMetrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "damocles_wdpost_jobs_created_total", Help: "WindowPoSt jobs queued for workers.",
		}),
		allocated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "damocles_wdpost_jobs_allocated_total", Help: "WindowPoSt jobs handed to workers (retries included).",
		}),
		heartbeatTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "damocles_wdpost_jobs_heartbeat_timeouts_total", Help: "Running WindowPoSt jobs failed because their worker stopped sending heartbeats.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "damocles_wdpost_jobs_finished_total", Help: "WindowPoSt job results by outcome: ok, faults, error (from the worker), rejected (proof does not verify).",
		}, []string{"result"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "damocles_wdpost_job_wait_seconds", Help: "Time the poster waited for a WindowPoSt job, queueing to result.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}),
	}
	for _, c := range []prometheus.Collector{m.created, m.allocated, m.heartbeatTimeouts, m.finished, m.wait} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register worker prover metrics: %w", err)
		}
	}
	return m, nil
}
