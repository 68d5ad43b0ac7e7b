package sealer

import (
	"context"
	"fmt"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/sectors"
)

// ChainInfo answers the allocator's questions from a chain node: it is a
// sectors.MinerInfoSource and a sectors.ChainSectors.
type ChainInfo struct {
	Chain chain.API
}

var (
	_ sectors.MinerInfoSource = ChainInfo{}
	_ sectors.ChainSectors    = ChainInfo{}
)

// SealProof is the V1_1 seal proof of the miner's sector size, told by its
// WindowPoSt proof type on chain.
func (c ChainInfo) SealProof(ctx context.Context, actor abi.ActorID) (abi.RegisteredSealProof, error) {
	maddr, err := address.NewIDAddress(uint64(actor))
	if err != nil {
		return 0, err
	}
	mi, err := c.Chain.StateMinerInfo(ctx, maddr, chain.EmptyTSK)
	if err != nil {
		return 0, fmt.Errorf("miner info of %s: %w", maddr, err)
	}
	return SealProofForPoSt(mi.WindowPoStProofType)
}

// SectorAllocated tells whether the miner allocated num on chain.
func (c ChainInfo) SectorAllocated(ctx context.Context, actor abi.ActorID, num abi.SectorNumber) (bool, error) {
	maddr, err := address.NewIDAddress(uint64(actor))
	if err != nil {
		return false, err
	}
	return c.Chain.StateMinerSectorAllocated(ctx, maddr, num, chain.EmptyTSK)
}

// SealProofForPoSt is the V1_1 seal proof of the sector size of a
// WindowPoSt proof type (any version).
func SealProofForPoSt(post abi.RegisteredPoStProof) (abi.RegisteredSealProof, error) {
	size, err := post.SectorSize()
	if err != nil {
		return 0, fmt.Errorf("window PoSt proof type %d: %w", post, err)
	}
	switch size {
	case 2 << 10:
		return abi.RegisteredSealProof_StackedDrg2KiBV1_1, nil
	case 8 << 20:
		return abi.RegisteredSealProof_StackedDrg8MiBV1_1, nil
	case 512 << 20:
		return abi.RegisteredSealProof_StackedDrg512MiBV1_1, nil
	case 32 << 30:
		return abi.RegisteredSealProof_StackedDrg32GiBV1_1, nil
	case 64 << 30:
		return abi.RegisteredSealProof_StackedDrg64GiBV1_1, nil
	}
	return 0, fmt.Errorf("no seal proof for sector size %d", size)
}
