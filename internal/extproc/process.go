package extproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"
)

// proc is one running child process: its pipes, its two loops, and the
// requests it has in flight. A restart makes a new proc.
type proc struct {
	pool   *Pool
	child  *child
	cmd    *exec.Cmd
	pid    int
	stdin  io.WriteCloser
	stdout *bufio.Reader

	// ready receives the handshake's outcome, once, from respLoop.
	ready chan readyResult
	// reqs hands request lines to reqLoop. Unbuffered: a line taken by
	// reqLoop is on its way to the child; one not taken was never sent.
	reqs chan []byte

	// inflight counts the slots taken on this process. Guarded by Pool.mu.
	inflight int

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan result // nil once the process is dead
	// killReason is why the pool killed the process, if it did.
	killReason string

	// dead is closed once the process has been waited for and its pending
	// requests failed; deathErr is set before.
	dead     chan struct{}
	deathErr *ExitError
}

type readyResult struct {
	line []byte // what the child printed first, up to a newline
	err  error  // the read error, if the line is incomplete
}

// startProc starts one process of c and waits for its ready line. On any
// failure the process is dead when startProc returns.
func (p *Pool) startProc(ctx context.Context, c *child) (*proc, error) {
	cmd := exec.Command(c.cfg.Bin, c.cfg.Args...)
	// exec keeps the last value of a duplicated key, so Envs win.
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(c.cfg.Envs)) {
		cmd.Env = append(cmd.Env, k+"="+c.cfg.Envs[k])
	}
	// The child's logs are ours: operators read both in one place.
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s processor %s: %w", p.stage, c.command, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s processor %s: %w", p.stage, c.command, err)
	}
	notPinned, err := startPinned(cmd, c.cpus)
	if err != nil {
		return nil, fmt.Errorf("start %s processor %s: %w", p.stage, c.command, err)
	}
	if notPinned != nil && !c.cpusetWarned {
		c.cpusetWarned = true
		log.Warnw("cpuset not applied: the processor may run on any CPU", "stage", p.stage, "bin", c.cfg.Bin,
			"cpuset", c.cfg.Cpuset, "why", notPinned.Error())
	}

	pr := &proc{
		pool:    p,
		child:   c,
		cmd:     cmd,
		pid:     cmd.Process.Pid,
		stdin:   stdin,
		stdout:  bufio.NewReaderSize(stdout, ioBufferSize),
		ready:   make(chan readyResult, 1),
		reqs:    make(chan []byte),
		pending: make(map[uint64]chan result),
		dead:    make(chan struct{}),
	}
	p.wg.Go(pr.respLoop)
	p.wg.Go(pr.reqLoop)

	timeout := c.cfg.ReadyTimeout
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var r readyResult
	select {
	case r = <-pr.ready:
		if r.err == nil && string(r.line) == ReadyLine(p.stage) {
			log.Infow("ready", "pid", pr.pid, "ppid", selfPid, "stage", p.stage, "bin", c.cfg.Bin)
			return pr, nil
		}
		<-pr.dead
	case <-timer.C:
		pr.kill("not ready in time")
		r = <-pr.ready
		<-pr.dead
		return nil, fmt.Errorf("child %s (pid %d) did not print %q within %v%s; check that it serves stage %s and starts in time",
			c.command, pr.pid, p.stage+" processor ready", timeout, printed(r.line), p.stage)
	case <-ctx.Done():
		pr.kill("start-up cancelled")
		<-pr.ready
		<-pr.dead
		return nil, fmt.Errorf("child %s (pid %d): start-up cancelled before it was ready: %w", c.command, pr.pid, ctx.Err())
	}
	if errors.Is(r.err, io.EOF) {
		return nil, fmt.Errorf("child %s (pid %d) exited (%s) before printing %q%s",
			c.command, pr.pid, pr.deathErr.State, p.stage+" processor ready", printed(r.line))
	}
	return nil, fmt.Errorf("child %s (pid %d) printed %s, not %q: it is not a %s processor, or a broken one",
		c.command, pr.pid, quoted(r.line), ReadyLine(p.stage), p.stage)
}

// printed describes what a child wrote before its handshake failed.
func printed(line []byte) string {
	if len(line) == 0 {
		return "; it printed nothing"
	}
	return "; it printed " + quoted(line) + " instead"
}

// quoted quotes the start of a line exactly, newline and spaces included:
// the ready check is byte for byte, so the error must show every byte.
func quoted(line []byte) string {
	const limit = 256
	if len(line) > limit {
		return fmt.Sprintf("%q...", line[:limit])
	}
	return fmt.Sprintf("%q", line)
}

// kill ends the process; respLoop then notices and cleans up. The first
// reason is kept for the errors of the requests it fails.
func (pr *proc) kill(reason string) {
	pr.mu.Lock()
	if pr.killReason == "" {
		pr.killReason = reason
	}
	pr.mu.Unlock()
	// An error means it is already gone, which is what we want.
	_ = pr.cmd.Process.Kill()
}

