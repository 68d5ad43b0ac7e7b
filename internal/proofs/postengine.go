package proofs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
)

// DevEngine's PoSt calls: they check inputs, fan sectors out to
// proveSector and assemble, or verify, the encoded proofs.

// proveSectors builds the sections of all sectors, PoStReaders at a time.
// faults[i] is set for a sector that could not be proven.
func (e *DevEngine) proveSectors(ctx context.Context, sp sectorParams, kind postKind, miner abi.ActorID, rand node,
	sectors []PrivateSectorInfo, crs []node) (sections [][]byte, faults []error, err error) {
	sections = make([][]byte, len(sectors))
	faults = make([]error, len(sectors))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(e.postReaders(), len(sectors)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(sectors) || ctx.Err() != nil {
					return
				}
				sections[i], faults[i] = proveSector(ctx, sp, kind, miner, rand, sectors[i], crs[i], true)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return sections, faults, nil
}

// GenerateWindowPoSt proves the sectors that can be proven, in order, and
// lists the others as faulty (their reasons go to the log).
func (e *DevEngine) GenerateWindowPoSt(ctx context.Context, miner abi.ActorID, postProofType abi.RegisteredPoStProof, sectors []PrivateSectorInfo,
	randomness abi.PoStRandomness) ([]proof.PoStProof, []abi.SectorNumber, error) {
	sp, rand, crs, err := postInputs(postProofType, windowPoSt, randomness, publicInfos(sectors))
	if err != nil {
		return nil, nil, err
	}
	sections, faults, err := e.proveSectors(ctx, sp, windowPoSt, miner, rand, sectors, crs)
	if err != nil {
		return nil, nil, err
	}
	var good [][]byte
	var faulty []abi.SectorNumber
	for i, s := range sectors {
		if faults[i] != nil {
			log.Warnw("sector faulty in window PoSt", "miner", miner, "sector", s.SectorNumber, "error", faults[i])
			faulty = append(faulty, s.SectorNumber)
			continue
		}
		good = append(good, sections[i])
	}
	if len(good) == 0 {
		return nil, faulty, nil
	}
	return []proof.PoStProof{{PoStProof: postProofType, ProofBytes: encodePoSt(good)}}, faulty, nil
}

// GenerateWinningPoStSectorChallenge picks the sector (by index among the
// eligible ones) a winning PoSt proves.
func (e *DevEngine) GenerateWinningPoStSectorChallenge(postProofType abi.RegisteredPoStProof, miner abi.ActorID, randomness abi.PoStRandomness,
	eligibleSectorCount uint64) ([]uint64, error) {
	if !IsWinningPoStProof(postProofType) {
		return nil, fmt.Errorf("PoSt proof type %d is not a winning PoSt type", postProofType)
	}
	rand, err := postRandomness(randomness)
	if err != nil {
		return nil, err
	}
	if eligibleSectorCount == 0 {
		return nil, errors.New("no eligible sectors")
	}
	var buf [23 + 2*nodeSize + 8]byte
	copy(buf[:], "devproof/winning-sector")
	prover := ProverID(miner)
	copy(buf[23:], prover[:])
	copy(buf[23+nodeSize:], rand[:])
	out := make([]uint64, winningSectorCount)
	for k := range out {
		binary.LittleEndian.PutUint64(buf[23+2*nodeSize:], uint64(k))
		h := hashTrunc(buf[:])
		out[k] = binary.LittleEndian.Uint64(h[:8]) % eligibleSectorCount
	}
	return out, nil
}

// GenerateWinningPoSt proves the challenged sectors; the proof type is the
// winning type of their seal type.
func (e *DevEngine) GenerateWinningPoSt(ctx context.Context, miner abi.ActorID, sectors []PrivateSectorInfo, randomness abi.PoStRandomness) ([]proof.PoStProof, error) {
	if len(sectors) == 0 {
		return nil, errors.New("no sectors to prove")
	}
	postProofType, err := WinningPoStProof(sectors[0].SealProof)
	if err != nil {
		return nil, err
	}
	sp, rand, crs, err := postInputs(postProofType, winningPoSt, randomness, publicInfos(sectors))
	if err != nil {
		return nil, err
	}
	sections, faults, err := e.proveSectors(ctx, sp, winningPoSt, miner, rand, sectors, crs)
	if err != nil {
		return nil, err
	}
	for i, f := range faults {
		if f != nil {
			return nil, &FaultError{Sector: sectors[i].SectorNumber, Err: f}
		}
	}
	return []proof.PoStProof{{PoStProof: postProofType, ProofBytes: encodePoSt(sections)}}, nil
}

// GenerateSingleVanillaProof is one sector's section of a window or
// winning PoSt (by postProofType), built with every check a PoSt makes.
func (e *DevEngine) GenerateSingleVanillaProof(ctx context.Context, miner abi.ActorID, postProofType abi.RegisteredPoStProof, sector PrivateSectorInfo,
	randomness abi.PoStRandomness) ([]byte, error) {
	_, kind, err := postParams(postProofType)
	if err != nil {
		return nil, err
	}
	sp, rand, crs, err := postInputs(postProofType, kind, randomness, publicInfos([]PrivateSectorInfo{sector}))
	if err != nil {
		return nil, err
	}
	section, err := proveSector(ctx, sp, kind, miner, rand, sector, crs[0], true)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &FaultError{Sector: sector.SectorNumber, Err: err}
	}
	return section, nil
}

// VerifySingleVanillaProof checks a GenerateSingleVanillaProof result.
func (e *DevEngine) VerifySingleVanillaProof(miner abi.ActorID, postProofType abi.RegisteredPoStProof, sector proof.SectorInfo,
	randomness abi.PoStRandomness, vanilla []byte) (bool, error) {
	_, kind, err := postParams(postProofType)
	if err != nil {
		return false, err
	}
	sp, rand, crs, err := postInputs(postProofType, kind, randomness, []proof.SectorInfo{sector})
	if err != nil {
		return false, err
	}
	return verifySection(sp, kind, miner, rand, sector.SectorNumber, crs[0], vanilla), nil
}

// VerifyWindowPoSt checks that the one proof covers exactly the challenged
// sectors, in order.
func (e *DevEngine) VerifyWindowPoSt(info proof.WindowPoStVerifyInfo) (bool, error) {
	return verifyPoSt(windowPoSt, info.Prover, info.Randomness, info.Proofs, info.ChallengedSectors)
}

// VerifyWinningPoSt checks a winning PoSt of the challenged sectors.
func (e *DevEngine) VerifyWinningPoSt(info proof.WinningPoStVerifyInfo) (bool, error) {
	return verifyPoSt(winningPoSt, info.Prover, info.Randomness, info.Proofs, info.ChallengedSectors)
}

func verifyPoSt(kind postKind, miner abi.ActorID, randomness abi.PoStRandomness, proofs []proof.PoStProof, sectors []proof.SectorInfo) (bool, error) {
	if len(proofs) != 1 {
		return false, fmt.Errorf("%s: want exactly one proof, got %d", kind, len(proofs))
	}
	sp, rand, crs, err := postInputs(proofs[0].PoStProof, kind, randomness, sectors)
	if err != nil {
		return false, err
	}
	sections, ok := splitPoSt(proofs[0].ProofBytes, len(sectors), postSectionSize(sp, kind.challenges()))
	if !ok {
		return false, nil
	}
	for i, s := range sectors {
		if !verifySection(sp, kind, miner, rand, s.SectorNumber, crs[i], sections[i]) {
			return false, nil
		}
	}
	return true, nil
}
