package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// ResubmitWaitDefault is how long a thread waits after a Failed poll before
// it resubmits with reset, damocles-worker's 30s.
const ResubmitWaitDefault = 30 * time.Second

// ThreadConfig is what one sealing thread runs with.
type ThreadConfig struct {
	// Index is the thread's position among [[sealing_thread]], for logs.
	Index int
	// Location is the thread's sealing store, initialised by
	// `store sealing-init`; the thread keeps its state file and the
	// sector's scratch files there.
	Location string
	// Sealing is the thread's [sealing] settings ((*config.Worker).ThreadSealing).
	Sealing config.Sealing
	// Attached are the persist stores sealed sectors may go to; read-only
	// ones are never offered to StoreReserveSpace.
	Attached []config.Attached
	// Instance is the worker's name, reported with every state change.
	Instance string
	// Sealer is the manager.
	Sealer SealerAPI
	// Stages computes the proofs; several threads share one.
	Stages Stages
	// ResubmitWait is the pause after a Failed on-chain poll; zero means
	// ResubmitWaitDefault.
	ResubmitWait time.Duration
}

// ThreadStatus is what a sealing thread is doing, as WorkerPing counts it.
type ThreadStatus string

const (
	// ThreadEmpty has no sector (or WindowPoSt job): it is asking for one
	// or waiting to.
	ThreadEmpty ThreadStatus = "Empty"
	// ThreadRunning is computing or calling the manager for its sector.
	ThreadRunning ThreadStatus = "Running"
	// ThreadWaiting is waiting for the chain, the manager, or a retry.
	ThreadWaiting ThreadStatus = "Waiting"
	// ThreadPaused stopped on a permanent or critical failure of its sector.
	ThreadPaused ThreadStatus = "Paused"
	// ThreadErrors cannot run at all (its state file is unreadable).
	ThreadErrors ThreadStatus = "Errors"
)

// Thread is one [[sealing_thread]] running plan sealer: it asks the manager
// for a sector, seals it step by step, persists it, and starts over. Its
// progress survives restarts in ThreadStateFile.
type Thread struct {
	cfg        ThreadConfig
	spec       rpc.AllocateSectorSpec
	candidates []string
	stores     map[string]string // attached instance name → location

	mu     sync.Mutex
	status ThreadStatus
	sector *abi.SectorID
	state  SectorState
}

// NewThread checks cfg and returns an idle thread; nothing runs until Run.
func NewThread(cfg ThreadConfig) (*Thread, error) {
	if cfg.Location == "" || cfg.Sealer == nil || cfg.Stages == nil {
		return nil, fmt.Errorf("sealing_thread[%d]: a sealer thread needs a location, a manager and stages", cfg.Index)
	}
	if cfg.ResubmitWait == 0 {
		cfg.ResubmitWait = ResubmitWaitDefault
	}
	spec, err := allocateSpec(cfg.Sealing)
	if err != nil {
		return nil, fmt.Errorf("sealing_thread[%d]: %w", cfg.Index, err)
	}
	t := &Thread{cfg: cfg, spec: spec, stores: map[string]string{}, status: ThreadEmpty, state: StateEmpty}
	for _, a := range cfg.Attached {
		t.stores[a.InstanceName()] = a.Location
		if !a.Readonly {
			t.candidates = append(t.candidates, a.InstanceName())
		}
	}
	return t, nil
}

// NewSealerThreads builds a Thread for every [[sealing_thread]] whose plan is
// sealer, sharing stages and the manager.
func NewSealerThreads(cfg *config.Worker, instance string, sealer SealerAPI, stages Stages) ([]*Thread, error) {
	var threads []*Thread
	for i, st := range cfg.SealingThreads {
		if st.PlanName() != config.PlanSealer {
			continue
		}
		t, err := NewThread(ThreadConfig{
			Index: i, Location: st.Location, Sealing: cfg.ThreadSealing(i), Attached: cfg.AttachedStores(),
			Instance: instance, Sealer: sealer, Stages: stages,
		})
		if err != nil {
			return nil, err
		}
		threads = append(threads, t)
	}
	return threads, nil
}

