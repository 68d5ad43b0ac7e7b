package sealer

import (
	"context"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
)

// SectorsList returns the sectors which selects (rpc.SectorsOnline,
// rpc.SectorsOffline, rpc.SectorsAll) of miner, or of every miner with 0.
func (a *API) SectorsList(ctx context.Context, which string, miner abi.ActorID) ([]rpc.SectorRecord, error) {
	var w sectors.Which
	switch which {
	case rpc.SectorsOnline:
		w = sectors.OnlineSectors
	case rpc.SectorsOffline:
		w = sectors.OfflineSectors
	case rpc.SectorsAll, "":
		w = sectors.AllSectors
	default:
		return nil, fmt.Errorf("list sectors: unknown selection %q (want %q, %q or %q)", which, rpc.SectorsOnline, rpc.SectorsOffline, rpc.SectorsAll)
	}
	recs, err := a.states.List(ctx, w, miner)
	if err != nil {
		return nil, err
	}
	out := make([]rpc.SectorRecord, 0, len(recs))
	for _, r := range recs {
		out = append(out, SectorRecord(r))
	}
	return out, nil
}

// SectorState returns the record of a sector.
func (a *API) SectorState(ctx context.Context, id abi.SectorID) (rpc.SectorRecord, error) {
	rec, err := a.sector(ctx, "sector state", id)
	if err != nil {
		return rpc.SectorRecord{}, err
	}
	return SectorRecord(rec), nil
}

// SectorRecord is the wire form of a sector's record.
func SectorRecord(s sectors.Sector) rpc.SectorRecord {
	out := rpc.SectorRecord{
		ID: s.ID, ProofType: s.ProofType, State: string(s.State), AbortReason: s.AbortReason,
		Worker: rpc.SectorWorkerReport{
			Instance: s.Worker.Instance, Location: s.Worker.Location, State: s.Worker.State, Event: s.Worker.Event,
			FailureLevel: s.Worker.FailureLevel, FailureDesc: s.Worker.FailureDesc,
		},
		CreatedAt: s.CreatedAt.Unix(), UpdatedAt: s.UpdatedAt.Unix(),
	}
	if t := s.Ticket; t != nil {
		out.Ticket = &rpc.Ticket{Ticket: t.Value, Epoch: t.Epoch}
	}
	if pc := s.PreCommit; pc != nil {
		out.PreCommit = &rpc.SectorPreCommitRecord{
			CommR: pc.CommR, CommD: pc.CommD,
			Ticket:  rpc.Ticket{Ticket: pc.Ticket.Value, Epoch: pc.Ticket.Epoch},
			Message: messageRecord(pc.Message),
		}
	}
	if sd := s.Seed; sd != nil {
		out.Seed = &rpc.Seed{Seed: sd.Value, Epoch: sd.Epoch}
	}
	if c := s.Commit; c != nil {
		out.Commit = &rpc.SectorCommitRecord{ProofLen: len(c.Proof), Message: messageRecord(c.Message)}
	}
	return out
}

func messageRecord(m store.SectorMessage) rpc.SectorMessageRecord {
	return rpc.SectorMessageRecord{CID: m.CID, State: rpc.OnChainState(m.State), Desc: m.Desc}
}

// StorageList returns the configured persist stores with their free space
// and the space reserved in them.
func (a *API) StorageList(ctx context.Context) ([]rpc.StoreStatus, error) {
	reserved, err := a.db.Reservations().Totals(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stores: reservations: %w", err)
	}
	var out []rpc.StoreStatus
	for _, info := range a.stores.List() {
		st := rpc.StoreStatus{StoreBasicInfo: info, Reserved: reserved[info.Name]}
		if st.Free, err = a.space.Available(info.Path); err != nil {
			st.FreeErr = err.Error()
		}
		out = append(out, st)
	}
	return out, nil
}

// StorageAttachIndex writes the index entries `util storage attach` found
// and returns how many it wrote; it stops at the first bad one. A proxy
// node's index is read only: it writes none.
func (a *API) StorageAttachIndex(ctx context.Context, entries []rpc.SectorIndexEntry) (int, error) {
	if err := a.index.Writable(); err != nil {
		return 0, fmt.Errorf("attach %d index entries: %w", len(entries), err)
	}
	for i, e := range entries {
		if err := a.index.Update(ctx, sectors.IndexKind(e.Kind), e.ID, e.Stores); err != nil {
			return i, fmt.Errorf("index entry %d (sector s-t0%d-%d): %w", i, e.ID.Miner, e.ID.Number, err)
		}
	}
	if len(entries) > 0 {
		log.Infow("sector index entries attached", "count", len(entries))
	}
	return len(entries), nil
}
