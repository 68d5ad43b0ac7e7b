package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

const testProof = abi.RegisteredSealProof_StackedDrg2KiBV1_1

// fakeSealer is an in-process SealerAPI standing in for damocles-manager.
// It checks what the thread submits the way the manager and the chain
// would: the pre-commit against its own seal of the same sector, the
// persisted files in the store, the proof with VerifySeal.
type fakeSealer struct {
	t       *testing.T
	engine  proofs.DevEngine
	scratch string            // where the fake reseals sectors to check comm_r
	stores  map[string]string // persist store name → path

	mu sync.Mutex
	// toAllocate are the sectors still to hand out, in order; nilAllocs
	// null answers come first.
	toAllocate []abi.SectorNumber
	nilAllocs  int
	// fail makes the next n calls of a method fail with an RPC error.
	fail map[string]int
	// pcPolls and proofPolls are scripted poll answers, then Landed.
	pcPolls, proofPolls []rpc.OnChainState
	nilReserves         int

	calls      []string
	reports    []report
	preCommits map[abi.SectorNumber]rpc.PreCommitOnChainInfo
	resets     []bool // reset flag of every SubmitPreCommit
	seeds      map[abi.SectorNumber]rpc.Seed
	persisted  map[abi.SectorNumber]string
	proven     map[abi.SectorNumber]bool
	finalized  []abi.SectorNumber
	aborted    map[abi.SectorNumber]string
}

type report struct {
	id  abi.SectorID
	req rpc.ReportStateReq
}

var _ SealerAPI = (*fakeSealer)(nil)

func newFakeSealer(t *testing.T, stores map[string]string, sectors ...abi.SectorNumber) *fakeSealer {
	return &fakeSealer{
		t: t, scratch: t.TempDir(), stores: stores, toAllocate: sectors, fail: map[string]int{},
		preCommits: map[abi.SectorNumber]rpc.PreCommitOnChainInfo{}, seeds: map[abi.SectorNumber]rpc.Seed{},
		persisted: map[abi.SectorNumber]string{}, proven: map[abi.SectorNumber]bool{}, aborted: map[abi.SectorNumber]string{},
	}
}

const testMiner = abi.ActorID(1000)

// randomness is random-looking but fixed per sector and purpose.
func randomness(purpose uint64, n abi.SectorNumber) []byte {
	r := rand.New(rand.NewPCG(purpose, uint64(n)))
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[31] &= 0x3f
	return b
}

// enter records a call and returns the scripted error, if any.
func (f *fakeSealer) enter(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	if f.fail[method] > 0 {
		f.fail[method]--
		return fmt.Errorf("fake %s: connection refused", method)
	}
	return nil
}

