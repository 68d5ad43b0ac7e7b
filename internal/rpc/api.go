package rpc

import (
	"context"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
)

// Namespace is the JSON-RPC namespace of the API: methods are called as
// "Venus.<Method>" (the historical damocles name, kept for wire
// compatibility with existing workers).
const Namespace = "Venus"

// Path is where the API is served, exactly (no trailing slash).
const Path = "/rpc/v0"

// Venus is the API damocles-manager serves to workers, the CLI and proxy
// managers. Each method's permission is the perm tag of its field in
// VenusStruct.Internal.
type Venus interface {
	// Version returns v<version>-<prover>-<commit>.
	Version(ctx context.Context) (string, error)

	// AuthNew returns a new token granting exactly perms (bytes of the JWT).
	AuthNew(ctx context.Context, perms []Permission) ([]byte, error)
	// AuthVerify returns the permissions a token grants.
	AuthVerify(ctx context.Context, token string) ([]Permission, error)

	// WorkerPing records that a worker is alive; the result is always nil.
	WorkerPing(ctx context.Context, winfo WorkerInfo) (Meta, error)
	// WorkerList returns every worker that has pinged.
	WorkerList(ctx context.Context) ([]WorkerPingInfo, error)

	// The sealing calls of a worker (PROTOCOLS-damocles.md §2.2), in the
	// order of the sealer plan. A sector the manager does not know is
	// the 11001 error (SectorStateNotFoundError).

	// AllocateSector returns nil when there is nothing to seal.
	AllocateSector(ctx context.Context, spec AllocateSectorSpec) (*AllocatedSector, error)
	// AcquireDeals returns nil when the sector gets no deals.
	AcquireDeals(ctx context.Context, id abi.SectorID, spec AcquireDealsSpec) ([]SectorPiece, error)
	AssignTicket(ctx context.Context, id abi.SectorID) (Ticket, error)
	SubmitPreCommit(ctx context.Context, sector AllocatedSector, info PreCommitOnChainInfo, reset bool) (SubmitResp, error)
	PollPreCommitState(ctx context.Context, id abi.SectorID) (PollResp, error)
	// SubmitPersisted is SubmitPersistedEx(..., false), for old workers.
	SubmitPersisted(ctx context.Context, id abi.SectorID, instance string) (bool, error)
	SubmitPersistedEx(ctx context.Context, id abi.SectorID, instance string, isUpgrade bool) (bool, error)
	WaitSeed(ctx context.Context, id abi.SectorID, proofType abi.RegisteredSealProof) (WaitSeedResp, error)
	SubmitProof(ctx context.Context, id abi.SectorID, info ProofOnChainInfo, reset bool) (SubmitResp, error)
	PollProofState(ctx context.Context, id abi.SectorID) (PollResp, error)
	ReportState(ctx context.Context, id abi.SectorID, req ReportStateReq) (SectorStateResp, error)
	ReportFinalized(ctx context.Context, id abi.SectorID) (Meta, error)
	ReportAborted(ctx context.Context, id abi.SectorID, reason string) (Meta, error)
	// StoreReserveSpace returns nil when no candidate store has room.
	StoreReserveSpace(ctx context.Context, id abi.SectorID, size uint64, candidates []string) (*StoreBasicInfo, error)
	// StoreBasicInfo returns nil for a store not configured.
	StoreBasicInfo(ctx context.Context, instanceName string) (*StoreBasicInfo, error)
	// SectorIndexerFind locates a sector's files; indexType is "normal"
	// or "upgrade".
	SectorIndexerFind(ctx context.Context, indexType string, id abi.SectorID) (SectorIndexLocation, error)

	// The CLI's calls.

	// SectorsList returns the sectors which selects (SectorsOnline,
	// SectorsOffline, SectorsAll) of one miner, or of all with miner 0.
	SectorsList(ctx context.Context, which string, miner abi.ActorID) ([]SectorRecord, error)
	// SectorState returns the record of one sector.
	SectorState(ctx context.Context, id abi.SectorID) (SectorRecord, error)
	// StorageList returns the configured persist stores and their space.
	StorageList(ctx context.Context) ([]StoreStatus, error)
	// StorageAttachIndex writes sector index entries found by `util
	// storage attach` and returns how many it wrote.
	StorageAttachIndex(ctx context.Context, entries []SectorIndexEntry) (int, error)
	// CheckProvable runs the poster's checks on sectors of miner mid as a
	// PoSt of postProofType would (strict: a vanilla proof of each too)
	// and returns the bad ones with the reason; empty means all are good.
	// stateCheck is kept for damocles's signature.
	CheckProvable(ctx context.Context, mid abi.ActorID, postProofType abi.RegisteredPoStProof, sectors []proof.ExtendedSectorInfo, strict, stateCheck bool) (map[abi.SectorNumber]string, error)
}

