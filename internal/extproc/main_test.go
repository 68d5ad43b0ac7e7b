package extproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// childModeEnv makes the test binary act as a child process: tests run
// real processes over real pipes, using this very binary.
const childModeEnv = "EXTPROC_TEST_CHILD"

const testStage = "window_post"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		runTestChild(mode)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// runTestChild is the test binary as a child: a real processor ("serve"),
// or one that fails the handshake in a given way.
func runTestChild(mode string) {
	switch mode {
	case "serve":
		err := Serve(context.Background(), testStage, os.Stdin, os.Stdout, testHandler)
		fmt.Fprintln(os.Stderr, "test child:", err)
	case "raw":
		serveRaw()
	case "silent":
		time.Sleep(time.Hour)
	case "never-ready":
		os.Stdout.WriteString("loading")
		time.Sleep(time.Hour)
	case "wrong-ready":
		os.Stdout.WriteString(testStage + " processor ready \n")
		time.Sleep(time.Hour)
	case "exit-early":
		os.Stdout.WriteString("no GPU found")
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "test child: unknown mode", mode)
	}
}

// testTask is what the test children compute.
type testTask struct {
	N int `json:"n"`
	// SleepMS makes the task take that long.
	SleepMS int `json:"sleep_ms,omitempty"`
	// WaitActive holds the task until that many tasks run in the child,
	// so a test knows its other requests have reached the child.
	WaitActive int `json:"wait_active,omitempty"`
	// Crash makes the child exit with status 3 (after WaitActive).
	Crash bool `json:"crash,omitempty"`
	// Panic and Fail make the handler panic or fail with that text.
	Panic string `json:"panic,omitempty"`
	Fail  string `json:"fail,omitempty"`
	// NullOutput makes the handler return nil.
	NullOutput bool `json:"null_output,omitempty"`
	// Env names an environment variable to report.
	Env string `json:"env,omitempty"`
}

type testOutput struct {
	N   int `json:"n"`
	Pid int `json:"pid"`
	// Active is how many tasks ran in the child when this one started,
	// itself included.
	Active int64 `json:"active"`
	// CPUs is the child's CPU affinity.
	CPUs []int `json:"cpus"`
	// Env is the value of the task's Env variable.
	Env string `json:"env"`
}

var active atomic.Int64

func testHandler(ctx context.Context, raw json.RawMessage) (any, error) {
	var task testTask
	if err := json.Unmarshal(raw, &task); err != nil {
		return nil, err
	}
	n := active.Add(1)
	defer active.Add(-1)
	for active.Load() < int64(task.WaitActive) {
		if err := sleep(ctx, time.Millisecond); err != nil {
			return nil, err
		}
	}
	switch {
	case task.Crash:
		os.Exit(3)
	case task.Panic != "":
		panic(task.Panic)
	case task.Fail != "":
		return nil, errors.New(task.Fail)
	case task.NullOutput:
		return nil, nil
	}
	if err := sleep(ctx, time.Duration(task.SleepMS)*time.Millisecond); err != nil {
		return nil, err
	}
	return testOutput{N: task.N, Pid: os.Getpid(), Active: n, CPUs: affinity(), Env: os.Getenv(task.Env)}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// serveRaw speaks the protocol by hand to show the parent a bad line and
// an unknown id before every real answer, and a response with neither
// err_msg nor output for n < 0.
func serveRaw() {
	os.Stdout.WriteString(ReadyLine(testStage))
	dec := json.NewDecoder(os.Stdin)
	for {
		var req struct {
			ID   uint64   `json:"id"`
			Task testTask `json:"task"`
		}
		if err := dec.Decode(&req); err != nil {
			return
		}
		fmt.Fprintf(os.Stdout, "this is not json\n{\"id\":%d,\"err_msg\":null,\"output\":{\"n\":-1}}\n", req.ID+1000)
		if req.Task.N < 0 {
			fmt.Fprintf(os.Stdout, "{\"id\":%d,\"err_msg\":null,\"output\":null}\n", req.ID)
			continue
		}
		fmt.Fprintf(os.Stdout, "{\"id\":%d,\"err_msg\":null,\"output\":{\"n\":%d,\"pid\":%d}}\n", req.ID, req.Task.N, os.Getpid())
	}
}
