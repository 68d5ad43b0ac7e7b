package devnettest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/proofs"
)

const testDelay = abi.ChainEpoch(5)

func TestSealSectors(t *testing.T) {
	d := devnettest.NewWithOptions(t, devnettest.Options{PreCommitChallengeDelay: testDelay, PartitionSectors: 1})
	if d.SealProof != abi.RegisteredSealProof_StackedDrg2KiBV1_1 || d.PoStProof != abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1 {
		t.Fatalf("proof types %d, %d, want 2KiB V1_1", d.SealProof, d.PoStProof)
	}
	root := t.TempDir()
	sealed := d.SealSectors(root, 4)
	wantSectors(t, d, root, sealed, 1, 2, 3, 4)
	if got := partitionedSectors(t, d); !slices.Equal(got, []abi.SectorNumber{1, 2, 3, 4}) {
		t.Fatalf("partitions hold sectors %v, want 1..4", got)
	}

	more := d.SealSectors(root, 2)
	wantSectors(t, d, root, more, 5, 6)
	sealed = append(sealed, more...)
	if got := partitionedSectors(t, d); !slices.Equal(got, []abi.SectorNumber{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("partitions hold sectors %v, want 1..6", got)
	}

	proveDeadline(t, d, sealed, deadlineOf(t, d, 1))
}

func TestSealSectors8MiB(t *testing.T) {
	d := devnettest.NewWithOptions(t, devnettest.Options{PreCommitChallengeDelay: testDelay, SectorSize: 8 << 20})
	if d.SealProof != abi.RegisteredSealProof_StackedDrg8MiBV1_1 || d.PoStProof != abi.RegisteredPoStProof_StackedDrgWindow8MiBV1_1 {
		t.Fatalf("proof types %d, %d, want 8MiB V1_1", d.SealProof, d.PoStProof)
	}
	root := t.TempDir()
	sealed := d.SealSectors(root, 1)
	wantSectors(t, d, root, sealed, 1)
	proveDeadline(t, d, sealed, deadlineOf(t, d, 1))
}

// wantSectors checks that sealed are sectors nums, finalized in root's
// persist-store layout and active on chain with their sealed CIDs.
func wantSectors(t *testing.T, d *devnettest.Chain, root string, sealed []devnettest.SealedSector, nums ...abi.SectorNumber) {
	t.Helper()
	size, err := d.SealProof.SectorSize()
	if err != nil {
		t.Fatal(err)
	}
	files, err := proofs.CacheFilesFor(d.SealProof)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(nums) {
		t.Fatalf("%d sectors sealed, want %d", len(sealed), len(nums))
	}
	ctx := t.Context()
	head := d.Chain.Head().Height
	for i, s := range sealed {
		id := abi.SectorID{Miner: d.Actor, Number: nums[i]}
		if s.Number != nums[i] || s.SealProof != d.SealProof {
			t.Fatalf("sector %d is number %d, proof %d; want %d, %d", i, s.Number, s.SealProof, nums[i], d.SealProof)
		}
		if s.SealedPath != proofs.SealedPath(root, id) || s.CacheDir != proofs.CacheDirPath(root, id) {
			t.Fatalf("sector %d lies at %s and %s, want the persist-store layout under %s", s.Number, s.SealedPath, s.CacheDir, root)
		}
		fi, err := os.Stat(s.SealedPath)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(size) {
			t.Fatalf("sealed file of sector %d is %d bytes, want %d", s.Number, fi.Size(), size)
		}
		for _, name := range files.Persisted() {
			if _, err := os.Stat(filepath.Join(s.CacheDir, name)); err != nil {
				t.Fatalf("sector %d: %v", s.Number, err)
			}
		}
		for _, name := range files.Temporary() {
			if _, err := os.Stat(filepath.Join(s.CacheDir, name)); !os.IsNotExist(err) {
				t.Fatalf("sector %d is not finalized: %s is there (%v)", s.Number, name, err)
			}
		}
		info, err := d.Node.StateSectorGetInfo(ctx, d.Miner, s.Number, chain.EmptyTSK)
		if err != nil {
			t.Fatal(err)
		}
		if info == nil || info.SealedCID != s.SealedCID || info.Activation > head || info.Expiration <= head {
			t.Fatalf("sector %d on chain: %+v, want active with sealed CID %s at %d", s.Number, info, s.SealedCID, head)
		}
	}
	all, err := d.Node.StateMinerSectors(ctx, d.Miner, nil, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	var onChain []abi.SectorNumber
	for _, info := range all {
		onChain = append(onChain, info.SectorNumber)
	}
	slices.Sort(onChain)
	if want := abi.SectorNumber(len(onChain)); onChain[len(onChain)-1] != want || onChain[0] != 1 {
		t.Fatalf("miner's sectors on chain %v, want 1..%d", onChain, want)
	}
}

// partitionedSectors is every sector in the partitions of the miner's
// deadlines, sorted; with a partition size of 1 each partition must hold
// one.
func partitionedSectors(t *testing.T, d *devnettest.Chain) []abi.SectorNumber {
	t.Helper()
	var out []abi.SectorNumber
	for dl := range uint64(miner.WPoStPeriodDeadlines) {
		parts, err := d.Node.StateMinerPartitions(t.Context(), d.Miner, dl, chain.EmptyTSK)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range parts {
			nums, err := p.LiveSectors.All(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			if len(nums) != 1 {
				t.Fatalf("partition %d of deadline %d holds sectors %v, want one", i, dl, nums)
			}
			out = append(out, abi.SectorNumber(nums[0]))
		}
	}
	slices.Sort(out)
	return out
}

// deadlineOf is the deadline whose partitions hold sector n.
func deadlineOf(t *testing.T, d *devnettest.Chain, n abi.SectorNumber) uint64 {
	t.Helper()
	for dl := range uint64(miner.WPoStPeriodDeadlines) {
		parts, err := d.Node.StateMinerPartitions(t.Context(), d.Miner, dl, chain.EmptyTSK)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if ok, err := p.AllSectors.IsSet(uint64(n)); err != nil || ok {
				if err != nil {
					t.Fatal(err)
				}
				return dl
			}
		}
	}
	t.Fatalf("sector %d is in no partition", n)
	return 0
}

// proveDeadline proves every partition of deadline dl in its next window
// as a poster would, from the sectors' files and the chain's randomness,
// and checks that the chain accepts the proof.
func proveDeadline(t *testing.T, d *devnettest.Chain, sealed []devnettest.SealedSector, dl uint64) {
	t.Helper()
	ctx := t.Context()
	cur, err := d.Node.StateMinerProvingDeadline(ctx, d.Miner, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	di := miner.NewDeadlineInfo(cur.PeriodStart, dl, cur.CurrentEpoch).NextNotElapsed()
	d.AdvanceTo(di.Challenge)

	parts, err := d.Node.StateMinerPartitions(ctx, d.Miner, dl, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	params := &miner.SubmitWindowedPoStParams{Deadline: dl}
	var private []proofs.PrivateSectorInfo
	for i, p := range parts {
		nums, err := p.LiveSectors.All(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nums {
			k := slices.IndexFunc(sealed, func(s devnettest.SealedSector) bool { return uint64(s.Number) == n })
			if k < 0 {
				t.Fatalf("deadline %d holds sector %d, which the test did not seal", dl, n)
			}
			private = append(private, sealed[k].Private())
		}
		params.Partitions = append(params.Partitions, miner.PoStPartition{Index: uint64(i), Skipped: bitfield.New()})
	}
	rand, err := d.Node.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_WindowedPoStChallengeSeed, di.Challenge,
		devnet.AddressEntropy(d.Miner), chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	proof, faulty, err := d.Engine.GenerateWindowPoSt(ctx, d.Actor, d.PoStProof, private, abi.PoStRandomness(rand))
	if err != nil || len(faulty) != 0 {
		t.Fatalf("GenerateWindowPoSt: %v, faulty %v", err, faulty)
	}
	params.Proofs = proof

	// The message executes in the epoch after the head: the window's first.
	d.AdvanceTo(di.Open - 1)
	params.ChainCommitEpoch = d.Chain.Head().Height
	if params.ChainCommitRand, err = d.Node.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_PoStChainCommit,
		params.ChainCommitEpoch, nil, chain.EmptyTSK); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := params.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	sm, err := d.Node.MpoolPushMessage(ctx, &chain.Message{
		To: d.Miner, From: d.Wallet, Value: big.Zero(), Method: builtin.MethodsMiner.SubmitWindowedPoSt, Params: buf.Bytes(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Advance(1)
	msg, err := sm.Cid()
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Node.StateSearchMsg(ctx, chain.EmptyTSK, msg, chain.LookbackNoLimit, true)
	if err != nil || l == nil {
		t.Fatalf("SubmitWindowedPoSt %s: %+v, %v", msg, l, err)
	}
	if l.Receipt.ExitCode != 0 {
		t.Fatalf("SubmitWindowedPoSt at %d: exit code %d", l.Height, l.Receipt.ExitCode)
	}
	stats, err := d.Chain.Stats(d.Miner)
	if err != nil {
		t.Fatal(err)
	}
	if stats.ProofsAccepted != 1 || stats.ProofsRejected != 0 || len(stats.PoSts) != 1 {
		t.Fatalf("PoSts on chain: %d accepted, %d rejected (%+v), want 1 accepted", stats.ProofsAccepted, stats.ProofsRejected, stats.PoSts)
	}
	if got := stats.PoSts[0]; got.Deadline != dl || got.Proven != uint64(len(private)) {
		t.Fatalf("PoSt of deadline %d proved %d sectors, want deadline %d with %d", got.Deadline, got.Proven, dl, len(private))
	}
}

// BenchmarkSealSectors measures SealSectors on a chain with a
// PreCommitChallengeDelay of 5: sealing, the two messages and the epochs
// mined between them.
func BenchmarkSealSectors(b *testing.B) {
	for _, bc := range []struct {
		name  string
		size  abi.SectorSize
		count int
	}{
		{"2KiB/16", 2 << 10, 16},
		{"8MiB/1", 8 << 20, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := devnettest.NewWithOptions(b, devnettest.Options{PreCommitChallengeDelay: testDelay, SectorSize: bc.size})
			root := b.TempDir()
			for b.Loop() {
				d.SealSectors(root, bc.count)
			}
		})
	}
}
