package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrSchemaTooNew is returned (wrapped) by Migrate when the database was
// migrated by a newer binary than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

type schemaTooNewError struct{ have, know int }

func (e *schemaTooNewError) Error() string {
	return fmt.Sprintf("database schema is at version %d but this binary knows up to %d: "+
		"upgrade damocles-manager (or point [Common.DB] at another database)", e.have, e.know)
}

func (e *schemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }

// schemaMigrationsDDL creates the table that records applied migrations.
var schemaMigrationsDDL = map[string]string{
	DriverSQLite: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`,
	DriverPostgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`,
	DriverMySQL: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INT          PRIMARY KEY,
		name       VARCHAR(255) NOT NULL,
		applied_at BIGINT       NOT NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
}

// schemaMigrationsExists counts (0 or 1) the schema_migrations table of the
// current database or schema.
var schemaMigrationsExists = map[string]string{
	DriverSQLite: `SELECT COUNT(*) FROM sqlite_master
		WHERE type = 'table' AND name = 'schema_migrations'`,
	DriverPostgres: `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`,
	DriverMySQL: `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'`,
}

// pgMigrateLockKey names the advisory lock migrators take. PostgreSQL
// scopes advisory locks to the database, so one key serves every database
// on a server.
const pgMigrateLockKey int64 = 0x64616d6f636c6573 // "damocles" in ASCII

// mysqlLockWait is how long one GET_LOCK call waits before we check ctx
// and ask again.
const mysqlLockWait = 5 * time.Second

// queryer is what migrations need from a *sql.Tx or *sql.Conn.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Migrate brings the schema to LatestSchemaVersion. It is idempotent and
// safe to call from several processes at once: migrators queue on a lock
// and each re-reads the version once it holds it. A database recorded at a
// newer version than this binary knows is left untouched and reported
// with an error wrapping ErrSchemaTooNew.
func (db *DB) Migrate(ctx context.Context) error {
	var err error
	if db.driver == DriverMySQL {
		err = db.migrateMySQL(ctx)
	} else {
		err = db.migrateTransactional(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate %s database: %w", db.driver, err)
	}
	return nil
}

// migrateTransactional applies each pending migration in its own
// transaction, which first takes the migration lock: on SQLite the write
// lock that BEGIN IMMEDIATE holds, on PostgreSQL a transaction-scoped
// advisory lock. A transaction-scoped lock cannot outlive its transaction,
// so an error or a cancelled ctx never leaves it held on a pooled
// connection, as a session lock could.
func (db *DB) migrateTransactional(ctx context.Context) error {
	for {
		done, err := db.migrateStep(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next pending migration, reporting done when
// there was none.
func (db *DB) migrateStep(ctx context.Context) (done bool, err error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if db.driver == DriverPostgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", pgMigrateLockKey); err != nil {
			return false, fmt.Errorf("take migration lock: %w", err)
		}
	}
	next, err := db.nextMigration(ctx, tx)
	if err != nil {
		return false, err
	}
	if next != nil {
		if err := db.apply(ctx, tx, next); err != nil {
			return false, err
		}
	}
	// Commit even with nothing to apply: this may have created
	// schema_migrations.
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return next == nil, nil
}

// migrateMySQL holds a named lock on one connection for the whole run.
// MySQL commits every DDL statement on its own, so a transaction cannot
// serialise migrators; GET_LOCK can.
func (db *DB) migrateMySQL(ctx context.Context) (err error) {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("get connection: %w", err)
	}
	defer conn.Close()
	release, err := mysqlLock(ctx, conn)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, release()) }()
	for {
		next, err := db.nextMigration(ctx, conn)
		if err != nil || next == nil {
			return err
		}
		if err := db.apply(ctx, conn, next); err != nil {
			return err
		}
	}
}

// mysqlLock takes the migration lock of the connection's database and
// returns its release. GET_LOCK names are server-wide, so the name carries
// a digest of the database name (names are limited to 64 characters).
func mysqlLock(ctx context.Context, conn *sql.Conn) (release func() error, err error) {
	var database sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
		return nil, fmt.Errorf("read database name: %w", err)
	}
	if !database.Valid {
		return nil, errors.New("no database selected: name one in the DSN, e.g. root@tcp(127.0.0.1:3306)/damocles")
	}
	sum := sha256.Sum256([]byte(database.String))
	name := "damocles.migrate." + hex.EncodeToString(sum[:16])
	for {
		var got sql.NullInt64
		err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, int(mysqlLockWait.Seconds())).Scan(&got)
		if err != nil {
			return nil, fmt.Errorf("take migration lock %s: %w", name, err)
		}
		if !got.Valid {
			return nil, fmt.Errorf("take migration lock %s: GET_LOCK returned NULL", name)
		}
		if got.Int64 == 1 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("take migration lock %s: %w", name, err)
		}
	}
	return func() error {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", name)
		if err == nil {
			return nil
		}
		// The session may still hold the lock: end it rather than return
		// it to the pool, and the server frees the lock.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return fmt.Errorf("release migration lock %s: %w", name, err)
	}, nil
}

// nextMigration returns the first migration the database lacks, or nil if
// it is up to date, creating schema_migrations if needed.
func (db *DB) nextMigration(ctx context.Context, q queryer) (*migration, error) {
	if _, err := q.ExecContext(ctx, schemaMigrationsDDL[db.driver]); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	latest := LatestSchemaVersion()
	switch {
	case current > latest:
		return nil, &schemaTooNewError{have: current, know: latest}
	case current == latest:
		return nil, nil
	}
	return &migrations[current], nil
}

// apply runs m's statements and records it.
func (db *DB) apply(ctx context.Context, q queryer, m *migration) error {
	stmts, err := m.statements(db.driver)
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if _, err := q.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("apply migration %d (%s): %w", m.version, m.name, err)
		}
	}
	_, err = q.ExecContext(ctx,
		rebind(db.driver, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("record migration %d (%s): %w", m.version, m.name, err)
	}
	return nil
}

// SchemaVersion returns the latest migration applied to the database, 0
// for a database never migrated.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var exists int
	if err := db.sql.QueryRowContext(ctx, schemaMigrationsExists[db.driver]).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if exists == 0 {
		return 0, nil
	}
	var version int
	if err := db.sql.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&version); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return version, nil
}
