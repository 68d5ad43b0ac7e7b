package proofs

import (
	"runtime"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"
	logging "github.com/ipfs/go-log/v2"
)

var log = logging.Logger("proofs")

// PoStReadersDefault is DevEngine.PoStReaders when unset.
const PoStReadersDefault = 8

// DevEngine is the built-in proof engine, devproof. The zero value is ready
// to use; it holds no state between calls, so one engine serves any number
// of concurrent calls.
type DevEngine struct {
	// PoStReaders is how many sectors a PoSt reads at the same time. A
	// sector's openings are small preads, so this hides storage (NFS)
	// latency rather than using CPU. Default PoStReadersDefault.
	PoStReaders int
	// HashThreads is how many goroutines share the hashing of one tree row
	// in PC1 and PC2. Default GOMAXPROCS.
	HashThreads int
}

var _ Engine = (*DevEngine)(nil)

func (e *DevEngine) postReaders() int {
	if e.PoStReaders > 0 {
		return e.PoStReaders
	}
	return PoStReadersDefault
}

func (e *DevEngine) hashThreads() int {
	if e.HashThreads > 0 {
		return e.HashThreads
	}
	return runtime.GOMAXPROCS(0)
}

// GenerateUnsealedCID is ComputeCommD as a CID.
func (e *DevEngine) GenerateUnsealedCID(proofType abi.RegisteredSealProof, pieces []abi.PieceInfo) (cid.Cid, error) {
	commD, err := ComputeCommD(proofType, pieces)
	if err != nil {
		return cid.Undef, err
	}
	return commcid.DataCommitmentV1ToCID(commD[:])
}
