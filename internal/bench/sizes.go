package bench

import (
	"fmt"
	"strings"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
)

// sealProofs are the seal proof types a bench seals: V1_1, what current
// networks seal, one per sector size, smallest first.
var sealProofs = []abi.RegisteredSealProof{
	abi.RegisteredSealProof_StackedDrg2KiBV1_1,
	abi.RegisteredSealProof_StackedDrg8MiBV1_1,
	abi.RegisteredSealProof_StackedDrg512MiBV1_1,
	abi.RegisteredSealProof_StackedDrg32GiBV1_1,
	abi.RegisteredSealProof_StackedDrg64GiBV1_1,
}

// SectorSizes are the sector sizes a bench seals, smallest first.
func SectorSizes() []abi.SectorSize {
	sizes := make([]abi.SectorSize, len(sealProofs))
	for i, p := range sealProofs {
		sizes[i], _ = proofs.SealProofSectorSize(p)
	}
	return sizes
}

// SectorSizeNames lists SectorSizes for messages: "2KiB, 8MiB, ...".
func SectorSizeNames() string {
	var names []string
	for _, s := range SectorSizes() {
		names = append(names, s.ShortString())
	}
	return strings.Join(names, ", ")
}

// SealProofForSize is the V1_1 seal proof type of a sector size.
func SealProofForSize(size abi.SectorSize) (abi.RegisteredSealProof, error) {
	for _, p := range sealProofs {
		if s, _ := proofs.SealProofSectorSize(p); s == size {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%d bytes is not a sector size: use one of %s", size, SectorSizeNames())
}

// BigSectorSize is the smallest sector size whose bench needs hours and
// hundreds of GiB: the CLI warns before starting one.
const BigSectorSize abi.SectorSize = 32 << 30

// DiskEstimate is about how much disk one sector of proof type p takes:
// sealing is the peak, after PC2 and before finalize (staged data, replica,
// every layer, tree-d, tree-c and tree-r-last), kept is what stays after
// finalize (replica, tree-r-last, p_aux, t_aux). It follows the files
// devproof writes, which are Filecoin's layout, so it is close for an
// engine wrapping filecoin-ffi too.
func DiskEstimate(p abi.RegisteredSealProof) (sealing, kept int64, err error) {
	size, err := proofs.SealProofSectorSize(p)
	if err != nil {
		return 0, 0, err
	}
	files, err := proofs.CacheFilesFor(p)
	if err != nil {
		return 0, 0, err
	}
	s := int64(size)
	// tree-r-last keeps the rows of an arity-8 tree from the third above
	// the leaves: s/8³ bytes, times 8/7 for the rows above; tree-c keeps
	// every row of an arity-8 tree over one hash per node: 8/7 of s;
	// tree-d is binary with its leaves: 2s. p_aux and t_aux are < 4KiB.
	const aux = 4 << 10
	treeRLast := s / 448
	kept = s + treeRLast + aux
	sealing = kept + s /* staged */ + int64(len(files.Layers))*s + 2*s + s*8/7
	return sealing, kept, nil
}
