package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/rpc"
)

// unknownSector is the sector fakeSealer does not know.
const unknownSector = 404

var errNotInFake = errors.New("not in this fake")

// fakeSealer has the sealing, storage and proving methods of the Venus API; only
// ReportState does anything: it answers 11001 for unknownSector.
type fakeSealer struct{}

func (fakeSealer) AllocateSector(context.Context, rpc.AllocateSectorSpec) (*rpc.AllocatedSector, error) {
	return nil, nil
}
func (fakeSealer) AcquireDeals(context.Context, abi.SectorID, rpc.AcquireDealsSpec) ([]rpc.SectorPiece, error) {
	return nil, nil
}
func (fakeSealer) AssignTicket(context.Context, abi.SectorID) (rpc.Ticket, error) {
	return rpc.Ticket{}, errNotInFake
}
func (fakeSealer) SubmitPreCommit(context.Context, rpc.AllocatedSector, rpc.PreCommitOnChainInfo, bool) (rpc.SubmitResp, error) {
	return rpc.SubmitResp{}, errNotInFake
}
func (fakeSealer) PollPreCommitState(context.Context, abi.SectorID) (rpc.PollResp, error) {
	return rpc.PollResp{}, errNotInFake
}
func (fakeSealer) SubmitPersisted(context.Context, abi.SectorID, string) (bool, error) {
	return false, errNotInFake
}
func (fakeSealer) SubmitPersistedEx(context.Context, abi.SectorID, string, bool) (bool, error) {
	return false, errNotInFake
}
func (fakeSealer) WaitSeed(context.Context, abi.SectorID, abi.RegisteredSealProof) (rpc.WaitSeedResp, error) {
	return rpc.WaitSeedResp{}, errNotInFake
}
func (fakeSealer) SubmitProof(context.Context, abi.SectorID, rpc.ProofOnChainInfo, bool) (rpc.SubmitResp, error) {
	return rpc.SubmitResp{}, errNotInFake
}
func (fakeSealer) PollProofState(context.Context, abi.SectorID) (rpc.PollResp, error) {
	return rpc.PollResp{}, errNotInFake
}
func (fakeSealer) ReportState(_ context.Context, id abi.SectorID, _ rpc.ReportStateReq) (rpc.SectorStateResp, error) {
	if id.Number == unknownSector {
		return rpc.SectorStateResp{}, rpc.ErrSectorStateNotFound(fmt.Sprintf("sector s-t0%d-%d", id.Miner, id.Number))
	}
	return rpc.SectorStateResp{ID: id}, nil
}
func (fakeSealer) ReportFinalized(context.Context, abi.SectorID) (rpc.Meta, error) { return nil, nil }
func (fakeSealer) ReportAborted(context.Context, abi.SectorID, string) (rpc.Meta, error) {
	return nil, nil
}
func (fakeSealer) StoreReserveSpace(context.Context, abi.SectorID, uint64, []string) (*rpc.StoreBasicInfo, error) {
	return nil, nil
}
func (fakeSealer) StoreBasicInfo(context.Context, string) (*rpc.StoreBasicInfo, error) {
	return nil, nil
}
func (fakeSealer) SectorIndexerFind(context.Context, string, abi.SectorID) (rpc.SectorIndexLocation, error) {
	return rpc.SectorIndexLocation{}, nil
}
func (fakeSealer) SectorsList(context.Context, string, abi.ActorID) ([]rpc.SectorRecord, error) {
	return nil, nil
}
func (fakeSealer) SectorState(context.Context, abi.SectorID) (rpc.SectorRecord, error) {
	return rpc.SectorRecord{}, errNotInFake
}
func (fakeSealer) StorageList(context.Context) ([]rpc.StoreStatus, error) { return nil, nil }
func (fakeSealer) StorageAttachIndex(context.Context, []rpc.SectorIndexEntry) (int, error) {
	return 0, errNotInFake
}
func (fakeSealer) CheckProvable(context.Context, abi.ActorID, abi.RegisteredPoStProof, []proof.ExtendedSectorInfo, bool, bool) (map[abi.SectorNumber]string, error) {
	return nil, errNotInFake
}

// The 11001 error crosses the metrics wrapper and the permission proxy
// unchanged, with only code and message on the wire, and the typed client
// recognises it.
func TestSectorStateNotFoundOverHTTP(t *testing.T) {
	ts := startServer(t, "127.0.0.0/8")
	body := `{"jsonrpc":"2.0","method":"Venus.ReportState","params":[{"Miner":1000,"Number":404},` +
		`{"Worker":{"Instance":"w","Location":"/t"},"StateChange":{"Prev":"Empty","Next":"Allocated","Event":"x"},"Failure":null}],"id":7}`
	code, b := ts.post(t, rpc.Path, body, nil)
	m, _ := keysOf(t, b)
	if code != http.StatusOK {
		t.Fatalf("status %d, body %s", code, b)
	}
	e, ekeys := keysOf(t, m["error"])
	if strings.Join(ekeys, ",") != "code,message" {
		t.Fatalf("error object %s: want exactly code and message", m["error"])
	}
	if string(e["code"]) != "11001" || !strings.HasPrefix(string(e["message"]), `"error code 11001: sector state not found: sector s-t01000-404`) {
		t.Fatalf("error object %s: want code 11001 and damocles's message", m["error"])
	}

	api := ts.client(t, ts.addr, "")
	_, err := api.ReportState(context.Background(), abi.SectorID{Miner: 1000, Number: unknownSector}, rpc.ReportStateReq{})
	if !rpc.IsSectorStateNotFound(err) {
		t.Fatalf("ReportState of an unknown sector: %v (%T); want the 11001 error", err, err)
	}
	if _, err := api.ReportState(context.Background(), abi.SectorID{Miner: 1000, Number: 1}, rpc.ReportStateReq{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.AssignTicket(context.Background(), abi.SectorID{Miner: 1000, Number: 1}); err == nil || rpc.IsSectorStateNotFound(err) {
		t.Fatalf("AssignTicket: %v; want a plain error (code 1)", err)
	}
	if rpc.IsSectorStateNotFound(fmt.Errorf("wrapped: %w", errNotInFake)) {
		t.Fatal("a plain error is recognised as 11001")
	}
}
