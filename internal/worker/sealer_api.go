package worker

import (
	"context"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/rpc"
)

// SealerAPI is the part of damocles-manager's Venus API the sealer plan
// calls (PROTOCOLS-damocles.md §2.2), with the manager's method names and
// parameters in wire order. The manager's typed client satisfies it; tests
// use an in-process fake.
type SealerAPI interface {
	// AllocateSector returns nil when there is nothing to seal.
	AllocateSector(ctx context.Context, spec rpc.AllocateSectorSpec) (*rpc.AllocatedSector, error)
	// AcquireDeals returns nil when the sector gets no deals.
	AcquireDeals(ctx context.Context, id abi.SectorID, spec rpc.AcquireDealsSpec) ([]rpc.SectorPiece, error)
	AssignTicket(ctx context.Context, id abi.SectorID) (rpc.Ticket, error)
	SubmitPreCommit(ctx context.Context, sector rpc.AllocatedSector, info rpc.PreCommitOnChainInfo, reset bool) (rpc.SubmitResp, error)
	PollPreCommitState(ctx context.Context, id abi.SectorID) (rpc.PollResp, error)
	// StoreReserveSpace returns nil when no candidate store has room.
	StoreReserveSpace(ctx context.Context, id abi.SectorID, size uint64, candidates []string) (*rpc.StoreBasicInfo, error)
	SubmitPersistedEx(ctx context.Context, id abi.SectorID, instance string, isUpgrade bool) (bool, error)
	WaitSeed(ctx context.Context, id abi.SectorID, proofType abi.RegisteredSealProof) (rpc.WaitSeedResp, error)
	SubmitProof(ctx context.Context, id abi.SectorID, info rpc.ProofOnChainInfo, reset bool) (rpc.SubmitResp, error)
	PollProofState(ctx context.Context, id abi.SectorID) (rpc.PollResp, error)
	ReportState(ctx context.Context, id abi.SectorID, req rpc.ReportStateReq) (rpc.SectorStateResp, error)
	ReportFinalized(ctx context.Context, id abi.SectorID) (rpc.Meta, error)
	ReportAborted(ctx context.Context, id abi.SectorID, reason string) (rpc.Meta, error)
}