// allocateSpec turns allowed_miners and allowed_sizes into AllocateSector's
// filter. Every size allows its V1_1, SyntheticPoRep and NI-PoRep proof
// types, as damocles-worker sends them (32GiB → [8, 13, 18]).
func allocateSpec(s config.Sealing) (rpc.AllocateSectorSpec, error) {
	miners, sizes, err := allowedMinersAndSizes(s)
	spec := rpc.AllocateSectorSpec{AllowedMiners: miners, AllowedProofTypes: []abi.RegisteredSealProof{}}
	for _, v11 := range sizes {
		spec.AllowedProofTypes = append(spec.AllowedProofTypes, v11, v11+5, v11+10)
	}
	return spec, err
}

// allowedMinersAndSizes reads allowed_miners, and allowed_sizes as each
// size's V1_1 seal proof; the lists are empty, not nil, when the config
// has none, as the worker sends [] for "any".
func allowedMinersAndSizes(s config.Sealing) ([]abi.ActorID, []abi.RegisteredSealProof, error) {
	miners := make([]abi.ActorID, 0, len(s.AllowedMiners))
	for _, m := range s.AllowedMiners {
		miners = append(miners, abi.ActorID(m))
	}
	sizes := make([]abi.RegisteredSealProof, 0, len(s.AllowedSizes))
	for _, name := range s.AllowedSizes {
		size, err := config.ParseSectorSize(name)
		if err != nil {
			return miners, sizes, fmt.Errorf("allowed_sizes: %w", err)
		}
		v11, err := sealProofOfSize(abi.SectorSize(size))
		if err != nil {
			return miners, sizes, fmt.Errorf("allowed_sizes: %w", err)
		}
		sizes = append(sizes, v11)
	}
	return miners, sizes, nil
}

