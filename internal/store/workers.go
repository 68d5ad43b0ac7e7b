package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Worker is the last heartbeat of one worker: where to reach it and how
// its sealing threads were doing.
type Worker struct {
	Name    string
	Dest    string
	Version string

	Threads, Empty, Paused, Running, Waiting, Errors uint

	// LastPing is stored to the second.
	LastPing time.Time
}

// Workers is the repository of worker heartbeats (table workers).
type Workers struct {
	db *DB
}

const workerColumns = `name, dest, version, threads, empty_threads, paused, running, waiting, errors, last_ping`

// upsertWorker writes a whole row in one statement, so concurrent pings of
// the same worker never fail on the primary key.
var upsertWorker = map[string]string{
	DriverSQLite:   upsertWorkerOnConflict,
	DriverPostgres: upsertWorkerOnConflict,
	// VALUES() is deprecated in MySQL 8.0.20 in favour of a row alias,
	// which MariaDB does not understand.
	DriverMySQL: `INSERT INTO workers (` + workerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE dest = VALUES(dest), version = VALUES(version),
			threads = VALUES(threads), empty_threads = VALUES(empty_threads), paused = VALUES(paused),
			running = VALUES(running), waiting = VALUES(waiting), errors = VALUES(errors),
			last_ping = VALUES(last_ping)`,
}

const upsertWorkerOnConflict = `INSERT INTO workers (` + workerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET dest = excluded.dest, version = excluded.version,
		threads = excluded.threads, empty_threads = excluded.empty_threads, paused = excluded.paused,
		running = excluded.running, waiting = excluded.waiting, errors = excluded.errors,
		last_ping = excluded.last_ping`

// Upsert stores w, replacing the row of the same name.
func (r *Workers) Upsert(ctx context.Context, w Worker) error {
	if w.Name == "" {
		return errors.New("upsert worker: empty name")
	}
	_, err := r.db.exec(ctx, upsertWorker[r.db.driver],
		w.Name, w.Dest, w.Version,
		w.Threads, w.Empty, w.Paused, w.Running, w.Waiting, w.Errors,
		w.LastPing.Unix())
	if err != nil {
		return fmt.Errorf("upsert worker %q: %w", w.Name, err)
	}
	return nil
}

// Get returns the worker called name, or an error wrapping ErrNotFound.
func (r *Workers) Get(ctx context.Context, name string) (Worker, error) {
	w, err := scanWorker(r.db.queryRow(ctx, `SELECT `+workerColumns+` FROM workers WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Worker{}, fmt.Errorf("get worker %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Worker{}, fmt.Errorf("get worker %q: %w", name, err)
	}
	return w, nil
}

// List returns every worker, ordered by name (bytewise).
func (r *Workers) List(ctx context.Context) ([]Worker, error) {
	rows, err := r.db.query(ctx, `SELECT `+workerColumns+` FROM workers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer rows.Close()
	var ws []Worker
	for rows.Next() {
		w, err := scanWorker(rows)
		if err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return ws, nil
}

func scanWorker(row interface{ Scan(...any) error }) (Worker, error) {
	var (
		w        Worker
		lastPing int64
	)
	err := row.Scan(&w.Name, &w.Dest, &w.Version,
		&w.Threads, &w.Empty, &w.Paused, &w.Running, &w.Waiting, &w.Errors,
		&lastPing)
	if err != nil {
		return Worker{}, err
	}
	w.LastPing = time.Unix(lastPing, 0)
	return w, nil
}
