package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/filecoin-project/go-jsonrpc"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/extproc/stage"
)

// WdPoSt job states, as stored and as listed (PROTOCOLS-damocles.md §3.1).
const (
	WdPoStJobReadyToRun = "ready2run"
	WdPoStJobRunning    = "running"
	WdPoStJobFinished   = "finished"
)

// AllocateWdPoStJobSpec filters the jobs a wdpost worker thread takes.
// Empty or nil lists restrict nothing; proof types are PoSt proof names
// (StackedDrgWindow32GiBV1_2), compared exactly with the job's.
type AllocateWdPoStJobSpec struct {
	AllowedMiners     []abi.ActorID
	AllowedProofTypes []string
}

// WdPoStSectorInfo is one sector of a WindowPoSt job. Accesses holds persist
// store instance names, which the worker resolves to its [[attached]]
// stores; Upgrade selects update/ and update-cache/ instead of sealed/
// and cache/.
type WdPoStSectorInfo struct {
	SectorId abi.SectorNumber //nolint:revive // wire name
	CommR    [32]byte
	Upgrade  bool
	Accesses SectorAccessStores
}

// WdPoStInput is what a worker proves: the sectors, the miner, the PoSt
// proof name and the challenge seed with Seed[31] &= 0x3f applied.
type WdPoStInput struct {
	Sectors   []WdPoStSectorInfo
	MinerId   abi.ActorID //nolint:revive // wire name
	ProofType string
	Seed      [32]byte
}

// WdPoStAllocatedJob is a job handed to a worker.
type WdPoStAllocatedJob struct {
	Id    string //nolint:revive // wire name
	Input WdPoStInput
}

// WindowPoStOutput is a worker's result: proofs, or the faulty sectors.
type WindowPoStOutput = stage.WindowPoStOutput

// WdPoStJob is a job as the manager keeps it (§3.1). Times are unix
// seconds, 0 when unset.
type WdPoStJob struct {
	Id          string //nolint:revive // wire name
	State       string
	DeadlineIdx uint64
	Partitions  []uint64
	Input       WdPoStInput
	Output      *WindowPoStOutput
	TryNum      uint32
	ErrorReason string
	WorkerName  string
	StartedAt   uint64
	HeartbeatAt uint64
	FinishedAt  uint64
	CreatedAt   uint64
	UpdatedAt   uint64
}

// Succeeded tells whether the job finished without error.
func (j *WdPoStJob) Succeeded() bool { return j.State == WdPoStJobFinished && j.ErrorReason == "" }

// WdPoStJobBrief is a job in the listing: the record without its bulky
// parts (Input keeps only MinerId, Output is empty) plus counts.
type WdPoStJobBrief struct {
	WdPoStJob
	Sectors uint32
	Faults  uint32
}

// MarshalJSON strips the input's sectors and seed and the output, as
// damocles does: a listing of thousands of jobs stays small.
func (b WdPoStJobBrief) MarshalJSON() ([]byte, error) {
	type plain WdPoStJobBrief
	p := plain(b)
	p.Input = WdPoStInput{MinerId: b.Input.MinerId}
	// damocles's empty output, both lists null (the worker's output type
	// would write them as []).
	return json.Marshal(struct {
		plain
		Output json.RawMessage
	}{p, json.RawMessage(`{"proofs":null,"faults":null}`)})
}

// DisplayState is the State column of `util worker wdpost list` (§3.2).
func (b *WdPoStJobBrief) DisplayState() string {
	switch b.State {
	case WdPoStJobReadyToRun:
		return "ReadyToRun"
	case WdPoStJobRunning:
		return "Running"
	case WdPoStJobFinished:
		switch {
		case b.ErrorReason != "":
			return "Failed"
		case b.Faults > 0:
			return "Faults(" + strconv.FormatUint(uint64(b.Faults), 10) + ")"
		}
		return "Succeed"
	}
	return b.State
}

// AllWdPoStJob answers WdPoStAllJobs: every job, newest first, and the
// configured JobMaxTry.
type AllWdPoStJob struct {
	Jobs   []WdPoStJobBrief
	MaxTry uint32
}

