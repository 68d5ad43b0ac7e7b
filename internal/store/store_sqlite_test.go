package store_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Exercise(t, storetest.NewSQLite)
}

func TestSQLiteOpenCreatesPrivateDirectoryAndSetsPragmas(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "home", "db")
	db, err := store.Open(ctx, store.DriverSQLite, filepath.Join(dir, "damocles.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("database directory mode = %o; want 700", perm)
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "10000",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.SQL().QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s; want %s", pragma, got, want)
		}
	}
}

func TestSQLiteOpenFileURI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uri.db")
	db, err := store.Open(t.Context(), store.DriverSQLite, "file:"+path+"?_pragma=synchronous(FULL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sync string
	if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if sync != "2" {
		t.Errorf("PRAGMA synchronous = %s; want 2 (FULL, from the URI)", sync)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
}

// Switching a new file to WAL is where SQLite answers SQLITE_BUSY without
// waiting: Open must wait for another process's lock, not fail.
func TestSQLiteOpenWaitsForALockOnANewFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "new.db")
	other, err := sql.Open("sqlite", path) // as another process would, in rollback-journal mode
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range []string{"BEGIN IMMEDIATE", "CREATE TABLE other (x INTEGER)"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	committed := make(chan error)
	go func() {
		time.Sleep(100 * time.Millisecond) // long enough for Open to meet the lock
		_, err := conn.ExecContext(ctx, "COMMIT")
		committed <- err
	}()
	db, err := store.Open(ctx, store.DriverSQLite, path)
	if cerr := <-committed; cerr != nil {
		t.Fatalf("COMMIT: %v", cerr)
	}
	if err != nil {
		t.Fatalf("Open while another connection holds a lock: %v", err)
	}
	defer db.Close()
	var mode string
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// sqliteChildEnv makes the test binary act as one of several processes
// sharing a SQLite file in TestSQLiteAcrossProcesses.
const sqliteChildEnv = "DAMOCLES_STORE_TEST_SQLITE_CHILD"

// TestSQLiteAcrossProcesses checks what two *store.DB in one process cannot
// prove: processes that each hold their own connection to one file
// migrate it, create the API secret and write heartbeats at the same time
// without "database is locked" and agree on the secret.
func TestSQLiteAcrossProcesses(t *testing.T) {
	if dsn := os.Getenv(sqliteChildEnv); dsn != "" {
		sqliteChild(t, dsn)
		return
	}
	const processes = 4
	d := storetest.NewDatabase(t, store.DriverSQLite)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	outs := make([]bytes.Buffer, processes)
	cmds := make([]*exec.Cmd, processes)
	for i := range cmds {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSQLiteAcrossProcesses$", "-test.v")
		cmd.Env = append(os.Environ(), sqliteChildEnv+"="+d.DSN, fmt.Sprintf("%s_ID=%d", sqliteChildEnv, i))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	secrets := map[string]bool{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
		sc := bufio.NewScanner(&outs[i])
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "secret="); ok {
				secrets[s] = true
			}
		}
	}
	if len(secrets) != 1 {
		t.Fatalf("processes saw %d different secrets; want 1: %v", len(secrets), secrets)
	}
	db := d.Open(t)
	stored, err := db.Secrets().Get(ctx, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	if !secrets[hex.EncodeToString(stored)] {
		t.Errorf("stored secret %x is not the one the processes saw (%v)", stored, secrets)
	}
	ws, err := db.Workers().List(ctx)
	if err != nil || len(ws) != processes {
		t.Fatalf("List = %d workers, %v; want %d", len(ws), err, processes)
	}
}

func sqliteChild(t *testing.T, dsn string) {
	ctx := t.Context()
	db, err := store.Open(ctx, store.DriverSQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	secret, err := db.Secrets().Ensure(ctx, "jwt", func() ([]byte, error) {
		return []byte(os.Getenv(sqliteChildEnv+"_ID") + time.Now().String()), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("secret=%x\n", secret)
	name := "child-" + os.Getenv(sqliteChildEnv+"_ID")
	for i := range 50 {
		if err := db.Workers().Upsert(ctx, store.Worker{Name: name, Threads: uint(i), LastPing: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}