// respLoop reads the ready line, then responses until stdout ends, then
// buries the process: it is the only reader of stdout and the only caller
// of Wait, which must follow the last read.
func (pr *proc) respLoop() {
	log.Infow("response loop start", "pid", pr.pid, "ppid", selfPid, "loop", "resp", "stage", pr.pool.stage)
	// ReadSlice bounds the handshake to one buffer: a child that prints
	// megabytes without a newline is not ready, whatever it says.
	line, err := pr.stdout.ReadSlice('\n')
	pr.ready <- readyResult{line: slices.Clone(line), err: err}
	if err == nil && string(line) == ReadyLine(pr.pool.stage) {
		for {
			line, err := pr.stdout.ReadBytes('\n')
			if len(line) > 0 {
				pr.handleResponse(line)
			}
			if err != nil {
				break
			}
		}
	}
	pr.bury()
}

// handleResponse delivers one response line to the request waiting for it.
func (pr *proc) handleResponse(line []byte) {
	var resp wireResponse
	if err := json.Unmarshal(line, &resp); err != nil || resp.ID == nil {
		if err == nil {
			err = errors.New(`no "id"`)
		}
		log.Warnw("skip unparsable response line", "stage", pr.pool.stage, "pid", pr.pid, "line", excerpt(line), "err", err)
		return
	}
	id := *resp.ID
	pr.mu.Lock()
	ch, ok := pr.pending[id]
	delete(pr.pending, id)
	pr.mu.Unlock()
	if !ok {
		log.Warnw("drop response with unknown id", "stage", pr.pool.stage, "pid", pr.pid, "id", id)
		return
	}
	// The slot is free before the caller hears back, so a caller that
	// sends its next request at once finds it free.
	pr.pool.release(pr)
	var res result
	switch {
	case resp.ErrMsg != nil:
		res.err = &TaskError{Stage: pr.pool.stage, Command: pr.child.command, Pid: pr.pid, Msg: *resp.ErrMsg}
	case isNull(resp.Output):
		res.err = fmt.Errorf("%s processor %s (pid %d) answered request %d with neither err_msg nor output",
			pr.pool.stage, pr.child.command, pr.pid, id)
	default:
		res.output = resp.Output
	}
	// Buffered: a caller that gave up is not waited for.
	ch <- res
}

// bury waits for the process and fails every request it had in flight.
func (pr *proc) bury() {
	// Stdout can end with the process alive (it closed it); such a child
	// is useless, and Wait would block on it.
	_ = pr.cmd.Process.Kill()
	_ = pr.cmd.Wait()
	state := "unknown exit status"
	if pr.cmd.ProcessState != nil {
		state = pr.cmd.ProcessState.String()
	}
	p := pr.pool
	p.mu.Lock()
	if pr.child.cur == pr {
		// Its slots are no longer offered.
		pr.child.cur = nil
	}
	closed := p.closed
	p.mu.Unlock()

	pr.mu.Lock()
	pending := pr.pending
	pr.pending = nil
	pr.deathErr = &ExitError{
		Stage:   p.stage,
		Command: pr.child.command,
		Pid:     pr.pid,
		State:   state,
		Reason:  pr.killReason,
		closed:  closed,
	}
	pr.mu.Unlock()
	close(pr.dead)
	for _, ch := range pending {
		p.release(pr)
		ch <- result{err: pr.deathErr}
	}
}

// reqLoop writes request lines to the child's stdin, one at a time.
func (pr *proc) reqLoop() {
	log.Infow("request loop start", "pid", pr.pid, "ppid", selfPid, "loop", "req", "stage", pr.pool.stage)
	w := bufio.NewWriterSize(pr.stdin, ioBufferSize)
	for {
		select {
		case <-pr.dead:
			return
		case line := <-pr.reqs:
			_, err := w.Write(line)
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				// The request is lost with the process; bury tells its caller.
				pr.kill("write request: " + err.Error())
				return
			}
		}
	}
}

// call sends one request on a slot taken by acquire and waits for the
// answer. sent reports whether the request reached reqLoop; a request that
// did not was not lost and can go elsewhere (err is nil then, unless ctx
// ended).
func (pr *proc) call(ctx context.Context, task []byte) (res result, sent bool, err error) {
	pr.mu.Lock()
	if pr.pending == nil {
		pr.mu.Unlock()
		pr.pool.release(pr)
		return result{}, false, nil
	}
	pr.nextID++
	id := pr.nextID
	// Buffered, so neither handleResponse nor bury waits for a caller.
	ch := make(chan result, 1)
	pr.pending[id] = ch
	pr.mu.Unlock()

	select {
	case pr.reqs <- requestLine(id, task):
	case <-ctx.Done():
		pr.forget(id)
		return result{}, false, ctx.Err()
	case <-pr.dead:
		pr.forget(id)
		return result{}, false, nil
	}
	select {
	case res = <-ch:
		return res, true, nil
	case <-ctx.Done():
		return result{}, true, ctx.Err()
	}
}

// forget drops a request that was never sent, giving back its slot unless
// bury already did.
func (pr *proc) forget(id uint64) {
	pr.mu.Lock()
	_, ok := pr.pending[id]
	delete(pr.pending, id)
	pr.mu.Unlock()
	if ok {
		pr.pool.release(pr)
	}
}
