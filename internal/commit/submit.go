package commit

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
)

// PreCommitInfo is a sector's pre-commit as a worker submits it after PC2.
// The expiration is not part of it: it is set when the message is built,
// from the miner's Sector.LifetimeDays and the chain's height then.
type PreCommitInfo struct {
	SealProof    abi.RegisteredSealProof
	SectorNumber abi.SectorNumber
	// SealedCID is comm_r, UnsealedCID comm_d, both as CIDs.
	SealedCID   cid.Cid
	UnsealedCID cid.Cid
	// Ticket is the seal randomness drawn at SealRandEpoch.
	Ticket        abi.SealRandomness
	SealRandEpoch abi.ChainEpoch
}

// rejection is a submission refused with a result other than Accepted.
type rejection struct {
	res  rpc.SubmitResult
	desc string
}

func (r *rejection) Error() string { return r.desc }

func reject(res rpc.SubmitResult, format string, args ...any) error {
	return &rejection{res: res, desc: fmt.Sprintf(format, args...)}
}

// submitted turns the outcome of a submission's update into its answer,
// and wakes Run when an accepted submission goes out alone.
func (m *Manager) submitted(mi *minerCfg, k kind, err error) (rpc.SubmitResult, string, error) {
	var r *rejection
	switch {
	case err == nil:
		if !k.policy(mi).Batch.Enabled {
			m.wake()
		}
		return rpc.SubmitAccepted, "", nil
	case errors.Is(err, errUnchanged):
		return rpc.SubmitAccepted, "", nil
	case errors.As(err, &r):
		return r.res, r.desc, nil
	case errors.Is(err, store.ErrNotFound):
		return 0, "", fmt.Errorf("%w: %w", sectors.ErrSectorNotFound, err)
	}
	return 0, "", err
}

// SubmitPreCommit records the pre-commit of sector, to be sent. A sector
// with a pre-commit recorded answers Accepted when info is the same and
// MismatchedSubmission when not, unless reset, which replaces a pre-commit
// whose message is not on its way (the worker resets after a Failed poll).
// An unknown sector is an error wrapping sectors.ErrSectorNotFound.
func (m *Manager) SubmitPreCommit(ctx context.Context, sector abi.SectorID, info PreCommitInfo, reset bool) (rpc.SubmitResult, string, error) {
	mi, err := m.minerOf(sector, preCommit)
	if err != nil {
		return 0, "", err
	}
	if info.SectorNumber != sector.Number {
		return rpc.SubmitRejected, fmt.Sprintf("pre-commit names sector number %d, submitted for %s", info.SectorNumber, proofs.SectorName(sector)), nil
	}
	commR, err := commcid.CIDToReplicaCommitmentV1(info.SealedCID)
	if err != nil {
		return rpc.SubmitRejected, fmt.Sprintf("sealed CID %s is not a replica commitment: %v", info.SealedCID, err), nil
	}
	commD, err := commcid.CIDToDataCommitmentV1(info.UnsealedCID)
	if err != nil {
		// damocles answers a bad comm_d as a mismatch: the worker pauses.
		return rpc.SubmitMismatchedSubmission, fmt.Sprintf("unsealed CID %s is not a data commitment: %v", info.UnsealedCID, err), nil
	}
	want := store.SectorPreCommit{Ticket: store.SectorRandomness{Value: info.Ticket, Epoch: info.SealRandEpoch}}
	copy(want.CommR[:], commR)
	copy(want.CommD[:], commD)

	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	_, err = m.sectors.Update(ctx, sector, func(s *store.Sector) error {
		if !s.State.Online() {
			return reject(rpc.SubmitRejected, "sector %s is %s", proofs.SectorName(sector), s.State)
		}
		if s.ProofType != info.SealProof {
			return reject(rpc.SubmitRejected, "seal proof %d differs from the sector's %d", info.SealProof, s.ProofType)
		}
		if t := s.Ticket; t != nil && (t.Epoch != info.SealRandEpoch || !bytes.Equal(t.Value, info.Ticket)) {
			return reject(rpc.SubmitMismatchedSubmission, "ticket (epoch %d) differs from the one assigned (epoch %d)", info.SealRandEpoch, t.Epoch)
		}
		if old := s.PreCommit; old != nil {
			same := old.CommR == want.CommR && old.CommD == want.CommD &&
				old.Ticket.Epoch == want.Ticket.Epoch && bytes.Equal(old.Ticket.Value, want.Ticket.Value)
			if err := resubmission(preCommit, sector, &old.Message, same, reset); err != nil {
				return err
			}
		}
		pc := want
		pc.Message = store.SectorMessage{State: uint64(rpc.OnChainPending)}
		s.PreCommit = &pc
		s.UpdatedAt = m.now()
		return nil
	})
	return m.submitted(mi, preCommit, err)
}

