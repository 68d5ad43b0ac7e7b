package proofs

import (
	"fmt"
	"strings"

	"github.com/filecoin-project/go-state-types/abi"
)

// sectorParams are devproof's parameters for one sector size.
type sectorParams struct {
	index int // position in sectorSizes: the low digit of every proof number
	size  abi.SectorSize
	name  string // as in the Rust variant names: "2KiB"
	// layers is the number of SDR layers, Filecoin's real count.
	layers int
	// porepChallenges is how many nodes a PoRep opens: Filecoin's 176 for
	// production sizes; small sizes get 10 so tests still open several
	// nodes while proofs stay small.
	porepChallenges int
	// treeFiles is how many files tree-c and tree-r-last are split into,
	// and topArities how their roots combine (Filecoin's sub and top tree
	// arities): 32GiB is 8 base trees under one arity-8 node, 64GiB is 16
	// base trees under two arity-8 nodes under one arity-2 node.
	treeFiles  int
	topArities []int
}

// sectorSizes is ordered like the go-state-types proof numbers: for every
// proof family, number = family*5 + index.
var sectorSizes = [...]sectorParams{
	{0, 2 << 10, "2KiB", 2, 10, 1, nil},
	{1, 8 << 20, "8MiB", 2, 10, 1, nil},
	{2, 512 << 20, "512MiB", 2, 10, 1, nil},
	{3, 32 << 30, "32GiB", 11, 176, 8, []int{8}},
	{4, 64 << 30, "64GiB", 11, 176, 16, []int{8, 2}},
}

// nodes is the number of 32-byte nodes in a sector.
func (p sectorParams) nodes() uint64 { return uint64(p.size) / nodeSize }

// Seal proof families in go-state-types numbering (abi.RegisteredSealProof
// = family*5 + size index) with their Rust variant suffixes. Synthetic and
// NI-PoRep numbers are accepted and sealed like V1_1: devproof has no
// synthetic challenges, the sizes and files are the same.
var sealFamilies = [...]string{
	"V1",                            // 0..4
	"V1_1",                          // 5..9, current networks
	"V1_1_Feat_SyntheticPoRep",      // 10..14
	"V1_2_Feat_NonInteractivePoRep", // 15..19
}

// postKind tells window from winning PoSt.
type postKind int

const (
	winningPoSt postKind = iota
	windowPoSt
)

func (k postKind) String() string {
	if k == winningPoSt {
		return "winning PoSt"
	}
	return "window PoSt"
}

// PoSt proof families in go-state-types numbering (abi.RegisteredPoStProof
// = family*5 + size index). The on-chain Window V1_1 types are named V1_2 on
// the Rust side (PROTOCOLS §5.1).
var postFamilies = [...]struct {
	kind       postKind
	nameFormat string
}{
	{winningPoSt, "StackedDrgWinning%sV1"}, // 0..4
	{windowPoSt, "StackedDrgWindow%sV1"},   // 5..9
	{windowPoSt, "StackedDrgWindow%sV1_2"}, // 10..14, current networks
}

const sealV1_1Family = 1
const windowV1_1Family = 2

func sealParams(p abi.RegisteredSealProof) (sectorParams, error) {
	if p < 0 || int(p) >= len(sealFamilies)*len(sectorSizes) {
		return sectorParams{}, fmt.Errorf("unsupported seal proof type %d", p)
	}
	return sectorSizes[int(p)%len(sectorSizes)], nil
}

func postParams(p abi.RegisteredPoStProof) (sectorParams, postKind, error) {
	if p < 0 || int(p) >= len(postFamilies)*len(sectorSizes) {
		return sectorParams{}, 0, fmt.Errorf("unsupported PoSt proof type %d", p)
	}
	return sectorSizes[int(p)%len(sectorSizes)], postFamilies[int(p)/len(sectorSizes)].kind, nil
}

// SealProofSectorSize is the sector size of a seal proof type.
func SealProofSectorSize(p abi.RegisteredSealProof) (abi.SectorSize, error) {
	sp, err := sealParams(p)
	return sp.size, err
}

// PoStProofSectorSize is the sector size a PoSt proof type proves.
func PoStProofSectorSize(p abi.RegisteredPoStProof) (abi.SectorSize, error) {
	sp, _, err := postParams(p)
	return sp.size, err
}

// IsWindowPoStProof tells whether p is a (V1 or V1_1) window PoSt type.
func IsWindowPoStProof(p abi.RegisteredPoStProof) bool {
	_, kind, err := postParams(p)
	return err == nil && kind == windowPoSt
}

// IsWinningPoStProof tells whether p is a winning PoSt type.
func IsWinningPoStProof(p abi.RegisteredPoStProof) bool {
	_, kind, err := postParams(p)
	return err == nil && kind == winningPoSt
}

// WindowPoStProof is the current-network (V1_1) window PoSt type for sectors
// sealed with p, whatever p's family.
func WindowPoStProof(p abi.RegisteredSealProof) (abi.RegisteredPoStProof, error) {
	sp, err := sealParams(p)
	if err != nil {
		return 0, err
	}
	return abi.RegisteredPoStProof(windowV1_1Family*len(sectorSizes) + sp.index), nil
}

// WinningPoStProof is the winning PoSt type for sectors sealed with p.
func WinningPoStProof(p abi.RegisteredSealProof) (abi.RegisteredPoStProof, error) {
	sp, err := sealParams(p)
	if err != nil {
		return 0, err
	}
	return abi.RegisteredPoStProof(sp.index), nil
}

// SealProofForPoSt is the current-network (V1_1) seal type of the sector
// size p proves.
func SealProofForPoSt(p abi.RegisteredPoStProof) (abi.RegisteredSealProof, error) {
	sp, _, err := postParams(p)
	if err != nil {
		return 0, err
	}
	return abi.RegisteredSealProof(sealV1_1Family*len(sectorSizes) + sp.index), nil
}

// SealProofName is the Rust variant name of a seal proof type, as the
// processor protocol spells it: StackedDrg32GiBV1_1.
func SealProofName(p abi.RegisteredSealProof) (string, error) {
	sp, err := sealParams(p)
	if err != nil {
		return "", err
	}
	return "StackedDrg" + sp.name + sealFamilies[int(p)/len(sectorSizes)], nil
}

// ParseSealProofName is the inverse of SealProofName.
func ParseSealProofName(name string) (abi.RegisteredSealProof, error) {
	if rest, ok := strings.CutPrefix(name, "StackedDrg"); ok {
		for _, sp := range sectorSizes {
			suffix, ok := strings.CutPrefix(rest, sp.name)
			if !ok {
				continue
			}
			for family, s := range sealFamilies {
				if s == suffix {
					return abi.RegisteredSealProof(family*len(sectorSizes) + sp.index), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("unknown seal proof name %q", name)
}

// PoStProofName is the Rust variant name of a PoSt proof type, as the
// processor protocol and WdPoSt jobs spell it: StackedDrgWindow32GiBV1_2.
func PoStProofName(p abi.RegisteredPoStProof) (string, error) {
	sp, _, err := postParams(p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(postFamilies[int(p)/len(sectorSizes)].nameFormat, sp.name), nil
}

// ParsePoStProofName is the inverse of PoStProofName.
func ParsePoStProofName(name string) (abi.RegisteredPoStProof, error) {
	for family, f := range postFamilies {
		for _, sp := range sectorSizes {
			if fmt.Sprintf(f.nameFormat, sp.name) == name {
				return abi.RegisteredPoStProof(family*len(sectorSizes) + sp.index), nil
			}
		}
	}
	return 0, fmt.Errorf("unknown PoSt proof name %q", name)
}
