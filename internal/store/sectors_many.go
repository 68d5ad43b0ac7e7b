package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/filecoin-project/go-state-types/abi"
)

// UpdateMany changes the sectors ids in one transaction, as Update does
// for one: each record is read and locked, change modifies it, and all are
// written back, or none when change (or anything else) fails. It exists for
// changes that must not be seen half done, such as recording the one chain
// message that carries a batch of sectors. Rows are locked in key order, so
// two calls on overlapping sets cannot deadlock. The records written are
// returned in the order of ids.
//
// change runs inside the transaction: it must be quick and must not use
// the database.
func (r *Sectors) UpdateMany(ctx context.Context, ids []abi.SectorID, change func(s *Sector) error) ([]Sector, error) {
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := compareSectorID(ids[a], ids[b]); c != 0 {
			return c
		}
		return a - b
	})
	out := make([]Sector, len(ids))
	err := r.db.inTx(ctx, func(t txn) error {
		for _, i := range order {
			s, err := lockSector(ctx, t, ids[i])
			if err != nil {
				return fmt.Errorf("sector %s: %w", formatSectorID(ids[i]), err)
			}
			if err := change(&s); err != nil {
				return err
			}
			s.ID = ids[i]
			if err := writeSector(ctx, t, s); err != nil {
				return fmt.Errorf("sector %s: %w", formatSectorID(ids[i]), err)
			}
			out[i] = s
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update %d sectors: %w", len(ids), err)
	}
	return out, nil
}

func compareSectorID(a, b abi.SectorID) int {
	if a.Miner != b.Miner {
		if a.Miner < b.Miner {
			return -1
		}
		return 1
	}
	switch {
	case a.Number < b.Number:
		return -1
	case a.Number > b.Number:
		return 1
	}
	return 0
}