// sealProofOfSize is the V1_1 seal proof of a sector size.
func sealProofOfSize(size abi.SectorSize) (abi.RegisteredSealProof, error) {
	for p := abi.RegisteredSealProof_StackedDrg2KiBV1_1; p <= abi.RegisteredSealProof_StackedDrg64GiBV1_1; p++ {
		if s, err := proofs.SealProofSectorSize(p); err == nil && s == size {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no seal proof for sector size %d", size)
}

// Status is what the thread is doing now.
func (t *Thread) Status() ThreadStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

// Sector is the sector the thread works on and its state; ok is false
// while the thread is idle.
func (t *Thread) Sector() (id abi.SectorID, state SectorState, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sector == nil {
		return abi.SectorID{}, StateEmpty, false
	}
	return *t.sector, t.state, true
}

func (t *Thread) setStatus(s ThreadStatus) {
	t.mu.Lock()
	t.status = s
	t.mu.Unlock()
}

func (t *Thread) setSector(r *SectorRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r == nil {
		t.sector, t.state = nil, StateEmpty
		return
	}
	id := r.ID()
	t.sector, t.state = &id, r.State
}

// SummarizeThreads counts threads, of any plan, by status for WorkerPing.
func SummarizeThreads[T interface{ Status() ThreadStatus }](threads []T) rpc.WorkerThreadsSummary {
	s := rpc.WorkerThreadsSummary{Threads: uint(len(threads))}
	for _, t := range threads {
		switch t.Status() {
		case ThreadEmpty:
			s.Empty++
		case ThreadRunning:
			s.Running++
		case ThreadWaiting:
			s.Waiting++
		case ThreadPaused:
			s.Paused++
		case ThreadErrors:
			s.Errors++
		}
	}
	return s
}

// Run seals sectors until ctx ends: it resumes the sector of the state file
// if there is one, then asks for new ones. It returns nil when ctx ends;
// a paused thread stays in Run, doing nothing, until then.
func (t *Thread) Run(ctx context.Context) error {
	rec, err := loadRecord(t.cfg.Location)
	if err != nil {
		log.Errorw("sealing thread cannot start", "thread", t.cfg.Index, "location", t.cfg.Location, "error", err)
		t.setStatus(ThreadErrors)
		<-ctx.Done()
		return nil
	}
	if rec != nil {
		log.Infow("resuming sector", "thread", t.cfg.Index, "sector", rec.ID(), "state", rec.State)
	}
	for {
		if rec == nil {
			if rec = t.allocate(ctx); rec == nil {
				return nil
			}
		}
		if !t.seal(ctx, rec) {
			<-ctx.Done()
			return nil
		}
		rec = nil
		t.setSector(nil)
		t.setStatus(ThreadEmpty)
		if t.sleep(ctx, t.cfg.Sealing.SealInterval.Std(), ThreadEmpty) != nil {
			return nil
		}
	}
}

// sleep waits d, showing status meanwhile; it returns ctx's error if ctx
// ends first.
func (t *Thread) sleep(ctx context.Context, d time.Duration, status ThreadStatus) error {
	t.setStatus(status)
	return sleepCtx(ctx, d)
}

// allocate asks the manager for a sector until it gets one, waiting
// recover_interval after each empty answer or error. It returns nil when
// ctx ends.
func (t *Thread) allocate(ctx context.Context) *SectorRecord {
	for {
		t.setStatus(ThreadEmpty)
		sector, err := t.cfg.Sealer.AllocateSector(ctx, t.spec)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			log.Warnw("AllocateSector failed", "thread", t.cfg.Index, "error", err)
		case sector != nil:
			rec := &SectorRecord{State: StateAllocated, Sector: *sector}
			if err := saveRecord(t.cfg.Location, rec); err != nil {
				// Without its state file the thread would lose the sector at
				// the next restart; give it back rather than seal it.
				log.Errorw("cannot save sealing thread state", "thread", t.cfg.Index, "sector", sector.ID, "error", err)
				t.reportAborted(ctx, sector.ID, fmt.Sprintf("worker cannot save its state: %v", err))
			} else {
				t.setSector(rec)
				t.setStatus(ThreadRunning)
				t.report(ctx, rec, StateEmpty, "AllocateSector", nil)
				return rec
			}
		}
		if t.sleep(ctx, t.cfg.Sealing.RecoverInterval.Std(), ThreadEmpty) != nil {
			return nil
		}
	}
}

// seal runs rec's state machine to its end. It returns true when the
// thread may take another sector (finished, aborted, or finalized by the
// manager), false when it paused or ctx ended.
func (t *Thread) seal(ctx context.Context, rec *SectorRecord) bool {
	t.setSector(rec)
	retries := uint32(0)
	for rec.State != StateFinished && rec.State != StateAborted {
		t.setStatus(ThreadRunning)
		next := *rec
		state, event, err := t.step(ctx, &next)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			prev := rec.State
			next.State = state
			if err := saveRecord(t.cfg.Location, &next); err != nil {
				return t.pause(ctx, rec, critical(fmt.Errorf("save state %s: %w", state, err)))
			}
			*rec = next
			t.setSector(rec)
			retries = 0
			if resp, ok := t.report(ctx, rec, prev, event, nil); ok && resp.Finalized {
				log.Warnw("the manager has finalized the sector; dropping the local copy", "sector", rec.ID(), "reason", resp.AbortReason)
				return t.cleanup(ctx, rec)
			}
			continue
		}
		level := failureLevel(err)
		if level == Temporary {
			if retries < t.cfg.Sealing.MaxRetries {
				retries++
				log.Warnw("step failed, will retry", "sector", rec.ID(), "state", rec.State, "retry", retries, "error", err)
				t.report(ctx, rec, rec.State, "Retry", &rpc.SectorFailure{Level: string(Temporary), Desc: err.Error()})
				if t.sleep(ctx, t.cfg.Sealing.RecoverInterval.Std(), ThreadWaiting) != nil {
					return false
				}
				continue
			}
			err = permanent(fmt.Errorf("after %d retries: %w", retries, err))
			level = Permanent
		}
		if level == Abort {
			prev := rec.State
			rec.State, rec.AbortReason = StateAborted, err.Error()
			if serr := saveRecord(t.cfg.Location, rec); serr != nil {
				log.Errorw("cannot save aborted state", "sector", rec.ID(), "error", serr)
			}
			t.setSector(rec)
			t.report(ctx, rec, prev, "Abort", &rpc.SectorFailure{Level: string(Abort), Desc: err.Error()})
			break
		}
		return t.pause(ctx, rec, err)
	}
	if rec.State == StateAborted {
		return t.finishAbort(ctx, rec)
	}
	return t.finish(ctx, rec)
}

