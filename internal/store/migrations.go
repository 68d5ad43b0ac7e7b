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
	{
		// last_number is the highest sector number ever handed out for
		// the miner. Numbers are never reused, so it only grows.
		version: 3,
		name:    "create sector_numbers",
		ddl: []string{`CREATE TABLE IF NOT EXISTS sector_numbers (
			miner       {int} PRIMARY KEY,
			last_number {int} NOT NULL
		){table}`},
	},
	{
		// The index on state serves the listing of online sectors, a
		// few thousand among millions of finalized ones. MySQL has no
		// CREATE INDEX IF NOT EXISTS (MariaDB has), so it gets the
		// index inside CREATE TABLE, which is safe to run again.
		version: 4,
		name:    "create sectors",
		ddl: []string{
			`CREATE TABLE IF NOT EXISTS sectors (` + sectorsColumnsDDL + `){table}`,
			`CREATE INDEX IF NOT EXISTS sectors_by_state ON sectors (state, miner, number)`,
		},
		up: map[string][]string{
			DriverMySQL: {dialectTypes[DriverMySQL].Replace(
				`CREATE TABLE IF NOT EXISTS sectors (` + sectorsColumnsDDL + `,
			INDEX sectors_by_state (state, miner, number)
		){table}`)},
		},
	},
	{
		version: 5,
		name:    "create store_reservations",
		ddl: []string{`CREATE TABLE IF NOT EXISTS store_reservations (
			miner      {int} NOT NULL,
			number     {int} NOT NULL,
			store_name {key} NOT NULL,
			size       {int} NOT NULL,
			created_at {int} NOT NULL,
			PRIMARY KEY (miner, number)
		){table}`},
	},
	{
		// An empty store name means that part of the sector is not
		// indexed (attach --allow-splitted indexes one part at a time).
		version: 6,
		name:    "create sector_index",
		ddl: []string{`CREATE TABLE IF NOT EXISTS sector_index (
			miner        {int}  NOT NULL,
			number       {int}  NOT NULL,
			kind         {key}  NOT NULL,
			sealed_store {text} NOT NULL,
			cache_store  {text} NOT NULL,
			updated_at   {int}  NOT NULL,
			PRIMARY KEY (miner, number, kind)
		){table}`},
	},
	{
		// The index on deadline_open serves the pruning of past
		// deadlines; the primary key serves the listing of one. MySQL
		// gets the index inside CREATE TABLE, as in version 4.
		version: 7,
		name:    "create post_messages",
		ddl: []string{
			`CREATE TABLE IF NOT EXISTS post_messages (` + postMessagesColumnsDDL + `){table}`,
			`CREATE INDEX IF NOT EXISTS post_messages_by_deadline_open ON post_messages (deadline_open)`,
		},
		up: map[string][]string{
			DriverMySQL: {dialectTypes[DriverMySQL].Replace(
				`CREATE TABLE IF NOT EXISTS post_messages (` + postMessagesColumnsDDL + `,
			INDEX post_messages_by_deadline_open (deadline_open)
		){table}`)},
		},
	},
	{
		// The WindowPoSt job queue and the leases that elect one manager
		// per task. wdpost_jobs_by_state serves Allocate (ready jobs,
		// oldest first), the rescuer and the retrier;
		// wdpost_jobs_by_created_at serves the listing and the cleaner.
		// MySQL gets the indexes inside CREATE TABLE, as in version 4.
		version: 8,
		name:    "create wdpost_jobs and leases",
		ddl: []string{
			`CREATE TABLE IF NOT EXISTS wdpost_jobs (` + wdpostJobsColumnsDDL + `){table}`,
			`CREATE INDEX IF NOT EXISTS wdpost_jobs_by_state ON wdpost_jobs (state, created_at, id)`,
			`CREATE INDEX IF NOT EXISTS wdpost_jobs_by_created_at ON wdpost_jobs (created_at)`,
			`CREATE TABLE IF NOT EXISTS leases (` + leasesColumnsDDL + `){table}`,
		},
		up: map[string][]string{
			DriverMySQL: {
				dialectTypes[DriverMySQL].Replace(`CREATE TABLE IF NOT EXISTS wdpost_jobs (` + wdpostJobsColumnsDDL + `,
			INDEX wdpost_jobs_by_state (state, created_at, id),
			INDEX wdpost_jobs_by_created_at (created_at)
		){table}`),
				dialectTypes[DriverMySQL].Replace(`CREATE TABLE IF NOT EXISTS leases (` + leasesColumnsDDL + `){table}`),
			},
		},
	},
}

