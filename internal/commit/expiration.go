package commit

import (
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// expirationSlack is how long a pre-commit message may wait in the message
// pool and still meet the actor's minimum lifetime: the minimum is counted
// from the latest activation the actor allows after the message executes.
const expirationSlack = builtin.EpochsInDay

// expiration is the Expiration of a CC sector pre-committed at head:
// lifetimeDays after head, raised to the actor's minimum lifetime after the
// latest activation (MinSectorExpiration, 180 days) and lowered to what it
// accepts at all (MaxSectorExpirationExtension, and the proof's maximum
// lifetime).
func expiration(head abi.ChainEpoch, seal abi.RegisteredSealProof, lifetimeDays uint64) (abi.ChainEpoch, error) {
	proveWindow, ok := miner.MaxProveCommitDuration[seal]
	if !ok {
		return 0, fmt.Errorf("seal proof %d has no prove-commit window", seal)
	}
	maxLifetime, err := builtin.SealProofSectorMaximumLifetime(seal)
	if err != nil {
		return 0, err
	}
	latestActivation := head + expirationSlack + proveWindow
	lowest := latestActivation + miner.MinSectorExpiration
	// The actor bounds the expiration from the epoch it executes in, at
	// least head+1, and the lifetime from the activation, at least that.
	highest := min(head+miner.MaxSectorExpirationExtension, head+1+maxLifetime)
	exp := head + abi.ChainEpoch(min(lifetimeDays, uint64(highest))*builtin.EpochsInDay)
	return max(min(exp, highest), lowest), nil
}
