package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
)

// Stages computes the proof stages of the sealer plan. The signatures are
// proofs.Engine's, so the in-process implementation is a thin adapter.
type Stages interface {
	PC1(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir, stagedPath, sealedPath string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) (proofs.PC1Out, error)
	PC2(ctx context.Context, pc1 proofs.PC1Out, cacheDir, sealedPath string) (sealedCID, unsealedCID cid.Cid, err error)
	C1(ctx context.Context, proofType abi.RegisteredSealProof, sealedCID, unsealedCID cid.Cid, cacheDir, sealedPath string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness, pieces []abi.PieceInfo) (proofs.C1Out, error)
	C2(ctx context.Context, c1 proofs.C1Out, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error)
	Finalize(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir string) error
}

// Stage names as [[processors.<stage>]] and [processors.limitation.concurrent]
// spell them. Finalize has no processor and no limit in damocles.
const (
	stagePC1 = stage.PC1
	stagePC2 = stage.PC2
	stageC1  = "c1"
	stageC2  = stage.C2
)

// EngineStages runs every stage inside the worker on Engine.
type EngineStages struct {
	Engine proofs.Engine
}

var _ Stages = EngineStages{}

func (s EngineStages) PC1(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir, stagedPath, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) (proofs.PC1Out, error) {
	return s.Engine.SealPreCommitPhase1(ctx, proofType, cacheDir, stagedPath, sealedPath, sector, miner, ticket, pieces)
}

func (s EngineStages) PC2(ctx context.Context, pc1 proofs.PC1Out, cacheDir, sealedPath string) (cid.Cid, cid.Cid, error) {
	return s.Engine.SealPreCommitPhase2(ctx, pc1, cacheDir, sealedPath)
}

func (s EngineStages) C1(ctx context.Context, proofType abi.RegisteredSealProof, sealedCID, unsealedCID cid.Cid, cacheDir, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness, pieces []abi.PieceInfo) (proofs.C1Out, error) {
	return s.Engine.SealCommitPhase1(ctx, proofType, sealedCID, unsealedCID, cacheDir, sealedPath, sector, miner, ticket, seed, pieces)
}

func (s EngineStages) C2(ctx context.Context, c1 proofs.C1Out, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error) {
	return s.Engine.SealCommitPhase2(ctx, c1, sector, miner)
}

func (s EngineStages) Finalize(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir string) error {
	return s.Engine.FinalizeSector(ctx, proofType, cacheDir)
}

// ProcessorStages sends pc1, pc2 and c2 to external processors where
// Processors has one for the stage, and runs everything else on Local
// (c1 and finalize have no damocles processor).
type ProcessorStages struct {
	Local Stages
	// Processors maps a stage name (pc1, pc2, c2) to its processor pool.
	Processors map[string]stage.Doer
}

var _ Stages = ProcessorStages{}

func (s ProcessorStages) PC1(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir, stagedPath, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) (proofs.PC1Out, error) {
	d, ok := s.Processors[stagePC1]
	if !ok {
		return s.Local.PC1(ctx, proofType, cacheDir, stagedPath, sealedPath, sector, miner, ticket, pieces)
	}
	name, err := proofs.SealProofName(proofType)
	if err != nil {
		return nil, err
	}
	infos, err := stage.NewPieceInfos(pieces)
	if err != nil {
		return nil, err
	}
	if len(ticket) != 32 {
		return nil, fmt.Errorf("sector %d: ticket is %d bytes, want 32", sector, len(ticket))
	}
	return stage.CallPC1(ctx, d, stage.PC1Task{
		RegisteredProof: name, CachePath: cacheDir, InPath: stagedPath, OutPath: sealedPath,
		ProverID: proofs.ProverID(miner), SectorID: uint64(sector), Ticket: [32]byte(ticket), PieceInfos: infos,
	})
}

func (s ProcessorStages) PC2(ctx context.Context, pc1 proofs.PC1Out, cacheDir, sealedPath string) (cid.Cid, cid.Cid, error) {
	d, ok := s.Processors[stagePC2]
	if !ok {
		return s.Local.PC2(ctx, pc1, cacheDir, sealedPath)
	}
	out, err := stage.CallPC2(ctx, d, stage.PC2Task{PC1Out: []byte(pc1), CacheDir: cacheDir, SealedFile: sealedPath})
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	return out.CIDs()
}

func (s ProcessorStages) C1(ctx context.Context, proofType abi.RegisteredSealProof, sealedCID, unsealedCID cid.Cid, cacheDir, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness, pieces []abi.PieceInfo) (proofs.C1Out, error) {
	return s.Local.C1(ctx, proofType, sealedCID, unsealedCID, cacheDir, sealedPath, sector, miner, ticket, seed, pieces)
}

func (s ProcessorStages) C2(ctx context.Context, c1 proofs.C1Out, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error) {
	d, ok := s.Processors[stageC2]
	if !ok {
		return s.Local.C2(ctx, c1, sector, miner)
	}
	out, err := stage.CallC2(ctx, d, stage.C2Task{C1Out: []byte(c1), ProverID: proofs.ProverID(miner), SectorID: uint64(sector), MinerID: uint64(miner)})
	if err != nil {
		return nil, err
	}
	return out.Proof, nil
}

func (s ProcessorStages) Finalize(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir string) error {
	return s.Local.Finalize(ctx, proofType, cacheDir)
}

