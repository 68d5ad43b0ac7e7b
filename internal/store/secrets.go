package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Secrets is the repository of named secrets (table api_secrets), such as
// the key that signs API tokens.
type Secrets struct {
	db *DB
}

// insertSecretIfAbsent leaves an existing row alone so that, of two
// processes creating the same secret at once, the first insert wins and
// both read it back. MySQL gets ON DUPLICATE KEY UPDATE with a no-op
// rather than INSERT IGNORE, which would also swallow errors such as an
// over-long name.
var insertSecretIfAbsent = map[string]string{
	DriverSQLite:   `INSERT INTO api_secrets (name, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
	DriverPostgres: `INSERT INTO api_secrets (name, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
	DriverMySQL:    `INSERT INTO api_secrets (name, secret, created_at) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE name = name`,
}

// Get returns the secret stored under name, or an error wrapping
// ErrNotFound.
func (s *Secrets) Get(ctx context.Context, name string) ([]byte, error) {
	var secret []byte
	err := s.db.queryRow(ctx, `SELECT secret FROM api_secrets WHERE name = ?`, name).Scan(&secret)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get secret %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %q: %w", name, err)
	}
	return secret, nil
}

// Ensure returns the secret stored under name, storing one made by
// generate first if there is none. Callers racing on the same database,
// in this process or others, all get the bytes of the one that stored
// first; generate may run in each of them.
func (s *Secrets) Ensure(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	secret, err := s.Get(ctx, name)
	if !errors.Is(err, ErrNotFound) {
		return secret, err
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("ensure secret %q: generate: %w", name, err)
	}
	if len(fresh) == 0 {
		return nil, fmt.Errorf("ensure secret %q: generate returned an empty secret", name)
	}
	if _, err := s.db.exec(ctx, insertSecretIfAbsent[s.db.driver], name, fresh, time.Now().Unix()); err != nil {
		return nil, fmt.Errorf("ensure secret %q: store: %w", name, err)
	}
	secret, err = s.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("ensure secret %q: read back: %w", name, err)
	}
	return secret, nil
}
