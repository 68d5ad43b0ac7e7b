package stage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	logging "github.com/ipfs/go-log/v2"

	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/proofs"
)

var log = logging.Logger("stage")

// Stage names: the argument of "damocles-worker processor <stage>" and the
// first word of the child's ready line (PROTOCOLS §4.3).
const (
	WindowPoSt  = "window_post"
	WinningPoSt = "winning_post"
	PC1         = "pc1"
	PC2         = "pc2"
	C2          = "c2"
)

// Stages lists the stages this package implements, in the protocol's order.
func Stages() []string {
	return []string{WindowPoSt, WinningPoSt, PC1, PC2, C2}
}

// Handlers returns the child-side handler of every stage in Stages, each
// running its tasks on engine. engine must be safe for concurrent calls:
// extproc.Serve runs every request on its own goroutine.
func Handlers(engine proofs.Engine) map[string]extproc.Handler {
	h := handlers{engine: engine}
	return map[string]extproc.Handler{
		WindowPoSt:  handle(WindowPoSt, h.windowPoSt),
		WinningPoSt: handle(WinningPoSt, h.winningPoSt),
		PC1:         handle(PC1, h.pc1),
		PC2:         handle(PC2, h.pc2),
		C2:          handle(C2, h.c2),
	}
}

// handlers runs the stages on one engine.
type handlers struct {
	engine proofs.Engine
}

// handle adapts a typed stage function to an extproc.Handler: it decodes
// the task, prefixes every error with the stage (the parent passes err_msg
// on verbatim, so it must say where it came from) and logs each task's
// outcome for the operator watching the child's stderr.
func handle[T, O any](stage string, run func(context.Context, T) (O, error)) extproc.Handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var task T
		if err := json.Unmarshal(raw, &task); err != nil {
			log.Warnw("task undecodable", "proc", stage, "err", err)
			return nil, fmt.Errorf("%s: decode task: %w", stage, err)
		}
		start := time.Now()
		out, err := run(ctx, task)
		elapsed := time.Since(start).Round(time.Millisecond).String()
		if err != nil {
			log.Warnw("task failed", "proc", stage, "elapsed", elapsed, "err", err)
			return nil, fmt.Errorf("%s: %w", stage, err)
		}
		log.Infow("task done", "proc", stage, "elapsed", elapsed)
		return out, nil
	}
}

// Doer sends one task to a processor and decodes its output into out. An
// *extproc.Pool is one.
type Doer interface {
	Do(ctx context.Context, task any, out any) error
}

// minerOfProverID is the miner actor id whose prover id (§4.6) id is. Only
// the canonical form is accepted: the engine takes an actor id, and a
// prover id it could not round-trip would seal under another identity.
func minerOfProverID(id [32]byte) (abi.ActorID, error) {
	miner, n := binary.Uvarint(id[:])
	if n <= 0 || proofs.ProverID(abi.ActorID(miner)) != id {
		return 0, fmt.Errorf("prover_id %v is not a miner actor id in LEB128, zero padded to 32 bytes", id)
	}
	return abi.ActorID(miner), nil
}
