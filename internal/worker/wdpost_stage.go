package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
)

// WindowPoStStage proves the wdpost threads' tasks: in external
// window_post processors when the config has [[processors.window_post]]
// entries, else inside the worker, through the very handler those
// processors run. Close stops the processors.
type WindowPoStStage struct {
	doer stage.Doer
	pool *extproc.Pool
}

var _ WindowPoSter = (*WindowPoStStage)(nil)

// OpenWindowPoStStage starts the window_post processors the config asks
// for (children built as for the sealing stages: no bin runs selfBin
// with "processor window_post"); without any, tasks run on engine. ctx
// bounds only the processors' start-up.
func OpenWindowPoStStage(ctx context.Context, procs *config.Processors, engine proofs.Engine, selfBin string) (*WindowPoStStage, error) {
	entries := procs.Stage(stage.WindowPoSt)
	if len(entries) == 0 {
		return &WindowPoStStage{doer: handlerDoer{handle: stage.Handlers(engine)[stage.WindowPoSt]}}, nil
	}
	pool, err := extproc.NewPool(ctx, extproc.PoolConfig{Stage: stage.WindowPoSt, Children: processorChildren(stage.WindowPoSt, entries, selfBin)})
	if err != nil {
		return nil, fmt.Errorf("processors.%s: %w", stage.WindowPoSt, err)
	}
	return &WindowPoStStage{doer: pool, pool: pool}, nil
}

// WindowPoSt proves task. Faulty sectors come back in the output, with no
// proofs, and no error: the job succeeded in finding them (§4.4).
func (s *WindowPoStStage) WindowPoSt(ctx context.Context, task stage.PoStTask) (stage.WindowPoStOutput, error) {
	out, err := stage.CallWindowPoSt(ctx, s.doer, task)
	var faults *stage.FaultsError
	if errors.As(err, &faults) {
		return stage.WindowPoStOutput{Proofs: [][]byte{}, Faults: out.Faults}, nil
	}
	return out, err
}

// Close stops the processors, if any, and waits for them.
func (s *WindowPoStStage) Close() error {
	if s.pool == nil {
		return nil
	}
	return s.pool.Close()
}

// handlerDoer runs a processor handler in process, with the task and the
// output crossing JSON as they would between processes, so in-process and
// external proving read the same task the same way.
type handlerDoer struct {
	handle extproc.Handler
}

func (d handlerDoer) Do(ctx context.Context, task any, out any) error {
	raw, err := json.Marshal(task)
	if err != nil {
		return err
	}
	res, err := d.handle(ctx, raw)
	if err != nil {
		return err
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}
