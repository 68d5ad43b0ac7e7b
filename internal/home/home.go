// Package home owns the layout of damocles-manager's home directory
// (~/.damocles-manager by default): where the two config files live (or the
// --conf-dir that replaces them), the default SQLite database, and the `api`
// and `token` files through which the CLI finds and authenticates to a
// running daemon, as Lotus's repo does.
package home

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	// DefaultDir is the home used when neither --home nor DAMOCLES_PATH is set.
	DefaultDir = "~/.damocles-manager"
	// DatabaseFile is the SQLite database used when [Common.DB] DSN is empty.
	DatabaseFile = "damocles.db"
	// APIFile holds the multiaddr of the running daemon's RPC listener.
	APIFile = "api"
	// TokenFile holds an admin token for the local CLI.
	TokenFile = "token"
)

// Home is a manager home directory, with its config directory.
type Home struct {
	// Dir is the absolute home path.
	Dir string
	// ConfDir holds sector-manager.cfg and ext-prover.cfg; it is Dir unless
	// --conf-dir names another (a proxy node sharing the source's files).
	ConfDir string
}

// New resolves dir (expanding a leading ~) and confDir (empty means dir).
func New(dir, confDir string) (Home, error) {
	d, err := Expand(dir)
	if err != nil {
		return Home{}, fmt.Errorf("home %q: %w", dir, err)
	}
	h := Home{Dir: d, ConfDir: d}
	if confDir != "" {
		c, err := Expand(confDir)
		if err != nil {
			return Home{}, fmt.Errorf("conf dir %q: %w", confDir, err)
		}
		h.ConfDir = c
	}
	return h, nil
}

// Expand makes p absolute, expanding a leading "~" or "~/" to the user's home.
func Expand(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		p = filepath.Join(u, strings.TrimPrefix(p, "~"))
	}
	return filepath.Abs(p)
}

// Path joins name onto the home directory.
func (h Home) Path(name string) string { return filepath.Join(h.Dir, name) }

// ConfPath joins name onto the config directory.
func (h Home) ConfPath(name string) string { return filepath.Join(h.ConfDir, name) }

// SQLitePath resolves a [Common.DB] DSN for the sqlite driver: empty means
// the default file in the home, a relative path is relative to the home.
func (h Home) SQLitePath(dsn string) string {
	switch {
	case dsn == "":
		return h.Path(DatabaseFile)
	case strings.HasPrefix(dsn, "file:") || filepath.IsAbs(dsn):
		return dsn
	default:
		return h.Path(dsn)
	}
}

// EnsureDir creates the home directory, readable only by its owner because
// it holds the API token.
func (h Home) EnsureDir() error {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("create home %s: %w", h.Dir, err)
	}
	return nil
}

// WriteSecretFile writes a file readable only by its owner, atomically, and
// only when its content changes.
func (h Home) WriteSecretFile(name string, data []byte) error {
	path := h.Path(name)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadFile reads a home file, saying what to do when it is missing.
func (h Home) ReadFile(name string) (string, error) {
	b, err := os.ReadFile(h.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		switch name {
		case APIFile:
			return "", fmt.Errorf("%s not found: is the daemon running with --home %s? (or pass --api)", h.Path(name), h.Dir)
		case TokenFile:
			return "", fmt.Errorf("%s not found: run `damocles-manager --home %s daemon init` first (or pass --token)", h.Path(name), h.Dir)
		}
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", h.Path(name), err)
	}
	return strings.TrimSpace(string(b)), nil
}
