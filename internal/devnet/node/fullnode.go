package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/ipfs/go-cid"
	logging "github.com/ipfs/go-log/v2"
	mh "github.com/multiformats/go-multihash"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
)

var log = logging.Logger("devnet-node")

// NotifyBacklogDefault is how many head changes a ChainNotify subscriber
// may fall behind before its stream is closed: 256 epochs, 25 seconds of
// 100 ms blocks.
const NotifyBacklogDefault = 256

// errShuttingDown answers calls that would outlive the node.
var errShuttingDown = errors.New("the devnet node is shutting down")

// FullNode serves chain.API from a devnet chain, as a Lotus full node
// serves it from its chain.
//
// Tipset keys: EmptyTSK means the head; any other key must be the key of
// one of the chain's tipsets (the CID of its only block), or the call
// fails with "tipset not found". The devnet keeps no state history, so a
// known key selects a height only where the answer depends on the height
// alone: ChainGetTipSetByHeight, StateMinerProvingDeadline, the two
// randomness methods (which refuse epochs after the key's height), and
// StateSearchMsg (which does not find messages executed after it).
// StateNetworkVersion is the same at every height. StateMinerInfo,
// StateMinerDeadlines, StateMinerPartitions, StateMinerSectors,
// StateSectorGetInfo, StateSectorPreCommitInfo, StateMinerSectorAllocated,
// StateLookupID and StateAccountKey answer at the head whatever the key.
//
// Messages: the devnet executes a message in the tipset after the head it
// was pushed at, and that tipset's state includes its effects. MsgLookup
// reports that tipset and its height: the tipset at which the receipt is
// available and the state reflects the message, which is what Lotus
// reports too (Lotus includes a message in one tipset and reports the next
// one, whose parent receipts hold its receipt).
type FullNode struct {
	chain *devnet.Chain
	// backlog is the buffer of each ChainNotify channel.
	backlog int
	keys    keyIndex
	// slowClosed counts ChainNotify streams closed because their
	// subscriber fell a whole backlog behind.
	slowClosed atomic.Int64
	// blockDelaySecs is StateGetNetworkParams's BlockDelaySecs.
	blockDelaySecs atomic.Uint64

	mu      sync.Mutex
	closed  bool
	done    chan struct{}
	streams sync.WaitGroup
}

var _ chain.API = (*FullNode)(nil)

// NewFullNode serves c. Close it after the RPC server has stopped.
func NewFullNode(c *devnet.Chain) *FullNode {
	n := &FullNode{
		chain:   c,
		backlog: NotifyBacklogDefault,
		keys:    keyIndex{heights: map[cid.Cid]abi.ChainEpoch{}},
		done:    make(chan struct{}),
	}
	n.SetBlockTime(BlockTimeDefault)
	return n
}

// Close ends the ChainNotify streams and the StateWaitMsg calls still
// running, and waits for the streams' goroutines.
func (n *FullNode) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.done)
	}
	n.mu.Unlock()
	n.streams.Wait()
}

// keyIndex finds the height of a tipset key. Keys are hashes, so the index
// is filled by walking the chain from the last height indexed up to the
// head, on the first miss; the chain never forks, so every key stays where
// it was found.
type keyIndex struct {
	mu      sync.Mutex
	heights map[cid.Cid]abi.ChainEpoch
	next    abi.ChainEpoch
}

func (ix *keyIndex) height(c *devnet.Chain, k cid.Cid) (abi.ChainEpoch, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if h, ok := ix.heights[k]; ok {
		return h, true
	}
	head := c.Head().Height
	for ; ix.next <= head; ix.next++ {
		ts, err := c.TipSetAt(ix.next)
		if err != nil {
			break
		}
		ix.heights[ts.Key] = ix.next
	}
	h, ok := ix.heights[k]
	return h, ok
}

// at is the height tsk names: the head's for EmptyTSK.
func (n *FullNode) at(tsk chain.TipSetKey) (abi.ChainEpoch, error) {
	if tsk.IsEmpty() {
		return n.chain.Head().Height, nil
	}
	if cids := tsk.Cids(); len(cids) == 1 {
		if h, ok := n.keys.height(n.chain, cids[0]); ok {
			return h, nil
		}
	}
	return 0, fmt.Errorf("tipset not found: %s is not a tipset of this devnet (one block per epoch; use the keys ChainHead and ChainNotify return)", tsk)
}

// checkKey refuses an unknown key for the methods that answer at the head
// whatever the key.
func (n *FullNode) checkKey(tsk chain.TipSetKey) error {
	_, err := n.at(tsk)
	return err
}

// tipset is the tipset at h in Lotus's form.
func (n *FullNode) tipset(h abi.ChainEpoch) (*chain.TipSet, error) {
	blk, err := n.chain.Block(h)
	if err != nil {
		return nil, err
	}
	return chain.NewTipSet([]*chain.BlockHeader{blk})
}

