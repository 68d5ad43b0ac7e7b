package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/node"
	"github.com/damocles-go/damocles/internal/proofs"
)

// The demo's chain: one 2KiB miner, t01000, pre-created for the devnet
// wallet, and a short interactive seed delay so that sealing takes seconds.
const (
	minerActor              = abi.ActorID(1000)
	minerSectorSize         = abi.SectorSize(2 << 10)
	preCommitChallengeDelay = abi.ChainEpoch(5)
)

// devnetNode is the devnet running in the demo's process, as `damocles-devnet
// run` runs it (internal/devnet/node's FullNode, Observer, server and
// Clock), listening on a loopback port chosen at start.
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
	wg     sync.WaitGroup
	// failed is closed when the clock or the server stopped on its own;
	// err says why.
	failed chan struct{}
	once   sync.Once
	err    error
}

// startDevnet creates a chain in dir with the demo's miner and serves it
// on 127.0.0.1 until stop.
func startDevnet(dir string, blockTime time.Duration) (_ *devnetNode, err error) {
	c, err := devnet.New(devnet.Config{
		Home:                    dir,
		PreCommitChallengeDelay: preCommitChallengeDelay,
		GenesisTime:             time.Now(),
		Verifier:                &proofs.DevEngine{},
	})
	if err != nil {
		return nil, fmt.Errorf("create the devnet chain in %s: %w", dir, err)
	}
	d := &devnetNode{chain: c, observer: node.NewObserver(c), wallet: c.DefaultAddress(), failed: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	if d.miner, err = c.CreateMiner(minerActor, minerSectorSize); err != nil {
		return nil, fmt.Errorf("pre-create miner %d: %w", minerActor, err)
	}
	secret, err := node.LoadSecret(dir)
	if err != nil {
		return nil, err
	}
	if d.token, err = node.WriteToken(dir, secret); err != nil {
		return nil, err
	}
	d.full = node.NewFullNode(c)
	d.full.SetBlockTime(blockTime)
	srv, err := node.NewServer(c, d.full, secret)
	if err != nil {
		d.full.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.full.Close()
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	if d.api, err = node.WriteAPIFile(dir, ln.Addr()); err != nil {
		ln.Close()
		d.full.Close()
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		clock := &node.Clock{Chain: c, BlockTime: blockTime}
		if err := clock.Run(ctx); err != nil {
			d.fail(fmt.Errorf("devnet clock: %w", err))
		}
	}()
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(ctx, ln); err != nil {
			d.fail(fmt.Errorf("devnet RPC server: %w", err))
		}
	}()
	return d, nil
}

func (d *devnetNode) fail(err error) {
	d.once.Do(func() {
		d.err = err
		close(d.failed)
	})
}

// stop stops the clock and the server, then persists and closes the chain.
func (d *devnetNode) stop() error {
	d.cancel()
	d.wg.Wait()
	d.full.Close()
	var err error
	select {
	case <-d.failed:
		err = d.err
	default:
	}
	if cerr := d.chain.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("persist the devnet chain: %w", cerr))
	}
	return err
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
