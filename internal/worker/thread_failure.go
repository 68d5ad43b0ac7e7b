package worker

import (
	"errors"
	"fmt"

	"github.com/damocles-go/damocles/internal/rpc"
)

// FailureLevel is how bad a failed step is, and so what the thread does
// next; the names are those ReportState carries.
type FailureLevel string

const (
	// Temporary failures are retried after recover_interval, up to
	// max_retries times; then they count as Permanent.
	Temporary FailureLevel = "Temporary"
	// Permanent failures pause the thread until an operator resumes it.
	Permanent FailureLevel = "Permanent"
	// Critical failures are local problems (disk, state file); they pause
	// the thread like Permanent ones.
	Critical FailureLevel = "Critical"
	// Abort abandons the sector: ReportAborted, local files removed, the
	// thread goes back to idle.
	Abort FailureLevel = "Abort"
)

// stepFailure is a step's error with its level.
type stepFailure struct {
	level FailureLevel
	err   error
}

func (f *stepFailure) Error() string { return f.err.Error() }
func (f *stepFailure) Unwrap() error { return f.err }

func failf(level FailureLevel, format string, args ...any) error {
	return &stepFailure{level: level, err: fmt.Errorf(format, args...)}
}

func temporary(err error) error { return &stepFailure{level: Temporary, err: err} }
func permanent(err error) error { return &stepFailure{level: Permanent, err: err} }
func critical(err error) error  { return &stepFailure{level: Critical, err: err} }

// failureLevel is the level of a step's error. The manager's code 11001
// (it has no state for the sector) abandons the sector, as damocles-worker's
// call_rpc does; other errors no step classified (RPC transport errors,
// mostly) are Temporary.
func failureLevel(err error) FailureLevel {
	if rpc.IsSectorStateNotFound(err) {
		return Abort
	}
	var f *stepFailure
	if errors.As(err, &f) {
		return f.level
	}
	return Temporary
}
