package prover

import (
	"context"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/proofs"
)

// Prover computes PoSt proofs. Its methods have proofs.Engine's meaning: a
// sector whose files cannot be proven is listed in faulty, not an error;
// an error is for everything else (a lost processor, a bad input, ctx
// ended), and the caller may retry it.
type Prover interface {
	GenerateWindowPoSt(ctx context.Context, task WindowPoStTask) (proofs []proof.PoStProof, faulty []abi.SectorNumber, err error)
	GenerateWinningPoSt(ctx context.Context, miner abi.ActorID, proofType abi.RegisteredPoStProof, sectors []proofs.PrivateSectorInfo,
		randomness abi.PoStRandomness) ([]proof.PoStProof, error)
	// Name says which prover this is, for logs and metrics.
	Name() string
}

// WindowPoStTask is one WindowPoSt proof to compute: the sectors of some
// partitions of one deadline.
type WindowPoStTask struct {
	Miner      abi.ActorID
	ProofType  abi.RegisteredPoStProof
	Sectors    []proofs.PrivateSectorInfo
	Randomness abi.PoStRandomness
	// DeadlineIndex, DeadlineOpen and Partitions say what the proof is
	// for. Provers that compute it in place ignore them; the worker
	// prover records them with its job.
	DeadlineIndex uint64
	DeadlineOpen  abi.ChainEpoch
	Partitions    []uint64
}

// Local proves with an engine in this process.
type Local struct {
	Engine proofs.Engine
}

var _ Prover = Local{}

// Name is "local".
func (Local) Name() string { return "local" }

// GenerateWindowPoSt proves sectors with the engine. It returns when ctx
// ends even if the engine does not: a read blocked on hung storage
// ignores ctx, and the caller must be free to try again without that
// sector. The engine's goroutine is then left to finish on its own.
func (l Local) GenerateWindowPoSt(ctx context.Context, task WindowPoStTask) ([]proof.PoStProof, []abi.SectorNumber, error) {
	type result struct {
		proofs []proof.PoStProof
		faulty []abi.SectorNumber
		err    error
	}
	done := make(chan result, 1)
	go func() {
		p, f, err := l.Engine.GenerateWindowPoSt(ctx, task.Miner, task.ProofType, task.Sectors, task.Randomness)
		done <- result{p, f, err}
	}()
	select {
	case r := <-done:
		return r.proofs, r.faulty, r.err
	case <-ctx.Done():
		log.Warnw("local prover abandoned: it did not return in time (hung storage?)", "miner", task.Miner, "sectors", len(task.Sectors))
		return nil, nil, fmt.Errorf("local window PoSt of %d sectors: %w", len(task.Sectors), ctx.Err())
	}
}

// GenerateWinningPoSt proves sectors with the engine; the proof type comes
// from the sectors, as with filecoin-ffi.
func (l Local) GenerateWinningPoSt(ctx context.Context, miner abi.ActorID, _ abi.RegisteredPoStProof, sectors []proofs.PrivateSectorInfo,
	randomness abi.PoStRandomness) ([]proof.PoStProof, error) {
	return l.Engine.GenerateWinningPoSt(ctx, miner, sectors, randomness)
}