func (f *fakeSealer) AllocateSector(_ context.Context, spec rpc.AllocateSectorSpec) (*rpc.AllocatedSector, error) {
	if err := f.enter("AllocateSector"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(spec.AllowedProofTypes) > 0 && !slices.Contains(spec.AllowedProofTypes, testProof) {
		return nil, nil
	}
	if f.nilAllocs > 0 {
		f.nilAllocs--
		return nil, nil
	}
	if len(f.toAllocate) == 0 {
		return nil, nil
	}
	n := f.toAllocate[0]
	f.toAllocate = f.toAllocate[1:]
	return &rpc.AllocatedSector{ID: abi.SectorID{Miner: testMiner, Number: n}, ProofType: testProof}, nil
}

func (f *fakeSealer) AcquireDeals(context.Context, abi.SectorID, rpc.AcquireDealsSpec) ([]rpc.SectorPiece, error) {
	return nil, f.enter("AcquireDeals")
}

func (f *fakeSealer) AssignTicket(_ context.Context, id abi.SectorID) (rpc.Ticket, error) {
	if err := f.enter("AssignTicket"); err != nil {
		return rpc.Ticket{}, err
	}
	return rpc.Ticket{Ticket: randomness(1, id.Number), Epoch: 100}, nil
}

// SubmitPreCommit checks comm_d is a CC sector's and comm_r is what sealing
// the sector with this ticket gives.
func (f *fakeSealer) SubmitPreCommit(ctx context.Context, s rpc.AllocatedSector, info rpc.PreCommitOnChainInfo, reset bool) (rpc.SubmitResp, error) {
	if err := f.enter("SubmitPreCommit"); err != nil {
		return rpc.SubmitResp{}, err
	}
	commR, commD, err := f.reseal(ctx, s, info.Ticket.Ticket)
	if err != nil {
		f.t.Errorf("fake: reseal sector %v: %v", s.ID, err)
		return rpc.SubmitResp{Res: rpc.SubmitRejected}, nil
	}
	if info.CommR != commR || info.CommD != commD {
		f.t.Errorf("SubmitPreCommit(%v): comm_r %x comm_d %x, sealing gives %x %x", s.ID, info.CommR, info.CommD, commR, commD)
		return rpc.SubmitResp{Res: rpc.SubmitRejected}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, reset)
	if old, ok := f.preCommits[s.ID.Number]; ok && !reset && (old.CommR != info.CommR || old.CommD != info.CommD) {
		return rpc.SubmitResp{Res: rpc.SubmitMismatchedSubmission}, nil
	}
	f.preCommits[s.ID.Number] = info
	return rpc.SubmitResp{Res: rpc.SubmitAccepted}, nil
}

func (f *fakeSealer) reseal(ctx context.Context, s rpc.AllocatedSector, ticket []byte) (commR, commD [32]byte, err error) {
	root := filepath.Join(f.scratch, proofs.SectorName(s.ID))
	staged := filepath.Join(root, "staged")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return commR, commD, err
	}
	size, _ := proofs.SealProofSectorSize(s.ProofType)
	if err := os.WriteFile(staged, make([]byte, size), 0o644); err != nil {
		return commR, commD, err
	}
	cache, sealed := filepath.Join(root, "cache"), filepath.Join(root, "sealed")
	pc1, err := f.engine.SealPreCommitPhase1(ctx, s.ProofType, cache, staged, sealed, s.ID.Number, s.ID.Miner, ticket, nil)
	if err != nil {
		return commR, commD, err
	}
	sc, uc, err := f.engine.SealPreCommitPhase2(ctx, pc1, cache, sealed)
	if err != nil {
		return commR, commD, err
	}
	r, _ := commcid.CIDToReplicaCommitmentV1(sc)
	d, _ := commcid.CIDToDataCommitmentV1(uc)
	return [32]byte(r), [32]byte(d), nil
}

