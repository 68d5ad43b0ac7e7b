package devnet

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/batch"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

func TestCreateMiner(t *testing.T) {
	h := newHarness(t, Config{})
	maddr := h.createMiner()
	if maddr != idAddress(1000) {
		t.Errorf("first miner is %s, want t01000", maddr)
	}
	info, err := h.c.MinerInfo(maddr)
	if err != nil {
		t.Fatal(err)
	}
	walletID, _ := h.c.LookupID(h.wallet)
	if info.Owner != walletID || info.Worker != walletID || info.SectorSize != 2048 ||
		info.WindowPoStProofType != testPoSt || info.WindowPoStPartitionSectors != 2 || string(info.PeerId) != "peer" || len(info.Multiaddrs) != 1 {
		t.Errorf("miner info %+v", info)
	}
	act, err := h.c.Actor(maddr)
	if err != nil || act.Kind != ActorMiner || act.Robust.Protocol() != address.Actor {
		t.Errorf("actor %+v, %v", act, err)
	}
	if id, err := h.c.LookupID(act.Robust); err != nil || id != maddr {
		t.Errorf("robust address %s resolves to %s, %v", act.Robust, id, err)
	}
	// The proving period offset is a function of the miner id: another
	// chain with another seed places t01000's deadlines identically.
	other := newHarness(t, Config{Seed: "other"})
	otherMiner := other.createMiner()
	for _, epoch := range []abi.ChainEpoch{0, 1234, 5000} {
		a, _ := h.c.ProvingDeadline(maddr, epoch)
		b, _ := other.c.ProvingDeadline(otherMiner, epoch)
		if *a != *b {
			t.Errorf("epoch %d: deadlines %+v and %+v differ", epoch, a, b)
		}
		if !a.IsOpen() || a.Index >= 48 || (a.PeriodStart-provingPeriodOffset(1000))%2880 != 0 {
			t.Errorf("epoch %d: deadline %+v", epoch, a)
		}
	}
	// Pre-creation takes the requested id and is idempotent.
	pre, err := h.c.CreateMiner(1005, 2048)
	if err != nil || pre != idAddress(1005) {
		t.Fatalf("CreateMiner(1005): %s, %v", pre, err)
	}
	if again, err := h.c.CreateMiner(1005, 2048); err != nil || again != pre {
		t.Errorf("CreateMiner(1005) again: %s, %v", again, err)
	}
	if _, err := h.c.CreateMiner(1005, 8<<20); err == nil {
		t.Error("CreateMiner(1005) with another size succeeded")
	}
	if next := h.createMiner(); next != idAddress(1001) {
		t.Errorf("next miner is %s, want t01001", next)
	}
	if got := h.c.Miners(); len(got) != 3 {
		t.Errorf("miners %v", got)
	}
}

func TestPreCommitRules(t *testing.T) {
	h := newHarness(t, Config{})
	maddr := h.createMiner()
	h.advance(10)
	s := h.seal(maddr, 1)
	epoch := h.height()
	cases := map[string]func(p *miner.SectorPreCommitInfo){
		"future seal epoch":     func(p *miner.SectorPreCommitInfo) { p.SealRandEpoch = epoch + 100 },
		"stale seal epoch":      func(p *miner.SectorPreCommitInfo) { p.SealRandEpoch = epoch - miner.MaxPreCommitRandomnessLookback - 1 },
		"short expiration":      func(p *miner.SectorPreCommitInfo) { p.Expiration = epoch + 1000 },
		"data CID as sealed":    func(p *miner.SectorPreCommitInfo) { p.SealedCID = s.unsealedCID },
		"other size seal proof": func(p *miner.SectorPreCommitInfo) { p.SealProof = abi.RegisteredSealProof_StackedDrg8MiBV1_1 },
		"deals":                 func(p *miner.SectorPreCommitInfo) { p.DealIDs = []abi.DealID{1} },
	}
	for name, mutate := range cases {
		p := s.preCommitInfo(h.height())
		mutate(&p)
		l := h.send(maddr, builtin.MethodsMiner.PreCommitSectorBatch2, &miner.PreCommitSectorBatchParams2{Sectors: []miner.SectorPreCommitInfo{p}})
		wantExit(t, l, exitcode.ErrIllegalArgument, name)
	}
	if ok, _ := h.c.SectorAllocated(maddr, 1); ok {
		t.Fatal("a rejected pre-commit allocated its number")
	}
	wantExit(t, h.preCommit(maddr, s), exitcode.Ok, "pre-commit")
	if ok, _ := h.c.SectorAllocated(maddr, 1); !ok {
		t.Error("sector 1 not allocated")
	}
	pc, _ := h.c.PreCommitInfo(maddr, 1)
	if pc == nil || pc.PreCommitEpoch != h.height() || pc.Info.SealedCID != s.sealedCID {
		t.Errorf("pre-commit info %+v", pc)
	}
	wantExit(t, h.preCommit(maddr, s), exitcode.ErrIllegalArgument, "pre-commit of an allocated number")
}

