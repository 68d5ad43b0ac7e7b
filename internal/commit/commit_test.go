package commit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// landPreCommits mines until the sectors' pre-commits are Confidence deep
// and lets m see it.
func (e *env) landPreCommits(m *Manager, ss ...*sector) {
	e.t.Helper()
	e.advance(1)
	e.process(m)
	for _, s := range ss {
		e.wantPreCommit(m, s, rpc.OnChainPacked)
	}
	e.advance(testConfidence)
	e.process(m)
	for _, s := range ss {
		e.wantPreCommit(m, s, rpc.OnChainLanded)
	}
}

func TestPreCommitAndProveOneSector(t *testing.T) {
	e := newEnv(t, nil)
	m := e.manager(e.minerConfig())
	s := e.seal(1)
	e.advance(1)
	e.submitPreCommit(m, s)
	e.wantPreCommit(m, s, rpc.OnChainPending)

	e.process(m)
	e.wantPreCommit(m, s, rpc.OnChainPacked)
	if got := e.preCommitBatches(); !slices.EqualFunc(got, [][]abi.SectorNumber{{1}}, slices.Equal) {
		t.Fatalf("pre-commit messages %v, want one for sector 1", got)
	}
	e.landPreCommits(m, s)

	e.advance(int(testDelay))
	e.submitProof(m, s, e.porep(s), false)
	e.wantProof(m, s, rpc.OnChainPending)
	e.process(m)
	e.wantProof(m, s, rpc.OnChainPacked)
	e.advance(1 + testConfidence)
	e.process(m)
	e.wantProof(m, s, rpc.OnChainLanded)
	if !e.active(s) {
		t.Fatal("sector not active on chain after its proof landed")
	}
	if n := len(e.preCommitBatches()); n != 1 {
		t.Fatalf("%d pre-commit messages, want 1 (never sent twice)", n)
	}
}

func TestBatchThreshold(t *testing.T) {
	e := newEnv(t, nil)
	mc := e.minerConfig()
	for _, p := range []*config.CommitPolicy{&mc.Commitment.Pre, &mc.Commitment.Prove} {
		p.Batch.Enabled, p.Batch.Threshold = true, 4
	}
	m := e.manager(mc)
	var ss []*sector
	for n := range abi.SectorNumber(4) {
		ss = append(ss, e.seal(n+1))
	}
	e.advance(1)
	for _, s := range ss[:3] {
		e.submitPreCommit(m, s)
	}
	e.process(m)
	if got := e.preCommitBatches(); len(got) != 0 {
		t.Fatalf("sent %v below the threshold", got)
	}
	e.submitPreCommit(m, ss[3])
	e.process(m)
	if got := e.preCommitBatches(); !slices.EqualFunc(got, [][]abi.SectorNumber{{1, 2, 3, 4}}, slices.Equal) {
		t.Fatalf("pre-commit messages %v, want one PreCommitSectorBatch2 of sectors 1-4", got)
	}
	e.landPreCommits(m, ss...)

	e.advance(int(testDelay))
	for _, s := range ss {
		e.submitProof(m, s, e.porep(s), false)
	}
	e.process(m)
	if got := e.proveBatches(); !slices.EqualFunc(got, [][]abi.SectorNumber{{1, 2, 3, 4}}, slices.Equal) {
		t.Fatalf("prove-commit messages %v, want one ProveCommitSectors3 of sectors 1-4", got)
	}
	e.advance(1 + testConfidence)
	e.process(m)
	for _, s := range ss {
		e.wantProof(m, s, rpc.OnChainLanded)
		if !e.active(s) {
			t.Fatalf("sector %d not active", s.id.Number)
		}
	}
}

