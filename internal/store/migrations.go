package store

// migration is one step of the schema. Versions start at 1 and follow the
// order of migrations without gaps; a released migration is never edited,
// only followed by a new one.
//
// up holds, per driver, statements run in order. On SQLite and PostgreSQL
// they run in one transaction with the version record. MySQL commits each
// DDL statement on its own, so a crash can leave a step half applied and
// unrecorded: MySQL statements must be safe to run again (IF NOT EXISTS).
//
// Conventions that keep the three dialects alike:
//   - key columns compare and sort bytewise whatever the database's
//     default collation: TEXT in SQLite, TEXT COLLATE "C" in PostgreSQL,
//     VARCHAR(255) in MySQL tables declared utf8mb4_bin (MySQL cannot
//     index TEXT, and its usual default collation is case-insensitive);
//   - times are unix seconds in a 64-bit integer, never a dialect's
//     timestamp type;
//   - SQLite tables are STRICT, so a value of the wrong type is an error as
//     it is in the other engines.
type migration struct {
	version int
	name    string
	up      map[string][]string
}

var migrations = []migration{
	{
		version: 1,
		name:    "create api_secrets",
		up: map[string][]string{
			DriverSQLite: {`CREATE TABLE api_secrets (
				name       TEXT    PRIMARY KEY,
				secret     BLOB    NOT NULL,
				created_at INTEGER NOT NULL
			) STRICT`},
			DriverPostgres: {`CREATE TABLE api_secrets (
				name       TEXT COLLATE "C" PRIMARY KEY,
				secret     BYTEA  NOT NULL,
				created_at BIGINT NOT NULL
			)`},
			DriverMySQL: {`CREATE TABLE IF NOT EXISTS api_secrets (
				name       VARCHAR(255) PRIMARY KEY,
				secret     BLOB   NOT NULL,
				created_at BIGINT NOT NULL
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`},
		},
	},
	{
		// The thread count columns follow the worker's ping summary. The
		// idle count is empty_threads, not empty: EMPTY is a reserved word
		// in MySQL 8.0.4 and later.
		version: 2,
		name:    "create workers",
		up: map[string][]string{
			DriverSQLite: {`CREATE TABLE workers (
				name          TEXT    PRIMARY KEY,
				dest          TEXT    NOT NULL,
				version       TEXT    NOT NULL,
				threads       INTEGER NOT NULL,
				empty_threads INTEGER NOT NULL,
				paused        INTEGER NOT NULL,
				running       INTEGER NOT NULL,
				waiting       INTEGER NOT NULL,
				errors        INTEGER NOT NULL,
				last_ping     INTEGER NOT NULL
			) STRICT`},
			DriverPostgres: {`CREATE TABLE workers (
				name          TEXT COLLATE "C" PRIMARY KEY,
				dest          TEXT   NOT NULL,
				version       TEXT   NOT NULL,
				threads       BIGINT NOT NULL,
				empty_threads BIGINT NOT NULL,
				paused        BIGINT NOT NULL,
				running       BIGINT NOT NULL,
				waiting       BIGINT NOT NULL,
				errors        BIGINT NOT NULL,
				last_ping     BIGINT NOT NULL
			)`},
			DriverMySQL: {`CREATE TABLE IF NOT EXISTS workers (
				name          VARCHAR(255) PRIMARY KEY,
				dest          TEXT   NOT NULL,
				version       TEXT   NOT NULL,
				threads       BIGINT NOT NULL,
				empty_threads BIGINT NOT NULL,
				paused        BIGINT NOT NULL,
				running       BIGINT NOT NULL,
				waiting       BIGINT NOT NULL,
				errors        BIGINT NOT NULL,
				last_ping     BIGINT NOT NULL
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`},
		},
	},
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int { return len(migrations) }