// pause reports a permanent or critical failure and leaves the thread
// paused: its sector stays where it is for an operator.
func (t *Thread) pause(ctx context.Context, rec *SectorRecord, err error) bool {
	level := failureLevel(err)
	log.Errorw("sealing thread paused", "thread", t.cfg.Index, "sector", rec.ID(), "state", rec.State, "level", level, "error", err)
	t.report(ctx, rec, rec.State, "Paused", &rpc.SectorFailure{Level: string(level), Desc: err.Error()})
	t.setStatus(ThreadPaused)
	return false
}

// finish tells the manager the sector is done and drops the local copy.
// The state file says Finished until both are done, so a restart redoes
// them.
func (t *Thread) finish(ctx context.Context, rec *SectorRecord) bool {
	if !t.retryCall(ctx, "ReportFinalized", rec, func() error {
		_, err := t.cfg.Sealer.ReportFinalized(ctx, rec.ID())
		return err
	}) {
		return false
	}
	log.Infow("sector sealed", "thread", t.cfg.Index, "sector", rec.ID(), "store", rec.PersistInstance)
	return t.cleanup(ctx, rec)
}

// finishAbort tells the manager the sector is abandoned and drops the
// local copy.
func (t *Thread) finishAbort(ctx context.Context, rec *SectorRecord) bool {
	if !t.reportAborted(ctx, rec.ID(), rec.AbortReason) {
		return false
	}
	log.Warnw("sector aborted", "thread", t.cfg.Index, "sector", rec.ID(), "reason", rec.AbortReason)
	return t.cleanup(ctx, rec)
}

func (t *Thread) reportAborted(ctx context.Context, id abi.SectorID, reason string) bool {
	return t.retryCall(ctx, "ReportAborted", &SectorRecord{Sector: rpc.AllocatedSector{ID: id}}, func() error {
		_, err := t.cfg.Sealer.ReportAborted(ctx, id, reason)
		return err
	})
}

// retryCall calls the manager until it answers, waiting recover_interval
// between tries: these calls end a sector and must not be skipped. It
// returns false when ctx ends first.
func (t *Thread) retryCall(ctx context.Context, method string, rec *SectorRecord, call func() error) bool {
	for {
		err := call()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warnw(method+" failed, will retry", "sector", rec.ID(), "error", err)
		if t.sleep(ctx, t.cfg.Sealing.RecoverInterval.Std(), ThreadWaiting) != nil {
			return false
		}
	}
}

// cleanup removes the sector's local files and then the state file, in
// that order, so a crash in between cleans up again at restart.
func (t *Thread) cleanup(ctx context.Context, rec *SectorRecord) bool {
	err := errors.Join(removeSectorScratch(t.cfg.Location, rec.ID()), removeRecord(t.cfg.Location))
	if err != nil {
		return t.pause(ctx, rec, critical(fmt.Errorf("remove local files: %w", err)))
	}
	return true
}

// report sends a state change; the state is already saved, so a failed
// report is logged and the thread goes on (the next report catches the
// manager up). ok is false when the manager did not answer.
func (t *Thread) report(ctx context.Context, rec *SectorRecord, prev SectorState, event string, failure *rpc.SectorFailure) (rpc.SectorStateResp, bool) {
	resp, err := t.cfg.Sealer.ReportState(ctx, rec.ID(), rpc.ReportStateReq{
		Worker:      rpc.WorkerIdentifier{Instance: t.cfg.Instance, Location: t.cfg.Location},
		StateChange: rpc.SectorStateChange{Prev: string(prev), Next: string(rec.State), Event: event},
		Failure:     failure,
	})
	if err != nil {
		log.Warnw("ReportState failed", "sector", rec.ID(), "state", rec.State, "error", err)
		return resp, false
	}
	return resp, true
}
