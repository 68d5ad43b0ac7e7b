package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
)

// Reservation is space set aside in a persist store for a sector being
// sealed, from the worker's StoreReserveSpace until the sector goes
// offline.
type Reservation struct {
	Sector abi.SectorID
	Store  string
	Size   uint64
	// CreatedAt is stored to the second.
	CreatedAt time.Time
}

// Reservations is the repository of persist store reservations (table
// store_reservations), at most one per sector.
type Reservations struct {
	db *DB
}

// Reservations returns the repository of persist store reservations.
func (db *DB) Reservations() *Reservations { return &Reservations{db: db} }

// upsertReservation replaces in one statement: a DELETE of a missing row
// followed by an INSERT deadlocks on MySQL against another sector's
// reservation, each waiting for the gap lock the other's DELETE took.
var upsertReservation = map[string]string{
	DriverSQLite:   upsertReservationOnConflict,
	DriverPostgres: upsertReservationOnConflict,
	DriverMySQL: `INSERT INTO store_reservations (miner, number, store_name, size, created_at) VALUES (?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE store_name = VALUES(store_name), size = VALUES(size), created_at = VALUES(created_at)`,
}

const upsertReservationOnConflict = `INSERT INTO store_reservations (miner, number, store_name, size, created_at)
	VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (miner, number) DO UPDATE SET
		store_name = excluded.store_name, size = excluded.size, created_at = excluded.created_at`

// Put records res, replacing the sector's previous reservation if any. It
// locks the sector's record and refuses (with an error wrapping
// ErrNotFound) a sector that is not online, so a reservation never
// outlives its sector: Sectors.Finish releases it in the transaction that
// takes the sector offline.
func (r *Reservations) Put(ctx context.Context, res Reservation) error {
	size, err := i64(res.Size)
	if err != nil {
		return fmt.Errorf("reserve for sector %s: size: %w", formatSectorID(res.Sector), err)
	}
	err = r.db.inTx(ctx, func(t txn) error {
		s, err := lockSector(ctx, t, res.Sector)
		if err != nil {
			return err
		}
		if !s.State.Online() {
			return fmt.Errorf("sector is %s: %w", s.State, ErrNotFound)
		}
		_, err = t.exec(ctx, upsertReservation[t.driver],
			int64(s.ID.Miner), int64(s.ID.Number), res.Store, size, res.CreatedAt.Unix())
		return err
	})
	if err != nil {
		return fmt.Errorf("reserve %d bytes in store %q for sector %s: %w", res.Size, res.Store, formatSectorID(res.Sector), err)
	}
	return nil
}

// Get returns the reservation of a sector, or an error wrapping
// ErrNotFound.
func (r *Reservations) Get(ctx context.Context, id abi.SectorID) (Reservation, error) {
	miner, number, err := sectorKey(id)
	if err != nil {
		return Reservation{}, fmt.Errorf("get reservation of sector %s: %w", formatSectorID(id), err)
	}
	res, err := scanReservation(r.db.queryRow(ctx, `SELECT miner, number, store_name, size, created_at
		FROM store_reservations WHERE miner = ? AND number = ?`, miner, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, fmt.Errorf("get reservation of sector %s: %w", formatSectorID(id), ErrNotFound)
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("get reservation of sector %s: %w", formatSectorID(id), err)
	}
	return res, nil
}

// Release deletes the reservation of a sector, reporting whether there
// was one.
func (r *Reservations) Release(ctx context.Context, id abi.SectorID) (bool, error) {
	miner, number, err := sectorKey(id)
	if err != nil {
		return false, fmt.Errorf("release reservation of sector %s: %w", formatSectorID(id), err)
	}
	res, err := r.db.exec(ctx, `DELETE FROM store_reservations WHERE miner = ? AND number = ?`, miner, number)
	if err != nil {
		return false, fmt.Errorf("release reservation of sector %s: %w", formatSectorID(id), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("release reservation of sector %s: %w", formatSectorID(id), err)
	}
	return n > 0, nil
}

// List returns every reservation, ordered by store, miner and number.
func (r *Reservations) List(ctx context.Context) ([]Reservation, error) {
	rows, err := r.db.query(ctx, `SELECT miner, number, store_name, size, created_at
		FROM store_reservations ORDER BY store_name, miner, number`)
	if err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	defer rows.Close()
	var out []Reservation
	for rows.Next() {
		res, err := scanReservation(rows)
		if err != nil {
			return nil, fmt.Errorf("list reservations: %w", err)
		}
		out = append(out, res)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	return out, nil
}

// Totals returns the bytes reserved in each store that has reservations.
func (r *Reservations) Totals(ctx context.Context) (map[string]uint64, error) {
	rows, err := r.db.query(ctx, `SELECT store_name, SUM(size) FROM store_reservations GROUP BY store_name`)
	if err != nil {
		return nil, fmt.Errorf("sum reservations: %w", err)
	}
	defer rows.Close()
	totals := map[string]uint64{}
	for rows.Next() {
		var (
			name string
			// SUM of BIGINT is NUMERIC on PostgreSQL and DECIMAL on
			// MySQL; an int64 scans either.
			sum int64
		)
		if err := rows.Scan(&name, &sum); err != nil {
			return nil, fmt.Errorf("sum reservations: %w", err)
		}
		totals[name] = uint64(sum)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum reservations: %w", err)
	}
	return totals, nil
}

// deleteReservation deletes the reservation of a sector in t, if any.
func deleteReservation(ctx context.Context, t txn, id abi.SectorID) error {
	miner, number, err := sectorKey(id)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `DELETE FROM store_reservations WHERE miner = ? AND number = ?`, miner, number)
	return err
}

func scanReservation(row interface{ Scan(...any) error }) (Reservation, error) {
	var miner, number, size, createdAt int64
	var res Reservation
	if err := row.Scan(&miner, &number, &res.Store, &size, &createdAt); err != nil {
		return Reservation{}, err
	}
	res.Sector = abi.SectorID{Miner: abi.ActorID(miner), Number: abi.SectorNumber(number)}
	res.Size = uint64(size)
	res.CreatedAt = time.Unix(createdAt, 0)
	return res, nil
}
