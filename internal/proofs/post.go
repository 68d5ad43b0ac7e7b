package proofs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
)

// Challenge counts, Filecoin's: a window PoSt opens 10 leaves of every
// sector, a winning PoSt 66 leaves of one sector.
const (
	windowChallenges   = 10
	winningChallenges  = 66
	winningSectorCount = 1
)

func (k postKind) challenges() int {
	if k == winningPoSt {
		return winningChallenges
	}
	return windowChallenges
}

// postRandomness masks the top two bits of the randomness, as Filecoin
// does on both the proving and the verifying side, so a proof made from
// the masked seed that damocles hands its provers verifies against the raw
// chain randomness and the other way round.
func postRandomness(r abi.PoStRandomness) (node, error) {
	if len(r) != nodeSize {
		return node{}, fmt.Errorf("PoSt randomness is %d bytes, want %d", len(r), nodeSize)
	}
	n := node(r)
	n[31] &= 0x3f
	return n, nil
}

// postChallenges are the replica leaves a PoSt opens in one sector.
func postChallenges(sp sectorParams, miner abi.ActorID, rand node, sector abi.SectorNumber, count int) []uint64 {
	var buf [13 + 2*nodeSize + 16]byte
	copy(buf[:], "devproof/post")
	prover := ProverID(miner)
	copy(buf[13:], prover[:])
	copy(buf[13+nodeSize:], rand[:])
	binary.LittleEndian.PutUint64(buf[13+2*nodeSize:], uint64(sector))
	out := make([]uint64, count)
	for k := range out {
		binary.LittleEndian.PutUint64(buf[13+2*nodeSize+8:], uint64(k))
		h := hashTrunc(buf[:])
		out[k] = binary.LittleEndian.Uint64(h[:8]) % sp.nodes()
	}
	return out
}

// proveSector builds one sector's PoSt section. strict is what provers
// use: it fails with errCorrupt where a replica leaf does not hash to the
// stored tree-r-last node above it, and checks the finished section
// against comm_r. Without strict (a test hook) a corrupt replica yields a
// section that fails verification. Every error is the sector's fault
// except ctx's.
func proveSector(ctx context.Context, sp sectorParams, kind postKind, miner abi.ActorID, rand node, s PrivateSectorInfo, cr node, strict bool) ([]byte, error) {
	commC, commRLast, err := readPAux(s.CacheDir)
	if err != nil {
		return nil, err
	}
	if strict && commR(commC, commRLast) != cr {
		return nil, fmt.Errorf("%w: p_aux in %s does not match sealed CID %s", errCorrupt, s.CacheDir, s.SealedCID)
	}
	tree, sealed, err := openReplicaTree(sp, s.CacheDir, s.SealedPath)
	if err != nil {
		return nil, err
	}
	defer sealed.Close()
	defer tree.close()

	section := make([]byte, 0, postSectionSize(sp, kind.challenges()))
	section = append(section, commC[:]...)
	for _, c := range postChallenges(sp, miner, rand, s.SectorNumber, kind.challenges()) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := tree.open(c, strict)
		if err != nil {
			return nil, err
		}
		section = append(section, p.Leaf[:]...)
		section = appendNodes(section, p.Siblings)
	}
	if strict && !verifySection(sp, kind, miner, rand, s.SectorNumber, cr, section) {
		return nil, fmt.Errorf("%w: tree-r-last in %s does not lead to sealed CID %s", errCorrupt, s.CacheDir, s.SealedCID)
	}
	return section, nil
}

// verifySection checks one sector's section: every opened path leads to
// the same comm_r_last, and H(comm_c, comm_r_last) is the sector's comm_r.
func verifySection(sp sectorParams, kind postKind, miner abi.ActorID, rand node, sector abi.SectorNumber, cr node, section []byte) bool {
	if len(section) != postSectionSize(sp, kind.challenges()) {
		return false
	}
	shape := treeRLastShape(sp)
	arities, sib := shape.levelArities(), shape.siblingCount()
	r := nodeReader(section)
	commC := r.node()
	var commRLast node
	for k, c := range postChallenges(sp, miner, rand, sector, kind.challenges()) {
		root, err := rootFromPath(arities, c, r.path(sib))
		if err != nil || (k > 0 && root != commRLast) {
			return false
		}
		commRLast = root
	}
	return commR(commC, commRLast) == cr
}

// postInputs checks a PoSt's public inputs: the proof type is of the
// wanted kind and fits every sector's seal type, the randomness is 32
// bytes, every sealed CID is a replica commitment. It returns the comm_r
// of every sector.
func postInputs(p abi.RegisteredPoStProof, want postKind, randomness abi.PoStRandomness, sectors []proof.SectorInfo) (sectorParams, node, []node, error) {
	sp, kind, err := postParams(p)
	if err != nil {
		return sectorParams{}, node{}, nil, err
	}
	if kind != want {
		return sectorParams{}, node{}, nil, fmt.Errorf("PoSt proof type %d is not a %s type", p, want)
	}
	rand, err := postRandomness(randomness)
	if err != nil {
		return sectorParams{}, node{}, nil, err
	}
	if len(sectors) == 0 {
		return sectorParams{}, node{}, nil, errors.New("no sectors to prove")
	}
	crs := make([]node, len(sectors))
	for i, s := range sectors {
		ssp, err := sealParams(s.SealProof)
		if err != nil {
			return sectorParams{}, node{}, nil, fmt.Errorf("sector %d: %w", s.SectorNumber, err)
		}
		if ssp.size != sp.size {
			return sectorParams{}, node{}, nil, fmt.Errorf("sector %d is %s, PoSt proof type %d proves %s sectors", s.SectorNumber, ssp.name, p, sp.name)
		}
		cr, err := commcid.CIDToReplicaCommitmentV1(s.SealedCID)
		if err != nil {
			return sectorParams{}, node{}, nil, fmt.Errorf("sector %d: sealed CID: %w", s.SectorNumber, err)
		}
		crs[i] = node(cr)
	}
	return sp, rand, crs, nil
}

func publicInfos(sectors []PrivateSectorInfo) []proof.SectorInfo {
	out := make([]proof.SectorInfo, len(sectors))
	for i, s := range sectors {
		out[i] = proof.SectorInfo{SealProof: s.SealProof, SectorNumber: s.SectorNumber, SealedCID: s.SealedCID}
	}
	return out
}
