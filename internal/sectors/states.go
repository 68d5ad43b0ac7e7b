package sectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// Sector is the manager's record of a sector; see store.Sector.
type Sector = store.Sector

// Which selects sectors by state in States.List.
type Which int

// Sector selections.
const (
	AllSectors Which = iota
	// OnlineSectors are being sealed.
	OnlineSectors
	// OfflineSectors are finalized or aborted.
	OfflineSectors
)

// States keeps the state of sectors: online while a worker seals them,
// then finalized or aborted for good, with the worker's latest report.
// Each change is one transaction.
type States struct {
	sectors *store.Sectors
	now     func() time.Time
}

// NewStates returns the sector states stored in db; now stamps changes
// (nil means time.Now).
func NewStates(db *store.DB, now func() time.Time) *States {
	if now == nil {
		now = time.Now
	}
	return &States{sectors: db.Sectors(), now: now}
}

// Create records a new online sector outside number allocation (a rebuilt
// or imported sector). A sector that already has a state is an error
// wrapping ErrSectorExists.
func (s *States) Create(ctx context.Context, id abi.SectorID, proof abi.RegisteredSealProof) (Sector, error) {
	now := s.now()
	rec := Sector{ID: id, ProofType: proof, State: store.SectorOnline, CreatedAt: now, UpdatedAt: now}
	if err := s.sectors.Create(ctx, rec); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Sector{}, fmt.Errorf("create sector %s: %w", proofs.SectorName(id), ErrSectorExists)
		}
		return Sector{}, err
	}
	return s.sectors.Get(ctx, id)
}

// Get returns the state of a sector, online or not, or an error wrapping
// ErrSectorNotFound.
func (s *States) Get(ctx context.Context, id abi.SectorID) (Sector, error) {
	rec, err := s.sectors.Get(ctx, id)
	return rec, notFound(err, id)
}

// List returns the sectors which selects, of one miner or, with miner 0,
// of all, ordered by miner and number.
func (s *States) List(ctx context.Context, which Which, miner abi.ActorID) ([]Sector, error) {
	f := store.SectorFilter{Miner: miner}
	switch which {
	case AllSectors:
	case OnlineSectors:
		f.States = []store.SectorState{store.SectorOnline}
	case OfflineSectors:
		f.States = []store.SectorState{store.SectorFinalized, store.SectorAborted}
	default:
		return nil, fmt.Errorf("list sectors: unknown selection %d", which)
	}
	return s.sectors.List(ctx, f)
}

// errOffline stops a ReportState update of an offline sector.
var errOffline = errors.New("sector is offline")

// ReportState stores a worker's report as the latest state of an online
// sector: the state it reached and the failure it hit, a report without a
// failure clearing the previous one. An offline sector is left as it is,
// as in damocles; either way the answer tells the worker whether the
// sector is finalized (it then drops its copy) and why it was aborted.
func (s *States) ReportState(ctx context.Context, id abi.SectorID, req rpc.ReportStateReq) (rpc.SectorStateResp, error) {
	var offline Sector
	rec, err := s.sectors.Update(ctx, id, func(cur *Sector) error {
		if !cur.State.Online() {
			offline = *cur
			return errOffline
		}
		cur.Worker = store.SectorWorkerReport{
			Instance: req.Worker.Instance, Location: req.Worker.Location,
			State: req.StateChange.Next, Event: req.StateChange.Event,
		}
		if f := req.Failure; f != nil {
			cur.Worker.FailureLevel, cur.Worker.FailureDesc = f.Level, f.Desc
		}
		cur.UpdatedAt = s.now()
		return nil
	})
	if errors.Is(err, errOffline) {
		rec, err = offline, nil
	}
	if err != nil {
		return rpc.SectorStateResp{}, notFound(err, id)
	}
	return StateResp(rec), nil
}

// StateResp is the sealer API's view of a sector's state.
func StateResp(rec Sector) rpc.SectorStateResp {
	return rpc.SectorStateResp{ID: rec.ID, Finalized: !rec.State.Online(), AbortReason: rec.AbortReason}
}

// Finalize takes a sector offline as finalized (the worker finished it)
// and releases its store reservation. A sector already offline is left as
// it is, so a retried report is harmless.
func (s *States) Finalize(ctx context.Context, id abi.SectorID) (Sector, error) {
	return s.finish(ctx, id, store.SectorFinalized, "")
}

// Abort takes a sector offline as aborted, keeping reason for the worker
// and the operator, and releases its store reservation. A sector already
// offline is left as it is.
func (s *States) Abort(ctx context.Context, id abi.SectorID, reason string) (Sector, error) {
	return s.finish(ctx, id, store.SectorAborted, reason)
}

func (s *States) finish(ctx context.Context, id abi.SectorID, state store.SectorState, reason string) (Sector, error) {
	rec, changed, err := s.sectors.Finish(ctx, id, state, reason, s.now())
	if err != nil {
		return Sector{}, notFound(err, id)
	}
	if changed {
		log.Infow("sector "+string(state), "sector", proofs.SectorName(id), "reason", reason)
	} else if rec.State != state {
		log.Warnw("sector already offline, left as it is", "sector", proofs.SectorName(id),
			"state", rec.State, "asked", state, "reason", reason)
	}
	return rec, nil
}

// notFound turns the store's ErrNotFound for sector id into
// ErrSectorNotFound.
func notFound(err error, id abi.SectorID) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sector %s: %w", proofs.SectorName(id), ErrSectorNotFound)
	}
	return err
}
