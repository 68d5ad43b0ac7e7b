package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/damocles-go/damocles/internal/store"
)

// Environment variables naming the admin DSNs of the test servers: a user
// allowed to create and drop databases, connected to an existing database.
const (
	EnvPostgresDSN = "DAMOCLES_TEST_POSTGRES_DSN"
	EnvMySQLDSN    = "DAMOCLES_TEST_MYSQL_DSN"
)

// Admin DSNs used when the environment names none.
const (
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/"
)

// adminTimeout bounds each call to a test server, so a server that
// accepts connections but never answers fails the test instead of hanging it.
const adminTimeout = 30 * time.Second

// Database is a fresh, uniquely named test database: what it takes to open
// another handle on it, here or in a child process.
type Database struct {
	Driver string
	DSN    string
}

// Open opens a handle on d, closed when t ends. It does not migrate.
func (d Database) Open(t testing.TB) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	db, err := store.Open(ctx, d.Driver, d.DSN)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	databases.Store(db, d)
	t.Cleanup(func() {
		databases.Delete(db)
		if err := db.Close(); err != nil {
			t.Errorf("close test database: %v", err)
		}
	})
	return db
}

// databases remembers the Database behind every handle Open made, for
// DatabaseOf.
var databases sync.Map // *store.DB -> Database

// DatabaseOf returns the database behind db, which must come from this
// package (NewSQLite, NewPostgres, NewMySQL, New, Database.Open). Tests
// use it to open a second handle on the same database, as a second process
// would.
func DatabaseOf(t testing.TB, db *store.DB) Database {
	t.Helper()
	d, ok := databases.Load(db)
	if !ok {
		t.Fatalf("storetest.DatabaseOf: this *store.DB was not opened by storetest (or is already closed)")
	}
	return d.(Database)
}

// Reopen opens a second handle on the database behind db (see DatabaseOf).
func Reopen(t testing.TB, db *store.DB) *store.DB {
	t.Helper()
	return DatabaseOf(t, db).Open(t)
}

// NewSQLite returns a migrated SQLite database in a temporary file, closed
// and removed when t ends.
func NewSQLite(t *testing.T) *store.DB {
	t.Helper()
	return New(t, store.DriverSQLite)
}

// NewPostgres returns a migrated database created for t on the PostgreSQL
// test server, closed and dropped when t ends. It skips t when the server
// is unreachable, or fails it when CI=true.
func NewPostgres(t *testing.T) *store.DB {
	t.Helper()
	return New(t, store.DriverPostgres)
}

// NewMySQL returns a migrated database created for t on the MySQL/MariaDB
// test server, closed and dropped when t ends. It skips t when the server
// is unreachable, or fails it when CI=true.
func NewMySQL(t *testing.T) *store.DB {
	t.Helper()
	return New(t, store.DriverMySQL)
}

// New returns a migrated database for driver, as NewSQLite, NewPostgres
// and NewMySQL do.
func New(t testing.TB, driver string) *store.DB {
	t.Helper()
	db := NewDatabase(t, driver).Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return db
}

// NewDatabase creates an empty, uniquely named database for driver and
// removes it when t ends.
func NewDatabase(t testing.TB, driver string) Database {
	t.Helper()
	switch driver {
	case store.DriverSQLite:
		return Database{Driver: driver, DSN: filepath.Join(t.TempDir(), "damocles.db")}
	case store.DriverPostgres:
		return newServerDatabase(t, postgresServer)
	case store.DriverMySQL:
		return newServerDatabase(t, mysqlServer)
	}
	t.Fatalf("storetest: unknown driver %q", driver)
	return Database{}
}

// server is a database server that tests create databases on.
type server struct {
	driver string
	name   string // for people
	env    string
	dflt   string
	// howToStart is appended to the skip message.
	howToStart string
	// create holds ways to create a database, tried in order until one
	// works; drop removes it. Both run on the admin connection with %s
	// standing for the name.
	create []string
	drop   string
	// dsnFor returns the admin DSN pointed at database name.
	dsnFor func(admin, name string) (string, error)
}

