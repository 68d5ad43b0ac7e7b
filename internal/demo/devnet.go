package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/node"
)

// The demo's chain: one 2KiB miner, t01000, pre-created for the devnet
// wallet, and a short interactive seed delay so that sealing takes seconds.
const (
	minerActor              = abi.ActorID(1000)
	minerSectorSize         = abi.SectorSize(2 << 10)
	preCommitChallengeDelay = abi.ChainEpoch(5)
)

// devnetNode is the devnet running in the demo's process, as `damocles-devnet
// run` runs it (node.Run), listening on a loopback port chosen at start.
type devnetNode struct {
	chain    *devnet.Chain
	full     *node.FullNode
	observer *node.Observer
	// api and token are what the manager dials; wallet owns and works
	// the miner.
	api, token string
	wallet     address.Address
	miner      address.Address

	cancel context.CancelFunc
	// done is closed when node.Run returned; err is what it returned.
	done chan struct{}
	err  error
	// failed is closed when the devnet stopped on its own (not by stop).
	failed  chan struct{}
	stopped atomic.Bool
}

// startDevnet creates a chain in dir with the demo's miner and serves it
// on 127.0.0.1 until stop.
func startDevnet(dir string, blockTime time.Duration) (*devnetNode, error) {
	ctx, cancel := context.WithCancel(context.Background())
	d := &devnetNode{cancel: cancel, done: make(chan struct{}), failed: make(chan struct{})}
	started := make(chan node.Started, 1)
	go func() {
		defer close(d.done)
		d.err = node.Run(ctx, node.Config{
			Home:                    dir,
			Listen:                  "127.0.0.1:0",
			BlockTime:               blockTime,
			PreCommitChallengeDelay: preCommitChallengeDelay,
			Miners:                  []node.MinerSpec{{ID: minerActor, Size: minerSectorSize}},
		}, func(s node.Started) { started <- s })
		if !d.stopped.Load() {
			if d.err == nil {
				d.err = errors.New("the devnet stopped")
			}
			close(d.failed)
		}
	}()
	select {
	case s := <-started:
		d.chain, d.full, d.observer = s.Chain, s.Node, node.NewObserver(s.Chain)
		d.api, d.token, d.wallet, d.miner = s.API, s.Token, s.Wallet, s.Miners[0].Address
		return d, nil
	case <-d.done:
		cancel()
		return nil, fmt.Errorf("start the devnet in %s: %w", dir, d.err)
	}
}

// stop stops the clock and the server, then persists and closes the chain.
func (d *devnetNode) stop() error {
	d.stopped.Store(true)
	d.cancel()
	<-d.done
	return d.err
}

// observe reads the miner's deadlines through the node's chain API, its
// record through the observer, and its pending WindowPoSts from the
// message pool.
func (d *devnetNode) observe(ctx context.Context) (Observation, error) {
	var o Observation
	head, err := d.full.ChainHead(ctx)
	if err != nil {
		return o, err
	}
	o.Height = head.Height
	if o.Open, err = d.full.StateMinerProvingDeadline(ctx, d.miner, chain.EmptyTSK); err != nil {
		return o, err
	}
	o.Partitions = make([][][]abi.SectorNumber, chain.WPoStPeriodDeadlines)
	for dl := range chain.WPoStPeriodDeadlines {
		parts, err := d.full.StateMinerPartitions(ctx, d.miner, dl, chain.EmptyTSK)
		if err != nil {
			return o, err
		}
		for _, p := range parts {
			nums, err := p.LiveSectors.All(miner.AddressedSectorsMax)
			if err != nil {
				return o, fmt.Errorf("live sectors of deadline %d: %w", dl, err)
			}
			sectors := make([]abi.SectorNumber, len(nums))
			for i, n := range nums {
				sectors[i] = abi.SectorNumber(n)
			}
			o.Partitions[dl] = append(o.Partitions[dl], sectors)
		}
	}
	infos, err := d.full.StateMinerSectors(ctx, d.miner, nil, chain.EmptyTSK)
	if err != nil {
		return o, err
	}
	for _, info := range infos {
		o.LastActivation = max(o.LastActivation, info.Activation)
	}
	if o.Stats, err = d.observer.Stats(ctx, d.miner); err != nil {
		return o, err
	}
	for _, sm := range d.chain.Pending() {
		msg := sm.Message
		if msg.Method != builtin.MethodsMiner.SubmitWindowedPoSt {
			continue
		}
		if to, err := d.chain.LookupID(msg.To); err != nil || to != d.miner {
			continue
		}
		var p miner.SubmitWindowedPoStParams
		if err := p.UnmarshalCBOR(bytes.NewReader(msg.Params)); err == nil {
			o.PendingPoSts = append(o.PendingPoSts, p.Deadline)
		}
	}
	return o, nil
}
