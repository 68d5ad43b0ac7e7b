package chain

import (
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	miner "github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/network"
)

// The WindowPoSt protocol constants of mainnet, which the devnet keeps too
// (only its block time shrinks). Tests check them against ActorsVersion's
// miner actor.
const (
	// WPoStProvingPeriod is the epochs in which every sector is proven once: a day.
	WPoStProvingPeriod = abi.ChainEpoch(2880)
	// WPoStPeriodDeadlines is the number of deadlines in a proving period.
	WPoStPeriodDeadlines = uint64(48)
	// WPoStChallengeWindow is the epochs a deadline is open for proofs: 30 minutes.
	WPoStChallengeWindow = abi.ChainEpoch(60)
	// WPoStChallengeLookback is how long before a deadline opens its challenge is drawn.
	WPoStChallengeLookback = abi.ChainEpoch(20)
	// FaultDeclarationCutoff is how long before a deadline opens faults
	// and recoveries for it can no longer be declared.
	FaultDeclarationCutoff = abi.ChainEpoch(70)
)

// NewDeadlineInfo returns deadline deadlineIdx of the proving period
// starting at periodStart, as seen at currentEpoch: the same value the
// miner actor and StateMinerProvingDeadline compute.
func NewDeadlineInfo(periodStart abi.ChainEpoch, deadlineIdx uint64, currentEpoch abi.ChainEpoch) *dline.Info {
	return dline.NewInfo(periodStart, deadlineIdx, currentEpoch,
		WPoStPeriodDeadlines, WPoStProvingPeriod, WPoStChallengeWindow, WPoStChallengeLookback, FaultDeclarationCutoff)
}

// ProvingPeriodStart returns the start of the miner's proving period that
// contains epoch: the last epoch at or before epoch that is offset modulo
// WPoStProvingPeriod. offset is the miner's proving period offset or any
// PeriodStart the chain reported for it. Near the chain's start the result
// may be negative, as the miner actor's is.
func ProvingPeriodStart(offset, epoch abi.ChainEpoch) abi.ChainEpoch {
	return epoch - mod(epoch-offset, WPoStProvingPeriod)
}

// DeadlineIndexAt returns the index of the miner's deadline that is open at
// epoch, offset being as for ProvingPeriodStart.
func DeadlineIndexAt(offset, epoch abi.ChainEpoch) uint64 {
	return uint64((epoch - ProvingPeriodStart(offset, epoch)) / WPoStChallengeWindow)
}

// DeadlineAt returns the miner's deadline that is open at epoch, as
// StateMinerProvingDeadline would at that epoch, offset being as for
// ProvingPeriodStart.
func DeadlineAt(offset, epoch abi.ChainEpoch) *dline.Info {
	return NewDeadlineInfo(ProvingPeriodStart(offset, epoch), DeadlineIndexAt(offset, epoch), epoch)
}

// NextDeadline returns the deadline after d, in the next proving period
// after the last one, seen at the same CurrentEpoch.
func NextDeadline(d *dline.Info) *dline.Info {
	periodStart, idx := d.PeriodStart, d.Index+1
	if idx >= WPoStPeriodDeadlines {
		periodStart, idx = periodStart+WPoStProvingPeriod, 0
	}
	return NewDeadlineInfo(periodStart, idx, d.CurrentEpoch)
}

// WindowPoStPartitionSectors returns how many sectors one partition of the
// window PoSt type holds (2 for the test sizes, 2349 for 32GiB, 2300 for
// 64GiB).
func WindowPoStPartitionSectors(p abi.RegisteredPoStProof) (uint64, error) {
	n, err := builtin.PoStProofWindowPoStPartitionSectors(p)
	if err != nil {
		return 0, fmt.Errorf("partition size of PoSt proof type %d: %w", p, err)
	}
	return n, nil
}

// MaxPartitionsPerPoStMessage returns how many partitions one
// SubmitWindowedPoSt message may prove, as Lotus computes it: as many as
// AddressedSectorsMax sectors fill, and since network version 21 (actors
// v12) at most PoStedPartitionsMax (3).
func MaxPartitionsPerPoStMessage(p abi.RegisteredPoStProof, nv network.Version) (int, error) {
	sectors, err := WindowPoStPartitionSectors(p)
	if err != nil {
		return 0, err
	}
	n := int(uint64(miner.AddressedSectorsMax) / sectors)
	if nv >= network.Version21 {
		n = min(n, miner.PoStedPartitionsMax)
	}
	return n, nil
}

// mod is the Euclidean remainder of a by b > 0: never negative.
func mod(a, b abi.ChainEpoch) abi.ChainEpoch {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}
