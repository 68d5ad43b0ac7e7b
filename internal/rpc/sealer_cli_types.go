package rpc

import "github.com/filecoin-project/go-state-types/abi"

// The wire types of the CLI's sealing and storage methods. Only the
// manager's own CLI reads them, so they follow Go naming without the
// worker's constraints.

// Sector selections of SectorsList.
const (
	SectorsOnline  = "online"
	SectorsOffline = "offline"
	SectorsAll     = "all"
)

// SectorRecord is the manager's record of a sector (SectorState,
// SectorsList): its state, the worker's latest report and what each
// sealing step recorded. A step is nil until recorded.
type SectorRecord struct {
	ID        abi.SectorID
	ProofType abi.RegisteredSealProof
	// State is online, finalized or aborted.
	State       string
	AbortReason string
	Worker      SectorWorkerReport
	Ticket      *Ticket
	PreCommit   *SectorPreCommitRecord
	Seed        *Seed
	Commit      *SectorCommitRecord
	// CreatedAt and UpdatedAt are unix seconds.
	CreatedAt, UpdatedAt int64
}

// SectorWorkerReport is the latest ReportState of the worker sealing a
// sector; FailureLevel is empty when its last step did not fail.
type SectorWorkerReport struct {
	Instance, Location        string
	State, Event              string
	FailureLevel, FailureDesc string
}

// SectorMessageRecord is where a sector's chain message stands: CID empty
// until sent, State an OnChainState (0 when unknown).
type SectorMessageRecord struct {
	CID   string
	State OnChainState
	Desc  string
}

// SectorPreCommitRecord is a recorded pre-commit and its message.
type SectorPreCommitRecord struct {
	CommR, CommD [32]byte
	Ticket       Ticket
	Message      SectorMessageRecord
}

// SectorCommitRecord is a recorded PoRep proof (its length only: the CLI
// never needs the bytes) and its message.
type SectorCommitRecord struct {
	ProofLen int
	Message  SectorMessageRecord
}

// StoreStatus is a configured persist store with its space (StorageList).
type StoreStatus struct {
	StoreBasicInfo
	// Free is the space left on its file system, in bytes; FreeErr says
	// why it could not be measured (Free is then 0).
	Free    uint64
	FreeErr string
	// Reserved is the space set aside there for sectors being sealed.
	Reserved uint64
}

// SectorIndexEntry is one sector location sent by `util storage attach`
// (StorageAttachIndex): Kind is "normal"; an empty store name keeps what
// the index has for that part.
type SectorIndexEntry struct {
	Kind   string
	ID     abi.SectorID
	Stores SectorAccessStores
}
