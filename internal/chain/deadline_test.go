package chain

import (
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	miner "github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/network"
)

func TestProtocolConstantsAreTheMinerActors(t *testing.T) {
	if WPoStProvingPeriod != miner.WPoStProvingPeriod || WPoStPeriodDeadlines != miner.WPoStPeriodDeadlines ||
		WPoStChallengeWindow != miner.WPoStChallengeWindow || WPoStChallengeLookback != miner.WPoStChallengeLookback ||
		FaultDeclarationCutoff != miner.FaultDeclarationCutoff {
		t.Errorf("constants differ from actors v%d's miner: %d %d %d %d %d", ActorsVersion,
			miner.WPoStProvingPeriod, miner.WPoStPeriodDeadlines, miner.WPoStChallengeWindow, miner.WPoStChallengeLookback, miner.FaultDeclarationCutoff)
	}
}

// bruteDeadline finds, by trying every period start offset+k*period, the
// deadline open at epoch: an oracle that shares no arithmetic with
// DeadlineAt.
func bruteDeadline(offset, epoch abi.ChainEpoch) (periodStart abi.ChainEpoch, idx uint64) {
	for k := abi.ChainEpoch(-10); k <= 10; k++ {
		start := offset%WPoStProvingPeriod + (epoch/WPoStProvingPeriod+k)*WPoStProvingPeriod
		if start <= epoch && epoch < start+WPoStProvingPeriod {
			for i := uint64(0); i < WPoStPeriodDeadlines; i++ {
				open := start + abi.ChainEpoch(i)*WPoStChallengeWindow
				if open <= epoch && epoch < open+WPoStChallengeWindow {
					return start, i
				}
			}
		}
	}
	panic("no deadline found")
}

func TestDeadlineAtAgreesWithDline(t *testing.T) {
	offsets := []abi.ChainEpoch{0, 1, 19, 20, 59, 60, 61, 1000, 1439, 2000, 2819, 2820, 2879,
		2880, 5761, -1, -2879} // the last ones name the same offsets as others
	epochs := []abi.ChainEpoch{-2881, -2880, -61, -60, -1, 0, 1, 19, 20, 59, 60, 69, 70, 1000, 2879, 2880, 2881,
		4863283, 4863283 + 2880, 1 << 40}
	for e := abi.ChainEpoch(0); e < 3*WPoStProvingPeriod; e += 7 {
		epochs = append(epochs, e)
	}
	checked := 0
	for _, offset := range offsets {
		for _, epoch := range epochs {
			got := DeadlineAt(offset, epoch)
			wantStart, wantIdx := bruteDeadline(offset, epoch)
			if got.PeriodStart != wantStart || got.Index != wantIdx {
				t.Fatalf("DeadlineAt(%d, %d) = period %d deadline %d, want period %d deadline %d",
					offset, epoch, got.PeriodStart, got.Index, wantStart, wantIdx)
			}
			if ProvingPeriodStart(offset, epoch) != wantStart || DeadlineIndexAt(offset, epoch) != wantIdx {
				t.Fatalf("ProvingPeriodStart/DeadlineIndexAt(%d, %d) disagree with DeadlineAt", offset, epoch)
			}
			// The same deadline as the miner actor computes, and as Lotus's
			// StateMinerProvingDeadline derives from an older period start
			// (dline's NextNotElapsed).
			if actor := miner.NewDeadlineInfo(wantStart, wantIdx, epoch); *got != *actor {
				t.Fatalf("DeadlineAt(%d, %d) = %+v, actor's %+v", offset, epoch, got, actor)
			}
			stale := NewDeadlineInfo(wantStart-3*WPoStProvingPeriod, wantIdx, epoch).NextNotElapsed()
			if *got != *stale {
				t.Fatalf("DeadlineAt(%d, %d) = %+v, NextNotElapsed %+v", offset, epoch, got, stale)
			}
			if !got.IsOpen() || !got.PeriodStarted() || got.PeriodElapsed() || got.Challenge != got.Open-WPoStChallengeLookback ||
				got.FaultCutoff != got.Open-FaultDeclarationCutoff {
				t.Fatalf("DeadlineAt(%d, %d) = %+v is not the open deadline", offset, epoch, got)
			}
			checked++
		}
	}
	t.Logf("checked %d (offset, epoch) pairs", checked)
}

