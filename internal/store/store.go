// Package store owns SQL persistence: opening a database on one of three
// drivers (SQLite, PostgreSQL, MySQL/MariaDB), its versioned schema
// migrations, and one repository per table. The shared conformance suite
// that every driver runs lives in store/storetest.
//
// It does not own what the tables mean to other modules: a repository
// stores and returns rows, and the packages that use it decide what a
// worker's heartbeat or an API secret is for.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"               // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Driver names, as written in [Common.DB] Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
	DriverMySQL    = "mysql"
)

// Drivers lists every supported driver, default first.
var Drivers = []string{DriverSQLite, DriverPostgres, DriverMySQL}

// ErrNotFound is returned (wrapped) by repository reads of a missing row.
var ErrNotFound = errors.New("not found")

// sqliteBusyTimeout is how long a SQLite connection waits for another
// process's write lock before giving up with SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// mysqlConnMaxLifetime keeps pooled connections younger than any sane
// server wait_timeout, so the pool never hands out one the server closed.
const mysqlConnMaxLifetime = 3 * time.Minute

// DB is an open database that knows its dialect. It is safe for concurrent
// use; repositories obtained from it share its connection pool.
//
// On SQLite the pool holds a single connection (see openSQLite), so code
// that holds a transaction or iterates rows must not issue another query
// through the DB before finishing: it would wait for itself forever.
type DB struct {
	sql    *sql.DB
	driver string
}

// Open opens the database named by dsn with driver (one of Drivers) and
// checks that it answers. It does not migrate: call Migrate.
//
// For SQLite dsn is a file path (its parent directory is created) or a
// "file:" URI; for PostgreSQL a postgres:// URL or key=value DSN; for MySQL
// a go-sql-driver DSN such as root@tcp(127.0.0.1:3306)/damocles.
func Open(ctx context.Context, driver, dsn string) (*DB, error) {
	var (
		sqlDB *sql.DB
		err   error
	)
	switch driver {
	case DriverSQLite:
		sqlDB, err = openSQLite(ctx, dsn)
	case DriverPostgres:
		sqlDB, err = sql.Open("pgx", dsn)
	case DriverMySQL:
		sqlDB, err = openMySQL(dsn)
	default:
		return nil, fmt.Errorf("unknown database driver %q (want sqlite, postgres or mysql)", driver)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database %q: %w", driver, redactDSN(driver, dsn), err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open %s database %q: %w", driver, redactDSN(driver, dsn), err)
	}
	return &DB{sql: sqlDB, driver: driver}, nil
}

// openSQLite allows one connection per DB. SQLite has a single writer per
// file anyway; queueing our own goroutines in database/sql (which waits
// without a deadline other than ctx) is fairer and cheaper than letting
// them spin in SQLite's busy handler, and it makes "database is locked"
// impossible within a process. Other processes on the same file are
// handled by busy_timeout and by _txlock=immediate, which takes the write
// lock at BEGIN: a deferred transaction that reads and then writes can
// fail with SQLITE_BUSY without ever waiting, because SQLite cannot upgrade
// a stale read snapshot. The price is that reads queue behind writes in
// this process, which the manager's load (heartbeats, metadata) tolerates.
func openSQLite(ctx context.Context, dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("empty DSN: want a file path or a file: URI")
	}
	if !strings.HasPrefix(dsn, "file:") {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	moderncDSN, wal := sqliteDSN(dsn)
	db, err := sql.Open("sqlite", moderncDSN)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if wal {
		if err := enableWAL(ctx, db); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// enableWAL switches the file to WAL, which lets readers (and other
// processes) read while one connection writes. The mode is stored in the
// file, so this is a no-op once done. It is not a DSN pragma because the
// switch needs an exclusive lock, and when another process holds a lock
// SQLite answers SQLITE_BUSY at once instead of calling the busy handler
// (waiting while holding a shared lock could deadlock): processes opening
// a new file together would fail. So it retries for as long as
// busy_timeout would have waited.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		// The mode it reports may be "memory" for an in-memory database,
		// which has no WAL and needs none.
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			return nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return fmt.Errorf("enable WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("enable WAL: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
}

// openMySQL fills in the connection settings the repositories rely on,
// unless the DSN already sets them.
func openMySQL(dsn string) (*sql.DB, error) {
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetConnMaxLifetime(mysqlConnMaxLifetime)
	return db, nil
}

// Driver returns the driver the database was opened with.
func (db *DB) Driver() string { return db.driver }

// SQL returns the underlying pool: the escape hatch for what the
// repositories do not cover. Queries through it use the dialect's own
// placeholders ($1 on PostgreSQL).
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// Secrets returns the repository of API secrets.
func (db *DB) Secrets() *Secrets { return &Secrets{db: db} }

// Workers returns the repository of worker heartbeats.
func (db *DB) Workers() *Workers { return &Workers{db: db} }

// exec runs query, written with ? placeholders, on the pool.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, rebind(db.driver, query), args...)
}

// query runs query, written with ? placeholders, on the pool.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, rebind(db.driver, query), args...)
}

// queryRow runs query, written with ? placeholders, on the pool.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, rebind(db.driver, query), args...)
}