// VenusStruct is both the typed client (go-jsonrpc fills the Internal
// funcs with remote calls) and, on the server, the permission-checking
// proxy in front of the implementation (NewServer fills them).
type VenusStruct struct {
	Internal struct {
		Version func(ctx context.Context) (string, error) `perm:"read"`

		AuthNew    func(ctx context.Context, perms []Permission) ([]byte, error) `perm:"admin"`
		AuthVerify func(ctx context.Context, token string) ([]Permission, error) `perm:"read"`

		WorkerPing func(ctx context.Context, winfo WorkerInfo) (Meta, error) `perm:"write"`
		WorkerList func(ctx context.Context) ([]WorkerPingInfo, error)       `perm:"read"`

		AllocateSector     func(ctx context.Context, spec AllocateSectorSpec) (*AllocatedSector, error)                                 `perm:"write"`
		AcquireDeals       func(ctx context.Context, id abi.SectorID, spec AcquireDealsSpec) ([]SectorPiece, error)                     `perm:"write"`
		AssignTicket       func(ctx context.Context, id abi.SectorID) (Ticket, error)                                                   `perm:"write"`
		SubmitPreCommit    func(ctx context.Context, sector AllocatedSector, info PreCommitOnChainInfo, reset bool) (SubmitResp, error) `perm:"write"`
		PollPreCommitState func(ctx context.Context, id abi.SectorID) (PollResp, error)                                                 `perm:"write"`
		SubmitPersisted    func(ctx context.Context, id abi.SectorID, instance string) (bool, error)                                    `perm:"write"`
		SubmitPersistedEx  func(ctx context.Context, id abi.SectorID, instance string, isUpgrade bool) (bool, error)                    `perm:"write"`
		WaitSeed           func(ctx context.Context, id abi.SectorID, proofType abi.RegisteredSealProof) (WaitSeedResp, error)          `perm:"write"`
		SubmitProof        func(ctx context.Context, id abi.SectorID, info ProofOnChainInfo, reset bool) (SubmitResp, error)            `perm:"write"`
		PollProofState     func(ctx context.Context, id abi.SectorID) (PollResp, error)                                                 `perm:"write"`
		ReportState        func(ctx context.Context, id abi.SectorID, req ReportStateReq) (SectorStateResp, error)                      `perm:"write"`
		ReportFinalized    func(ctx context.Context, id abi.SectorID) (Meta, error)                                                     `perm:"write"`
		ReportAborted      func(ctx context.Context, id abi.SectorID, reason string) (Meta, error)                                      `perm:"write"`
		StoreReserveSpace  func(ctx context.Context, id abi.SectorID, size uint64, candidates []string) (*StoreBasicInfo, error)        `perm:"write"`
		StoreBasicInfo     func(ctx context.Context, instanceName string) (*StoreBasicInfo, error)                                      `perm:"write"`
		SectorIndexerFind  func(ctx context.Context, indexType string, id abi.SectorID) (SectorIndexLocation, error)                    `perm:"read"`

		SectorsList        func(ctx context.Context, which string, miner abi.ActorID) ([]SectorRecord, error)                                                                                                  `perm:"read"`
		SectorState        func(ctx context.Context, id abi.SectorID) (SectorRecord, error)                                                                                                                    `perm:"read"`
		StorageList        func(ctx context.Context) ([]StoreStatus, error)                                                                                                                                    `perm:"read"`
		StorageAttachIndex func(ctx context.Context, entries []SectorIndexEntry) (int, error)                                                                                                                  `perm:"admin"`
		CheckProvable      func(ctx context.Context, mid abi.ActorID, postProofType abi.RegisteredPoStProof, sectors []proof.ExtendedSectorInfo, strict, stateCheck bool) (map[abi.SectorNumber]string, error) `perm:"read"`
	}
}

// VenusStruct's methods only forward to Internal.
var _ Venus = (*VenusStruct)(nil)

func (s *VenusStruct) Version(ctx context.Context) (string, error) {
	return s.Internal.Version(ctx)
}

func (s *VenusStruct) AuthNew(ctx context.Context, perms []Permission) ([]byte, error) {
	return s.Internal.AuthNew(ctx, perms)
}

func (s *VenusStruct) AuthVerify(ctx context.Context, token string) ([]Permission, error) {
	return s.Internal.AuthVerify(ctx, token)
}

func (s *VenusStruct) WorkerPing(ctx context.Context, winfo WorkerInfo) (Meta, error) {
	return s.Internal.WorkerPing(ctx, winfo)
}