func TestBatchMaxWait(t *testing.T) {
	e := newEnv(t, nil)
	mc := e.minerConfig()
	mc.Commitment.Pre.Batch.Enabled, mc.Commitment.Pre.Batch.Threshold = true, 4
	mc.Commitment.Pre.Batch.MaxWait = config.Duration(time.Hour)
	m := e.manager(mc)
	s1, s2 := e.seal(1), e.seal(2)
	e.advance(1)
	e.submitPreCommit(m, s1)
	e.process(m)
	e.clock.add(30 * time.Minute)
	e.submitPreCommit(m, s2)
	e.process(m)
	if got := e.preCommitBatches(); len(got) != 0 {
		t.Fatalf("sent %v before MaxWait", got)
	}
	// The oldest sector's wait decides, not the newest's.
	e.clock.add(30 * time.Minute)
	e.process(m)
	if got := e.preCommitBatches(); !slices.EqualFunc(got, [][]abi.SectorNumber{{1, 2}}, slices.Equal) {
		t.Fatalf("pre-commit messages %v, want one of sectors 1 and 2 after MaxWait", got)
	}
	e.landPreCommits(m, s1, s2)
}

func TestBadProofFailsThenResets(t *testing.T) {
	e := newEnv(t, nil)
	m := e.manager(e.minerConfig())
	s := e.seal(1)
	e.advance(1)
	e.submitPreCommit(m, s)
	e.process(m)
	e.landPreCommits(m, s)
	e.advance(int(testDelay))

	good := e.porep(s)
	bad := slices.Clone(good)
	bad[0] ^= 0xff
	e.submitProof(m, s, bad, false)
	e.process(m)
	e.advance(1)
	e.process(m)
	desc := e.wantProof(m, s, rpc.OnChainFailed)
	if !strings.Contains(desc, "exit code 16") {
		t.Errorf("Failed desc %q does not give the exit code", desc)
	}
	if e.active(s) {
		t.Fatal("sector active with a bad proof")
	}
	// A failed message is not retried by the manager.
	e.process(m)
	if n := len(e.proveBatches()); n != 1 {
		t.Fatalf("%d prove-commit messages, want 1", n)
	}

	if res, _, err := m.SubmitProof(e.ctx, s.id, good, false); err != nil || res != rpc.SubmitMismatchedSubmission {
		t.Fatalf("other proof without reset = %d, %v; want MismatchedSubmission", res, err)
	}
	e.submitProof(m, s, good, true)
	e.wantProof(m, s, rpc.OnChainPending)
	e.process(m)
	e.advance(1 + testConfidence)
	e.process(m)
	e.wantProof(m, s, rpc.OnChainLanded)
	if !e.active(s) {
		t.Fatal("sector not active after the reset proof landed")
	}
}

func TestBatchWithOneBadProof(t *testing.T) {
	e := newEnv(t, nil)
	mc := e.minerConfig()
	mc.Commitment.Prove.Batch.Enabled, mc.Commitment.Prove.Batch.Threshold = true, 2
	m := e.manager(mc)
	s1, s2 := e.seal(1), e.seal(2)
	e.advance(1)
	e.submitPreCommit(m, s1)
	e.submitPreCommit(m, s2)
	e.process(m)
	e.landPreCommits(m, s1, s2)
	e.advance(int(testDelay))

	bad := e.porep(s2)
	bad[0] ^= 0xff
	e.submitProof(m, s1, e.porep(s1), false)
	e.submitProof(m, s2, bad, false)
	e.process(m)
	if got := e.proveBatches(); !slices.EqualFunc(got, [][]abi.SectorNumber{{1, 2}}, slices.Equal) {
		t.Fatalf("prove-commit messages %v, want one of sectors 1 and 2", got)
	}
	e.advance(1 + testConfidence)
	e.process(m)
	e.wantProof(m, s1, rpc.OnChainLanded)
	desc := e.wantProof(m, s2, rpc.OnChainFailed)
	if !strings.Contains(desc, "activation of sector 2 failed") {
		t.Errorf("Failed desc %q does not give the per-sector failure", desc)
	}
}

