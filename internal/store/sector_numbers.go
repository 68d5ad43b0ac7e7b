package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
)

// SectorNumbers is the repository of each miner's last allocated sector
// number (table sector_numbers). Allocators read the last number, choose
// the next one, and Advance to it: a compare-and-set, so allocators in
// any number of processes never hand out a number twice, and none holds a
// lock while it asks the chain which numbers are free.
type SectorNumbers struct {
	db *DB
}

// SectorNumbers returns the repository of last allocated sector numbers.
func (db *DB) SectorNumbers() *SectorNumbers { return &SectorNumbers{db: db} }

// Last returns the highest number ever allocated for miner, 0 if none.
func (r *SectorNumbers) Last(ctx context.Context, miner abi.ActorID) (abi.SectorNumber, error) {
	m, err := i64(miner)
	if err != nil {
		return 0, fmt.Errorf("last sector number of miner %d: %w", miner, err)
	}
	var last int64
	err = r.db.queryRow(ctx, `SELECT last_number FROM sector_numbers WHERE miner = ?`, m).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last sector number of miner %d: %w", miner, err)
	}
	return abi.SectorNumber(last), nil
}

// Advance moves miner's last allocated number from `from` (what Last
// returned) to `to` and, in the same transaction, creates the sector
// record sector, whose ID must be (miner, to). It reports false, changing
// nothing, when the last number is no longer `from`: another allocator
// got there first, and the caller reads Last again. A record already
// stored for the sector is an error wrapping ErrExists.
func (r *SectorNumbers) Advance(ctx context.Context, miner abi.ActorID, from, to abi.SectorNumber, sector Sector) (bool, error) {
	if to <= from {
		return false, fmt.Errorf("advance sector number of miner %d from %d to %d: numbers only grow", miner, from, to)
	}
	if sector.ID != (abi.SectorID{Miner: miner, Number: to}) {
		return false, fmt.Errorf("advance sector number of miner %d to %d: the record is for sector %s",
			miner, to, formatSectorID(sector.ID))
	}
	m, err := i64(miner)
	if err != nil {
		return false, fmt.Errorf("advance sector number of miner %d: %w", miner, err)
	}
	next, err := i64(to)
	if err != nil {
		return false, fmt.Errorf("advance sector number of miner %d: %w", miner, err)
	}
	if from == 0 {
		// The miner's first allocation may find no row to update: create
		// it first, in its own statement. Inserting it inside the
		// transaction below deadlocks on MySQL, where the UPDATE that
		// matches no row takes a gap lock that every concurrent first
		// allocator's insert then waits for.
		_, err := r.db.exec(ctx, insertIfAbsent(r.db.driver,
			`INSERT INTO sector_numbers (miner, last_number) VALUES (?, 0)`, "miner", "miner"), m)
		if err != nil {
			return false, fmt.Errorf("advance sector number of miner %d: %w", miner, err)
		}
	}
	won := false
	err = r.db.inTx(ctx, func(t txn) error {
		won = false
		res, err := t.exec(ctx, `UPDATE sector_numbers SET last_number = ? WHERE miner = ? AND last_number = ?`,
			next, m, int64(from))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if err := insertSector(ctx, t, sector); err != nil {
			return fmt.Errorf("create sector %s: %w", formatSectorID(sector.ID), err)
		}
		won = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("advance sector number of miner %d from %d to %d: %w", miner, from, to, err)
	}
	return won, nil
}
