package prover

import (
	"context"
	"errors"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
)

// Ext proves through external processors: one pool for [[WdPost]] and one
// for [[WinPost]]. A kind without processors is proven by Fallback.
type Ext struct {
	window   *extproc.Pool
	winning  *extproc.Pool
	fallback Prover
}

var _ Prover = (*Ext)(nil)

// NewExt starts the processors of cfg and waits until they are ready
// (ctx bounds only that). selfBin is the program a block without Bin runs
// as "selfBin processor <stage>": damocles-worker, whose processors
// compute proofs with the built-in engine. fallback proves the kinds cfg
// has no processors for; nil makes such a proof an error.
func NewExt(ctx context.Context, cfg *config.ExtProver, selfBin string, fallback Prover) (*Ext, error) {
	if len(cfg.WdPost) == 0 && len(cfg.WinPost) == 0 {
		return nil, errors.New("ext-prover: ext-prover.cfg lists no [[WdPost]] nor [[WinPost]] processor: add one, or run without --ext-prover")
	}
	e := &Ext{fallback: fallback}
	var err error
	if len(cfg.WdPost) > 0 {
		// A proof the poster stops waiting for is worthless: a processor
		// stuck on it is killed and restarted rather than left holding
		// its slot through the deadline.
		e.window, err = extproc.NewPool(ctx, extproc.PoolConfig{Stage: stage.WindowPoSt, KillAbandoned: true,
			Children: extproc.ChildrenFromExtProver(stage.WindowPoSt, cfg.WdPost, selfBin)})
		if err != nil {
			return nil, fmt.Errorf("ext-prover [[WdPost]]: %w", err)
		}
	}
	if len(cfg.WinPost) > 0 {
		e.winning, err = extproc.NewPool(ctx, extproc.PoolConfig{Stage: stage.WinningPoSt, KillAbandoned: true,
			Children: extproc.ChildrenFromExtProver(stage.WinningPoSt, cfg.WinPost, selfBin)})
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("ext-prover [[WinPost]]: %w", err)
		}
	}
	log.Infow("ext-prover started", "window_post", len(cfg.WdPost), "winning_post", len(cfg.WinPost))
	return e, nil
}

// Name is "ext".
func (e *Ext) Name() string { return "ext" }

// Close stops every processor.
func (e *Ext) Close() error {
	var errs []error
	for _, p := range []*extproc.Pool{e.window, e.winning} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}

// GenerateWindowPoSt sends one window_post task. A processor that reports
// faulty sectors answers no proof: they come back in faulty, for the
// caller to prove the rest again.
func (e *Ext) GenerateWindowPoSt(ctx context.Context, wt WindowPoStTask) ([]proof.PoStProof, []abi.SectorNumber, error) {
	if e.window == nil {
		if e.fallback == nil {
			return nil, nil, errors.New("ext-prover: no [[WdPost]] processor configured")
		}
		return e.fallback.GenerateWindowPoSt(ctx, wt)
	}
	task, err := stage.NewPoStTask(wt.Miner, wt.ProofType, wt.Sectors, wt.Randomness)
	if err != nil {
		return nil, nil, err
	}
	out, err := stage.CallWindowPoSt(ctx, e.window, task)
	var faults *stage.FaultsError
	if errors.As(err, &faults) {
		faulty := make([]abi.SectorNumber, len(faults.Sectors))
		for i, n := range faults.Sectors {
			faulty[i] = abi.SectorNumber(n)
		}
		return nil, faulty, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return out.PoStProofs(wt.ProofType), nil, nil
}

// GenerateWinningPoSt sends one winning_post task.
func (e *Ext) GenerateWinningPoSt(ctx context.Context, miner abi.ActorID, proofType abi.RegisteredPoStProof, sectors []proofs.PrivateSectorInfo,
	randomness abi.PoStRandomness) ([]proof.PoStProof, error) {
	if e.winning == nil {
		if e.fallback == nil {
			return nil, errors.New("ext-prover: no [[WinPost]] processor configured")
		}
		return e.fallback.GenerateWinningPoSt(ctx, miner, proofType, sectors, randomness)
	}
	task, err := stage.NewPoStTask(miner, proofType, sectors, randomness)
	if err != nil {
		return nil, err
	}
	out, err := stage.CallWinningPoSt(ctx, e.winning, task)
	if err != nil {
		return nil, err
	}
	return out.PoStProofs(proofType), nil
}