func TestProveCommit(t *testing.T) {
	h := newHarness(t, Config{})
	maddr := h.createMiner()
	h.advance(3)
	sectors := []*testSector{h.seal(maddr, 1), h.seal(maddr, 2), h.seal(maddr, 3)}
	wantExit(t, h.preCommit(maddr, sectors...), exitcode.Ok, "pre-commit")

	// Too early: the interactive seed epoch has not passed.
	early := h.send(maddr, builtin.MethodsMiner.ProveCommitSectors3, proveCommitParams(sectors[:1], [][]byte{{1}}, true))
	wantExit(t, early, exitcode.ErrForbidden, "prove commit before the seed")

	h.advance(int(testDelay))
	seed := h.interactiveSeed(sectors[0])
	// The beacon one epoch early: what a manager that misread the seed
	// epoch would prove with.
	pc, _ := h.c.PreCommitInfo(maddr, 3)
	wrongSeed, err := h.c.BeaconRandomness(crypto.DomainSeparationTag_InteractiveSealChallengeSeed, pc.PreCommitEpoch+testDelay-1, AddressEntropy(maddr))
	if err != nil {
		t.Fatal(err)
	}
	poreps := [][]byte{h.porep(sectors[0], seed), h.porep(sectors[1], seed), h.porep(sectors[2], abi.InteractiveSealRandomness(wrongSeed))}
	activationEpoch := h.height() + 1
	l := h.send(maddr, builtin.MethodsMiner.ProveCommitSectors3, proveCommitParams(sectors, poreps, false))
	wantExit(t, l, exitcode.Ok, "ProveCommitSectors3")
	var ret batch.BatchReturn
	if err := ret.UnmarshalCBOR(bytes.NewReader(l.Receipt.Return)); err != nil {
		t.Fatal(err)
	}
	if ret.SuccessCount != 2 || len(ret.FailCodes) != 1 || ret.FailCodes[0] != (batch.FailCode{Idx: 2, Code: exitcode.ErrIllegalArgument}) {
		t.Errorf("batch return %+v", ret)
	}
	if !strings.Contains(l.Error, "invalid proof for sector 3") {
		t.Errorf("receipt note %q does not name sector 3's proof", l.Error)
	}
	for _, n := range []abi.SectorNumber{1, 2} {
		info, err := h.c.SectorInfo(maddr, n)
		if err != nil || info == nil || info.Activation != activationEpoch || info.SealedCID != sectors[n-1].sealedCID {
			t.Errorf("sector %d: %+v, %v", n, info, err)
		}
		if pc, _ := h.c.PreCommitInfo(maddr, n); pc != nil {
			t.Errorf("sector %d is still pre-committed", n)
		}
	}
	if info, _ := h.c.SectorInfo(maddr, 3); info != nil {
		t.Error("sector 3 activated with a proof for the wrong seed")
	}
	// Both sectors fill one partition of a deadline that was neither open
	// nor next at activation.
	a, b := h.sectorLocation(maddr, 1), h.sectorLocation(maddr, 2)
	if a != b {
		t.Errorf("sectors 1 and 2 at %+v and %+v: the partition was not filled", a, b)
	}
	di, _ := h.c.ProvingDeadline(maddr, activationEpoch)
	if a.Deadline == di.Index || a.Deadline == (di.Index+1)%48 {
		t.Errorf("sectors assigned to deadline %d, open at activation was %d", a.Deadline, di.Index)
	}
	parts, _ := h.c.Partitions(maddr, a.Deadline)
	if all, _ := parts[a.Partition].AllSectors.All(10); !slices.Equal(all, []uint64{1, 2}) {
		t.Errorf("partition sectors %v", all)
	}
	if active, _ := parts[a.Partition].ActiveSectors.Count(); active != 0 {
		t.Errorf("%d sectors active before their first WindowPoSt", active)
	}
	st := h.stats(maddr)
	if st.Unproven != 2 || st.PreCommitted != 1 || st.Active != 0 {
		t.Errorf("stats %+v", st)
	}

	// A whole-batch failure when activation success is required.
	bad := h.send(maddr, builtin.MethodsMiner.ProveCommitSectors3, proveCommitParams(sectors[2:], poreps[2:], true))
	wantExit(t, bad, exitcode.ErrIllegalArgument, "bad proof with RequireActivationSuccess")
	// With the right seed sector 3 activates.
	good := h.send(maddr, builtin.MethodsMiner.ProveCommitSectors3,
		proveCommitParams(sectors[2:], [][]byte{h.porep(sectors[2], h.interactiveSeed(sectors[2]))}, true))
	wantExit(t, good, exitcode.Ok, "sector 3 with the right seed")
	if st := h.stats(maddr); st.Unproven != 3 || st.PreCommitted != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWindowPoSt(t *testing.T) {
	h, maddr, loc := newProvingMiner(t)
	open, closeEpoch := h.openWindow(maddr, loc.Deadline)

	good := h.windowPoSt(maddr, loc.Deadline, []uint64{0}, nil)
	submit := func(p *miner.SubmitWindowedPoStParams) MsgLookup {
		return h.send(maddr, builtin.MethodsMiner.SubmitWindowedPoSt, p)
	}
	mutated := func(mutate func(p *miner.SubmitWindowedPoStParams)) *miner.SubmitWindowedPoStParams {
		p := *good
		p.Proofs = slices.Clone(good.Proofs)
		p.ChainCommitRand = slices.Clone(good.ChainCommitRand)
		mutate(&p)
		return &p
	}
	rejects := map[string]*miner.SubmitWindowedPoStParams{
		"bad proof": mutated(func(p *miner.SubmitWindowedPoStParams) {
			p.Proofs[0].ProofBytes = slices.Clone(p.Proofs[0].ProofBytes)
			p.Proofs[0].ProofBytes[len(p.Proofs[0].ProofBytes)/2] ^= 1
		}),
		"wrong deadline":     mutated(func(p *miner.SubmitWindowedPoStParams) { p.Deadline = (p.Deadline + 1) % 48 }),
		"bad commit rand":    mutated(func(p *miner.SubmitWindowedPoStParams) { p.ChainCommitRand[0] ^= 1 }),
		"stale commit epoch": mutated(func(p *miner.SubmitWindowedPoStParams) { p.ChainCommitEpoch = open - 21 }),
		"unknown partition": mutated(func(p *miner.SubmitWindowedPoStParams) {
			p.Partitions = []miner.PoStPartition{{Index: 5, Skipped: bitfield.New()}}
		}),
	}
	for name, p := range rejects {
		if l := submit(p); l.Receipt.ExitCode == exitcode.Ok {
			t.Errorf("%s: accepted", name)
		}
	}
	st := h.stats(maddr)
	if st.ProofsRejected != uint64(len(rejects)) || st.ProofsAccepted != 0 || st.Unproven != 2 {
		t.Errorf("after rejected proofs: %+v", st)
	}
	dls, _ := h.c.Deadlines(maddr)
	if n, _ := dls[loc.Deadline].PostSubmissions.Count(); n != 0 {
		t.Error("a rejected proof set PostSubmissions")
	}

	wantExit(t, submit(good), exitcode.Ok, "good WindowPoSt")
	dls, _ = h.c.Deadlines(maddr)
	if set, _ := dls[loc.Deadline].PostSubmissions.IsSet(0); !set {
		t.Error("PostSubmissions bit 0 not set")
	}
	st = h.stats(maddr)
	if st.Active != 2 || st.Unproven != 0 || st.ProofsAccepted != 1 {
		t.Errorf("after the proof: %+v", st)
	}
	if p, _ := h.c.Power(maddr); !p.MinerRaw.Equals(abi.NewStoragePower(4096)) {
		t.Errorf("power %+v", p)
	}
	wantExit(t, submit(good), exitcode.ErrIllegalArgument, "proof for a partition already proven")

	// The window closes without a miss; after it, a proof is late.
	h.advanceTo(closeEpoch)
	dls, _ = h.c.Deadlines(maddr)
	late := mutated(func(p *miner.SubmitWindowedPoStParams) {})
	if l := submit(late); l.Receipt.ExitCode == exitcode.Ok {
		t.Error("proof outside the window accepted")
	}
	st = h.stats(maddr)
	if len(st.Missed) != 0 || st.Active != 2 {
		t.Errorf("after the window: %+v", st)
	}
	if !isEmpty(t, dls[loc.Deadline].PostSubmissions) {
		t.Error("PostSubmissions not reset at the deadline's close")
	}
}

// newProvingMiner is a chain with a miner whose sectors 1 and 2 are
// active in one partition, at loc.
func newProvingMiner(t *testing.T) (*harness, address.Address, SectorLocation) {
	h := newHarness(t, Config{})
	maddr := h.createMiner()
	h.advance(3)
	h.activate(maddr, 1, 2)
	return h, maddr, h.sectorLocation(maddr, 1)
}

func isEmpty(t *testing.T, bf bitfield.BitField) bool {
	t.Helper()
	n, err := bf.Count()
	if err != nil {
		t.Fatal(err)
	}
	return n == 0
}

func TestMissedDeadlineAndRecovery(t *testing.T) {
	h, maddr, loc := newProvingMiner(t)

	// The first window passes without a proof: a miss, both sectors faulty.
	_, closeEpoch := h.openWindow(maddr, loc.Deadline)
	h.advanceTo(closeEpoch)
	st := h.stats(maddr)
	if len(st.Missed) != 1 || st.Faulty != 2 {
		t.Fatalf("after the first window: %+v", st)
	}
	miss := st.Missed[0]
	if miss.Deadline != loc.Deadline || miss.Partition != loc.Partition || miss.Epoch != closeEpoch-1 || miss.Sectors != 2 || miss.Miner != maddr {
		t.Errorf("missed record %+v", miss)
	}
	if r := h.c.Records(); len(r.Missed) != 1 || r.Missed[0] != miss {
		t.Errorf("chain-wide misses %+v", r.Missed)
	}
	faults, _ := h.c.Faults(maddr)
	if n, _ := faults.Count(); n != 2 {
		t.Errorf("%d faults", n)
	}

	// A period later, still faulty: a faulty skip, not a new miss.
	_, closeEpoch = h.openWindow(maddr, loc.Deadline)
	h.advanceTo(closeEpoch)
	if st = h.stats(maddr); len(st.Missed) != 1 || len(st.FaultySkips) != 1 {
		t.Fatalf("after the second window: %+v", st)
	}

	// Recovery declared well before the cutoff.
	decl := &miner.DeclareFaultsRecoveredParams{Recoveries: []miner.RecoveryDeclaration{{
		Deadline: loc.Deadline, Partition: loc.Partition, Sectors: bitfield.NewFromSet([]uint64{1, 2}),
	}}}
	wantExit(t, h.send(maddr, builtin.MethodsMiner.DeclareFaultsRecovered, decl), exitcode.Ok, "early recovery")
	if st = h.stats(maddr); st.Recovering != 2 {
		t.Fatalf("after declaring recovery: %+v", st)
	}
	// At the cutoff, a declaration is late.
	di, _ := h.c.ProvingDeadline(maddr, h.height())
	next := miner.NewDeadlineInfo(di.PeriodStart, loc.Deadline, h.height()).NextNotElapsed()
	h.advanceTo(next.FaultCutoff - 1)
	wantExit(t, h.send(maddr, builtin.MethodsMiner.DeclareFaultsRecovered, decl), exitcode.ErrIllegalArgument, "recovery at the cutoff")
	wantExit(t, h.send(maddr, builtin.MethodsMiner.DeclareFaults, &miner.DeclareFaultsParams{Faults: []miner.FaultDeclaration{{
		Deadline: loc.Deadline, Partition: loc.Partition, Sectors: bitfield.NewFromSet([]uint64{1}),
	}}}), exitcode.ErrIllegalArgument, "fault after the cutoff")

	// Proven again: active, recovered, no new miss.
	h.openWindow(maddr, loc.Deadline)
	wantExit(t, h.send(maddr, builtin.MethodsMiner.SubmitWindowedPoSt, h.windowPoSt(maddr, loc.Deadline, []uint64{0}, nil)), exitcode.Ok, "recovery proof")
	st = h.stats(maddr)
	if st.Active != 2 || st.Faulty != 0 || st.Recovering != 0 || st.Recovered != 2 {
		t.Errorf("after the recovery proof: %+v", st)
	}
	h.advanceTo(next.Close)
	if st = h.stats(maddr); len(st.Missed) != 1 || st.Active != 2 {
		t.Errorf("after the recovered window: %+v", st)
	}
}

func TestSkippedFaultsAndTermination(t *testing.T) {
	h, maddr, loc := newProvingMiner(t)
	_, closeEpoch := h.openWindow(maddr, loc.Deadline)

	p := h.windowPoSt(maddr, loc.Deadline, []uint64{0}, map[abi.SectorNumber]bool{2: true})
	wantExit(t, h.send(maddr, builtin.MethodsMiner.SubmitWindowedPoSt, p), exitcode.Ok, "proof skipping sector 2")
	st := h.stats(maddr)
	if st.Active != 1 || st.Faulty != 1 {
		t.Errorf("after skipping: %+v", st)
	}
	if rec := st.PoSts[len(st.PoSts)-1]; rec.Proven != 1 || rec.Skipped != 1 || !rec.Accepted {
		t.Errorf("PoSt record %+v", rec)
	}
	faults, _ := h.c.Faults(maddr)
	if set, _ := faults.IsSet(2); !set {
		t.Error("skipped sector 2 is not faulty")
	}
	h.advanceTo(closeEpoch)
	if st = h.stats(maddr); len(st.Missed) != 0 || len(st.FaultySkips) != 0 {
		t.Errorf("a proven partition was recorded missed: %+v", st)
	}

	// Declared faulty ahead of its next window.
	wantExit(t, h.send(maddr, builtin.MethodsMiner.DeclareFaults, &miner.DeclareFaultsParams{Faults: []miner.FaultDeclaration{{
		Deadline: loc.Deadline, Partition: loc.Partition, Sectors: bitfield.NewFromSet([]uint64{1}),
	}}}), exitcode.Ok, "declare sector 1 faulty")
	if st = h.stats(maddr); st.Faulty != 2 {
		t.Errorf("after declaring faults: %+v", st)
	}

	term := &miner.TerminateSectorsParams{Terminations: []miner.TerminationDeclaration{{
		Deadline: loc.Deadline, Partition: loc.Partition, Sectors: bitfield.NewFromSet([]uint64{2}),
	}}}
	l := h.send(maddr, builtin.MethodsMiner.TerminateSectors, term)
	wantExit(t, l, exitcode.Ok, "terminate sector 2")
	var ret miner.TerminateSectorsReturn
	if err := ret.UnmarshalCBOR(bytes.NewReader(l.Receipt.Return)); err != nil || !ret.Done {
		t.Errorf("terminate return %+v, %v", ret, err)
	}
	if st = h.stats(maddr); st.Terminated != 1 || st.Faulty != 1 {
		t.Errorf("after terminating: %+v", st)
	}
	if info, _ := h.c.SectorInfo(maddr, 2); info != nil {
		t.Error("a terminated sector still has sector info")
	}
	parts, _ := h.c.Partitions(maddr, loc.Deadline)
	if live, _ := parts[loc.Partition].LiveSectors.All(10); !slices.Equal(live, []uint64{1}) {
		t.Errorf("live sectors %v", live)
	}
	wantExit(t, h.send(maddr, builtin.MethodsMiner.TerminateSectors, term), exitcode.ErrIllegalArgument, "terminate a terminated sector")

	// The deadline is immutable while open or next.
	h.openWindow(maddr, loc.Deadline)
	term.Terminations[0].Sectors = bitfield.NewFromSet([]uint64{1})
	wantExit(t, h.send(maddr, builtin.MethodsMiner.TerminateSectors, term), exitcode.ErrIllegalArgument, "terminate in an open deadline")
}

// Deadline assignment, checked on the actor state directly: 8 sectors
// spread over 4 deadlines with 2-sector partitions, 2 with 4-sector ones,
// never into the open deadline or the next.
func TestDeadlineAssignment(t *testing.T) {
	for _, tc := range []struct {
		partitionSectors uint64
		deadlines        int
	}{{0, 4}, {4, 2}} {
		h := newHarness(t, Config{PartitionSectors: tc.partitionSectors})
		maddr := h.createMiner()
		h.advance(500)
		m := h.c.st.Miners[minerID(t, maddr)]
		epoch := h.height()
		var pcs []*miner.SectorPreCommitOnChainInfo
		for n := range abi.SectorNumber(8) {
			pcs = append(pcs, &miner.SectorPreCommitOnChainInfo{Info: miner.SectorPreCommitInfo{SectorNumber: n + 1, SealProof: testSeal}})
		}
		if err := h.c.activateSectors(m, pcs, epoch); err != nil {
			t.Fatal(err)
		}
		want := tc.partitionSectors
		if want == 0 {
			want = 2
		}
		open := m.deadlineAt(epoch).Index
		perDeadline := map[uint64][]abi.SectorNumber{}
		for n := range abi.SectorNumber(8) {
			s := m.Sectors[n+1]
			perDeadline[s.Deadline] = append(perDeadline[s.Deadline], n+1)
			if s.Deadline == open || s.Deadline == (open+1)%48 {
				t.Errorf("sector %d in deadline %d, open is %d", n+1, s.Deadline, open)
			}
		}
		if len(perDeadline) != tc.deadlines {
			t.Errorf("partition size %d: sectors spread as %v, want %d deadlines", want, perDeadline, tc.deadlines)
		}
		for dl, nums := range perDeadline {
			if uint64(len(nums)) != want || len(m.Deadlines[dl].Partitions) != 1 {
				t.Errorf("deadline %d holds %v in %d partitions", dl, nums, len(m.Deadlines[dl].Partitions))
			}
		}
		if info, _ := h.c.MinerInfo(maddr); info.WindowPoStPartitionSectors != want {
			t.Errorf("partition sectors %d, want %d", info.WindowPoStPartitionSectors, want)
		}
	}
}

func TestAssignBefore(t *testing.T) {
	// Fill a non-full partition before opening a partition elsewhere;
	// among empty deadlines take the lowest index.
	partial := deadlineLoad{index: 9, live: 1, total: 1}
	empty := deadlineLoad{index: 3}
	if !assignBefore(partial, empty, 2) || assignBefore(empty, partial, 2) {
		t.Error("an empty deadline beat a partial partition")
	}
	full := deadlineLoad{index: 1, live: 2, total: 2}
	if !assignBefore(empty, full, 2) {
		t.Error("a full deadline beat an empty one")
	}
	if !assignBefore(deadlineLoad{index: 2}, deadlineLoad{index: 5}, 2) {
		t.Error("higher index first")
	}
	// Terminated sectors count for the pre-compaction partitions.
	withTerminated := deadlineLoad{index: 0, live: 0, total: 2}
	if !assignBefore(empty, withTerminated, 2) {
		t.Error("a deadline with terminated sectors beat an empty one")
	}
}
