package commit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

const (
	testDelay      = abi.ChainEpoch(5)
	testSeal       = abi.RegisteredSealProof_StackedDrg2KiBV1_1
	testConfidence = 2
)

var testGenesis = devnettest.Genesis

// recordingAPI is the in-process devnet node with every pushed message
// kept, so tests can count what the Manager sent.
type recordingAPI struct {
	chain.API
	mu     sync.Mutex
	pushed []chain.Message
}

func (r *recordingAPI) MpoolPushMessage(ctx context.Context, msg *chain.Message, spec *chain.MessageSendSpec) (*chain.SignedMessage, error) {
	sm, err := r.API.MpoolPushMessage(ctx, msg, spec)
	if err == nil {
		r.mu.Lock()
		r.pushed = append(r.pushed, sm.Message)
		r.mu.Unlock()
	}
	return sm, err
}

// messages returns the pushed messages of method.
func (r *recordingAPI) messages(method abi.MethodNum) []chain.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []chain.Message
	for _, m := range r.pushed {
		if m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

// fakeClock is the time the Manager measures MaxWait in; the test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a devnet chain with one 2KiB miner, served in process, a SQLite
// database and sectors really sealed by devproof.
type env struct {
	t      *testing.T
	ctx    context.Context
	dev    *devnettest.Chain
	chain  *devnet.Chain
	api    *recordingAPI
	db     *store.DB
	clock  *fakeClock
	engine *proofs.DevEngine
	root   string
	maddr  address.Address
	actor  abi.ActorID
	wallet address.Address
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	d := devnettest.New(t, testDelay)
	if db == nil {
		db = storetest.NewSQLite(t)
	}
	return &env{
		t: t, ctx: t.Context(), dev: d, chain: d.Chain, api: &recordingAPI{API: d.Node}, db: db,
		clock: &fakeClock{now: testGenesis}, engine: d.Engine, root: t.TempDir(),
		wallet: d.Wallet, maddr: d.Miner, actor: d.Actor,
	}
}

func (e *env) advance(n int) {
	e.t.Helper()
	e.dev.Advance(n)
}

// minerConfig is the miner's [[Miners]] block: senders set, no batching.
func (e *env) minerConfig() config.Miner {
	mc := config.DefaultMiner(uint64(e.actor))
	mc.Commitment.Confidence = testConfidence
	mc.Commitment.Pre.Sender = config.Address{Address: e.wallet}
	mc.Commitment.Prove.Sender = config.Address{Address: e.wallet}
	return mc
}

func (e *env) manager(mc config.Miner) *Manager {
	e.t.Helper()
	m, err := New(Config{Miners: []config.Miner{mc}, DB: e.db, Chain: e.api, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) process(m *Manager) {
	e.t.Helper()
	if err := m.Process(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// sector is a sector sealed for the test miner.
type sector struct {
	id   abi.SectorID
	info PreCommitInfo
	pc1  proofs.PC1Out
}

// seal creates the sector's row and runs PC1 and PC2 with the chain's
// ticket at the head, as a worker does after AssignTicket.
func (e *env) seal(n abi.SectorNumber) *sector {
	e.t.Helper()
	id := abi.SectorID{Miner: e.actor, Number: n}
	now := e.clock.Now()
	if err := e.db.Sectors().Create(e.ctx, store.Sector{ID: id, ProofType: testSeal, State: store.SectorOnline, CreatedAt: now, UpdatedAt: now}); err != nil {
		e.t.Fatal(err)
	}
	epoch := e.chain.Head().Height
	ticket, err := e.chain.TicketRandomness(crypto.DomainSeparationTag_SealRandomness, epoch, devnet.AddressEntropy(e.maddr))
	if err != nil {
		e.t.Fatal(err)
	}
	staged := filepath.Join(e.root, "unsealed", proofs.SectorName(id))
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		e.t.Fatal(err)
	}
	cache, sealed := proofs.CacheDirPath(e.root, id), proofs.SealedPath(e.root, id)
	pc1, err := e.engine.SealPreCommitPhase1(e.ctx, testSeal, cache, staged, sealed, n, e.actor, abi.SealRandomness(ticket), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	commR, commD, err := e.engine.SealPreCommitPhase2(e.ctx, pc1, cache, sealed)
	if err != nil {
		e.t.Fatal(err)
	}
	return &sector{id: id, pc1: pc1, info: PreCommitInfo{
		SealProof: testSeal, SectorNumber: n, SealedCID: commR, UnsealedCID: commD,
		Ticket: abi.SealRandomness(ticket), SealRandEpoch: epoch,
	}}
}

// porep runs C1 and C2 with the seed the chain gives the pre-committed
// sector.
func (e *env) porep(s *sector) []byte {
	e.t.Helper()
	pc, err := e.chain.PreCommitInfo(e.maddr, s.id.Number)
	if err != nil || pc == nil {
		e.t.Fatalf("pre-commit of sector %d: %v, %v", s.id.Number, pc, err)
	}
	seed, err := e.chain.BeaconRandomness(crypto.DomainSeparationTag_InteractiveSealChallengeSeed, pc.PreCommitEpoch+testDelay, devnet.AddressEntropy(e.maddr))
	if err != nil {
		e.t.Fatal(err)
	}
	c1, err := e.engine.SealCommitPhase1(e.ctx, testSeal, s.info.SealedCID, s.info.UnsealedCID, proofs.CacheDirPath(e.root, s.id),
		proofs.SealedPath(e.root, s.id), s.id.Number, e.actor, s.info.Ticket, abi.InteractiveSealRandomness(seed), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	pr, err := e.engine.SealCommitPhase2(e.ctx, c1, s.id.Number, e.actor)
	if err != nil {
		e.t.Fatal(err)
	}
	return pr
}

func (e *env) submitPreCommit(m *Manager, s *sector) {
	e.t.Helper()
	res, desc, err := m.SubmitPreCommit(e.ctx, s.id, s.info, false)
	if err != nil || res != rpc.SubmitAccepted {
		e.t.Fatalf("SubmitPreCommit %s: %d %q %v", proofs.SectorName(s.id), res, desc, err)
	}
}

func (e *env) submitProof(m *Manager, s *sector, proof []byte, reset bool) {
	e.t.Helper()
	res, desc, err := m.SubmitProof(e.ctx, s.id, proof, reset)
	if err != nil || res != rpc.SubmitAccepted {
		e.t.Fatalf("SubmitProof %s: %d %q %v", proofs.SectorName(s.id), res, desc, err)
	}
}

func (e *env) wantPreCommit(m *Manager, s *sector, want rpc.OnChainState) string {
	e.t.Helper()
	st, desc, err := m.PollPreCommitState(e.ctx, s.id)
	if err != nil || st != want {
		e.t.Fatalf("PollPreCommitState %s = %s (%q), %v; want %s", proofs.SectorName(s.id), stateName(st), desc, err, stateName(want))
	}
	return desc
}

func (e *env) wantProof(m *Manager, s *sector, want rpc.OnChainState) string {
	e.t.Helper()
	st, desc, err := m.PollProofState(e.ctx, s.id)
	if err != nil || st != want {
		e.t.Fatalf("PollProofState %s = %s (%q), %v; want %s", proofs.SectorName(s.id), stateName(st), desc, err, stateName(want))
	}
	return desc
}

// active tells whether the sector is active on chain.
func (e *env) active(s *sector) bool {
	e.t.Helper()
	info, err := e.api.StateSectorGetInfo(e.ctx, e.maddr, s.id.Number, chain.EmptyTSK)
	if err != nil {
		e.t.Fatal(err)
	}
	return info != nil
}

// preCommitBatches decodes the pushed PreCommitSectorBatch2 messages into
// their sector numbers.
func (e *env) preCommitBatches() [][]abi.SectorNumber {
	e.t.Helper()
	var out [][]abi.SectorNumber
	for _, msg := range e.api.messages(builtin.MethodsMiner.PreCommitSectorBatch2) {
		var p miner.PreCommitSectorBatchParams2
		if err := p.UnmarshalCBOR(bytes.NewReader(msg.Params)); err != nil {
			e.t.Fatal(err)
		}
		var nums []abi.SectorNumber
		for _, s := range p.Sectors {
			nums = append(nums, s.SectorNumber)
		}
		out = append(out, nums)
	}
	return out
}

func (e *env) proveBatches() [][]abi.SectorNumber {
	e.t.Helper()
	var out [][]abi.SectorNumber
	for _, msg := range e.api.messages(builtin.MethodsMiner.ProveCommitSectors3) {
		var p miner.ProveCommitSectors3Params
		if err := p.UnmarshalCBOR(bytes.NewReader(msg.Params)); err != nil {
			e.t.Fatal(err)
		}
		var nums []abi.SectorNumber
		for _, a := range p.SectorActivations {
			nums = append(nums, a.SectorNumber)
		}
		out = append(out, nums)
	}
	return out
}