// SubmitProof records the PoRep proof of sector, to be sent once its
// pre-commit has landed, with the reset rules of SubmitPreCommit. A sector
// without a recorded pre-commit answers Rejected. The proof is not
// verified here: the chain judges it, and a bad one ends Failed.
func (m *Manager) SubmitProof(ctx context.Context, sector abi.SectorID, proof []byte, reset bool) (rpc.SubmitResult, string, error) {
	mi, err := m.minerOf(sector, proveCommit)
	if err != nil {
		return 0, "", err
	}
	if len(proof) == 0 {
		return rpc.SubmitRejected, "empty proof", nil
	}
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	_, err = m.sectors.Update(ctx, sector, func(s *store.Sector) error {
		if !s.State.Online() {
			return reject(rpc.SubmitRejected, "sector %s is %s", proofs.SectorName(sector), s.State)
		}
		if s.PreCommit == nil {
			return reject(rpc.SubmitRejected, "no pre-commit is recorded for %s", proofs.SectorName(sector))
		}
		if old := s.Commit; old != nil {
			if err := resubmission(proveCommit, sector, &old.Message, bytes.Equal(old.Proof, proof), reset); err != nil {
				return err
			}
		}
		s.Commit = &store.SectorCommit{Proof: bytes.Clone(proof), Message: store.SectorMessage{State: uint64(rpc.OnChainPending)}}
		s.UpdatedAt = m.now()
		return nil
	})
	return m.submitted(mi, proveCommit, err)
}

// errUnchanged ends an update that has nothing to write.
var errUnchanged = errors.New("unchanged")

// resubmission applies the reset rules to a submission of kind k for a
// sector that has one recorded already, whose message is old: nil lets the
// new value replace the old one. The same value is accepted unchanged
// unless a reset asks to send it again after a failure; a different one
// needs a reset, and never replaces a message on its way or landed, which
// would then be sent twice.
func resubmission(k kind, sector abi.SectorID, old *store.SectorMessage, same, reset bool) error {
	switch {
	case same && (!reset || inFlight(old) || state(old) == rpc.OnChainPending):
		return errUnchanged
	case !reset:
		return reject(rpc.SubmitMismatchedSubmission, "a different %s is already recorded for %s", k, proofs.SectorName(sector))
	case inFlight(old):
		return reject(rpc.SubmitMismatchedSubmission, "a different %s of %s is already %s in message %s; it cannot be reset",
			k, proofs.SectorName(sector), stateName(state(old)), old.CID)
	}
	return nil
}

// minerOf returns the configured miner of sector, or an error saying what
// to configure.
func (m *Manager) minerOf(sector abi.SectorID, k kind) (*minerCfg, error) {
	mi, ok := m.miners[sector.Miner]
	if !ok {
		return nil, fmt.Errorf("%s of %s: miner %d is not configured in [[Miners]]", k, proofs.SectorName(sector), sector.Miner)
	}
	if !k.policy(mi).Sender.IsSet() {
		return nil, fmt.Errorf("%s of %s: %w: set %s.Commitment.%s.Sender to a control address of miner %d in sector-manager.cfg",
			k, proofs.SectorName(sector), ErrNoSender, mi.key, k.policyName(), sector.Miner)
	}
	return mi, nil
}

// PollPreCommitState says where the pre-commit message of sector stands;
// NotFound when the sector or its pre-commit is unknown.
func (m *Manager) PollPreCommitState(ctx context.Context, sector abi.SectorID) (rpc.OnChainState, string, error) {
	return m.poll(ctx, sector, preCommit)
}

// PollProofState says where the prove-commit message of sector stands;
// NotFound when the sector or its proof is unknown.
func (m *Manager) PollProofState(ctx context.Context, sector abi.SectorID) (rpc.OnChainState, string, error) {
	return m.poll(ctx, sector, proveCommit)
}

func (m *Manager) poll(ctx context.Context, sector abi.SectorID, k kind) (rpc.OnChainState, string, error) {
	s, err := m.sectors.Get(ctx, sector)
	if errors.Is(err, store.ErrNotFound) {
		return rpc.OnChainNotFound, fmt.Sprintf("sector %s is unknown", proofs.SectorName(sector)), nil
	}
	if err != nil {
		return 0, "", err
	}
	msg := k.message(&s)
	if msg == nil {
		return rpc.OnChainNotFound, fmt.Sprintf("no %s is recorded for %s", k, proofs.SectorName(sector)), nil
	}
	st := state(msg)
	if st == 0 {
		// Rust cannot decode 0; a row written without a state is still to be sent.
		st = rpc.OnChainPending
	}
	return st, msg.Desc, nil
}

func stateName(st rpc.OnChainState) string {
	switch st {
	case rpc.OnChainPending:
		return "pending"
	case rpc.OnChainPacked:
		return "packed"
	case rpc.OnChainLanded:
		return "landed"
	case rpc.OnChainNotFound:
		return "not found"
	case rpc.OnChainFailed:
		return "failed"
	case rpc.OnChainPermFailed:
		return "permanently failed"
	case rpc.OnChainShouldAbort:
		return "to abort"
	}
	return fmt.Sprintf("state %d", st)
}