func (n *FullNode) ChainHead(context.Context) (*chain.TipSet, error) {
	return n.tipset(n.chain.Head().Height)
}

// ChainGetTipSetByHeight returns the tipset at h on the chain ending at
// tsk. The devnet has no null rounds, so it is the tipset at h exactly.
func (n *FullNode) ChainGetTipSetByHeight(_ context.Context, h abi.ChainEpoch, tsk chain.TipSetKey) (*chain.TipSet, error) {
	from, err := n.at(tsk)
	if err != nil {
		return nil, err
	}
	if h < 0 {
		return nil, fmt.Errorf("no tipset at negative height %d", h)
	}
	if h > from {
		return nil, fmt.Errorf("looking for tipset with height %d greater than start point %d", h, from)
	}
	return n.tipset(h)
}

func (n *FullNode) StateNetworkVersion(_ context.Context, tsk chain.TipSetKey) (network.Version, error) {
	if err := n.checkKey(tsk); err != nil {
		return 0, err
	}
	return n.chain.NetworkVersion(), nil
}

// StateMinerInfo maps the actor's MinerInfo to Lotus's, as Lotus does: no
// pending worker change is NewWorker undefined and WorkerChangeEpoch -1;
// the peer ID is written in base58.
func (n *FullNode) StateMinerInfo(_ context.Context, maddr address.Address, tsk chain.TipSetKey) (chain.MinerInfo, error) {
	if err := n.checkKey(tsk); err != nil {
		return chain.MinerInfo{}, err
	}
	mi, err := n.chain.MinerInfo(maddr)
	if err != nil {
		return chain.MinerInfo{}, err
	}
	return lotusMinerInfo(mi), nil
}

func lotusMinerInfo(mi miner.MinerInfo) chain.MinerInfo {
	out := chain.MinerInfo{
		Owner:                      mi.Owner,
		Worker:                     mi.Worker,
		NewWorker:                  address.Undef,
		ControlAddresses:           mi.ControlAddresses,
		WorkerChangeEpoch:          -1,
		Multiaddrs:                 mi.Multiaddrs,
		WindowPoStProofType:        mi.WindowPoStProofType,
		SectorSize:                 mi.SectorSize,
		WindowPoStPartitionSectors: mi.WindowPoStPartitionSectors,
		ConsensusFaultElapsed:      mi.ConsensusFaultElapsed,
		PendingOwnerAddress:        mi.PendingOwnerAddress,
		Beneficiary:                mi.Beneficiary,
		BeneficiaryTerm:            &mi.BeneficiaryTerm,
		PendingBeneficiaryTerm:     mi.PendingBeneficiaryTerm,
	}
	if mi.PendingWorkerKey != nil {
		out.NewWorker = mi.PendingWorkerKey.NewWorker
		out.WorkerChangeEpoch = mi.PendingWorkerKey.EffectiveAt
	}
	if len(mi.PeerId) > 0 {
		// A peer ID's text form is the base58 of its bytes (libp2p's
		// peer.ID.String), whether or not they are a valid multihash.
		pid := mh.Multihash(mi.PeerId).B58String()
		out.PeerId = &pid
	}
	return out
}

// StateMinerProvingDeadline answers at the key's height.
func (n *FullNode) StateMinerProvingDeadline(_ context.Context, maddr address.Address, tsk chain.TipSetKey) (*dline.Info, error) {
	h, err := n.at(tsk)
	if err != nil {
		return nil, err
	}
	return n.chain.ProvingDeadline(maddr, h)
}

func (n *FullNode) StateMinerDeadlines(_ context.Context, maddr address.Address, tsk chain.TipSetKey) ([]chain.Deadline, error) {
	if err := n.checkKey(tsk); err != nil {
		return nil, err
	}
	dls, err := n.chain.Deadlines(maddr)
	if err != nil {
		return nil, err
	}
	out := make([]chain.Deadline, len(dls))
	for i, d := range dls {
		out[i] = chain.Deadline(d)
	}
	return out, nil
}

func (n *FullNode) StateMinerPartitions(_ context.Context, maddr address.Address, dlIdx uint64, tsk chain.TipSetKey) ([]chain.Partition, error) {
	if err := n.checkKey(tsk); err != nil {
		return nil, err
	}
	parts, err := n.chain.Partitions(maddr, dlIdx)
	if err != nil {
		return nil, fmt.Errorf("partitions of miner %s: %w", maddr, err)
	}
	out := make([]chain.Partition, len(parts))
	for i, p := range parts {
		out[i] = chain.Partition(p)
	}
	return out, nil
}

