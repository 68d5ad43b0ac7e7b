package chain

import (
	"context"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/ipfs/go-cid"
)

// Namespace is the JSON-RPC namespace of the API: methods are called as
// "Filecoin.<Method>", as on a Lotus node.
const Namespace = "Filecoin"

// Path is where a Lotus node serves its v1 API.
const Path = "/rpc/v1"

// LookbackNoLimit, as the limit of StateWaitMsg or StateSearchMsg, searches
// the whole chain.
const LookbackNoLimit = abi.ChainEpoch(-1)

// API is the subset of the Lotus v1 full-node API that damocles-manager
// uses, with Lotus's method names, signatures and JSON. A TipSetKey
// argument names the tipset whose state is read; EmptyTSK means the head.
// Each method's permission is the perm tag of its field in
// APIStruct.Internal, which are Lotus's.
type API interface {
	// ChainHead returns the current head.
	ChainHead(ctx context.Context) (*TipSet, error)
	// ChainNotify streams head changes (websocket only); the first
	// message holds one HCCurrent change. The channel closes when the
	// stream ends (ctx ends, or the connection is lost).
	ChainNotify(ctx context.Context) (<-chan []*HeadChange, error)
	// ChainGetTipSetByHeight returns the tipset at height h on the chain
	// ending at tsk, or the one before it when h is a null round.
	ChainGetTipSetByHeight(ctx context.Context, h abi.ChainEpoch, tsk TipSetKey) (*TipSet, error)

	// StateGetNetworkParams returns the network's constants: its name,
	// block delay and PreCommitChallengeDelay among them.
	StateGetNetworkParams(ctx context.Context) (*NetworkParams, error)
	// StateNetworkVersion returns the network version at tsk.
	StateNetworkVersion(ctx context.Context, tsk TipSetKey) (network.Version, error)
	// StateMinerInfo returns a miner's owner, worker, proof types and peer.
	StateMinerInfo(ctx context.Context, maddr address.Address, tsk TipSetKey) (MinerInfo, error)
	// StateMinerProvingDeadline returns the miner's deadline open at tsk.
	StateMinerProvingDeadline(ctx context.Context, maddr address.Address, tsk TipSetKey) (*dline.Info, error)
	// StateMinerDeadlines returns the miner's WPoStPeriodDeadlines deadlines.
	StateMinerDeadlines(ctx context.Context, maddr address.Address, tsk TipSetKey) ([]Deadline, error)
	// StateMinerPartitions returns the partitions of one deadline.
	StateMinerPartitions(ctx context.Context, maddr address.Address, dlIdx uint64, tsk TipSetKey) ([]Partition, error)
	// StateMinerSectors returns the miner's sectors in filter, or all of
	// them when filter is nil.
	StateMinerSectors(ctx context.Context, maddr address.Address, filter *bitfield.BitField, tsk TipSetKey) ([]*SectorOnChainInfo, error)
	// StateSectorGetInfo returns a sector's on-chain info, nil when the
	// miner has no such sector.
	StateSectorGetInfo(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (*SectorOnChainInfo, error)
	// StateSectorPreCommitInfo returns a sector's pre-commit, nil when it
	// is not pre-committed.
	StateSectorPreCommitInfo(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (*SectorPreCommitOnChainInfo, error)
	// StateMinerSectorAllocated tells whether the sector number was ever
	// allocated by the miner.
	StateMinerSectorAllocated(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (bool, error)
	// StateGetRandomnessFromBeacon draws randomness from the drand beacon
	// entry at randEpoch, for the domain tag and entropy.
	StateGetRandomnessFromBeacon(ctx context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk TipSetKey) (abi.Randomness, error)
	// StateGetRandomnessFromTickets draws randomness from the chain's
	// tickets at randEpoch, for the domain tag and entropy.
	StateGetRandomnessFromTickets(ctx context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk TipSetKey) (abi.Randomness, error)
	// StateLookupID returns the ID address of an address.
	StateLookupID(ctx context.Context, addr address.Address, tsk TipSetKey) (address.Address, error)
	// StateAccountKey returns the public-key address of an account actor.
	StateAccountKey(ctx context.Context, addr address.Address, tsk TipSetKey) (address.Address, error)

	// WalletBalance returns an address's balance at the head.
	WalletBalance(ctx context.Context, addr address.Address) (big.Int, error)
	// WalletDefaultAddress returns the node wallet's default address.
	WalletDefaultAddress(ctx context.Context) (address.Address, error)

	// MpoolPushMessage sets the nonce and any unset gas fields, signs msg
	// with the node's wallet key for msg.From, and pushes it.
	MpoolPushMessage(ctx context.Context, msg *Message, spec *MessageSendSpec) (*SignedMessage, error)
	// StateWaitMsg waits until the message (a SignedMessage's Cid) is
	// executed and confidence epochs deep, looking back at most limit
	// epochs (LookbackNoLimit: all) for an earlier execution.
	StateWaitMsg(ctx context.Context, msg cid.Cid, confidence uint64, limit abi.ChainEpoch, allowReplaced bool) (*MsgLookup, error)
	// StateSearchMsg looks back from the tipset from, at most limit epochs,
	// for the message's execution; nil when not found.
	StateSearchMsg(ctx context.Context, from TipSetKey, msg cid.Cid, limit abi.ChainEpoch, allowReplaced bool) (*MsgLookup, error)
}

// APIStruct is both the typed client (go-jsonrpc fills the Internal funcs
// with remote calls) and, on a server such as the devnet's, the
// permission-checking proxy in front of the implementation
// (auth.PermissionedProxy fills them). Perm tags are Lotus's.
type APIStruct struct {
	Internal struct {
		ChainHead                     func(ctx context.Context) (*TipSet, error)                                                                                                 `perm:"read"`
		ChainNotify                   func(ctx context.Context) (<-chan []*HeadChange, error)                                                                                    `perm:"read"`
		ChainGetTipSetByHeight        func(ctx context.Context, h abi.ChainEpoch, tsk TipSetKey) (*TipSet, error)                                                                `perm:"read"`
		StateGetNetworkParams         func(ctx context.Context) (*NetworkParams, error)                                                                                          `perm:"read"`
		StateNetworkVersion           func(ctx context.Context, tsk TipSetKey) (network.Version, error)                                                                          `perm:"read"`
		StateMinerInfo                func(ctx context.Context, maddr address.Address, tsk TipSetKey) (MinerInfo, error)                                                         `perm:"read"`
		StateMinerProvingDeadline     func(ctx context.Context, maddr address.Address, tsk TipSetKey) (*dline.Info, error)                                                       `perm:"read"`
		StateMinerDeadlines           func(ctx context.Context, maddr address.Address, tsk TipSetKey) ([]Deadline, error)                                                        `perm:"read"`
		StateMinerPartitions          func(ctx context.Context, maddr address.Address, dlIdx uint64, tsk TipSetKey) ([]Partition, error)                                         `perm:"read"`
		StateMinerSectors             func(ctx context.Context, maddr address.Address, filter *bitfield.BitField, tsk TipSetKey) ([]*SectorOnChainInfo, error)                   `perm:"read"`
		StateSectorGetInfo            func(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (*SectorOnChainInfo, error)                            `perm:"read"`
		StateSectorPreCommitInfo      func(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (*SectorPreCommitOnChainInfo, error)                   `perm:"read"`
		StateMinerSectorAllocated     func(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (bool, error)                                          `perm:"read"`
		StateGetRandomnessFromBeacon  func(ctx context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk TipSetKey) (abi.Randomness, error) `perm:"read"`
		StateGetRandomnessFromTickets func(ctx context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk TipSetKey) (abi.Randomness, error) `perm:"read"`
		StateLookupID                 func(ctx context.Context, addr address.Address, tsk TipSetKey) (address.Address, error)                                                    `perm:"read"`
		StateAccountKey               func(ctx context.Context, addr address.Address, tsk TipSetKey) (address.Address, error)                                                    `perm:"read"`

		WalletBalance        func(ctx context.Context, addr address.Address) (big.Int, error) `perm:"read"`
		WalletDefaultAddress func(ctx context.Context) (address.Address, error)               `perm:"write"`

		MpoolPushMessage func(ctx context.Context, msg *Message, spec *MessageSendSpec) (*SignedMessage, error)                                  `perm:"sign"`
		StateWaitMsg     func(ctx context.Context, msg cid.Cid, confidence uint64, limit abi.ChainEpoch, allowReplaced bool) (*MsgLookup, error) `perm:"read"`
		StateSearchMsg   func(ctx context.Context, from TipSetKey, msg cid.Cid, limit abi.ChainEpoch, allowReplaced bool) (*MsgLookup, error)    `perm:"read"`
	}
}

// APIStruct's methods only forward to Internal.
var _ API = (*APIStruct)(nil)

func (s *APIStruct) ChainHead(ctx context.Context) (*TipSet, error) {
	return s.Internal.ChainHead(ctx)
}

func (s *APIStruct) ChainNotify(ctx context.Context) (<-chan []*HeadChange, error) {
	return s.Internal.ChainNotify(ctx)
}

func (s *APIStruct) ChainGetTipSetByHeight(ctx context.Context, h abi.ChainEpoch, tsk TipSetKey) (*TipSet, error) {
	return s.Internal.ChainGetTipSetByHeight(ctx, h, tsk)
}

func (s *APIStruct) StateGetNetworkParams(ctx context.Context) (*NetworkParams, error) {
	return s.Internal.StateGetNetworkParams(ctx)
}

func (s *APIStruct) StateNetworkVersion(ctx context.Context, tsk TipSetKey) (network.Version, error) {
	return s.Internal.StateNetworkVersion(ctx, tsk)
}

func (s *APIStruct) StateMinerInfo(ctx context.Context, maddr address.Address, tsk TipSetKey) (MinerInfo, error) {
	return s.Internal.StateMinerInfo(ctx, maddr, tsk)
}

func (s *APIStruct) StateMinerProvingDeadline(ctx context.Context, maddr address.Address, tsk TipSetKey) (*dline.Info, error) {
	return s.Internal.StateMinerProvingDeadline(ctx, maddr, tsk)
}

func (s *APIStruct) StateMinerDeadlines(ctx context.Context, maddr address.Address, tsk TipSetKey) ([]Deadline, error) {
	return s.Internal.StateMinerDeadlines(ctx, maddr, tsk)
}

func (s *APIStruct) StateMinerPartitions(ctx context.Context, maddr address.Address, dlIdx uint64, tsk TipSetKey) ([]Partition, error) {
	return s.Internal.StateMinerPartitions(ctx, maddr, dlIdx, tsk)
}

func (s *APIStruct) StateMinerSectors(ctx context.Context, maddr address.Address, filter *bitfield.BitField, tsk TipSetKey) ([]*SectorOnChainInfo, error) {
	return s.Internal.StateMinerSectors(ctx, maddr, filter, tsk)
}

func (s *APIStruct) StateSectorGetInfo(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (*SectorOnChainInfo, error) {
	return s.Internal.StateSectorGetInfo(ctx, maddr, n, tsk)
}

func (s *APIStruct) StateSectorPreCommitInfo(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (*SectorPreCommitOnChainInfo, error) {
	return s.Internal.StateSectorPreCommitInfo(ctx, maddr, n, tsk)
}

func (s *APIStruct) StateMinerSectorAllocated(ctx context.Context, maddr address.Address, n abi.SectorNumber, tsk TipSetKey) (bool, error) {
	return s.Internal.StateMinerSectorAllocated(ctx, maddr, n, tsk)
}

func (s *APIStruct) StateGetRandomnessFromBeacon(ctx context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk TipSetKey) (abi.Randomness, error) {
	return s.Internal.StateGetRandomnessFromBeacon(ctx, tag, randEpoch, entropy, tsk)
}

func (s *APIStruct) StateGetRandomnessFromTickets(ctx context.Context, tag crypto.DomainSeparationTag, randEpoch abi.ChainEpoch, entropy []byte, tsk TipSetKey) (abi.Randomness, error) {
	return s.Internal.StateGetRandomnessFromTickets(ctx, tag, randEpoch, entropy, tsk)
}

func (s *APIStruct) StateLookupID(ctx context.Context, addr address.Address, tsk TipSetKey) (address.Address, error) {
	return s.Internal.StateLookupID(ctx, addr, tsk)
}

func (s *APIStruct) StateAccountKey(ctx context.Context, addr address.Address, tsk TipSetKey) (address.Address, error) {
	return s.Internal.StateAccountKey(ctx, addr, tsk)
}

func (s *APIStruct) WalletBalance(ctx context.Context, addr address.Address) (big.Int, error) {
	return s.Internal.WalletBalance(ctx, addr)
}

func (s *APIStruct) WalletDefaultAddress(ctx context.Context) (address.Address, error) {
	return s.Internal.WalletDefaultAddress(ctx)
}

func (s *APIStruct) MpoolPushMessage(ctx context.Context, msg *Message, spec *MessageSendSpec) (*SignedMessage, error) {
	return s.Internal.MpoolPushMessage(ctx, msg, spec)
}

func (s *APIStruct) StateWaitMsg(ctx context.Context, msg cid.Cid, confidence uint64, limit abi.ChainEpoch, allowReplaced bool) (*MsgLookup, error) {
	return s.Internal.StateWaitMsg(ctx, msg, confidence, limit, allowReplaced)
}

func (s *APIStruct) StateSearchMsg(ctx context.Context, from TipSetKey, msg cid.Cid, limit abi.ChainEpoch, allowReplaced bool) (*MsgLookup, error) {
	return s.Internal.StateSearchMsg(ctx, from, msg, limit, allowReplaced)
}
