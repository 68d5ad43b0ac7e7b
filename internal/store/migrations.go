package store

import (
	"fmt"
	"strings"
)

// migration is one step of the schema. Versions start at 1 and follow the
// order of migrations without gaps; a released migration is never edited,
// only followed by a new one.
//
// ddl holds statements written once for every engine, with placeholders
// for the types that differ (see dialectTypes); up, when set for a driver,
// replaces ddl for it (for what no placeholder covers). On SQLite and
// PostgreSQL a step runs in one transaction with its version record. MySQL
// commits each DDL statement on its own, so a crash can leave a step half
// applied and unrecorded: every statement must be safe to run again
// (CREATE TABLE IF NOT EXISTS).
type migration struct {
	version int
	name    string
	ddl     []string
	up      map[string][]string
}

// dialectTypes are the placeholders of migration.ddl, per driver. They keep
// the three engines alike:
//   - {key}: a text key that compares and sorts bytewise whatever the
//     database's default collation (MySQL cannot index TEXT, and its usual
//     default collation is case-insensitive);
//   - {int}: a 64-bit integer; times are unix seconds in one, never a
//     dialect's timestamp type;
//   - {bytes}: binary data of any size (proofs run to megabytes);
//   - {table}: after a CREATE TABLE's closing parenthesis. SQLite tables
//     are STRICT, so a value of the wrong type is an error as it is in the
//     other engines; MySQL tables are InnoDB with bytewise utf8mb4.
var dialectTypes = map[string]*strings.Replacer{
	DriverSQLite: strings.NewReplacer(
		"{key}", "TEXT", "{text}", "TEXT", "{int}", "INTEGER", "{bytes}", "BLOB", "{table}", " STRICT"),
	DriverPostgres: strings.NewReplacer(
		"{key}", `TEXT COLLATE "C"`, "{text}", "TEXT", "{int}", "BIGINT", "{bytes}", "BYTEA", "{table}", ""),
	DriverMySQL: strings.NewReplacer(
		"{key}", "VARCHAR(255)", "{text}", "TEXT", "{int}", "BIGINT", "{bytes}", "LONGBLOB",
		"{table}", " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"),
}

// statements returns the SQL of m for driver.
func (m *migration) statements(driver string) ([]string, error) {
	if stmts, ok := m.up[driver]; ok {
		return stmts, nil
	}
	r, ok := dialectTypes[driver]
	if !ok {
		return nil, fmt.Errorf("migration %d (%s): no SQL dialect for driver %q", m.version, m.name, driver)
	}
	out := make([]string, len(m.ddl))
	for i, s := range m.ddl {
		out[i] = r.Replace(s)
	}
	return out, nil
}

var migrations = []migration{
	{
		version: 1,
		name:    "create api_secrets",
		ddl: []string{`CREATE TABLE IF NOT EXISTS api_secrets (
			name       {key}   PRIMARY KEY,
			secret     {bytes} NOT NULL,
			created_at {int}   NOT NULL
		){table}`},
	},
	{
		// The thread count columns follow the worker's ping summary. The
		// idle count is empty_threads, not empty: EMPTY is a reserved word
		// in MySQL 8.0.4 and later.
		version: 2,
		name:    "create workers",
		ddl: []string{`CREATE TABLE IF NOT EXISTS workers (
			name          {key}  PRIMARY KEY,
			dest          {text} NOT NULL,
			version       {text} NOT NULL,
			threads       {int}  NOT NULL,
			empty_threads {int}  NOT NULL,
			paused        {int}  NOT NULL,
			running       {int}  NOT NULL,
			waiting       {int}  NOT NULL,
			errors        {int}  NOT NULL,
			last_ping     {int}  NOT NULL
		){table}`},
	},
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int { return len(migrations) }
