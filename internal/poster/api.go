package poster

import (
	"context"
	"fmt"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
)

// ProvingAPI serves the checks the poster runs to the CLI
// (Venus.CheckProvable, `util sealer proving check`). It needs no chain:
// the caller names the sectors.
type ProvingAPI struct {
	checker *Checker
	proving func() config.Proving
}

// NewProvingAPI returns the API over checker, bounded by [Common.Proving].
func NewProvingAPI(checker *Checker, proving func() config.Proving) *ProvingAPI {
	return &ProvingAPI{checker: checker, proving: proving}
}

// CheckProvable checks sectors of miner as a WindowPoSt of postProofType
// would, strict adding a vanilla proof of each, and returns the bad ones
// with the reason; an empty map means all are good. stateCheck is
// accepted for damocles's signature: the chain, not the manager's sector
// states, says which sectors to prove.
func (a *ProvingAPI) CheckProvable(ctx context.Context, mid abi.ActorID, postProofType abi.RegisteredPoStProof, sectors []proof.ExtendedSectorInfo, strict, stateCheck bool) (map[abi.SectorNumber]string, error) {
	if !proofs.IsWindowPoStProof(postProofType) && !proofs.IsWinningPoStProof(postProofType) {
		return nil, fmt.Errorf("check provable: %d is not a PoSt proof type", postProofType)
	}
	infos := make([]*chain.SectorOnChainInfo, len(sectors))
	for i, s := range sectors {
		infos[i] = &chain.SectorOnChainInfo{SectorNumber: s.SectorNumber, SealProof: s.SealProof, SealedCID: s.SealedCID, SectorKeyCID: s.SectorKey}
	}
	p := a.proving()
	res := a.checker.Check(ctx, mid, postProofType, infos, CheckOptions{
		Strict:           strict,
		Limit:            p.ParallelCheckLimit,
		SingleTimeout:    time.Duration(p.SingleCheckTimeout),
		PartitionTimeout: time.Duration(p.PartitionCheckTimeout),
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return res.Bad, nil
}
