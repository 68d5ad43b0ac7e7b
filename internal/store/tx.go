package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrExists is returned (wrapped) by repository creates of a row whose key
// is already taken.
var ErrExists = errors.New("already exists")

// txn is a transaction that, like DB, takes queries written with ?
// placeholders.
type txn struct {
	tx     *sql.Tx
	driver string
}

func (t txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, rebind(t.driver, query), args...)
}

func (t txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, rebind(t.driver, query), args...)
}

// query runs query in the transaction. Read the rows to the end and close
// them before the next statement: MySQL cannot run one while a result is
// still streaming on the connection.
func (t txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, rebind(t.driver, query), args...)
}

// forUpdate is the suffix of a SELECT that locks the rows it reads until
// the transaction ends. SQLite has no row locks and needs none: its
// transactions take the database's write lock at BEGIN (see openSQLite).
func (t txn) forUpdate() string {
	if t.driver == DriverSQLite {
		return ""
	}
	return " FOR UPDATE"
}

// forUpdateSkipLocked is the suffix of a SELECT that takes rows off a
// queue: it locks the rows it reads, as forUpdate does, but passes over
// those another transaction holds instead of waiting for them, so that
// concurrent takers each get different rows instead of queueing on the
// first one. A row passed over is not read at all, so a caller must not
// conclude from its absence that it does not exist. Use it in inQueueTx.
func (t txn) forUpdateSkipLocked() string {
	if t.driver == DriverSQLite {
		return ""
	}
	return " FOR UPDATE SKIP LOCKED"
}

// txAttempts bounds how often inTx runs a transaction the engine chose as
// a deadlock victim.
const txAttempts = 5

// inTx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise. A transaction the engine rolls back to break a deadlock
// is run again, as MySQL's manual asks: fn may run more than once and must
// not act outside the transaction. On SQLite fn must not use db itself:
// its only connection is the transaction's.
func (db *DB) inTx(ctx context.Context, fn func(t txn) error) error {
	return db.retryTx(ctx, nil, fn)
}

// inQueueTx runs fn as inTx does, for transactions that take rows with
// forUpdateSkipLocked. On MySQL it runs at READ COMMITTED: at InnoDB's
// default REPEATABLE READ a locking read also locks the gaps between the
// index records it scans and keeps the locks of rows it scanned but
// rejected, so takers with different filters would pass over each other's
// rows and inserts into the queue would wait for them. PostgreSQL runs at
// READ COMMITTED by default; SQLite has one writer and no row locks.
func (db *DB) inQueueTx(ctx context.Context, fn func(t txn) error) error {
	var opts *sql.TxOptions
	if db.driver == DriverMySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return db.retryTx(ctx, opts, fn)
}

func (db *DB) retryTx(ctx context.Context, opts *sql.TxOptions, fn func(t txn) error) error {
	for attempt := 1; ; attempt++ {
		err := db.tryTx(ctx, opts, fn)
		if err == nil || attempt == txAttempts || !isDeadlock(err) {
			return err
		}
	}
}

// isDeadlock tells whether err is the engine breaking a deadlock (or, on
// PostgreSQL, a serialization failure), after which the transaction may
// simply run again.
func isDeadlock(err error) bool {
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1213 // ER_LOCK_DEADLOCK
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40P01" || pg.Code == "40001"
	}
	return false
}

func (db *DB) tryTx(ctx context.Context, opts *sql.TxOptions, fn func(t txn) error) error {
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(txn{tx: tx, driver: db.driver}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// insertIfAbsent turns an INSERT statement into one that does nothing
// (and reports no row affected) when the key is taken. MySQL gets a no-op
// ON DUPLICATE KEY UPDATE rather than INSERT IGNORE, which would also
// swallow errors such as an out-of-range value; it reports 0 rows for a
// duplicate left unchanged.
func insertIfAbsent(driver, insert, conflictColumns, anyColumn string) string {
	if driver == DriverMySQL {
		return insert + " ON DUPLICATE KEY UPDATE " + anyColumn + " = " + anyColumn
	}
	return insert + " ON CONFLICT (" + conflictColumns + ") DO NOTHING"
}

// i64 converts the unsigned identifiers of Filecoin (actor IDs, sector
// numbers, sizes) into the signed 64-bit integers every engine stores.
// Filecoin bounds them below 2^63; a larger value is a caller's bug that
// must not wrap into a negative key.
func i64[T ~uint64](v T) (int64, error) {
	if uint64(v) > 1<<63-1 {
		return 0, fmt.Errorf("value %d does not fit a 64-bit signed integer", uint64(v))
	}
	return int64(v), nil
}

// sectorKey converts a sector's miner and number for a query.
func sectorKey(id abi.SectorID) (miner, number int64, err error) {
	if miner, err = i64(id.Miner); err != nil {
		return 0, 0, fmt.Errorf("miner: %w", err)
	}
	if number, err = i64(id.Number); err != nil {
		return 0, 0, fmt.Errorf("sector number: %w", err)
	}
	return miner, number, nil
}