func (n *FullNode) StateMinerSectors(_ context.Context, maddr address.Address, filter *bitfield.BitField, tsk chain.TipSetKey) ([]*chain.SectorOnChainInfo, error) {
	if err := n.checkKey(tsk); err != nil {
		return nil, err
	}
	sectors, err := n.chain.Sectors(maddr, filter)
	if err != nil {
		return nil, fmt.Errorf("sectors of miner %s: %w", maddr, err)
	}
	return sectors, nil
}

func (n *FullNode) StateSectorGetInfo(_ context.Context, maddr address.Address, num abi.SectorNumber, tsk chain.TipSetKey) (*chain.SectorOnChainInfo, error) {
	if err := n.checkKey(tsk); err != nil {
		return nil, err
	}
	return n.chain.SectorInfo(maddr, num)
}

func (n *FullNode) StateSectorPreCommitInfo(_ context.Context, maddr address.Address, num abi.SectorNumber, tsk chain.TipSetKey) (*chain.SectorPreCommitOnChainInfo, error) {
	if err := n.checkKey(tsk); err != nil {
		return nil, err
	}
	return n.chain.PreCommitInfo(maddr, num)
}

func (n *FullNode) StateMinerSectorAllocated(_ context.Context, maddr address.Address, num abi.SectorNumber, tsk chain.TipSetKey) (bool, error) {
	if err := n.checkKey(tsk); err != nil {
		return false, err
	}
	ok, err := n.chain.SectorAllocated(maddr, num)
	if err != nil {
		return false, fmt.Errorf("sector number %d of miner %s: %w", num, maddr, err)
	}
	return ok, nil
}

// randomnessEpoch refuses, as Lotus does, an epoch after the tipset the
// randomness is drawn on.
func (n *FullNode) randomnessEpoch(randEpoch abi.ChainEpoch, tsk chain.TipSetKey) error {
	h, err := n.at(tsk)
	if err != nil {
		return err
	}
	if randEpoch > h {
		return fmt.Errorf("cannot draw randomness from the future: epoch %d is after the tipset at %d", randEpoch, h)
	}
	return nil
}

func (n *FullNode) StateGetRandomnessFromBeacon(_ context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk chain.TipSetKey) (abi.Randomness, error) {
	if err := n.randomnessEpoch(randEpoch, tsk); err != nil {
		return nil, err
	}
	return n.chain.BeaconRandomness(tag, randEpoch, entropy)
}

func (n *FullNode) StateGetRandomnessFromTickets(_ context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk chain.TipSetKey) (abi.Randomness, error) {
	if err := n.randomnessEpoch(randEpoch, tsk); err != nil {
		return nil, err
	}
	return n.chain.TicketRandomness(tag, randEpoch, entropy)
}

func (n *FullNode) StateLookupID(_ context.Context, addr address.Address, tsk chain.TipSetKey) (address.Address, error) {
	if err := n.checkKey(tsk); err != nil {
		return address.Undef, err
	}
	return n.chain.LookupID(addr)
}

func (n *FullNode) StateAccountKey(_ context.Context, addr address.Address, tsk chain.TipSetKey) (address.Address, error) {
	if err := n.checkKey(tsk); err != nil {
		return address.Undef, err
	}
	return n.chain.AccountKey(addr)
}

// WalletBalance is zero for an address without an actor, as in Lotus.
func (n *FullNode) WalletBalance(_ context.Context, addr address.Address) (big.Int, error) {
	bal, err := n.chain.Balance(addr)
	if err != nil {
		return big.Zero(), nil
	}
	return bal, nil
}

func (n *FullNode) WalletDefaultAddress(context.Context) (address.Address, error) {
	return n.chain.DefaultAddress(), nil
}

// MpoolPushMessage assigns the sender's next nonce, signs with the devnet
// wallet and pushes: From must be one of the wallet's addresses (or its ID
// address). As in Lotus, a message must come with nonce 0. Gas fields are
// kept as given and spec is ignored: the devnet charges no gas.
func (n *FullNode) MpoolPushMessage(_ context.Context, msg *chain.Message, _ *chain.MessageSendSpec) (*chain.SignedMessage, error) {
	if msg == nil {
		return nil, errors.New("MpoolPushMessage: no message")
	}
	if msg.Nonce != 0 {
		return nil, fmt.Errorf("MpoolPushMessage expects message nonce to be 0, was %d: the node assigns it", msg.Nonce)
	}
	sm, err := n.chain.PushMessage(*msg)
	if err != nil {
		return nil, fmt.Errorf("push message from %s to %s (method %d): %w", msg.From, msg.To, msg.Method, err)
	}
	log.Debugw("message pushed", "cid", sm.Cid, "from", sm.Message.From, "to", sm.Message.To, "method", sm.Message.Method, "nonce", sm.Message.Nonce)
	return &chain.SignedMessage{Message: sm.Message, Signature: sm.Signature}, nil
}
