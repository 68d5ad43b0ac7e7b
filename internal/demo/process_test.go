package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The child process tests run /bin/sh: the process boundary is what they
// test.

func startShell(t *testing.T, script string) *child {
	t.Helper()
	c, err := startChild("/bin/sh", []string{"-c", script}, filepath.Join(t.TempDir(), "sh.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.stop(time.Millisecond) })
	return c
}

func TestChildStopsOnSIGTERM(t *testing.T) {
	c := startShell(t, "echo started; exec sleep 60")
	began := time.Now()
	if err := c.stop(10 * time.Second); err != nil {
		t.Errorf("stop: %v, want a clean SIGTERM exit", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("stop took %s: SIGTERM was not enough", d)
	}
}

func TestChildKilledWhenItIgnoresSIGTERM(t *testing.T) {
	// exec keeps the ignored SIGTERM in sleep.
	c := startShell(t, "trap '' TERM; exec sleep 60")
	time.Sleep(100 * time.Millisecond) // let the trap be set
	began := time.Now()
	err := c.stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("stop: %v, want a kill after the grace", err)
	}
	if d := time.Since(began); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("stop took %s, want the 300ms grace and a kill", d)
	}
	select {
	case <-c.exited():
	default:
		t.Error("stop returned before the process exited")
	}
}

func TestChildFailureQuotesItsLog(t *testing.T) {
	c := startShell(t, "echo 'line one'; echo 'fatal: no chain' >&2; exit 3")
	select {
	case <-c.exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not exit")
	}
	msg := c.failure().Error()
	if !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, "fatal: no chain") || !strings.Contains(msg, c.log) {
		t.Errorf("failure() = %q", msg)
	}
	// Stopping a process that already exited reports nothing more.
	if err := c.stop(time.Second); err != nil {
		t.Errorf("stop after exit: %v", err)
	}
}

func TestRunTool(t *testing.T) {
	log := filepath.Join(t.TempDir(), "tool.log")
	out, err := runTool(context.Background(), "/bin/sh", []string{"-c", "echo token; echo noise >&2"}, log)
	if err != nil || out != "token\n" {
		t.Fatalf("runTool = %q, %v", out, err)
	}
	if data, _ := os.ReadFile(log); string(data) != "noise\n" {
		t.Errorf("log = %q, want stderr only", data)
	}
	_, err = runTool(context.Background(), "/bin/sh", []string{"-c", "echo 'cannot init' >&2; exit 1"}, log)
	if err == nil || !strings.Contains(err.Error(), "cannot init") || !strings.Contains(err.Error(), log) {
		t.Errorf("failing tool: %v", err)
	}
}