func (f *fakeSealer) poll(method string, script *[]rpc.OnChainState) (rpc.PollResp, error) {
	if err := f.enter(method); err != nil {
		return rpc.PollResp{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(*script) == 0 {
		return rpc.PollResp{State: rpc.OnChainLanded}, nil
	}
	s := (*script)[0]
	*script = (*script)[1:]
	return rpc.PollResp{State: s}, nil
}

func (f *fakeSealer) PollPreCommitState(context.Context, abi.SectorID) (rpc.PollResp, error) {
	return f.poll("PollPreCommitState", &f.pcPolls)
}

func (f *fakeSealer) StoreReserveSpace(_ context.Context, id abi.SectorID, size uint64, candidates []string) (*rpc.StoreBasicInfo, error) {
	if err := f.enter("StoreReserveSpace"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if size != 2*2048 {
		f.t.Errorf("StoreReserveSpace(%v): size %d, want %d", id, size, 2*2048)
	}
	if f.nilReserves > 0 || len(candidates) == 0 {
		f.nilReserves--
		return nil, nil
	}
	path, ok := f.stores[candidates[0]]
	if !ok {
		f.t.Errorf("StoreReserveSpace(%v): unknown candidate %q", id, candidates[0])
		return nil, nil
	}
	return &rpc.StoreBasicInfo{Name: candidates[0], Path: path, Weight: 1}, nil
}

// SubmitPersistedEx checks the persisted files are in the store, as the
// manager's provability check would.
func (f *fakeSealer) SubmitPersistedEx(_ context.Context, id abi.SectorID, instance string, isUpgrade bool) (bool, error) {
	if err := f.enter("SubmitPersistedEx"); err != nil {
		return false, err
	}
	files, err := persistedFiles(id, testProof)
	if err != nil || isUpgrade {
		return false, err
	}
	for _, file := range files {
		if _, err := os.Stat(filepath.Join(f.stores[instance], file)); err != nil {
			f.t.Errorf("SubmitPersistedEx(%v, %s): %v", id, instance, err)
			return false, nil
		}
	}
	f.mu.Lock()
	f.persisted[id.Number] = instance
	f.mu.Unlock()
	return true, nil
}

func (f *fakeSealer) WaitSeed(_ context.Context, id abi.SectorID, _ abi.RegisteredSealProof) (rpc.WaitSeedResp, error) {
	if err := f.enter("WaitSeed"); err != nil {
		return rpc.WaitSeedResp{}, err
	}
	seed := rpc.Seed{Seed: randomness(2, id.Number), Epoch: 200}
	f.mu.Lock()
	f.seeds[id.Number] = seed
	f.mu.Unlock()
	return rpc.WaitSeedResp{Seed: &seed}, nil
}

// SubmitProof verifies the proof against the recorded pre-commit.
func (f *fakeSealer) SubmitProof(_ context.Context, id abi.SectorID, info rpc.ProofOnChainInfo, _ bool) (rpc.SubmitResp, error) {
	if err := f.enter("SubmitProof"); err != nil {
		return rpc.SubmitResp{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pc, ok := f.preCommits[id.Number]
	if !ok {
		return rpc.SubmitResp{Res: rpc.SubmitRejected}, nil
	}
	sealed, _ := commcid.ReplicaCommitmentV1ToCID(pc.CommR[:])
	unsealed, _ := commcid.DataCommitmentV1ToCID(pc.CommD[:])
	ok, err := f.engine.VerifySeal(proof.SealVerifyInfo{
		SealProof: testProof, SectorID: id, Randomness: abi.SealRandomness(pc.Ticket.Ticket), InteractiveRandomness: abi.InteractiveSealRandomness(f.seeds[id.Number].Seed),
		Proof: info.Proof, SealedCID: sealed, UnsealedCID: unsealed,
	})
	if err != nil || !ok {
		f.t.Errorf("SubmitProof(%v): VerifySeal = %v, %v", id, ok, err)
		return rpc.SubmitResp{Res: rpc.SubmitRejected}, nil
	}
	f.proven[id.Number] = true
	return rpc.SubmitResp{Res: rpc.SubmitAccepted}, nil
}

func (f *fakeSealer) PollProofState(context.Context, abi.SectorID) (rpc.PollResp, error) {
	return f.poll("PollProofState", &f.proofPolls)
}

func (f *fakeSealer) ReportState(_ context.Context, id abi.SectorID, req rpc.ReportStateReq) (rpc.SectorStateResp, error) {
	if err := f.enter("ReportState"); err != nil {
		return rpc.SectorStateResp{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, report{id, req})
	return rpc.SectorStateResp{ID: id}, nil
}

func (f *fakeSealer) ReportFinalized(_ context.Context, id abi.SectorID) (rpc.Meta, error) {
	if err := f.enter("ReportFinalized"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.proven[id.Number] {
		f.t.Errorf("ReportFinalized(%v) before a valid proof", id)
	}
	f.finalized = append(f.finalized, id.Number)
	return nil, nil
}

func (f *fakeSealer) ReportAborted(_ context.Context, id abi.SectorID, reason string) (rpc.Meta, error) {
	if err := f.enter("ReportAborted"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aborted[id.Number] = reason
	return nil, nil
}

// transitions lists the reported state changes of a sector as
// "Prev>Next", and failures as "Prev!Level".
func (f *fakeSealer) transitions(n abi.SectorNumber) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.reports {
		if r.id.Number != n {
			continue
		}
		if r.req.Failure != nil {
			out = append(out, r.req.StateChange.Prev+"!"+r.req.Failure.Level)
			continue
		}
		out = append(out, r.req.StateChange.Prev+">"+r.req.StateChange.Next)
	}
	return out
}

func (f *fakeSealer) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == method {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds; the limit only bounds a hung test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var errStop = errors.New("test stops the worker here")