var postgresServer = server{
	driver:     store.DriverPostgres,
	name:       "PostgreSQL",
	env:        EnvPostgresDSN,
	dflt:       DefaultPostgresDSN,
	howToStart: "start it (e.g. `pg_ctlcluster 15 main start`, with trust auth for 127.0.0.1, or `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`)",
	// Operators' databases usually sort by a natural-language collation
	// (en_US), not bytewise like this server's C.UTF-8 default; an ICU
	// one makes the suite notice a key column that forgot COLLATE "C".
	// Servers without ICU (or older than 15) get their default.
	create: []string{
		"CREATE DATABASE %s TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
		"CREATE DATABASE %s",
	},
	// FORCE ends sessions a failed test left open, so nothing stays behind.
	drop: "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	dsnFor: func(admin, name string) (string, error) {
		if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
			u, err := url.Parse(admin)
			if err != nil {
				return "", err
			}
			u.Path = "/" + name
			return u.String(), nil
		}
		// In a key=value DSN the last setting of a key wins.
		return admin + " dbname=" + name, nil
	},
}

var mysqlServer = server{
	driver:     store.DriverMySQL,
	name:       "MySQL/MariaDB",
	env:        EnvMySQLDSN,
	dflt:       DefaultMySQLDSN,
	howToStart: "start it (e.g. `service mariadb start`, root without password on 127.0.0.1, or `docker run -d -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 mariadb:10.11`)",
	// The usual server default, which compares case-insensitively: the
	// schema must not depend on the database's collation.
	create: []string{"CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"},
	drop:   "DROP DATABASE IF EXISTS %s",
	dsnFor: func(admin, name string) (string, error) {
		cfg, err := mysql.ParseDSN(admin)
		if err != nil {
			return "", err
		}
		cfg.DBName = name
		return cfg.FormatDSN(), nil
	},
}

// newServerDatabase creates a database on s for t and registers its drop.
func newServerDatabase(t testing.TB, s server) Database {
	t.Helper()
	admin := s.adminDSN()
	name := "damocles_test_" + randomHex(8)
	dsn, err := s.dsnFor(admin, name)
	if err != nil {
		t.Fatalf("storetest: %s admin DSN from %s: %v", s.name, s.env, err)
	}
	if err, ok := unreachableServers.Load(admin); ok {
		skipOrFail(t, s, err.(error))
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	adminDB, err := store.Open(ctx, s.driver, admin)
	if err != nil {
		unreachableServers.Store(admin, err)
		skipOrFail(t, s, err)
	}
	defer adminDB.Close()
	var errs []error
	for _, create := range s.create {
		_, err := adminDB.SQL().ExecContext(ctx, fmt.Sprintf(create, name))
		if err == nil {
			errs = nil
			break
		}
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		t.Fatalf("storetest: create %s database %s: %v", s.name, name, errors.Join(errs...))
	}
	// Registered before the caller's Open, so it runs after that handle
	// is closed.
	t.Cleanup(func() { dropServerDatabase(t, s, admin, name) })
	return Database{Driver: s.driver, DSN: dsn}
}

func dropServerDatabase(t testing.TB, s server, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	adminDB, err := store.Open(ctx, s.driver, admin)
	if err != nil {
		t.Errorf("storetest: drop %s database %s: %v", s.name, name, err)
		return
	}
	defer adminDB.Close()
	if _, err := adminDB.SQL().ExecContext(ctx, fmt.Sprintf(s.drop, name)); err != nil {
		t.Errorf("storetest: drop %s database %s: %v", s.name, name, err)
	}
}

func (s server) adminDSN() string {
	if v := os.Getenv(s.env); v != "" {
		return v
	}
	return s.dflt
}

// unreachableServers remembers, by admin DSN, the servers that could not be
// reached, so that the tests after the first skip at once instead of each
// waiting for a server that may take adminTimeout to fail.
var unreachableServers sync.Map // string -> error

// skipOrFail skips t, loudly, unless this is CI, where a missing server
// must fail the run rather than quietly test less.
func skipOrFail(t testing.TB, s server, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("storetest: %s test server unreachable (CI=true, so this fails instead of skipping): %v", s.name, err)
	}
	t.Skipf("SKIPPED: %s test server unreachable: %v\n"+
		"\tTo run these tests, %s, or set %s to an admin DSN. With CI=true this is a failure.",
		s.name, err, s.howToStart, s.env)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crashes the program rather than fail, since Go 1.24
	return hex.EncodeToString(b)
}