// wdpostJobsColumnsDDL are the columns of table wdpost_jobs (see
// WdPoStJob). Times are unix seconds, 0 for none; partitions is a
// comma-separated list of partition indexes; output is NULL until the job
// finishes with a result.
const wdpostJobsColumnsDDL = `
			id             {key}   PRIMARY KEY,
			miner          {int}   NOT NULL,
			deadline_index {int}   NOT NULL,
			deadline_open  {int}   NOT NULL,
			partitions     {text}  NOT NULL,
			proof_type     {key}   NOT NULL,
			sectors        {int}   NOT NULL,
			input          {bytes} NOT NULL,
			output         {bytes},
			faults         {int}   NOT NULL,
			state          {key}   NOT NULL,
			try_num        {int}   NOT NULL,
			error_reason   {text}  NOT NULL,
			worker_name    {text}  NOT NULL,
			started_at     {int}   NOT NULL,
			heartbeat_at   {int}   NOT NULL,
			finished_at    {int}   NOT NULL,
			created_at     {int}   NOT NULL,
			updated_at     {int}   NOT NULL`

// leasesColumnsDDL are the columns of table leases (see Lease). Unlike
// every other table's, its times are unix MILLISECONDS: a lease lives for
// seconds, and rounding its expiry to the second would hand it over up to
// a second early or late. A released lease keeps its row with an empty
// holder and expires_at 0.
const leasesColumnsDDL = `
			name       {key}  PRIMARY KEY,
			holder     {text} NOT NULL,
			expires_at {int}  NOT NULL,
			updated_at {int}  NOT NULL`

// postMessagesColumnsDDL are the columns of table post_messages (see
// PoStMessage). deadline_open is the epoch at which the deadline's window
// opens, so it names one occurrence of the deadline; message is empty until
// the message is pushed.
const postMessagesColumnsDDL = `
			miner         {int}  NOT NULL,
			deadline_open {int}  NOT NULL,
			kind          {key}  NOT NULL,
			batch         {key}  NOT NULL,
			message       {text} NOT NULL,
			created_at    {int}  NOT NULL,
			updated_at    {int}  NOT NULL,
			PRIMARY KEY (miner, deadline_open, kind, batch)`

// sectorsColumnsDDL are the columns of table sectors (see Sector). The
// columns of a sealing step are NULL until the step happens; text columns
// that are always written are NOT NULL, with ” for none.
const sectorsColumnsDDL = `
			miner                  {int}   NOT NULL,
			number                 {int}   NOT NULL,
			proof_type             {int}   NOT NULL,
			state                  {key}   NOT NULL,
			worker_state           {text}  NOT NULL,
			worker_event           {text}  NOT NULL,
			worker_instance        {text}  NOT NULL,
			worker_location        {text}  NOT NULL,
			failure_level          {text}  NOT NULL,
			failure_desc           {text}  NOT NULL,
			pieces                 {bytes},
			ticket                 {bytes},
			ticket_epoch           {int},
			precommit_comm_r       {bytes},
			precommit_comm_d       {bytes},
			precommit_ticket       {bytes},
			precommit_ticket_epoch {int},
			precommit_msg          {text},
			precommit_msg_state    {int},
			precommit_msg_desc     {text},
			seed                   {bytes},
			seed_epoch             {int},
			proof                  {bytes},
			commit_msg             {text},
			commit_msg_state       {int},
			commit_msg_desc        {text},
			abort_reason           {text}  NOT NULL,
			created_at             {int}   NOT NULL,
			updated_at             {int}   NOT NULL,
			PRIMARY KEY (miner, number)`

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int { return len(migrations) }
