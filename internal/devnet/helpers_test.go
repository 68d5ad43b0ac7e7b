package devnet

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/builtin/v19/power"

	"github.com/damocles-go/damocles/internal/proofs"
)

const (
	testDelay    = abi.ChainEpoch(5)
	testSeal     = abi.RegisteredSealProof_StackedDrg2KiBV1_1
	testPoSt     = abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1
	testBlockGap = 100 * time.Millisecond
)

var testGenesis = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives a chain as a manager would: messages from the devnet
// wallet, sectors really sealed by devproof with the chain's randomness.
type harness struct {
	t      testing.TB
	c      *Chain
	engine *proofs.DevEngine
	// root is the sector store: sealed/, cache/ and unsealed/.
	root   string
	wallet address.Address
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	e := &proofs.DevEngine{}
	cfg.Verifier = e
	if cfg.PreCommitChallengeDelay == 0 {
		cfg.PreCommitChallengeDelay = testDelay
	}
	cfg.GenesisTime = testGenesis
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, engine: e, root: t.TempDir(), wallet: c.DefaultAddress()}
}

func (h *harness) height() abi.ChainEpoch { return h.c.Head().Height }

func (h *harness) advance(n int) {
	h.t.Helper()
	for range n {
		next := h.height() + 1
		if _, err := h.c.AdvanceEpoch(testGenesis.Add(time.Duration(next) * testBlockGap)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// advanceTo mines until the head is at epoch.
func (h *harness) advanceTo(epoch abi.ChainEpoch) {
	h.t.Helper()
	if epoch < h.height() {
		h.t.Fatalf("cannot go back from %d to %d", h.height(), epoch)
	}
	h.advance(int(epoch - h.height()))
}

func encode(t testing.TB, v cbg.CBORMarshaler) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := v.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// push sends a message from the wallet without mining it.
func (h *harness) push(to address.Address, method abi.MethodNum, params cbg.CBORMarshaler) cid.Cid {
	h.t.Helper()
	msg := Message{To: to, From: h.wallet, Method: method, Value: big.Zero(), GasLimit: 1_000_000}
	if params != nil {
		msg.Params = encode(h.t, params)
	}
	sm, err := h.c.PushMessage(msg)
	if err != nil {
		h.t.Fatal(err)
	}
	return sm.Cid
}

// send pushes a message, mines its epoch and returns how it ended.
func (h *harness) send(to address.Address, method abi.MethodNum, params cbg.CBORMarshaler) MsgLookup {
	h.t.Helper()
	id := h.push(to, method, params)
	h.advance(1)
	return h.lookup(id)
}

func (h *harness) lookup(id cid.Cid) MsgLookup {
	h.t.Helper()
	l, ok := h.c.Lookup(id)
	if !ok {
		h.t.Fatalf("message %s not executed", id)
	}
	return l
}

func wantExit(t testing.TB, l MsgLookup, code exitcode.ExitCode, what string) {
	t.Helper()
	if l.Receipt.ExitCode != code {
		t.Fatalf("%s: exit code %d (%s), want %d", what, l.Receipt.ExitCode, l.Error, code)
	}
}

// createMiner creates a 2KiB miner through the power actor.
func (h *harness) createMiner() address.Address {
	h.t.Helper()
	l := h.send(builtin.StoragePowerActorAddr, builtin.MethodsPower.CreateMiner, &power.CreateMinerParams{
		Owner: h.wallet, Worker: h.wallet, WindowPoStProofType: testPoSt,
		Peer: []byte("peer"), Multiaddrs: []abi.Multiaddrs{[]byte{4, 127, 0, 0, 1}},
	})
	wantExit(h.t, l, exitcode.Ok, "CreateMiner")
	var ret power.CreateMinerReturn
	if err := ret.UnmarshalCBOR(bytes.NewReader(l.Receipt.Return)); err != nil {
		h.t.Fatal(err)
	}
	return ret.IDAddress
}

// testSector is a sector sealed for a miner of the chain.
type testSector struct {
	maddr         address.Address
	id            abi.SectorID
	sealRandEpoch abi.ChainEpoch
	pc1           proofs.PC1Out
	sealedCID     cid.Cid
	unsealedCID   cid.Cid
	ticket        abi.SealRandomness
}

func minerID(t testing.TB, maddr address.Address) abi.ActorID {
	id, err := address.IDFromAddress(maddr)
	if err != nil {
		t.Fatal(err)
	}
	return abi.ActorID(id)
}

// seal runs PC1 and PC2 of a CC sector with the chain's ticket at the
// current head, as a manager fetches it.
func (h *harness) seal(maddr address.Address, n abi.SectorNumber) *testSector {
	h.t.Helper()
	ctx := context.Background()
	s := &testSector{maddr: maddr, id: abi.SectorID{Miner: minerID(h.t, maddr), Number: n}, sealRandEpoch: h.height()}
	ticket, err := h.c.TicketRandomness(crypto.DomainSeparationTag_SealRandomness, s.sealRandEpoch, AddressEntropy(maddr))
	if err != nil {
		h.t.Fatal(err)
	}
	s.ticket = abi.SealRandomness(ticket)
	staged := filepath.Join(h.root, "unsealed", proofs.SectorName(s.id))
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		h.t.Fatal(err)
	}
	cache, sealed := proofs.CacheDirPath(h.root, s.id), proofs.SealedPath(h.root, s.id)
	if s.pc1, err = h.engine.SealPreCommitPhase1(ctx, testSeal, cache, staged, sealed, n, s.id.Miner, s.ticket, nil); err != nil {
		h.t.Fatal(err)
	}
	if s.sealedCID, s.unsealedCID, err = h.engine.SealPreCommitPhase2(ctx, s.pc1, cache, sealed); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (s *testSector) preCommitInfo(epoch abi.ChainEpoch) miner.SectorPreCommitInfo {
	return miner.SectorPreCommitInfo{
		SealProof: testSeal, SectorNumber: s.id.Number, SealedCID: s.sealedCID,
		SealRandEpoch: s.sealRandEpoch, Expiration: epoch + 540*builtin.EpochsInDay,
	}
}

// preCommit pre-commits sectors in one batch, mined in the next epoch.
func (h *harness) preCommit(maddr address.Address, sectors ...*testSector) MsgLookup {
	h.t.Helper()
	p := &miner.PreCommitSectorBatchParams2{}
	for _, s := range sectors {
		p.Sectors = append(p.Sectors, s.preCommitInfo(h.height()))
	}
	return h.send(maddr, builtin.MethodsMiner.PreCommitSectorBatch2, p)
}

// interactiveSeed is the seed the chain gives a pre-committed sector, as a
// manager reads it once the head reaches its epoch.
func (h *harness) interactiveSeed(s *testSector) abi.InteractiveSealRandomness {
	h.t.Helper()
	pc, err := h.c.PreCommitInfo(s.maddr, s.id.Number)
	if err != nil || pc == nil {
		h.t.Fatalf("pre-commit of sector %d: %v, %v", s.id.Number, pc, err)
	}
	seed, err := h.c.BeaconRandomness(crypto.DomainSeparationTag_InteractiveSealChallengeSeed, pc.PreCommitEpoch+testDelay, AddressEntropy(s.maddr))
	if err != nil {
		h.t.Fatal(err)
	}
	return abi.InteractiveSealRandomness(seed)
}

// porep runs C1 and C2 with seed.
func (h *harness) porep(s *testSector, seed abi.InteractiveSealRandomness) []byte {
	h.t.Helper()
	ctx := context.Background()
	c1, err := h.engine.SealCommitPhase1(ctx, testSeal, s.sealedCID, s.unsealedCID, proofs.CacheDirPath(h.root, s.id),
		proofs.SealedPath(h.root, s.id), s.id.Number, s.id.Miner, s.ticket, seed, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	pr, err := h.engine.SealCommitPhase2(ctx, c1, s.id.Number, s.id.Miner)
	if err != nil {
		h.t.Fatal(err)
	}
	return pr
}

func proveCommitParams(sectors []*testSector, porep [][]byte, require bool) *miner.ProveCommitSectors3Params {
	p := &miner.ProveCommitSectors3Params{SectorProofs: porep, RequireActivationSuccess: require}
	for _, s := range sectors {
		p.SectorActivations = append(p.SectorActivations, miner.SectorActivationManifest{SectorNumber: s.id.Number})
	}
	return p
}

// activate seals, pre-commits and proves sectors first..first+count-1.
func (h *harness) activate(maddr address.Address, first abi.SectorNumber, count int) []*testSector {
	h.t.Helper()
	var sectors []*testSector
	for i := range count {
		sectors = append(sectors, h.seal(maddr, first+abi.SectorNumber(i)))
	}
	wantExit(h.t, h.preCommit(maddr, sectors...), exitcode.Ok, "PreCommitSectorBatch2")
	h.advance(int(testDelay))
	var poreps [][]byte
	for _, s := range sectors {
		poreps = append(poreps, h.porep(s, h.interactiveSeed(s)))
	}
	l := h.send(maddr, builtin.MethodsMiner.ProveCommitSectors3, proveCommitParams(sectors, poreps, true))
	wantExit(h.t, l, exitcode.Ok, "ProveCommitSectors3")
	return sectors
}

func (h *harness) private(maddr address.Address, n abi.SectorNumber) proofs.PrivateSectorInfo {
	h.t.Helper()
	info, err := h.c.SectorInfo(maddr, n)
	if err != nil || info == nil {
		h.t.Fatalf("sector %d: %v, %v", n, info, err)
	}
	id := abi.SectorID{Miner: minerID(h.t, maddr), Number: n}
	return proofs.PrivateSectorInfo{
		SectorNumber: n, SealProof: info.SealProof, SealedCID: info.SealedCID,
		CacheDir: proofs.CacheDirPath(h.root, id), SealedPath: proofs.SealedPath(h.root, id),
	}
}

// sectorLocation finds where a sector is proven.
func (h *harness) sectorLocation(maddr address.Address, n abi.SectorNumber) SectorLocation {
	h.t.Helper()
	loc, found, err := h.c.SectorPartition(maddr, n)
	if err != nil || !found {
		h.t.Fatalf("sector %d: found %v, %v", n, found, err)
	}
	return loc
}

// windowPoSt builds a WindowPoSt of deadline dl's partitions as a manager
// would at the current head: the partitions' live, non-faulty or
// recovering sectors minus skipped, per partition in number order; the
// chain's challenge and chain-commit randomness.
func (h *harness) windowPoSt(maddr address.Address, dl uint64, parts []uint64, skipped map[abi.SectorNumber]bool) *miner.SubmitWindowedPoStParams {
	h.t.Helper()
	head := h.height()
	di, err := h.c.ProvingDeadline(maddr, head)
	if err != nil {
		h.t.Fatal(err)
	}
	if di.Index != dl {
		di = miner.NewDeadlineInfo(di.PeriodStart, dl, head).NextNotElapsed()
	}
	all, err := h.c.Partitions(maddr, dl)
	if err != nil {
		h.t.Fatal(err)
	}
	p := &miner.SubmitWindowedPoStParams{Deadline: dl}
	var sectors []proofs.PrivateSectorInfo
	for _, idx := range parts {
		part := all[idx]
		toProve, err := bitfield.SubtractBitField(part.LiveSectors, part.FaultySectors)
		if err != nil {
			h.t.Fatal(err)
		}
		if toProve, err = bitfield.MergeBitFields(toProve, part.RecoveringSectors); err != nil {
			h.t.Fatal(err)
		}
		nums, err := toProve.All(1 << 20)
		if err != nil {
			h.t.Fatal(err)
		}
		var skip []uint64
		for _, n := range nums {
			if skipped[abi.SectorNumber(n)] {
				skip = append(skip, n)
				continue
			}
			sectors = append(sectors, h.private(maddr, abi.SectorNumber(n)))
		}
		p.Partitions = append(p.Partitions, miner.PoStPartition{Index: idx, Skipped: bitfield.NewFromSet(skip)})
	}
	rand, err := h.c.BeaconRandomness(crypto.DomainSeparationTag_WindowedPoStChallengeSeed, di.Challenge, AddressEntropy(maddr))
	if err != nil {
		h.t.Fatal(err)
	}
	proof, faulty, err := h.engine.GenerateWindowPoSt(context.Background(), minerID(h.t, maddr), testPoSt, sectors, abi.PoStRandomness(rand))
	if err != nil || len(faulty) != 0 {
		h.t.Fatalf("GenerateWindowPoSt: %v, faulty %v", err, faulty)
	}
	p.Proofs = proof
	p.ChainCommitEpoch = min(di.Open, head)
	if p.ChainCommitRand, err = h.c.TicketRandomness(crypto.DomainSeparationTag_PoStChainCommit, p.ChainCommitEpoch, nil); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// openWindow mines until deadline dl of maddr is open at the next epoch,
// so a message pushed now executes inside the window, and returns the
// window.
func (h *harness) openWindow(maddr address.Address, dl uint64) (open, close abi.ChainEpoch) {
	h.t.Helper()
	di, err := h.c.ProvingDeadline(maddr, h.height()+1)
	if err != nil {
		h.t.Fatal(err)
	}
	next := miner.NewDeadlineInfo(di.PeriodStart, dl, h.height()+1).NextNotElapsed()
	if next.Open > h.height()+1 {
		h.advanceTo(next.Open)
	}
	return next.Open, next.Close
}

func (h *harness) stats(maddr address.Address) MinerStats {
	h.t.Helper()
	s, err := h.c.Stats(maddr)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}
