package proofs

import (
	"context"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
)

// Engine runs every proof stage of a storage provider. Its methods follow
// filecoin-ffi's calls, so an engine wrapping filecoin-ffi can implement it;
// DevEngine is the built-in one.
//
// Verify methods take public inputs only. They return (false, nil) for a
// proof that does not verify and an error only for malformed inputs
// (unknown proof type, bad CID, randomness that is not 32 bytes).
type Engine interface {
	// GenerateUnsealedCID is comm_d, as a CID, of a sector holding pieces
	// in order; no pieces means a CC sector.
	GenerateUnsealedCID(proofType abi.RegisteredSealProof, pieces []abi.PieceInfo) (cid.Cid, error)

	// SealPreCommitPhase1 reads the staged (unsealed, Fr32-padded) data of
	// a sector, checks it against pieces, and writes tree-d and the label
	// layers into cacheDir.
	SealPreCommitPhase1(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir, stagedPath, sealedPath string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) (PC1Out, error)
	// SealPreCommitPhase2 writes the replica to sealedPath and tree-c,
	// tree-r-last, p_aux and t_aux into cacheDir.
	SealPreCommitPhase2(ctx context.Context, pc1 PC1Out, cacheDir, sealedPath string) (sealedCID, unsealedCID cid.Cid, err error)
	// SealCommitPhase1 opens the nodes the interactive seed challenges.
	SealCommitPhase1(ctx context.Context, proofType abi.RegisteredSealProof, sealedCID, unsealedCID cid.Cid, cacheDir, sealedPath string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness, pieces []abi.PieceInfo) (C1Out, error)
	// SealCommitPhase2 turns C1's output into the on-chain PoRep proof.
	SealCommitPhase2(ctx context.Context, c1 C1Out, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error)
	// FinalizeSector drops the cache files only sealing needs, keeping what
	// PoSt needs (p_aux, t_aux, tree-r-last).
	FinalizeSector(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir string) error

	// GenerateWindowPoSt proves the given sectors, in the given order, in
	// one proof. A sector whose files are missing, short, unreadable or
	// corrupt is left out and listed in faulty; the error is only for
	// problems that are no sector's fault (bad proof type or randomness, no
	// sectors, ctx ended). Partitioning is the caller's business.
	GenerateWindowPoSt(ctx context.Context, miner abi.ActorID, postProofType abi.RegisteredPoStProof, sectors []PrivateSectorInfo,
		randomness abi.PoStRandomness) (proofs []proof.PoStProof, faulty []abi.SectorNumber, err error)
	// GenerateWinningPoStSectorChallenge picks, by index, which of
	// eligibleSectorCount sectors a winning PoSt must prove.
	GenerateWinningPoStSectorChallenge(postProofType abi.RegisteredPoStProof, miner abi.ActorID, randomness abi.PoStRandomness,
		eligibleSectorCount uint64) ([]uint64, error)
	// GenerateWinningPoSt proves the challenged sectors; any faulty sector
	// fails it.
	GenerateWinningPoSt(ctx context.Context, miner abi.ActorID, sectors []PrivateSectorInfo, randomness abi.PoStRandomness) ([]proof.PoStProof, error)
	// GenerateSingleVanillaProof proves one sector as a window or winning
	// PoSt would, and fails with a *FaultError where that PoSt would list
	// the sector as faulty: the strict sector check.
	GenerateSingleVanillaProof(ctx context.Context, miner abi.ActorID, postProofType abi.RegisteredPoStProof, sector PrivateSectorInfo,
		randomness abi.PoStRandomness) ([]byte, error)

	VerifySingleVanillaProof(miner abi.ActorID, postProofType abi.RegisteredPoStProof, sector proof.SectorInfo,
		randomness abi.PoStRandomness, vanilla []byte) (bool, error)
	VerifySeal(info proof.SealVerifyInfo) (bool, error)
	VerifyWindowPoSt(info proof.WindowPoStVerifyInfo) (bool, error)
	VerifyWinningPoSt(info proof.WinningPoStVerifyInfo) (bool, error)
}

// PrivateSectorInfo is what proving a sector needs beyond public data:
// where its files are.
type PrivateSectorInfo struct {
	SectorNumber abi.SectorNumber
	SealProof    abi.RegisteredSealProof
	SealedCID    cid.Cid
	CacheDir     string
	SealedPath   string
}

// PC1Out is PreCommit phase 1's output: JSON, opaque to everything but the
// engine that made it (filecoin-ffi's is a Rust structure). It embeds in
// other JSON as the value itself, so it travels to external processors
// unchanged.
type PC1Out []byte

func (o PC1Out) MarshalJSON() ([]byte, error)     { return rawJSON(o) }
func (o *PC1Out) UnmarshalJSON(data []byte) error { *o = append((*o)[:0], data...); return nil }

// C1Out is Commit phase 1's output, opaque JSON like PC1Out.
type C1Out []byte

func (o C1Out) MarshalJSON() ([]byte, error)     { return rawJSON(o) }
func (o *C1Out) UnmarshalJSON(data []byte) error { *o = append((*o)[:0], data...); return nil }

func rawJSON(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return []byte("null"), nil
	}
	return b, nil
}

// FaultError says that a sector cannot be proven because of its own files:
// missing, short, unreadable or corrupt. Callers declare such a sector
// faulty rather than fail the whole proof.
type FaultError struct {
	Sector abi.SectorNumber
	Err    error
}

func (e *FaultError) Error() string { return fmt.Sprintf("sector %d is faulty: %v", e.Sector, e.Err) }
func (e *FaultError) Unwrap() error { return e.Err }
