package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{Sectors: SectorsDefault, BlockTime: BlockTimeDefault, Timeout: TimeoutDefault, Threads: ThreadsDefault}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no sectors", func(c *Config) { c.Sectors = 0 }, "--sectors 0"},
		{"zero block time", func(c *Config) { c.BlockTime = 0 }, "--block-time 0s"},
		{"negative block time", func(c *Config) { c.BlockTime = -time.Second }, "--block-time -1s"},
		{"no threads", func(c *Config) { c.Threads = 0 }, "--threads 0"},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, "--timeout 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.change(&cfg)
			cfg.Home = filepath.Join(t.TempDir(), "home")
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want an error naming %q", err, tc.want)
			}
			if _, err := os.Stat(cfg.Home); err == nil {
				t.Error("a refused demo created its home")
			}
		})
	}
}

func TestRunNamesMissingBinaries(t *testing.T) {
	bin := t.TempDir()
	cfg := validConfig()
	cfg.BinDir = bin
	_, err := Run(context.Background(), cfg)
	want := filepath.Join(bin, "damocles-manager")
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("Run without binaries: %v; want the path %s and `make build`", err, want)
	}

	// The manager alone is not enough either.
	if err := os.WriteFile(filepath.Join(bin, "damocles-manager"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg)
	if want := filepath.Join(bin, "damocles-worker"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run without the worker: %v; want the path %s", err, want)
	}
}

func TestPrepareHome(t *testing.T) {
	// A new directory is created and kept.
	fresh := filepath.Join(t.TempDir(), "a", "b")
	dir, temp, err := prepareHome(fresh)
	if err != nil || dir != fresh || temp {
		t.Fatalf("prepareHome(new) = %q, %v, %v", dir, temp, err)
	}
	if fi, err := os.Stat(fresh); err != nil || !fi.IsDir() {
		t.Fatalf("not created: %v", err)
	}
	// An empty one is taken.
	if _, _, err := prepareHome(fresh); err != nil {
		t.Errorf("prepareHome(empty) = %v", err)
	}
	// A non-empty one is refused, untouched.
	if err := os.WriteFile(filepath.Join(fresh, "precious"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := prepareHome(fresh); err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), fresh) {
		t.Errorf("prepareHome(non-empty) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "precious")); err != nil {
		t.Errorf("the refused home was changed: %v", err)
	}
	// No home: a temporary directory, marked for removal.
	dir, temp, err = prepareHome("")
	if err != nil || !temp || !strings.Contains(filepath.Base(dir), "damocles-demo-") {
		t.Fatalf("prepareHome(\"\") = %q, %v, %v", dir, temp, err)
	}
	os.RemoveAll(dir)
}
