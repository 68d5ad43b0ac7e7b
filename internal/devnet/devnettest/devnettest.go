// Package devnettest owns the in-process devnet that package tests of the
// manager's components run against: a devnet.Chain with devproof as its
// verifier, served as chain.API by node.FullNode without a network, whose
// epochs the test mines, and a 2KiB miner created through a real
// CreateMiner message.
package devnettest

import (
	"context"
	"testing"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/node"
	"github.com/damocles-go/damocles/internal/proofs"
)

// Genesis is the chain's genesis time; epoch h is mined at Genesis + h s.
var Genesis = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Chain is a devnet served in process.
type Chain struct {
	t      testing.TB
	Chain  *devnet.Chain
	Node   *node.FullNode
	Engine *proofs.DevEngine
	// Miner is the 2KiB miner created at start, Actor its ID.
	Miner address.Address
	Actor abi.ActorID
	// Wallet is the devnet's funded wallet, owner of Miner.
	Wallet address.Address
}

// New starts a devnet with the given PreCommitChallengeDelay, creates a
// 2KiB miner through a CreateMiner message, and closes both at cleanup.
func New(t testing.TB, preCommitChallengeDelay abi.ChainEpoch) *Chain {
	t.Helper()
	engine := &proofs.DevEngine{}
	c, err := devnet.New(devnet.Config{Verifier: engine, PreCommitChallengeDelay: preCommitChallengeDelay, GenesisTime: Genesis})
	if err != nil {
		t.Fatal(err)
	}
	n := node.NewFullNode(c)
	t.Cleanup(func() {
		n.Close()
		_ = c.Close()
	})
	d := &Chain{t: t, Chain: c, Node: n, Engine: engine, Wallet: c.DefaultAddress()}
	ctx := context.Background()
	sm, err := chain.PushCreateMiner(ctx, n, chain.CreateMinerRequest{From: d.Wallet, SectorSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	d.Advance(1)
	msg, err := sm.Cid()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := chain.WaitCreateMiner(ctx, n, msg, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.Miner = ret.IDAddress
	id, err := address.IDFromAddress(d.Miner)
	if err != nil {
		t.Fatal(err)
	}
	d.Actor = abi.ActorID(id)
	return d
}

// Advance mines n epochs.
func (d *Chain) Advance(n int) {
	d.t.Helper()
	for range n {
		next := d.Chain.Head().Height + 1
		if _, err := d.Chain.AdvanceEpoch(Genesis.Add(time.Duration(next) * time.Second)); err != nil {
			d.t.Fatal(err)
		}
	}
}
