package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StoreKind tells what a directory was initialised for.
type StoreKind string

const (
	// SealingStore is a sealing thread's local scratch location
	// (`store sealing-init`).
	SealingStore StoreKind = "sealing"
	// PersistStore is a persist store the worker writes finished sectors to,
	// usually an NFS mount (`store file-init`).
	PersistStore StoreKind = "persist"
)

// MarkerFile is written into every initialised store. A directory without it
// is most likely an unmounted mount point: writing sectors there would fill
// the local disk and lose them when the mount comes back.
const MarkerFile = ".damocles-store.json"

// StoreMarker is the content of MarkerFile.
type StoreMarker struct {
	Kind      StoreKind `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
}

// InitStore creates dir if needed and marks it as a store of the given kind.
// It is idempotent for the same kind and refuses to re-mark a store of
// another kind, which would point two roles at one directory.
func InitStore(dir string, kind StoreKind) (created bool, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, fmt.Errorf("store %s: %w", dir, err)
	}
	m, err := ReadStoreMarker(abs)
	switch {
	case err == nil && m.Kind == kind:
		return false, nil
	case err == nil:
		return false, fmt.Errorf("store %s is already initialised as a %s store, not %s", abs, m.Kind, kind)
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return false, fmt.Errorf("create store %s: %w", abs, err)
	}
	data, _ := json.MarshalIndent(StoreMarker{Kind: kind, CreatedAt: time.Now().UTC()}, "", "  ")
	tmp := filepath.Join(abs, MarkerFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return false, fmt.Errorf("init store %s: %w", abs, err)
	}
	if err := os.Rename(tmp, filepath.Join(abs, MarkerFile)); err != nil {
		return false, fmt.Errorf("init store %s: %w", abs, err)
	}
	return true, nil
}

// ReadStoreMarker reads the marker of dir; the error satisfies
// errors.Is(err, fs.ErrNotExist) when the directory was never initialised.
func ReadStoreMarker(dir string) (StoreMarker, error) {
	var m StoreMarker
	data, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("store %s: corrupt %s: %w", dir, MarkerFile, err)
	}
	return m, nil
}

// CheckStore verifies that dir was initialised as a store of the given kind,
// with an error that says what to run when it was not.
func CheckStore(dir string, kind StoreKind) error {
	m, err := ReadStoreMarker(dir)
	if errors.Is(err, fs.ErrNotExist) {
		cmd := "store sealing-init"
		if kind == PersistStore {
			cmd = "store file-init"
		}
		return fmt.Errorf("%s store %s is not initialised (no %s): if it is a mount point, is it mounted? Otherwise run `damocles-worker %s -l %s`", kind, dir, MarkerFile, cmd, dir)
	}
	if err != nil {
		return err
	}
	if m.Kind != kind {
		return fmt.Errorf("store %s was initialised as a %s store, but is configured as a %s store", dir, m.Kind, kind)
	}
	return nil
}
