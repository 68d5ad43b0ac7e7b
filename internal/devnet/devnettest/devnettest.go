// Package devnettest owns the in-process devnet that package tests of the
// manager's components run against: a devnet.Chain with devproof as its
// verifier, served as chain.API by node.FullNode without a network, whose
// epochs the test mines, and a miner created through a real CreateMiner
// message. SealSectors gives that miner really sealed, active sectors whose
// files lie in a persist-store layout, for tests that prove them.
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

// SectorSizeDefault is Options.SectorSize when unset.
const SectorSizeDefault = abi.SectorSize(2 << 10)

// Options configures the devnet and its miner. The zero value is a 2KiB
// miner on a chain with the real PreCommitChallengeDelay and partition
// sizes.
type Options struct {
	// PreCommitChallengeDelay is the epochs between a pre-commit and its
	// interactive seed; 0 is devnet.PreCommitChallengeDelayDefault (150),
	// which SealSectors then mines through.
	PreCommitChallengeDelay abi.ChainEpoch
	// SectorSize of the miner created at start: 2KiB (SectorSizeDefault,
	// when 0) or 8MiB, the sizes devproof seals in test time.
	SectorSize abi.SectorSize
	// PartitionSectors overrides the WindowPoSt partition size
	// (devnet.Config.PartitionSectors); 0 keeps the proof type's.
	PartitionSectors uint64
}

// Chain is a devnet served in process.
type Chain struct {
	t      testing.TB
	Chain  *devnet.Chain
	Node   *node.FullNode
	Engine *proofs.DevEngine
	// Miner is the miner created at start, Actor its ID.
	Miner address.Address
	Actor abi.ActorID
	// SealProof is the V1_1 seal proof type of Miner's sector size, which
	// SealSectors seals with; PoStProof is Miner's window PoSt type.
	SealProof abi.RegisteredSealProof
	PoStProof abi.RegisteredPoStProof
	// Wallet is the devnet's funded wallet, owner and worker of Miner.
	Wallet address.Address
	// nextSector is the number SealSectors gives its next sector.
	nextSector abi.SectorNumber
}

// New starts a devnet with the given PreCommitChallengeDelay, creates a
// 2KiB miner through a CreateMiner message, and closes both at cleanup.
func New(t testing.TB, preCommitChallengeDelay abi.ChainEpoch) *Chain {
	t.Helper()
	return NewWithOptions(t, Options{PreCommitChallengeDelay: preCommitChallengeDelay})
}

// NewWithOptions starts a devnet configured by opts, creates a miner with
// opts.SectorSize through a CreateMiner message, and closes both at
// cleanup.
func NewWithOptions(t testing.TB, opts Options) *Chain {
	t.Helper()
	size := opts.SectorSize
	if size == 0 {
		size = SectorSizeDefault
	}
	engine := &proofs.DevEngine{}
	c, err := devnet.New(devnet.Config{
		Verifier:                engine,
		PreCommitChallengeDelay: opts.PreCommitChallengeDelay,
		PartitionSectors:        opts.PartitionSectors,
		GenesisTime:             Genesis,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := node.NewFullNode(c)
	t.Cleanup(func() {
		n.Close()
		_ = c.Close()
	})
	d := &Chain{t: t, Chain: c, Node: n, Engine: engine, Wallet: c.DefaultAddress(), nextSector: 1}
	ctx := context.Background()
	sm, err := chain.PushCreateMiner(ctx, n, chain.CreateMinerRequest{From: d.Wallet, SectorSize: size})
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
	info, err := n.StateMinerInfo(ctx, d.Miner, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	d.PoStProof = info.WindowPoStProofType
	if d.SealProof, err = proofs.SealProofForPoSt(d.PoStProof); err != nil {
		t.Fatalf("seal proof of miner %s: %v", d.Miner, err)
	}
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

// AdvanceTo mines until the head is at epoch; a head already there or
// past it stays.
func (d *Chain) AdvanceTo(epoch abi.ChainEpoch) {
	d.t.Helper()
	if h := d.Chain.Head().Height; epoch > h {
		d.Advance(int(epoch - h))
	}
}