func TestDeadlineEdgesNearChainStart(t *testing.T) {
	// A miner whose proving periods start at 2000 (mod 2880) is, at epoch
	// 100, in a period that started before genesis, as the actor computes.
	for _, tc := range []struct {
		offset, epoch abi.ChainEpoch
		wantStart     abi.ChainEpoch
		wantIdx       uint64
		wantOpen      abi.ChainEpoch
	}{
		{2000, 100, -880, 16, 80},
		{2000, 0, -880, 14, -40},
		{0, 0, 0, 0, 0},
		{2879, 0, -1, 0, -1},
		{2879, 59, -1, 1, 59},
		{1, 0, -2879, 47, -59},
	} {
		d := DeadlineAt(tc.offset, tc.epoch)
		if d.PeriodStart != tc.wantStart || d.Index != tc.wantIdx || d.Open != tc.wantOpen {
			t.Errorf("DeadlineAt(%d, %d) = period %d deadline %d open %d, want %d %d %d",
				tc.offset, tc.epoch, d.PeriodStart, d.Index, d.Open, tc.wantStart, tc.wantIdx, tc.wantOpen)
		}
	}
}

func TestNextDeadline(t *testing.T) {
	d := NewDeadlineInfo(2880, 46, 5700)
	for i, want := range []struct {
		start abi.ChainEpoch
		idx   uint64
	}{{2880, 47}, {5760, 0}, {5760, 1}} {
		d = NextDeadline(d)
		if d.PeriodStart != want.start || d.Index != want.idx || d.CurrentEpoch != 5700 {
			t.Fatalf("step %d: NextDeadline = %+v, want period %d deadline %d", i, d, want.start, want.idx)
		}
		if *d != *dline.NewInfo(want.start, want.idx, 5700, WPoStPeriodDeadlines, WPoStProvingPeriod,
			WPoStChallengeWindow, WPoStChallengeLookback, FaultDeclarationCutoff) {
			t.Fatalf("step %d: NextDeadline disagrees with dline.NewInfo", i)
		}
	}
	// The deadline after the open one opens when the open one closes.
	for epoch := abi.ChainEpoch(0); epoch < 2*WPoStProvingPeriod; epoch += 13 {
		cur := DeadlineAt(777, epoch)
		next := NextDeadline(cur)
		if next.Open != cur.Close || *next != *seenAt(DeadlineAt(777, cur.Close), epoch) {
			t.Fatalf("epoch %d: next of %+v is %+v", epoch, cur, next)
		}
	}
}

// seenAt returns d as seen at another epoch.
func seenAt(d *dline.Info, epoch abi.ChainEpoch) *dline.Info {
	return NewDeadlineInfo(d.PeriodStart, d.Index, epoch)
}

func TestPartitionSizes(t *testing.T) {
	for _, tc := range []struct {
		proof      abi.RegisteredPoStProof
		sectors    uint64
		nv21, nv20 int
	}{
		{abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1, 2, 3, 12500},
		{abi.RegisteredPoStProof_StackedDrgWindow8MiBV1_1, 2, 3, 12500},
		{abi.RegisteredPoStProof_StackedDrgWindow512MiBV1_1, 2, 3, 12500},
		{abi.RegisteredPoStProof_StackedDrgWindow32GiBV1_1, 2349, 3, 10},
		{abi.RegisteredPoStProof_StackedDrgWindow64GiBV1_1, 2300, 3, 10},
		{abi.RegisteredPoStProof_StackedDrgWindow32GiBV1, 2349, 3, 10},
	} {
		n, err := WindowPoStPartitionSectors(tc.proof)
		if err != nil || n != tc.sectors {
			t.Errorf("WindowPoStPartitionSectors(%d) = %d, %v; want %d", tc.proof, n, err, tc.sectors)
		}
		for nv, want := range map[network.Version]int{network.Version20: tc.nv20, network.Version21: tc.nv21, NetworkVersion: tc.nv21} {
			if got, err := MaxPartitionsPerPoStMessage(tc.proof, nv); err != nil || got != want {
				t.Errorf("MaxPartitionsPerPoStMessage(%d, nv%d) = %d, %v; want %d", tc.proof, nv, got, err, want)
			}
		}
	}
	if _, err := WindowPoStPartitionSectors(abi.RegisteredPoStProof_StackedDrgWinning32GiBV1); err == nil {
		t.Error("a winning PoSt type has a partition size")
	}
	if _, err := MaxPartitionsPerPoStMessage(-1, NetworkVersion); err == nil {
		t.Error("an unknown proof type has a partition limit")
	}
}
