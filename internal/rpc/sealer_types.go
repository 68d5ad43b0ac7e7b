package rpc

import (
	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"
)

// The wire types of the sealing methods (PROTOCOLS-damocles.md §2.1). Field
// names are the JSON keys the Rust worker expects, exact case; abi.SectorID
// encodes as {"Miner": u64, "Number": u64}.

// AllocateSectorSpec narrows which sector a worker may be given. Empty or
// null lists mean no restriction.
type AllocateSectorSpec struct {
	AllowedMiners     []abi.ActorID
	AllowedProofTypes []abi.RegisteredSealProof
}

// AllocatedSector is a sector number handed to a worker, with the seal
// proof it must use.
type AllocatedSector struct {
	ID        abi.SectorID
	ProofType abi.RegisteredSealProof
}

// AcquireDealsSpec bounds the deals a sector may take.
type AcquireDealsSpec struct {
	MaxDeals     *uint
	MinUsedSpace *uint64
}

// PieceInfo is a piece of a sector: padded size and piece CID.
type PieceInfo struct {
	Size     abi.PaddedPieceSize
	PieceCID cid.Cid
}

// DealInfoV2 is the deal behind a piece (venus market.DealInfoV2 flattened,
// plus two flags). The worker treats a piece as filler when
// IsBuiltinMarket ? DealID == 0 : AllocationID == 0.
type DealInfoV2 struct {
	DealID          abi.DealID
	PublishCid      *cid.Cid
	AllocationID    uint64
	PieceCID        cid.Cid
	PieceSize       abi.PaddedPieceSize
	Client          address.Address
	Provider        address.Address
	Offset          abi.PaddedPieceSize
	Length          abi.PaddedPieceSize
	PayloadSize     uint64
	StartEpoch      abi.ChainEpoch
	EndEpoch        abi.ChainEpoch
	IsBuiltinMarket bool
	IsCompatible    bool
}

// SectorPiece is one piece assigned to a sector; DealInfo must not be null
// for the Rust worker.
type SectorPiece struct {
	Piece    PieceInfo
	DealInfo DealInfoV2
}

// Ticket is the seal randomness a sector was sealed with (32 bytes).
type Ticket struct {
	Ticket abi.Randomness
	Epoch  abi.ChainEpoch
}

// Seed is the interactive randomness of the PoRep (32 bytes).
type Seed struct {
	Seed  abi.Randomness
	Epoch abi.ChainEpoch
}

// PreCommitOnChainInfo is what a worker submits after PC2: raw
// commitments (arrays of 32 ints on the wire) and the ticket used.
type PreCommitOnChainInfo struct {
	CommR  [32]byte
	CommD  [32]byte
	Ticket Ticket
}

// ProofOnChainInfo is the PoRep (C2) proof a worker submits.
type ProofOnChainInfo struct {
	Proof []byte
}

// SubmitResult is the manager's answer to a submission. Zero is never
// sent: the Rust enum starts at 1 and cannot decode 0.
type SubmitResult uint64

// Submission results.
const (
	SubmitAccepted             SubmitResult = 1
	SubmitDuplicateSubmit      SubmitResult = 2
	SubmitMismatchedSubmission SubmitResult = 3
	SubmitRejected             SubmitResult = 4
	SubmitFilesMissed          SubmitResult = 5
)

// SubmitResp answers SubmitPreCommit and SubmitProof.
type SubmitResp struct {
	Res  SubmitResult
	Desc *string
}

// OnChainState is where a sector's message stands. Zero is never sent.
type OnChainState uint64

// On-chain states.
const (
	OnChainPending     OnChainState = 1
	OnChainPacked      OnChainState = 2
	OnChainLanded      OnChainState = 3
	OnChainNotFound    OnChainState = 4
	OnChainFailed      OnChainState = 5
	OnChainPermFailed  OnChainState = 6
	OnChainShouldAbort OnChainState = 7
)

// PollResp answers PollPreCommitState and PollProofState.
type PollResp struct {
	State OnChainState
	Desc  *string
}

// WaitSeedResp answers WaitSeed: either wait Delay seconds, or the seed.
type WaitSeedResp struct {
	ShouldWait bool
	Delay      int
	Seed       *Seed
}

// WorkerIdentifier names the worker and sealing thread reporting a state.
type WorkerIdentifier struct {
	Instance string
	Location string
}

// SectorStateChange is one step of the worker's state machine.
type SectorStateChange struct {
	Prev  string
	Next  string
	Event string
}

// SectorFailure is a failure the worker reports, with its level
// (Temporary, Permanent, Abort, Critical).
type SectorFailure struct {
	Level string
	Desc  string
}

// ReportStateReq is a worker's state report.
type ReportStateReq struct {
	Worker      WorkerIdentifier
	StateChange SectorStateChange
	Failure     *SectorFailure
}

// SectorStateResp answers ReportState. Note the key Id, not ID.
type SectorStateResp struct {
	ID          abi.SectorID `json:"Id"`
	Finalized   bool
	AbortReason string
}

// StoreBasicInfo describes a persist store to a worker.
type StoreBasicInfo struct {
	Name     string
	Path     string
	Strict   bool
	ReadOnly bool
	Weight   uint
	Meta     map[string]string
}

// SectorAccessStores names the persist store instances holding a sector's
// sealed file and cache dir.
type SectorAccessStores struct {
	SealedFile string
	CacheDir   string
}

// SectorIndexLocation answers SectorIndexerFind.
type SectorIndexLocation struct {
	Found    bool
	Instance SectorAccessStores
}