func TestRestart(t *testing.T) {
	e := newEnv(t, nil)
	mc := e.minerConfig()
	mc.Commitment.Pre.Batch.Enabled, mc.Commitment.Pre.Batch.Threshold = true, 2
	s1, s2 := e.seal(1), e.seal(2)
	e.advance(1)
	first := e.manager(mc)
	e.submitPreCommit(first, s1)
	e.submitPreCommit(first, s2)

	// A new manager on another handle of the same database sends the
	// pending batch.
	e.db = storetest.Reopen(t, e.db)
	second := e.manager(mc)
	e.process(second)
	if got := e.preCommitBatches(); !slices.EqualFunc(got, [][]abi.SectorNumber{{1, 2}}, slices.Equal) {
		t.Fatalf("pre-commit messages %v, want one of sectors 1 and 2", got)
	}

	// The next one follows the packed message without pushing it again.
	third := e.manager(mc)
	e.process(third)
	e.landPreCommits(third, s1, s2)
	if n := len(e.preCommitBatches()); n != 1 {
		t.Fatalf("%d pre-commit messages after the restart, want 1", n)
	}
}

// TestPushedButNotRecorded: a pre-commit already on chain (its message
// went out but the row says Pending, as after a crash between push and
// record) lands without a second message.
func TestPushedButNotRecorded(t *testing.T) {
	e := newEnv(t, nil)
	m := e.manager(e.minerConfig())
	s := e.seal(1)
	e.advance(1)
	e.submitPreCommit(m, s)
	e.process(m)
	e.advance(1)
	if _, err := e.db.Sectors().Update(e.ctx, s.id, func(rec *store.Sector) error {
		rec.PreCommit.Message = store.SectorMessage{State: uint64(rpc.OnChainPending)}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.process(m)
	e.wantPreCommit(m, s, rpc.OnChainLanded)
	if n := len(e.preCommitBatches()); n != 1 {
		t.Fatalf("%d pre-commit messages, want 1", n)
	}
}

func TestRun(t *testing.T) {
	e := newEnv(t, nil)
	m, err := New(Config{Miners: []config.Miner{e.minerConfig()}, DB: e.db, Chain: e.api, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := e.seal(1)
	e.advance(1)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	e.submitPreCommit(m, s)
	// Without batching the submission goes out at once, not after the hour.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, err := m.PollPreCommitState(e.ctx, s.id)
		if err != nil {
			t.Fatal(err)
		}
		if st == rpc.OnChainPacked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pre-commit still %s", stateName(st))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// fakeInfo returns a pre-commit whose commitments are made of b, for the
// submission rules, which never reach the chain.
func fakeInfo(t *testing.T, n abi.SectorNumber, b byte) PreCommitInfo {
	t.Helper()
	commR, err := commcid.ReplicaCommitmentV1ToCID(slices.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	commD, err := commcid.DataCommitmentV1ToCID(slices.Repeat([]byte{b + 1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return PreCommitInfo{SealProof: testSeal, SectorNumber: n, SealedCID: commR, UnsealedCID: commD, Ticket: slices.Repeat([]byte{7}, 32), SealRandEpoch: 3}
}

// TestSubmissionRules runs the submit and poll rules on every database
// driver reachable here.
func TestSubmissionRules(t *testing.T) {
	for _, driver := range store.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, storetest.New(t, driver))
			m := e.manager(e.minerConfig())
			id := abi.SectorID{Miner: e.actor, Number: 1}
			now := e.clock.Now()
			if err := e.db.Sectors().Create(e.ctx, store.Sector{ID: id, ProofType: testSeal, State: store.SectorOnline, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			a, b := fakeInfo(t, 1, 1), fakeInfo(t, 1, 9)

			if st, _, err := m.PollPreCommitState(e.ctx, id); err != nil || st != rpc.OnChainNotFound {
				t.Fatalf("poll before submission = %d, %v; want NotFound", st, err)
			}
			if res, _, err := m.SubmitProof(e.ctx, id, []byte{1}, false); err != nil || res != rpc.SubmitRejected {
				t.Fatalf("proof before pre-commit = %d, %v; want Rejected", res, err)
			}
			steps := []struct {
				name  string
				info  PreCommitInfo
				reset bool
				want  rpc.SubmitResult
			}{
				{"first", a, false, rpc.SubmitAccepted},
				{"same again", a, false, rpc.SubmitAccepted},
				{"other without reset", b, false, rpc.SubmitMismatchedSubmission},
				{"other with reset", b, true, rpc.SubmitAccepted},
				{"first again without reset", a, false, rpc.SubmitMismatchedSubmission},
			}
			for _, st := range steps {
				res, desc, err := m.SubmitPreCommit(e.ctx, id, st.info, st.reset)
				if err != nil || res != st.want {
					t.Fatalf("%s: %d %q %v; want %d", st.name, res, desc, err, st.want)
				}
			}
			rec, err := e.db.Sectors().Get(e.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.PreCommit.CommR[0] != 9 || rec.PreCommit.Message.State != uint64(rpc.OnChainPending) {
				t.Fatalf("stored pre-commit %+v, want the reset one, pending", rec.PreCommit)
			}

			wrong := fakeInfo(t, 2, 1)
			if res, _, err := m.SubmitPreCommit(e.ctx, id, wrong, false); err != nil || res != rpc.SubmitRejected {
				t.Fatalf("pre-commit naming another number = %d, %v; want Rejected", res, err)
			}
			unknown := abi.SectorID{Miner: e.actor, Number: 99}
			if _, _, err := m.SubmitPreCommit(e.ctx, unknown, fakeInfo(t, 99, 1), false); !errors.Is(err, sectors.ErrSectorNotFound) {
				t.Fatalf("unknown sector: %v, want ErrSectorNotFound", err)
			}
			if st, _, err := m.PollProofState(e.ctx, unknown); err != nil || st != rpc.OnChainNotFound {
				t.Fatalf("poll unknown sector = %d, %v; want NotFound", st, err)
			}
		})
	}
}

func TestMissingSender(t *testing.T) {
	e := newEnv(t, nil)
	mc := e.minerConfig()
	mc.Commitment.Pre.Sender = config.Address{}
	m := e.manager(mc)
	s := e.seal(1)
	_, _, err := m.SubmitPreCommit(e.ctx, s.id, s.info, false)
	if !errors.Is(err, ErrNoSender) || !strings.Contains(err.Error(), "Miners[0].Commitment.Pre.Sender") {
		t.Fatalf("err = %v, want ErrNoSender naming Miners[0].Commitment.Pre.Sender", err)
	}
}

func TestExpiration(t *testing.T) {
	head := abi.ChainEpoch(1000)
	latestActivation := head + 1 + miner.MaxProveCommitDuration[testSeal]
	for _, tc := range []struct {
		days uint64
		want abi.ChainEpoch // 0: only the actor's bounds are checked
	}{
		{days: 540, want: head + 540*builtin.EpochsInDay},
		{days: 0},
		{days: 10},
		{days: 100000},
	} {
		t.Run(fmt.Sprint(tc.days), func(t *testing.T) {
			exp, err := expiration(head, testSeal, tc.days)
			if err != nil {
				t.Fatal(err)
			}
			if exp-latestActivation < miner.MinSectorExpiration || exp > head+1+miner.MaxSectorExpirationExtension {
				t.Fatalf("expiration %d out of the actor's bounds", exp)
			}
			if tc.want != 0 && exp != tc.want {
				t.Fatalf("expiration %d, want %d", exp, tc.want)
			}
		})
	}
}

func TestProveCommitBatchesStayUnderTheParamsLimit(t *testing.T) {
	var sectors []store.Sector
	for i := range 60 {
		sectors = append(sectors, store.Sector{ID: abi.SectorID{Miner: 1000, Number: abi.SectorNumber(i)},
			Commit: &store.SectorCommit{Proof: make([]byte, 84<<10)}})
	}
	got := batches(proveCommit, sectors)
	total := 0
	for _, b := range got {
		size := 0
		for _, s := range b {
			size += len(s.Commit.Proof)
		}
		if size > maxParamsBytes {
			t.Fatalf("a batch of %d sectors carries %d bytes of proofs, over %d", len(b), size, maxParamsBytes)
		}
		total += len(b)
	}
	if total != 60 || len(got) != 5 {
		t.Fatalf("%d sectors in %d batches, want 60 in 5", total, len(got))
	}
	if pre := batches(preCommit, sectors); len(pre) != 1 {
		t.Fatalf("pre-commits split into %d batches, want 1", len(pre))
	}
}