func (s *VenusStruct) WorkerList(ctx context.Context) ([]WorkerPingInfo, error) {
	return s.Internal.WorkerList(ctx)
}

func (s *VenusStruct) AllocateSector(ctx context.Context, spec AllocateSectorSpec) (*AllocatedSector, error) {
	return s.Internal.AllocateSector(ctx, spec)
}

func (s *VenusStruct) AcquireDeals(ctx context.Context, id abi.SectorID, spec AcquireDealsSpec) ([]SectorPiece, error) {
	return s.Internal.AcquireDeals(ctx, id, spec)
}

func (s *VenusStruct) AssignTicket(ctx context.Context, id abi.SectorID) (Ticket, error) {
	return s.Internal.AssignTicket(ctx, id)
}

func (s *VenusStruct) SubmitPreCommit(ctx context.Context, sector AllocatedSector, info PreCommitOnChainInfo, reset bool) (SubmitResp, error) {
	return s.Internal.SubmitPreCommit(ctx, sector, info, reset)
}

func (s *VenusStruct) PollPreCommitState(ctx context.Context, id abi.SectorID) (PollResp, error) {
	return s.Internal.PollPreCommitState(ctx, id)
}

func (s *VenusStruct) SubmitPersisted(ctx context.Context, id abi.SectorID, instance string) (bool, error) {
	return s.Internal.SubmitPersisted(ctx, id, instance)
}

func (s *VenusStruct) SubmitPersistedEx(ctx context.Context, id abi.SectorID, instance string, isUpgrade bool) (bool, error) {
	return s.Internal.SubmitPersistedEx(ctx, id, instance, isUpgrade)
}

func (s *VenusStruct) WaitSeed(ctx context.Context, id abi.SectorID, proofType abi.RegisteredSealProof) (WaitSeedResp, error) {
	return s.Internal.WaitSeed(ctx, id, proofType)
}

func (s *VenusStruct) SubmitProof(ctx context.Context, id abi.SectorID, info ProofOnChainInfo, reset bool) (SubmitResp, error) {
	return s.Internal.SubmitProof(ctx, id, info, reset)
}

func (s *VenusStruct) PollProofState(ctx context.Context, id abi.SectorID) (PollResp, error) {
	return s.Internal.PollProofState(ctx, id)
}

func (s *VenusStruct) ReportState(ctx context.Context, id abi.SectorID, req ReportStateReq) (SectorStateResp, error) {
	return s.Internal.ReportState(ctx, id, req)
}

func (s *VenusStruct) ReportFinalized(ctx context.Context, id abi.SectorID) (Meta, error) {
	return s.Internal.ReportFinalized(ctx, id)
}

func (s *VenusStruct) ReportAborted(ctx context.Context, id abi.SectorID, reason string) (Meta, error) {
	return s.Internal.ReportAborted(ctx, id, reason)
}

func (s *VenusStruct) StoreReserveSpace(ctx context.Context, id abi.SectorID, size uint64, candidates []string) (*StoreBasicInfo, error) {
	return s.Internal.StoreReserveSpace(ctx, id, size, candidates)
}

func (s *VenusStruct) StoreBasicInfo(ctx context.Context, instanceName string) (*StoreBasicInfo, error) {
	return s.Internal.StoreBasicInfo(ctx, instanceName)
}

func (s *VenusStruct) SectorIndexerFind(ctx context.Context, indexType string, id abi.SectorID) (SectorIndexLocation, error) {
	return s.Internal.SectorIndexerFind(ctx, indexType, id)
}

func (s *VenusStruct) SectorsList(ctx context.Context, which string, miner abi.ActorID) ([]SectorRecord, error) {
	return s.Internal.SectorsList(ctx, which, miner)
}

func (s *VenusStruct) SectorState(ctx context.Context, id abi.SectorID) (SectorRecord, error) {
	return s.Internal.SectorState(ctx, id)
}

func (s *VenusStruct) StorageList(ctx context.Context) ([]StoreStatus, error) {
	return s.Internal.StorageList(ctx)
}

func (s *VenusStruct) StorageAttachIndex(ctx context.Context, entries []SectorIndexEntry) (int, error) {
	return s.Internal.StorageAttachIndex(ctx, entries)
}

func (s *VenusStruct) CheckProvable(ctx context.Context, mid abi.ActorID, postProofType abi.RegisteredPoStProof, sectors []proof.ExtendedSectorInfo, strict, stateCheck bool) (map[abi.SectorNumber]string, error) {
	return s.Internal.CheckProvable(ctx, mid, postProofType, sectors, strict, stateCheck)
}
