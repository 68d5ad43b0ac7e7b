package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
)

// SectorLocation names the persist store instances that hold a sector's
// sealed file and cache dir. An empty name means that part is not indexed.
type SectorLocation struct {
	SealedStore string
	CacheStore  string
}

// SectorIndex is the repository of sector locations (table sector_index),
// one per sector and kind ("normal" for sealed/ and cache/, "upgrade" for
// the snap-upgraded update/ and update-cache/). It stores kinds as given:
// which kinds exist is its callers' business.
type SectorIndex struct {
	db *DB
}

// SectorIndex returns the repository of sector locations.
func (db *DB) SectorIndex() *SectorIndex { return &SectorIndex{db: db} }

// upsertSectorIndex keeps the stored name of a part given as empty, so that
// the two parts of a sector can be indexed one at a time.
var upsertSectorIndex = map[string]string{
	DriverSQLite:   upsertSectorIndexOnConflict,
	DriverPostgres: upsertSectorIndexOnConflict,
	DriverMySQL: `INSERT INTO sector_index (miner, number, kind, sealed_store, cache_store, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE
			sealed_store = CASE WHEN VALUES(sealed_store) = '' THEN sealed_store ELSE VALUES(sealed_store) END,
			cache_store = CASE WHEN VALUES(cache_store) = '' THEN cache_store ELSE VALUES(cache_store) END,
			updated_at = VALUES(updated_at)`,
}

const upsertSectorIndexOnConflict = `INSERT INTO sector_index (miner, number, kind, sealed_store, cache_store, updated_at)
	VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (miner, number, kind) DO UPDATE SET
		sealed_store = CASE WHEN excluded.sealed_store = '' THEN sector_index.sealed_store ELSE excluded.sealed_store END,
		cache_store = CASE WHEN excluded.cache_store = '' THEN sector_index.cache_store ELSE excluded.cache_store END,
		updated_at = excluded.updated_at`

// Get returns where the sector's files of kind are, or an error wrapping
// ErrNotFound.
func (r *SectorIndex) Get(ctx context.Context, kind string, id abi.SectorID) (SectorLocation, error) {
	miner, number, err := sectorKey(id)
	if err != nil {
		return SectorLocation{}, fmt.Errorf("find %s location of sector %s: %w", kind, formatSectorID(id), err)
	}
	var loc SectorLocation
	err = r.db.queryRow(ctx, `SELECT sealed_store, cache_store FROM sector_index
		WHERE miner = ? AND number = ? AND kind = ?`, miner, number, kind).Scan(&loc.SealedStore, &loc.CacheStore)
	if errors.Is(err, sql.ErrNoRows) {
		return SectorLocation{}, fmt.Errorf("find %s location of sector %s: %w", kind, formatSectorID(id), ErrNotFound)
	}
	if err != nil {
		return SectorLocation{}, fmt.Errorf("find %s location of sector %s: %w", kind, formatSectorID(id), err)
	}
	return loc, nil
}

// Empty tells whether the index holds no entry at all, of any kind.
func (r *SectorIndex) Empty(ctx context.Context) (bool, error) {
	var one int
	err := r.db.queryRow(ctx, `SELECT 1 FROM sector_index LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the sector index: %w", err)
	}
	return false, nil
}

// Put records where the sector's files of kind are. A part whose name is
// empty keeps the name stored for it, if any; a location with both names
// empty is refused, as it would index nothing.
func (r *SectorIndex) Put(ctx context.Context, kind string, id abi.SectorID, loc SectorLocation, now time.Time) error {
	if kind == "" {
		return fmt.Errorf("index sector %s: empty kind", formatSectorID(id))
	}
	if loc.SealedStore == "" && loc.CacheStore == "" {
		return fmt.Errorf("index sector %s (%s): no store named for the sealed file or the cache dir", formatSectorID(id), kind)
	}
	miner, number, err := sectorKey(id)
	if err != nil {
		return fmt.Errorf("index sector %s (%s): %w", formatSectorID(id), kind, err)
	}
	_, err = r.db.exec(ctx, upsertSectorIndex[r.db.driver], miner, number, kind, loc.SealedStore, loc.CacheStore, now.Unix())
	if err != nil {
		return fmt.Errorf("index sector %s (%s): %w", formatSectorID(id), kind, err)
	}
	return nil
}
