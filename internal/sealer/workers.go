package sealer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// WorkerRegistry records the heartbeats of workers (Venus.WorkerPing) so
// that `util worker list` shows who is alive.
type WorkerRegistry struct {
	workers *store.Workers
	now     func() time.Time
}

// NewWorkerRegistry returns a registry backed by the store; now is injected
// so tests control time (nil means time.Now).
func NewWorkerRegistry(workers *store.Workers, now func() time.Time) *WorkerRegistry {
	if now == nil {
		now = time.Now
	}
	return &WorkerRegistry{workers: workers, now: now}
}

// WorkerPing stores a worker's heartbeat. Like damocles, it refuses an empty
// Name or Dest: the CLI reaches a worker through Dest.
func (r *WorkerRegistry) WorkerPing(ctx context.Context, info rpc.WorkerInfo) (rpc.Meta, error) {
	if info.Name == "" {
		return nil, errors.New("worker ping: Name is empty (set [worker] name in the worker config)")
	}
	if info.Dest == "" {
		return nil, fmt.Errorf("worker ping from %q: Dest is empty", info.Name)
	}
	s := info.Summary
	err := r.workers.Upsert(ctx, store.Worker{
		Name: info.Name, Dest: info.Dest, Version: info.Version,
		Threads: s.Threads, Empty: s.Empty, Paused: s.Paused, Running: s.Running, Waiting: s.Waiting, Errors: s.Errors,
		LastPing: r.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("worker ping from %q: %w", info.Name, err)
	}
	return nil, nil
}

// WorkerList returns every worker that ever pinged, by name.
func (r *WorkerRegistry) WorkerList(ctx context.Context) ([]rpc.WorkerPingInfo, error) {
	ws, err := r.workers.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	out := make([]rpc.WorkerPingInfo, 0, len(ws))
	for _, w := range ws {
		out = append(out, rpc.WorkerPingInfo{
			Info: rpc.WorkerInfo{
				Name: w.Name, Dest: w.Dest, Version: w.Version,
				Summary: rpc.WorkerThreadsSummary{Threads: w.Threads, Empty: w.Empty, Paused: w.Paused, Running: w.Running, Waiting: w.Waiting, Errors: w.Errors},
			},
			LastPing: w.LastPing.Unix(),
		})
	}
	return out, nil
}
