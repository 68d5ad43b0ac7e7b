package node

import (
	"context"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"

	"github.com/damocles-go/damocles/internal/chain"
)

// NetworkName is the name the devnet gives its network.
const NetworkName = "damocles-devnet"

// SetBlockTime tells the node the time between the chain's epochs, which
// StateGetNetworkParams reports as BlockDelaySecs (whole seconds, at
// least 1, as Lotus's is). Call it before serving; the default is
// BlockTimeDefault.
func (n *FullNode) SetBlockTime(d time.Duration) {
	n.blockDelaySecs.Store(blockDelaySecs(d))
}

func blockDelaySecs(d time.Duration) uint64 {
	return max(uint64(d/time.Second), 1)
}

// StateGetNetworkParams reports the devnet's constants: its
// PreCommitChallengeDelay (which may be shorter than the real 150) and
// block delay, and the V1_1 seal proofs it accepts.
func (n *FullNode) StateGetNetworkParams(context.Context) (*chain.NetworkParams, error) {
	return &chain.NetworkParams{
		NetworkName:             NetworkName,
		BlockDelaySecs:          n.blockDelaySecs.Load(),
		ConsensusMinerMinPower:  big.Zero(),
		SupportedProofTypes:     supportedSealProofs,
		PreCommitChallengeDelay: n.chain.PreCommitChallengeDelay(),
	}, nil
}

var supportedSealProofs = []abi.RegisteredSealProof{
	abi.RegisteredSealProof_StackedDrg2KiBV1_1,
	abi.RegisteredSealProof_StackedDrg8MiBV1_1,
	abi.RegisteredSealProof_StackedDrg512MiBV1_1,
	abi.RegisteredSealProof_StackedDrg32GiBV1_1,
	abi.RegisteredSealProof_StackedDrg64GiBV1_1,
}