// WorkerWdPoSt is the WindowPoSt job API (§2.3), served only by a manager
// running with --worker-prover; without it the methods are "method not
// found" (-32601), which the worker reads as "enable the worker-prover
// module".
type WorkerWdPoSt interface {
	// WdPoStAllocateJobs moves up to num ready jobs matching spec to
	// running for workerName and returns them; never nil.
	WdPoStAllocateJobs(ctx context.Context, spec AllocateWdPoStJobSpec, num uint32, workerName string) ([]WdPoStAllocatedJob, error)
	// WdPoStHeartbeatJobs keeps the jobs running; a job in another state
	// fails the call.
	WdPoStHeartbeatJobs(ctx context.Context, jobIDs []string, workerName string) (Meta, error)
	// WdPoStFinishJob records a result: output, or nil and errorReason.
	WdPoStFinishJob(ctx context.Context, jobID string, output *WindowPoStOutput, errorReason string) (Meta, error)
	// WdPoStResetJob puts a job back to ready2run with no tries.
	WdPoStResetJob(ctx context.Context, jobID string) (Meta, error)
	// WdPoStRemoveJob deletes a job; an absent one is no error.
	WdPoStRemoveJob(ctx context.Context, jobID string) (Meta, error)
	// WdPoStAllJobs lists every job.
	WdPoStAllJobs(ctx context.Context) (AllWdPoStJob, error)
}

// WorkerWdPoStStruct is the typed client and server proxy of WorkerWdPoSt,
// served in the Venus namespace beside VenusStruct.
type WorkerWdPoStStruct struct {
	Internal struct {
		WdPoStAllocateJobs  func(ctx context.Context, spec AllocateWdPoStJobSpec, num uint32, workerName string) ([]WdPoStAllocatedJob, error) `perm:"write"`
		WdPoStHeartbeatJobs func(ctx context.Context, jobIDs []string, workerName string) (Meta, error)                                        `perm:"write"`
		WdPoStFinishJob     func(ctx context.Context, jobID string, output *WindowPoStOutput, errorReason string) (Meta, error)                `perm:"write"`
		WdPoStResetJob      func(ctx context.Context, jobID string) (Meta, error)                                                              `perm:"admin"`
		WdPoStRemoveJob     func(ctx context.Context, jobID string) (Meta, error)                                                              `perm:"admin"`
		WdPoStAllJobs       func(ctx context.Context) (AllWdPoStJob, error)                                                                    `perm:"admin"`
	}
}

var _ WorkerWdPoSt = (*WorkerWdPoStStruct)(nil)

func (s *WorkerWdPoStStruct) WdPoStAllocateJobs(ctx context.Context, spec AllocateWdPoStJobSpec, num uint32, workerName string) ([]WdPoStAllocatedJob, error) {
	return s.Internal.WdPoStAllocateJobs(ctx, spec, num, workerName)
}

func (s *WorkerWdPoStStruct) WdPoStHeartbeatJobs(ctx context.Context, jobIDs []string, workerName string) (Meta, error) {
	return s.Internal.WdPoStHeartbeatJobs(ctx, jobIDs, workerName)
}

func (s *WorkerWdPoStStruct) WdPoStFinishJob(ctx context.Context, jobID string, output *WindowPoStOutput, errorReason string) (Meta, error) {
	return s.Internal.WdPoStFinishJob(ctx, jobID, output, errorReason)
}

func (s *WorkerWdPoStStruct) WdPoStResetJob(ctx context.Context, jobID string) (Meta, error) {
	return s.Internal.WdPoStResetJob(ctx, jobID)
}

func (s *WorkerWdPoStStruct) WdPoStRemoveJob(ctx context.Context, jobID string) (Meta, error) {
	return s.Internal.WdPoStRemoveJob(ctx, jobID)
}

func (s *WorkerWdPoStStruct) WdPoStAllJobs(ctx context.Context) (AllWdPoStJob, error) {
	return s.Internal.WdPoStAllJobs(ctx)
}

// WdPoStAPI is the API entry that serves impl's WorkerWdPoSt methods in the
// Venus namespace, for NewAPIServer beside the Venus API.
func WdPoStAPI(impl WorkerWdPoSt) API {
	return API{Namespace: Namespace, Impl: impl, Proxy: &WorkerWdPoStStruct{}}
}

// NewWdPoStClient connects to a manager's WindowPoSt job API; addr, token
// and header as for NewVenusClient.
func NewWdPoStClient(ctx context.Context, addr, token string, header http.Header) (*WorkerWdPoStStruct, jsonrpc.ClientCloser, error) {
	var api WorkerWdPoStStruct
	closer, err := dial(ctx, addr, token, header, &api.Internal)
	if err != nil {
		return nil, nil, err
	}
	return &api, closer, nil
}

// CodeMethodNotFound is JSON-RPC's "method not found".
const CodeMethodNotFound = -32601

// IsMethodNotFound tells whether err is the server's "method not found":
// for the WdPoSt calls, a manager without --worker-prover.
func IsMethodNotFound(err error) bool {
	var remote *jsonrpc.JSONRPCError
	return errors.As(err, &remote) && remote.Code == CodeMethodNotFound
}
