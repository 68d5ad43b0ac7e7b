package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// step runs the step that leaves r.State, filling r with what it produced,
// and returns the next state and the event to report. The caller saves r
// and reports only when step succeeds, so every step can be rerun after a
// crash: it must be idempotent.
func (t *Thread) step(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	switch r.State {
	case StateAllocated:
		return t.acquireDeals(ctx, r)
	case StateDealsAcquired:
		return t.addPieces(r)
	case StatePieceAdded:
		// devproof's PC1 builds tree-d from the staged file itself; the
		// state is kept so reports match damocles-worker's sequence.
		return StateTreeDBuilt, "BuildTreeD", nil
	case StateTreeDBuilt:
		return t.assignTicket(ctx, r)
	case StateTicketAssigned:
		return t.pc1(ctx, r)
	case StatePC1Done:
		return t.pc2(ctx, r)
	case StatePC2Done:
		return t.submitPreCommit(ctx, r)
	case StatePCSubmitted:
		return t.pollPreCommit(ctx, r)
	case StatePCLanded:
		return t.persist(ctx, r)
	case StatePersisted:
		return t.submitPersisted(ctx, r)
	case StatePersistanceSubmitted:
		return t.waitSeed(ctx, r)
	case StateSeedAssigned:
		return t.c1(ctx, r)
	case StateC1Done:
		return t.c2(ctx, r)
	case StateC2Done:
		return t.submitProof(ctx, r)
	case StateProofSubmitted:
		return t.pollProofAndFinalize(ctx, r)
	}
	return "", "", critical(fmt.Errorf("sector %v: state %q has no step in plan sealer", r.ID(), r.State))
}

func (t *Thread) stagedPath(r *SectorRecord) string {
	return filepath.Join(t.cfg.Location, unsealedDirName, proofs.SectorName(r.ID()))
}
func (t *Thread) sealedPath(r *SectorRecord) string { return proofs.SealedPath(t.cfg.Location, r.ID()) }
func (t *Thread) cacheDir(r *SectorRecord) string   { return proofs.CacheDirPath(t.cfg.Location, r.ID()) }

func (t *Thread) acquireDeals(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	if !t.cfg.Sealing.EnableDeals {
		return StateDealsAcquired, "AcquireDeals skipped: deals disabled", nil
	}
	spec := rpc.AcquireDealsSpec{MinUsedSpace: (*uint64)(t.cfg.Sealing.MinDealSpace)}
	if t.cfg.Sealing.MaxDeals != nil {
		n := uint(*t.cfg.Sealing.MaxDeals)
		spec.MaxDeals = &n
	}
	pieces, err := t.cfg.Sealer.AcquireDeals(ctx, r.ID(), spec)
	if err != nil {
		return "", "", err
	}
	if len(pieces) > 0 {
		// Writing deal data needs the piece download of §1.7, which this
		// worker does not have yet; stopping keeps the deals for an
		// operator instead of sealing a sector without them.
		return "", "", failf(Permanent, "sector %v got %d deal pieces, but this worker seals committed-capacity sectors only: set enable_deals = false", r.ID(), len(pieces))
	}
	return StateDealsAcquired, "AcquireDeals", nil
}

// addPieces writes the staged file of a committed-capacity sector: all
// zeros, created sparse.
func (t *Thread) addPieces(r *SectorRecord) (SectorState, string, error) {
	size, err := proofs.SealProofSectorSize(r.Sector.ProofType)
	if err != nil {
		return "", "", permanent(err)
	}
	path := t.stagedPath(r)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", "", critical(err)
	}
	f, err := os.Create(path)
	if err != nil {
		return "", "", critical(err)
	}
	err = errors.Join(f.Truncate(int64(size)), f.Sync(), f.Close())
	if err != nil {
		return "", "", critical(fmt.Errorf("staged file %s: %w", path, err))
	}
	return StatePieceAdded, "AddPieces", nil
}

func (t *Thread) assignTicket(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	ticket, err := t.cfg.Sealer.AssignTicket(ctx, r.ID())
	if err != nil {
		return "", "", err
	}
	if len(ticket.Ticket) != 32 {
		return "", "", failf(Temporary, "AssignTicket for sector %v: ticket is %d bytes, want 32", r.ID(), len(ticket.Ticket))
	}
	r.Ticket = &ticket
	return StateTicketAssigned, "AssignTicket", nil
}

func (t *Thread) pc1(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	out, err := t.cfg.Stages.PC1(ctx, r.Sector.ProofType, t.cacheDir(r), t.stagedPath(r), t.sealedPath(r),
		r.ID().Number, r.ID().Miner, abi.SealRandomness(r.Ticket.Ticket), r.Pieces)
	if err != nil {
		return "", "", temporary(fmt.Errorf("pc1: %w", err))
	}
	r.PC1Out = out
	return StatePC1Done, "PC1", nil
}

