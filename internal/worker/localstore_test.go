package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitAndCheckStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := CheckStore(dir, SealingStore); err == nil || !strings.Contains(err.Error(), "sealing-init") {
		t.Fatalf("CheckStore on a fresh dir = %v, want an error naming sealing-init", err)
	}
	created, err := InitStore(dir, SealingStore)
	if err != nil || !created {
		t.Fatalf("InitStore = %v, %v", created, err)
	}
	if err := CheckStore(dir, SealingStore); err != nil {
		t.Fatalf("CheckStore after init: %v", err)
	}
	if created, err := InitStore(dir, SealingStore); err != nil || created {
		t.Fatalf("second InitStore = %v, %v; want idempotent", created, err)
	}
	if _, err := InitStore(dir, PersistStore); err == nil {
		t.Fatal("InitStore with another kind succeeded")
	}
	if err := CheckStore(dir, PersistStore); err == nil || !strings.Contains(err.Error(), "initialised as a sealing store") {
		t.Fatalf("CheckStore with the wrong kind = %v", err)
	}
}

func TestCheckStoreCorruptMarker(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckStore(dir, PersistStore); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("CheckStore = %v, want corrupt marker error", err)
	}
}
