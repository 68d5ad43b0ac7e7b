package sealer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/filecoin-project/go-address"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/commit"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
	"github.com/damocles-go/damocles/internal/worker"
)

// The worker's typed client and this API have the same sealing calls.
var (
	_ worker.SealerAPI = (*rpc.VenusStruct)(nil)
	_ worker.SealerAPI = (*API)(nil)
)

const (
	testDelay = abi.ChainEpoch(5)
	testSeal  = abi.RegisteredSealProof_StackedDrg2KiBV1_1
	testStore = "persist-1"
)

// env is a devnet chain with one 2KiB miner served in process, a SQLite
// database, one persist store and the sealer API over them; the test
// mines the epochs and steps the commit manager.
type env struct {
	t      *testing.T
	ctx    context.Context
	dev    *devnettest.Chain
	chain  *devnet.Chain
	db     *store.DB
	commit *commit.Manager
	api    *API
	engine *proofs.DevEngine
	store  string // the persist store's root
	work   string // the "worker's" sealing dir
	maddr  address.Address
	actor  abi.ActorID
}

func newEnv(t *testing.T, storeCfg func(*config.PersistStore)) *env {
	t.Helper()
	d := devnettest.New(t, testDelay)
	e := &env{t: t, ctx: t.Context(), dev: d, chain: d.Chain, db: storetest.NewSQLite(t), engine: d.Engine,
		store: t.TempDir(), work: t.TempDir(), maddr: d.Miner, actor: d.Actor}
	wallet, n, id := d.Wallet, d.Node, uint64(d.Actor)

	mc := config.DefaultMiner(id)
	mc.Commitment.Confidence = 1
	mc.Commitment.Pre.Sender = config.Address{Address: wallet}
	mc.Commitment.Prove.Sender = config.Address{Address: wallet}
	miners := []config.Miner{mc}
	var err error
	if e.commit, err = commit.New(commit.Config{Miners: miners, DB: e.db, Chain: n}); err != nil {
		t.Fatal(err)
	}
	sc := config.PersistStore{Name: testStore, Path: e.store}
	if storeCfg != nil {
		storeCfg(&sc)
	}
	stores, err := sectors.NewPersistStores([]config.PersistStore{sc}, e.db, sectors.PersistStoresOptions{Space: plentyOfSpace{}})
	if err != nil {
		t.Fatal(err)
	}
	e.api, err = NewAPI(Config{Miners: func() []config.Miner { return miners }, DB: e.db, Stores: stores, Chain: n, Commit: e.commit, Space: plentyOfSpace{}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// plentyOfSpace is a fake disk with 1 TiB free everywhere.
type plentyOfSpace struct{}

func (plentyOfSpace) Available(string) (uint64, error) { return 1 << 40, nil }

func (e *env) advance(n int) {
	e.t.Helper()
	e.dev.Advance(n)
}

// untilLanded steps the commit manager and the chain until poll answers
// Landed.
func (e *env) untilLanded(what string, poll func(context.Context, abi.SectorID) (rpc.PollResp, error), id abi.SectorID) {
	e.t.Helper()
	for range 20 {
		if err := e.commit.Process(e.ctx); err != nil {
			e.t.Fatal(err)
		}
		resp, err := poll(e.ctx, id)
		if err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
		switch resp.State {
		case rpc.OnChainLanded:
			return
		case rpc.OnChainPending, rpc.OnChainPacked:
		default:
			e.t.Fatalf("%s: state %d (%v)", what, resp.State, deref(resp.Desc))
		}
		e.advance(1)
	}
	e.t.Fatalf("%s: not landed after 20 epochs", what)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// A 2KiB sector goes through every call of the worker's sealer plan, in
// its order, sealed for real by devproof with what the API hands out, up
// to its prove-commit landing and its finalization.
func TestSealerPlanAgainstDevnet(t *testing.T) {
	e := newEnv(t, nil)
	api, ctx := e.api, e.ctx

	sector, err := api.AllocateSector(ctx, rpc.AllocateSectorSpec{AllowedProofTypes: []abi.RegisteredSealProof{8, 13, 18, testSeal}})
	if err != nil || sector == nil {
		t.Fatalf("AllocateSector = %+v, %v", sector, err)
	}
	if sector.ID.Miner != e.actor || sector.ProofType != testSeal {
		t.Fatalf("AllocateSector = %+v; want a 2KiB V1_1 sector of miner %d", sector, e.actor)
	}
	id := sector.ID
	name := proofs.SectorName(id)
	report := func(next string) {
		t.Helper()
		resp, err := api.ReportState(ctx, id, rpc.ReportStateReq{Worker: rpc.WorkerIdentifier{Instance: "w1", Location: "/t"}, StateChange: rpc.SectorStateChange{Next: next}})
		if err != nil || resp.ID != id || resp.Finalized {
			t.Fatalf("ReportState(%s) = %+v, %v", next, resp, err)
		}
	}
	report("Allocated")

	if pieces, err := api.AcquireDeals(ctx, id, rpc.AcquireDealsSpec{}); err != nil || pieces != nil {
		t.Fatalf("AcquireDeals = %v, %v; want null", pieces, err)
	}

	e.advance(3)
	ticket, err := api.AssignTicket(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ticket.Ticket) != 32 || ticket.Epoch != TicketEpoch(e.chain.Head().Height) {
		t.Fatalf("AssignTicket = %+v; want 32 bytes at epoch %d", ticket, TicketEpoch(e.chain.Head().Height))
	}
	report("TicketAssigned")

	// PC1 and PC2, as the worker runs them.
	staged := filepath.Join(e.work, "unsealed", name)
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	cache, sealed := proofs.CacheDirPath(e.work, id), proofs.SealedPath(e.work, id)
	pc1, err := e.engine.SealPreCommitPhase1(ctx, testSeal, cache, staged, sealed, id.Number, id.Miner, abi.SealRandomness(ticket.Ticket), nil)
	if err != nil {
		t.Fatal(err)
	}
	sealedCID, unsealedCID, err := e.engine.SealPreCommitPhase2(ctx, pc1, cache, sealed)
	if err != nil {
		t.Fatal(err)
	}
	var info rpc.PreCommitOnChainInfo
	commR, _ := commcid.CIDToReplicaCommitmentV1(sealedCID)
	commD, _ := commcid.CIDToDataCommitmentV1(unsealedCID)
	copy(info.CommR[:], commR)
	copy(info.CommD[:], commD)
	info.Ticket = ticket

	other := info
	other.Ticket.Epoch++
	if resp, err := api.SubmitPreCommit(ctx, *sector, other, false); err != nil || resp.Res != rpc.SubmitMismatchedSubmission {
		t.Fatalf("SubmitPreCommit with another ticket = %+v, %v; want MismatchedSubmission", resp, err)
	}
	if resp, err := api.SubmitPreCommit(ctx, *sector, info, false); err != nil || resp.Res != rpc.SubmitAccepted {
		t.Fatalf("SubmitPreCommit = %+v (%s), %v", resp, deref(resp.Desc), err)
	}
	if again, err := api.AssignTicket(ctx, id); err != nil || again.Epoch != ticket.Epoch || string(again.Ticket) != string(ticket.Ticket) {
		t.Fatalf("AssignTicket after the pre-commit = %+v, %v; want the pre-commit's ticket", again, err)
	}
	report("PCSubmitted")
	e.untilLanded("PollPreCommitState", api.PollPreCommitState, id)
	report("PCLanded")

	// Persist: reserve, copy, submit.
	reserved, err := api.StoreReserveSpace(ctx, id, 2*2048, []string{testStore})
	if err != nil || reserved == nil || reserved.Name != testStore {
		t.Fatalf("StoreReserveSpace = %+v, %v", reserved, err)
	}
	if ok, err := api.SubmitPersistedEx(ctx, id, testStore, false); err != nil || ok {
		t.Fatalf("SubmitPersistedEx before the copy = %v, %v; want false", ok, err)
	}
	files, err := proofs.CacheFilesFor(testSeal)
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, sealed, proofs.SealedPath(e.store, id))
	for _, f := range files.Persisted() {
		copyFile(t, filepath.Join(cache, f), filepath.Join(proofs.CacheDirPath(e.store, id), f))
	}
	if ok, err := api.SubmitPersistedEx(ctx, id, testStore, false); err != nil || !ok {
		t.Fatalf("SubmitPersistedEx = %v, %v; want true", ok, err)
	}
	loc, err := api.SectorIndexerFind(ctx, string(sectors.IndexNormal), id)
	if err != nil || !loc.Found || loc.Instance != (rpc.SectorAccessStores{SealedFile: testStore, CacheDir: testStore}) {
		t.Fatalf("SectorIndexerFind = %+v, %v", loc, err)
	}
	report("Persisted")

	// The seed: wait, then get it once the chain is past its epoch.
	var seed *rpc.Seed
	waits := 0
	for range 20 {
		resp, err := api.WaitSeed(ctx, id, testSeal)
		if err != nil {
			t.Fatal(err)
		}
		if !resp.ShouldWait {
			seed = resp.Seed
			break
		}
		if resp.Delay < 1 || resp.Seed != nil {
			t.Fatalf("WaitSeed = %+v; want a delay of at least 1 s and no seed", resp)
		}
		waits++
		e.advance(1)
	}
	if seed == nil || waits == 0 || len(seed.Seed) != 32 {
		t.Fatalf("WaitSeed: seed %+v after %d waits; want a 32-byte seed after some waiting", seed, waits)
	}
	pc, err := e.chain.PreCommitInfo(e.maddr, id.Number)
	if err != nil || pc == nil || seed.Epoch != pc.PreCommitEpoch+testDelay {
		t.Fatalf("seed epoch %d; want pre-commit epoch + %d (%+v, %v)", seed.Epoch, testDelay, pc, err)
	}
	report("SeedAssigned")

	c1, err := e.engine.SealCommitPhase1(ctx, testSeal, sealedCID, unsealedCID, cache, sealed, id.Number, id.Miner,
		abi.SealRandomness(ticket.Ticket), abi.InteractiveSealRandomness(seed.Seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := e.engine.SealCommitPhase2(ctx, c1, id.Number, id.Miner)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := api.SubmitProof(ctx, id, rpc.ProofOnChainInfo{Proof: proof}, false); err != nil || resp.Res != rpc.SubmitAccepted {
		t.Fatalf("SubmitProof = %+v (%s), %v", resp, deref(resp.Desc), err)
	}
	report("ProofSubmitted")
	e.untilLanded("PollProofState", api.PollProofState, id)

	if _, err := api.ReportFinalized(ctx, id); err != nil {
		t.Fatal(err)
	}
	resp, err := api.ReportState(ctx, id, rpc.ReportStateReq{StateChange: rpc.SectorStateChange{Next: "Finished"}})
	if err != nil || !resp.Finalized {
		t.Fatalf("ReportState after ReportFinalized = %+v, %v; want Finalized", resp, err)
	}
	list, err := api.StorageList(ctx)
	if err != nil || len(list) != 1 || list[0].Reserved != 0 || list[0].Free != 1<<40 {
		t.Fatalf("StorageList = %+v, %v; want the store with its reservation released", list, err)
	}
	rec, err := api.SectorState(ctx, id)
	if err != nil || rec.State != "finalized" || rec.Seed == nil || rec.Commit == nil || rec.Commit.Message.State != rpc.OnChainLanded {
		t.Fatalf("SectorState = %+v, %v", rec, err)
	}
	if offline, err := api.SectorsList(ctx, rpc.SectorsOffline, e.actor); err != nil || len(offline) != 1 {
		t.Fatalf("SectorsList offline = %+v, %v", offline, err)
	}
	if online, err := api.SectorsList(ctx, rpc.SectorsOnline, 0); err != nil || len(online) != 0 {
		t.Fatalf("SectorsList online = %+v, %v", online, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every sealing call on a sector the manager does not know answers 11001.
func TestUnknownSectorIs11001(t *testing.T) {
	e := newEnv(t, nil)
	api, ctx := e.api, e.ctx
	id := abi.SectorID{Miner: e.actor, Number: 77}
	calls := map[string]func() error{
		"AcquireDeals": func() error { _, err := api.AcquireDeals(ctx, id, rpc.AcquireDealsSpec{}); return err },
		"AssignTicket": func() error { _, err := api.AssignTicket(ctx, id); return err },
		"SubmitPreCommit": func() error {
			_, err := api.SubmitPreCommit(ctx, rpc.AllocatedSector{ID: id, ProofType: testSeal}, rpc.PreCommitOnChainInfo{}, false)
			return err
		},
		"SubmitPersistedEx": func() error { _, err := api.SubmitPersistedEx(ctx, id, testStore, false); return err },
		"WaitSeed":          func() error { _, err := api.WaitSeed(ctx, id, testSeal); return err },
		"SubmitProof": func() error {
			_, err := api.SubmitProof(ctx, id, rpc.ProofOnChainInfo{Proof: []byte{1}}, false)
			return err
		},
		"ReportState":       func() error { _, err := api.ReportState(ctx, id, rpc.ReportStateReq{}); return err },
		"ReportFinalized":   func() error { _, err := api.ReportFinalized(ctx, id); return err },
		"ReportAborted":     func() error { _, err := api.ReportAborted(ctx, id, "x"); return err },
		"StoreReserveSpace": func() error { _, err := api.StoreReserveSpace(ctx, id, 4096, []string{testStore}); return err },
		"SectorState":       func() error { _, err := api.SectorState(ctx, id); return err },
	}
	for name, call := range calls {
		err := call()
		var nf *rpc.SectorStateNotFoundError
		// The error must be the 11001 type itself, not wrapped: go-jsonrpc
		// only looks at the error returned.
		if nf, _ = err.(*rpc.SectorStateNotFoundError); nf == nil {
			t.Errorf("%s: %v (%T); want *rpc.SectorStateNotFoundError", name, err, err)
		}
	}
	// Polls answer NotFound, a state, as damocles does.
	if resp, err := api.PollPreCommitState(ctx, id); err != nil || resp.State != rpc.OnChainNotFound {
		t.Errorf("PollPreCommitState = %+v, %v; want NotFound", resp, err)
	}
}

// A store that denies the miner reserves nothing: null to the worker.
func TestStoreReserveSpaceDenied(t *testing.T) {
	var e *env
	e = newEnv(t, func(sc *config.PersistStore) { sc.DenyMiners = []uint64{1000, 1001, 1002} })
	api, ctx := e.api, e.ctx
	if e.actor < 1000 || e.actor > 1002 {
		t.Skipf("miner %d is not one the test denies", e.actor)
	}
	sector, err := api.AllocateSector(ctx, rpc.AllocateSectorSpec{})
	if err != nil || sector == nil {
		t.Fatalf("AllocateSector = %+v, %v", sector, err)
	}
	info, err := api.StoreReserveSpace(ctx, sector.ID, 4096, []string{testStore})
	if err != nil || info != nil {
		t.Fatalf("StoreReserveSpace = %+v, %v; want null", info, err)
	}
	if got, err := api.StoreBasicInfo(ctx, testStore); err != nil || got == nil || got.Path != e.store {
		t.Fatalf("StoreBasicInfo = %+v, %v", got, err)
	}
	if got, err := api.StoreBasicInfo(ctx, "nope"); err != nil || got != nil {
		t.Fatalf("StoreBasicInfo(nope) = %+v, %v; want null", got, err)
	}
}

// Without a chain node the chain-free calls work and the others say what
// to configure.
func TestNoChain(t *testing.T) {
	db := storetest.NewSQLite(t)
	stores, err := sectors.NewPersistStores([]config.PersistStore{{Name: testStore, Path: t.TempDir()}}, db, sectors.PersistStoresOptions{Space: plentyOfSpace{}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewAPI(Config{DB: db, Stores: stores})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id := abi.SectorID{Miner: 1000, Number: 1}
	if _, err := api.AllocateSector(ctx, rpc.AllocateSectorSpec{}); !errors.Is(err, ErrNoChain) {
		t.Errorf("AllocateSector: %v; want ErrNoChain", err)
	}
	if _, err := api.WaitSeed(ctx, id, testSeal); !errors.Is(err, ErrNoChain) {
		t.Errorf("WaitSeed: %v; want ErrNoChain", err)
	}
	if _, err := api.SubmitProof(ctx, id, rpc.ProofOnChainInfo{}, false); !errors.Is(err, ErrNoChain) {
		t.Errorf("SubmitProof: %v; want ErrNoChain", err)
	}
	if n, err := api.StorageAttachIndex(ctx, []rpc.SectorIndexEntry{{Kind: "normal", ID: id, Stores: rpc.SectorAccessStores{SealedFile: testStore, CacheDir: testStore}}}); err != nil || n != 1 {
		t.Fatalf("StorageAttachIndex = %d, %v", n, err)
	}
	if loc, err := api.SectorIndexerFind(ctx, "normal", id); err != nil || !loc.Found {
		t.Fatalf("SectorIndexerFind = %+v, %v", loc, err)
	}
	if _, err := api.StorageAttachIndex(ctx, []rpc.SectorIndexEntry{{Kind: "bogus", ID: id}}); err == nil {
		t.Fatal("StorageAttachIndex accepted an unknown kind")
	}
}
