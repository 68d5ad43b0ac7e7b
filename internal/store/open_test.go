package store

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestOpenUnknownDriver(t *testing.T) {
	_, err := Open(t.Context(), "oracle", "whatever")
	want := `unknown database driver "oracle" (want sqlite, postgres or mysql)`
	if err == nil || err.Error() != want {
		t.Fatalf("Open(oracle) = %v; want %q", err, want)
	}
}

// Port 1 on loopback refuses connections, so these fail fast at Ping.
func TestOpenUnreachableRedactsPassword(t *testing.T) {
	tests := []struct{ driver, dsn string }{
		{DriverPostgres, "postgres://damocles:hunter2@127.0.0.1:1/damocles?sslmode=disable"},
		{DriverPostgres, "postgres://damocles@127.0.0.1:1/damocles?sslmode=disable&password=hunter2"},
		{DriverPostgres, "host=127.0.0.1 port=1 user=damocles password=hunter2 dbname=damocles sslmode=disable"},
		{DriverPostgres, "host=127.0.0.1 port=1 user=damocles password='hunter2 with spaces' dbname=damocles sslmode=disable"},
		{DriverMySQL, "damocles:hunter2@tcp(127.0.0.1:1)/damocles"},
	}
	for _, tt := range tests {
		t.Run(tt.driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			db, err := Open(ctx, tt.driver, tt.dsn)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) of a closed port succeeded", tt.driver)
			}
			msg := err.Error()
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error leaks the password: %s", msg)
			}
			for _, want := range []string{"open " + tt.driver + " database", redacted, "127.0.0.1"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestRedactDSNLeavesPasswordlessDSNsAlone(t *testing.T) {
	for _, tt := range []struct{ driver, dsn string }{
		{DriverPostgres, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{DriverPostgres, "host=127.0.0.1 user=postgres dbname=postgres"},
		{DriverMySQL, "root@tcp(127.0.0.1:3306)/damocles"},
		{DriverSQLite, "/var/lib/damocles/damocles.db"},
	} {
		if got := redactDSN(tt.driver, tt.dsn); got != tt.dsn {
			t.Errorf("redactDSN(%s, %q) = %q; want it unchanged", tt.driver, tt.dsn, got)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	tests := []struct {
		name, dsn, wantBase string
		wantPragmas         []string
		wantWAL             bool
	}{
		{"path", "/home/sp/.damocles/damocles.db", "file:/home/sp/.damocles/damocles.db",
			[]string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"}, true},
		{"path with URI characters", "/tmp/a b?c#d%e/x.db", "file:/tmp/a%20b%3Fc%23d%25e/x.db",
			[]string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"}, true},
		{"URI keeps its pragmas", "file:x.db?_pragma=synchronous(FULL)&mode=rwc&_txlock=deferred", "file:x.db",
			[]string{"synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"}, true},
		{"URI keeps its journal mode", "file:x.db?_pragma=journal_mode(DELETE)", "file:x.db",
			[]string{"journal_mode(DELETE)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, wal := sqliteDSN(tt.dsn)
			if wal != tt.wantWAL {
				t.Errorf("sqliteDSN(%q) wal = %v; want %v", tt.dsn, wal, tt.wantWAL)
			}
			base, rawQuery, _ := strings.Cut(got, "?")
			if base != tt.wantBase {
				t.Errorf("sqliteDSN(%q) base = %q; want %q", tt.dsn, base, tt.wantBase)
			}
			q, err := url.ParseQuery(rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if got := q["_pragma"]; strings.Join(got, " ") != strings.Join(tt.wantPragmas, " ") {
				t.Errorf("sqliteDSN(%q) pragmas = %q; want %q", tt.dsn, got, tt.wantPragmas)
			}
			if got := q["_txlock"]; len(got) != 1 || got[0] != "immediate" {
				t.Errorf("sqliteDSN(%q) _txlock = %q; want immediate only", tt.dsn, got)
			}
		})
	}
}

func TestMySQLConfig(t *testing.T) {
	cfg, err := mysqlConfig("root@tcp(127.0.0.1:3306)/damocles")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ParseTime || cfg.Params["sql_mode"] != "'TRADITIONAL'" {
		t.Errorf("defaults: parseTime=%v sql_mode=%q; want true, 'TRADITIONAL'", cfg.ParseTime, cfg.Params["sql_mode"])
	}
	cfg, err = mysqlConfig("root@tcp(127.0.0.1:3306)/damocles?sql_mode=%27ANSI%27")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params["sql_mode"] != "'ANSI'" {
		t.Errorf("sql_mode from the DSN = %q; want it kept", cfg.Params["sql_mode"])
	}
}
