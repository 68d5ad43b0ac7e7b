package sectors

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

func TestStates(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) { testStates(t, engine.newDB(t)) })
	}
}

func testStates(t *testing.T, db *store.DB) {
	ctx := t.Context()
	now := testNow
	states := NewStates(db, func() time.Time { return now })
	a, b, c := sid(1000, 1), sid(1000, 2), sid(1001, 1)
	for _, id := range []abi.SectorID{a, b, c} {
		if _, err := states.Create(ctx, id, proof2KiB); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := states.Create(ctx, a, proof2KiB); !errors.Is(err, ErrSectorExists) {
		t.Fatalf("Create of an existing sector = %v; want ErrSectorExists", err)
	}
	missing := sid(1000, 99)
	if _, err := states.Get(ctx, missing); !errors.Is(err, ErrSectorNotFound) {
		t.Fatalf("Get of a missing sector = %v; want ErrSectorNotFound", err)
	}

	// A report with a failure is stored whole; the next one without a
	// failure clears it.
	now = now.Add(time.Minute)
	report := rpc.ReportStateReq{
		Worker:      rpc.WorkerIdentifier{Instance: "worker-1", Location: "/data/sealing/0"},
		StateChange: rpc.SectorStateChange{Prev: "TicketAssigned", Next: "PC1Done", Event: "SetPC1Out"},
		Failure:     &rpc.SectorFailure{Level: "Temporary", Desc: "rpc timeout"},
	}
	resp, err := states.ReportState(ctx, a, report)
	if err != nil || resp != (rpc.SectorStateResp{ID: a}) {
		t.Fatalf("ReportState = %+v, %v; want an online answer", resp, err)
	}
	got, err := states.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	wantReport := store.SectorWorkerReport{Instance: "worker-1", Location: "/data/sealing/0",
		State: "PC1Done", Event: "SetPC1Out", FailureLevel: "Temporary", FailureDesc: "rpc timeout"}
	if got.Worker != wantReport || !got.UpdatedAt.Equal(now) {
		t.Fatalf("after ReportState: %+v at %v; want %+v at %v", got.Worker, got.UpdatedAt, wantReport, now)
	}
	report.StateChange.Next, report.Failure = "PC2Done", nil
	if _, err := states.ReportState(ctx, a, report); err != nil {
		t.Fatal(err)
	}
	if got, _ = states.Get(ctx, a); got.Worker.State != "PC2Done" || got.Worker.FailureLevel != "" || got.Worker.FailureDesc != "" {
		t.Fatalf("after a report without failure: %+v; want PC2Done and no failure", got.Worker)
	}
	if _, err := states.ReportState(ctx, missing, report); !errors.Is(err, ErrSectorNotFound) {
		t.Fatalf("ReportState of a missing sector = %v; want ErrSectorNotFound", err)
	}

	// Finalize and Abort release the reservation and answer later
	// reports as finalized, leaving the record alone.
	for _, id := range []abi.SectorID{a, b} {
		if err := db.Reservations().Put(ctx, store.Reservation{Sector: id, Store: "nfs", Size: 4096, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	if s, err := states.Finalize(ctx, a); err != nil || s.State != store.SectorFinalized {
		t.Fatalf("Finalize = %+v, %v", s, err)
	}
	if s, err := states.Abort(ctx, b, "pre-commit expired"); err != nil || s.State != store.SectorAborted || s.AbortReason != "pre-commit expired" {
		t.Fatalf("Abort = %+v, %v", s, err)
	}
	if totals, err := db.Reservations().Totals(ctx); err != nil || len(totals) != 0 {
		t.Fatalf("reservations after Finalize and Abort = %v, %v; want none", totals, err)
	}
	finalizedAt := now
	now = now.Add(time.Minute)
	if s, err := states.Abort(ctx, a, "late"); err != nil || s.State != store.SectorFinalized || s.AbortReason != "" {
		t.Fatalf("Abort of a finalized sector = %+v, %v; want it left finalized", s, err)
	}
	if s, err := states.Finalize(ctx, b); err != nil || s.State != store.SectorAborted {
		t.Fatalf("Finalize of an aborted sector = %+v, %v; want it left aborted", s, err)
	}
	for id, want := range map[abi.SectorID]rpc.SectorStateResp{
		a: {ID: a, Finalized: true},
		b: {ID: b, Finalized: true, AbortReason: "pre-commit expired"},
	} {
		resp, err := states.ReportState(ctx, id, report)
		if err != nil || resp != want {
			t.Errorf("ReportState of offline %v = %+v, %v; want %+v", id, resp, err, want)
		}
	}
	if got, _ = states.Get(ctx, a); got.Worker.State != "PC2Done" || !got.UpdatedAt.Equal(finalizedAt) {
		t.Errorf("a report changed an offline sector: %+v", got)
	}
	for _, f := range []func() error{
		func() error { _, err := states.Finalize(ctx, missing); return err },
		func() error { _, err := states.Abort(ctx, missing, "x"); return err },
	} {
		if err := f(); !errors.Is(err, ErrSectorNotFound) {
			t.Errorf("finishing a missing sector = %v; want ErrSectorNotFound", err)
		}
	}

	for _, tt := range []struct {
		which Which
		miner abi.ActorID
		want  []abi.SectorID
	}{
		{AllSectors, 0, []abi.SectorID{a, b, c}},
		{OnlineSectors, 0, []abi.SectorID{c}},
		{OfflineSectors, 0, []abi.SectorID{a, b}},
		{OfflineSectors, 1001, nil},
		{AllSectors, 1001, []abi.SectorID{c}},
	} {
		list, err := states.List(ctx, tt.which, tt.miner)
		if err != nil {
			t.Fatal(err)
		}
		var ids []abi.SectorID
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("List(%d, %d) = %v; want %v", tt.which, tt.miner, ids, tt.want)
		}
	}
	if _, err := states.List(ctx, Which(7), 0); err == nil {
		t.Error("List with an unknown selection succeeded")
	}
}

// The answer to ReportState of an aborted sector tells the worker to drop
// it and why, in the keys the Rust worker decodes (Id, not ID).
func TestStateRespOfAnAbortedSector(t *testing.T) {
	data, err := json.Marshal(StateResp(Sector{ID: sid(1000, 7), State: store.SectorAborted, AbortReason: "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Id":{"Miner":1000,"Number":7},"Finalized":true,"AbortReason":"x"}`; string(data) != want {
		t.Fatalf("StateResp = %s; want %s", data, want)
	}
}
