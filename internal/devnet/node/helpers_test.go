package node

import (
	"testing"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/proofs"
)

var testGenesis = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testNode is a FullNode over an in-memory chain whose epochs the test
// mines itself.
type testNode struct {
	t     testing.TB
	chain *devnet.Chain
	node  *FullNode
}

func newTestNode(t testing.TB) *testNode {
	t.Helper()
	c, err := devnet.New(devnet.Config{Verifier: &proofs.DevEngine{}, PreCommitChallengeDelay: 5, GenesisTime: testGenesis})
	if err != nil {
		t.Fatal(err)
	}
	n := NewFullNode(c)
	t.Cleanup(func() {
		n.Close()
		_ = c.Close()
	})
	return &testNode{t: t, chain: c, node: n}
}

func (tn *testNode) advance(epochs int) {
	tn.t.Helper()
	for range epochs {
		next := tn.chain.Head().Height + 1
		if _, err := tn.chain.AdvanceEpoch(testGenesis.Add(time.Duration(next) * time.Second)); err != nil {
			tn.t.Fatal(err)
		}
	}
}

func (tn *testNode) height() abi.ChainEpoch { return tn.chain.Head().Height }

// keyAt is the key of the tipset at h.
func (tn *testNode) keyAt(h abi.ChainEpoch) chain.TipSetKey {
	tn.t.Helper()
	ts, err := tn.chain.TipSetAt(h)
	if err != nil {
		tn.t.Fatal(err)
	}
	return chain.NewTipSetKey(ts.Key)
}

// selfSend is a message from the wallet to itself: it always succeeds.
func (tn *testNode) selfSend() *chain.Message {
	w := tn.chain.DefaultAddress()
	return &chain.Message{To: w, From: w, Value: big.NewInt(1), Method: builtin.MethodSend}
}

// push pushes msg through MpoolPushMessage and returns the CID a client
// waits for: the signed message's.
func (tn *testNode) push(msg *chain.Message) cid.Cid {
	tn.t.Helper()
	sm, err := tn.node.MpoolPushMessage(tn.t.Context(), msg, nil)
	if err != nil {
		tn.t.Fatal(err)
	}
	c, err := sm.Cid()
	if err != nil {
		tn.t.Fatal(err)
	}
	return c
}

func mustID(t testing.TB, id uint64) address.Address {
	t.Helper()
	a, err := address.NewIDAddress(id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitFor waits (bounded) until cond holds, for a goroutine of the code
// under test to catch up; the tests drive the chain, so it never waits
// for time to pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
