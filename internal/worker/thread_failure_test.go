package worker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/damocles-go/damocles/internal/rpc"
)

func TestFailureLevel(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want FailureLevel
	}{
		{errors.New("connection refused"), Temporary},
		{permanent(errors.New("persisted but unavailable")), Permanent},
		{critical(errors.New("disk full")), Critical},
		// The manager has no state for the sector: damocles-worker aborts
		// it rather than retrying forever.
		{rpc.ErrSectorStateNotFound("miner 1000 sector 7"), Abort},
		{fmt.Errorf("AssignTicket: %w", rpc.ErrSectorStateNotFound("miner 1000 sector 7")), Abort},
	} {
		if got := failureLevel(tc.err); got != tc.want {
			t.Errorf("failureLevel(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