func (t *Thread) pc2(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	sealed, unsealed, err := t.cfg.Stages.PC2(ctx, r.PC1Out, t.cacheDir(r), t.sealedPath(r))
	if err != nil {
		return "", "", temporary(fmt.Errorf("pc2: %w", err))
	}
	commR, err := commcid.CIDToReplicaCommitmentV1(sealed)
	if err != nil {
		return "", "", permanent(fmt.Errorf("pc2 comm_r: %w", err))
	}
	commD, err := commcid.CIDToDataCommitmentV1(unsealed)
	if err != nil {
		return "", "", permanent(fmt.Errorf("pc2 comm_d: %w", err))
	}
	r.CommR, r.CommD = (*[32]byte)(commR), (*[32]byte)(commD)
	return StatePC2Done, "PC2", nil
}

// submitResult applies the worker's reaction to a submission's answer.
func submitResult(what string, id abi.SectorID, resp rpc.SubmitResp) error {
	desc := ""
	if resp.Desc != nil {
		desc = ": " + *resp.Desc
	}
	switch resp.Res {
	case rpc.SubmitAccepted, rpc.SubmitDuplicateSubmit:
		return nil
	case rpc.SubmitMismatchedSubmission:
		return failf(Permanent, "%s of sector %v mismatches what the manager recorded%s", what, id, desc)
	case rpc.SubmitRejected:
		return failf(Abort, "%s of sector %v rejected%s", what, id, desc)
	case rpc.SubmitFilesMissed:
		return failf(Permanent, "%s of sector %v: files missed%s", what, id, desc)
	}
	return failf(Permanent, "%s of sector %v: unknown submit result %d%s", what, id, resp.Res, desc)
}

func (t *Thread) submitPreCommit(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	resp, err := t.cfg.Sealer.SubmitPreCommit(ctx, r.Sector, rpc.PreCommitOnChainInfo{CommR: *r.CommR, CommD: *r.CommD, Ticket: *r.Ticket}, r.PreCommitReset)
	if err != nil {
		return "", "", err
	}
	if err := submitResult("pre-commit", r.ID(), resp); err != nil {
		return "", "", err
	}
	r.PreCommitReset = false
	return StatePCSubmitted, "SubmitPreCommit", nil
}

// pollOnChain polls until the message lands. resubmit is true when the
// message failed and must be submitted again with reset.
func (t *Thread) pollOnChain(ctx context.Context, what string, id abi.SectorID, poll func() (rpc.PollResp, error)) (resubmit bool, err error) {
	for {
		t.setStatus(ThreadRunning)
		resp, err := poll()
		if err != nil {
			return false, err
		}
		desc := ""
		if resp.Desc != nil {
			desc = ": " + *resp.Desc
		}
		switch resp.State {
		case rpc.OnChainPending, rpc.OnChainPacked:
			if err := t.sleep(ctx, t.cfg.Sealing.RPCPollingInterval.Std(), ThreadWaiting); err != nil {
				return false, err
			}
		case rpc.OnChainLanded:
			return false, nil
		case rpc.OnChainFailed:
			log.Warnw(what+" failed on chain, will resubmit", "sector", id, "desc", desc)
			if err := t.sleep(ctx, t.cfg.ResubmitWait, ThreadWaiting); err != nil {
				return false, err
			}
			return true, nil
		case rpc.OnChainNotFound:
			return false, failf(Permanent, "%s of sector %v not found%s", what, id, desc)
		case rpc.OnChainPermFailed:
			return false, failf(Permanent, "%s of sector %v permanently failed%s", what, id, desc)
		case rpc.OnChainShouldAbort:
			return false, failf(Abort, "%s of sector %v will never land%s", what, id, desc)
		default:
			return false, failf(Permanent, "%s of sector %v: unknown on-chain state %d%s", what, id, resp.State, desc)
		}
	}
}

func (t *Thread) pollPreCommit(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	resubmit, err := t.pollOnChain(ctx, "pre-commit", r.ID(), func() (rpc.PollResp, error) {
		return t.cfg.Sealer.PollPreCommitState(ctx, r.ID())
	})
	if err != nil {
		return "", "", err
	}
	if resubmit {
		r.PreCommitReset = true
		return StatePC2Done, "PreCommitFailed: resubmit", nil
	}
	return StatePCLanded, "PollPreCommitState", nil
}