// StageLimiter caps how many tasks of each stage run at once across all
// sealing threads ([processors.limitation.concurrent]). Its zero value and
// a nil one limit nothing.
type StageLimiter struct {
	slots map[string]chan struct{}
}

// NewStageLimiter builds the limiter of a stage → count table; a count
// below 1 leaves the stage unlimited.
func NewStageLimiter(limits map[string]int) *StageLimiter {
	l := &StageLimiter{slots: map[string]chan struct{}{}}
	for name, n := range limits {
		if n > 0 {
			l.slots[name] = make(chan struct{}, n)
		}
	}
	return l
}

// Acquire waits for a slot of stage and returns its release.
func (l *StageLimiter) Acquire(ctx context.Context, name string) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	slots, ok := l.slots[name]
	if !ok {
		return func() {}, nil
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LimitedStages runs Stages under Limiter.
type LimitedStages struct {
	Stages  Stages
	Limiter *StageLimiter
}

var _ Stages = LimitedStages{}

func (s LimitedStages) PC1(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir, stagedPath, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) (proofs.PC1Out, error) {
	release, err := s.Limiter.Acquire(ctx, stagePC1)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.Stages.PC1(ctx, proofType, cacheDir, stagedPath, sealedPath, sector, miner, ticket, pieces)
}

func (s LimitedStages) PC2(ctx context.Context, pc1 proofs.PC1Out, cacheDir, sealedPath string) (cid.Cid, cid.Cid, error) {
	release, err := s.Limiter.Acquire(ctx, stagePC2)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	defer release()
	return s.Stages.PC2(ctx, pc1, cacheDir, sealedPath)
}

func (s LimitedStages) C1(ctx context.Context, proofType abi.RegisteredSealProof, sealedCID, unsealedCID cid.Cid, cacheDir, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness, pieces []abi.PieceInfo) (proofs.C1Out, error) {
	release, err := s.Limiter.Acquire(ctx, stageC1)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.Stages.C1(ctx, proofType, sealedCID, unsealedCID, cacheDir, sealedPath, sector, miner, ticket, seed, pieces)
}

func (s LimitedStages) C2(ctx context.Context, c1 proofs.C1Out, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error) {
	release, err := s.Limiter.Acquire(ctx, stageC2)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.Stages.C2(ctx, c1, sector, miner)
}

func (s LimitedStages) Finalize(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir string) error {
	return s.Stages.Finalize(ctx, proofType, cacheDir)
}

// SealingStages is the Stages of a worker config: in-process on engine,
// pc1, pc2 and c2 in external processors where the file has
// [[processors.<stage>]] entries, all under [processors.limitation.concurrent].
// selfBin is the worker's own executable, run for entries without bin.
// Close stops the processors.
type SealingStages struct {
	Stages
	pools []*extproc.Pool
}

// OpenSealingStages starts the external processors the config asks for;
// ctx bounds only their start-up.
func OpenSealingStages(ctx context.Context, procs *config.Processors, engine proofs.Engine, selfBin string) (*SealingStages, error) {
	s := &SealingStages{}
	doers := map[string]stage.Doer{}
	for _, name := range []string{stagePC1, stagePC2, stageC2} {
		entries := procs.Stage(name)
		if len(entries) == 0 {
			continue
		}
		pool, err := extproc.NewPool(ctx, extproc.PoolConfig{Stage: name, Children: processorChildren(name, entries, selfBin)})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("processors.%s: %w", name, err), s.Close())
		}
		s.pools = append(s.pools, pool)
		doers[name] = pool
	}
	s.Stages = LimitedStages{
		Stages:  ProcessorStages{Local: EngineStages{Engine: engine}, Processors: doers},
		Limiter: NewStageLimiter(procs.ConcurrentLimits()),
	}
	return s, nil
}

// Close stops every processor child and waits for them.
func (s *SealingStages) Close() error {
	var errs []error
	for _, p := range s.pools {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// processorChildren turns [[processors.<stage>]] entries into children by
// damocles-worker's rules: no bin runs the worker itself with
// "processor <stage>", no args means that same subcommand, a nil
// concurrent means no cap. inherit_envs, numa_preferred, locks and cgroup
// names have no counterpart in extproc yet; cpuset does.
func processorChildren(name string, entries []config.Processor, selfBin string) []extproc.ChildConfig {
	children := make([]extproc.ChildConfig, 0, len(entries))
	for _, e := range entries {
		c := extproc.ChildConfig{
			Bin:          e.Bin,
			Args:         e.Args,
			Envs:         maps.Clone(e.Envs),
			Concurrent:   1 << 20,
			Weight:       max(e.Weight, 1),
			ReadyTimeout: time.Duration(e.StableWait),
			Cpuset:       e.Cgroup.Cpuset,
		}
		if e.Concurrent != nil {
			c.Concurrent = max(*e.Concurrent, 1)
		}
		if c.Bin == "" {
			c.Bin = selfBin
		} else if bin, err := config.ExpandHome(c.Bin); err == nil {
			c.Bin = bin
		}
		if c.Args == nil {
			c.Args = []string{"processor", name}
		}
		if c.ReadyTimeout <= 0 {
			c.ReadyTimeout = extproc.ReadyTimeoutDefault
		}
		children = append(children, c)
	}
	return children
}
