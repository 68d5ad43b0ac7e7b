package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StopGraceDefault is how long a child process has to exit after SIGTERM
// before it gets SIGKILL.
const StopGraceDefault = 5 * time.Second

// logTailLines is how much of a log an error quotes.
const logTailLines = 20

// child is a long-running process the demo started: the manager or the
// worker. Its stdout and stderr go to its log file.
type child struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	// err is how it exited, set before done is closed.
	err error
}

// startChild starts bin with args, appending its output to logPath. A
// goroutine waits for it; stop, or its exit, ends that goroutine.
func startChild(bin string, args []string, logPath string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the log of %s: %w", filepath.Base(bin), err)
	}
	c := &child{name: filepath.Base(bin), log: logPath, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		f.Close()
		close(c.done)
	}()
	return c, nil
}

// pid is the process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited is closed when the process has exited.
func (c *child) exited() <-chan struct{} { return c.done }

// failure describes an exit nobody asked for, with the end of its log.
func (c *child) failure() error {
	return fmt.Errorf("%s (pid %d) exited unexpectedly: %v; the end of %s:\n%s", c.name, c.pid(), c.err, c.log, logTail(c.log))
}

// stop sends SIGTERM, then SIGKILL if the process is still there after
// grace, and waits for it to exit. It returns how the process exited: nil
// for a clean exit or SIGTERM's, and for a process that had exited before
// (failure tells about that).
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		if isSignal(c.err, syscall.SIGTERM) {
			return nil
		}
		return c.err
	case <-t.C:
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	return fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM: killed", c.name, c.pid(), grace)
}

func isSignal(err error, sig syscall.Signal) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// runTool runs bin with args to completion, appending its stderr to
// logPath, and returns its stdout. An error quotes the end of the log.
func runTool(ctx context.Context, bin string, args []string, logPath string) (string, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("open the log of %s: %w", filepath.Base(bin), err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, f
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w; the end of %s:\n%s", filepath.Base(bin), strings.Join(args, " "), err, logPath, logTail(logPath))
	}
	return out.String(), nil
}

// logTail is the last lines of a log file, or why it cannot be read.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read it: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