// persist reserves space in a persist store and copies the sealed file and
// the finalized cache files there.
func (t *Thread) persist(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	size, err := proofs.SealProofSectorSize(r.Sector.ProofType)
	if err != nil {
		return "", "", permanent(err)
	}
	if len(t.candidates) == 0 {
		return "", "", failf(Permanent, "sector %v: no writable [[attached]] persist store to send it to", r.ID())
	}
	var store *rpc.StoreBasicInfo
	for {
		t.setStatus(ThreadRunning)
		store, err = t.cfg.Sealer.StoreReserveSpace(ctx, r.ID(), persistReserveSize(size), t.candidates)
		if err != nil {
			return "", "", err
		}
		if store != nil {
			break
		}
		if err := t.sleep(ctx, t.cfg.Sealing.RPCPollingInterval.Std(), ThreadWaiting); err != nil {
			return "", "", err
		}
	}
	dst, ok := t.stores[store.Name]
	if !ok {
		return "", "", failf(Permanent, "sector %v: the manager reserved space in store %q, which is not attached to this worker", r.ID(), store.Name)
	}
	if err := copySectorFiles(t.cfg.Location, dst, r.ID(), r.Sector.ProofType); err != nil {
		return "", "", temporary(fmt.Errorf("persist sector %v to %s: %w", r.ID(), store.Name, err))
	}
	r.PersistInstance = store.Name
	return StatePersisted, "Persist", nil
}

func (t *Thread) submitPersisted(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	ok, err := t.cfg.Sealer.SubmitPersistedEx(ctx, r.ID(), r.PersistInstance, false)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", failf(Permanent, "sector %v persisted but unavailable in store %s", r.ID(), r.PersistInstance)
	}
	return StatePersistanceSubmitted, "SubmitPersistedEx", nil
}

func (t *Thread) waitSeed(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	for {
		t.setStatus(ThreadRunning)
		resp, err := t.cfg.Sealer.WaitSeed(ctx, r.ID(), r.Sector.ProofType)
		if err != nil {
			return "", "", err
		}
		if resp.Seed != nil {
			if len(resp.Seed.Seed) != 32 {
				return "", "", failf(Temporary, "WaitSeed for sector %v: seed is %d bytes, want 32", r.ID(), len(resp.Seed.Seed))
			}
			r.Seed = resp.Seed
			return StateSeedAssigned, "WaitSeed", nil
		}
		if !resp.ShouldWait || resp.Delay <= 0 {
			return "", "", failf(Temporary, "WaitSeed for sector %v: no seed and no delay to wait", r.ID())
		}
		if err := t.sleep(ctx, time.Duration(resp.Delay)*time.Second, ThreadWaiting); err != nil {
			return "", "", err
		}
	}
}

// cids are the record's commitments as the engine takes them.
func (r *SectorRecord) cids() (sealed, unsealed cid.Cid, err error) {
	if sealed, err = commcid.ReplicaCommitmentV1ToCID(r.CommR[:]); err != nil {
		return cid.Undef, cid.Undef, err
	}
	unsealed, err = commcid.DataCommitmentV1ToCID(r.CommD[:])
	return sealed, unsealed, err
}

func (t *Thread) c1(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	sealed, unsealed, err := r.cids()
	if err != nil {
		return "", "", permanent(err)
	}
	out, err := t.cfg.Stages.C1(ctx, r.Sector.ProofType, sealed, unsealed, t.cacheDir(r), t.sealedPath(r),
		r.ID().Number, r.ID().Miner, abi.SealRandomness(r.Ticket.Ticket), abi.InteractiveSealRandomness(r.Seed.Seed), r.Pieces)
	if err != nil {
		return "", "", temporary(fmt.Errorf("c1: %w", err))
	}
	r.C1Out = out
	return StateC1Done, "C1", nil
}

func (t *Thread) c2(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	proof, err := t.cfg.Stages.C2(ctx, r.C1Out, r.ID().Number, r.ID().Miner)
	if err != nil {
		return "", "", temporary(fmt.Errorf("c2: %w", err))
	}
	r.Proof = proof
	// C1's output is large for big sectors and useless once C2 is done.
	r.C1Out = nil
	return StateC2Done, "C2", nil
}

func (t *Thread) submitProof(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	resp, err := t.cfg.Sealer.SubmitProof(ctx, r.ID(), rpc.ProofOnChainInfo{Proof: r.Proof}, r.ProofReset)
	if err != nil {
		return "", "", err
	}
	if err := submitResult("proof", r.ID(), resp); err != nil {
		return "", "", err
	}
	r.ProofReset = false
	return StateProofSubmitted, "SubmitProof", nil
}

// pollProofAndFinalize waits for the prove-commit to land (unless
// ignore_proof_check) and finalizes the local cache.
func (t *Thread) pollProofAndFinalize(ctx context.Context, r *SectorRecord) (SectorState, string, error) {
	if !t.cfg.Sealing.IgnoreProofCheck {
		resubmit, err := t.pollOnChain(ctx, "proof", r.ID(), func() (rpc.PollResp, error) {
			return t.cfg.Sealer.PollProofState(ctx, r.ID())
		})
		if err != nil {
			return "", "", err
		}
		if resubmit {
			r.ProofReset = true
			return StateC2Done, "ProofFailed: resubmit", nil
		}
	}
	if err := t.cfg.Stages.Finalize(ctx, r.Sector.ProofType, t.cacheDir(r)); err != nil {
		return "", "", temporary(fmt.Errorf("finalize: %w", err))
	}
	return StateFinished, "Finalize", nil
}
