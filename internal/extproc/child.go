package extproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	logging "github.com/ipfs/go-log/v2"
)

// childLog is the child side's logger. A child's stdout belongs to the
// protocol, so its logs must go to stderr, which the parent inherits; the
// binaries' logs.Setup does that.
var childLog = logging.Logger("processor")

// ErrInputClosed is what Serve returns when its input ends, the parent's
// way of telling a child to stop. The child should then exit non-zero, as
// damocles's processors do.
var ErrInputClosed = errors.New("extproc: request input closed")

// Handler computes one task. task is the request's "task" value, untouched;
// the returned value is marshalled as the response's "output" and must not
// marshal to null. ctx ends when Serve's ctx does: long tasks must honour it,
// because Serve waits for every handler before it returns.
type Handler func(ctx context.Context, task json.RawMessage) (any, error)

// Serve is the child side of the protocol for one stage: it writes the
// ready line to out, then reads request lines from in and runs each on its
// own goroutine as soon as it is read, writing every response as one whole
// line as it completes, so answers leave in completion order, not request
// order.
//
// Nothing but protocol lines is written to out. A request line that does
// not parse is logged and skipped (there is no id to answer). A handler
// error or panic becomes the response's err_msg.
//
// Serve returns when in ends: ErrInputClosed at EOF, the read error
// otherwise, after the requests already read are answered. There is no
// cancel message in the protocol; ctx only reaches the handlers.
func Serve(ctx context.Context, stage string, in io.Reader, out io.Writer, handle Handler) error {
	w := &lineWriter{w: out}
	w.write([]byte(ReadyLine(stage)))
	if w.err != nil {
		return fmt.Errorf("%s processor: write ready line: %w", stage, w.err)
	}
	childLog.Infow("ready", "pid", os.Getpid(), "ppid", os.Getppid(), "proc", stage)

	var handlers sync.WaitGroup
	r := bufio.NewReaderSize(in, ioBufferSize)
	var readErr error
	for readErr == nil {
		var line []byte
		line, readErr = r.ReadBytes('\n')
		// A last line without its newline is still a request: the Rust
		// child reads lines the same way.
		if len(line) == 0 || (len(line) == 1 && line[0] == '\n') {
			continue
		}
		var req wireRequest
		if err := json.Unmarshal(line, &req); err != nil || req.ID == nil || req.Task == nil {
			if err == nil {
				err = errors.New(`want an object with "id" and "task"`)
			}
			childLog.Warnw("skip unparsable request line", "proc", stage, "line", excerpt(line), "err", err)
			continue
		}
		id, task := *req.ID, req.Task
		handlers.Go(func() {
			w.respond(id, runHandler(ctx, stage, id, handle, task))
		})
	}
	handlers.Wait()

	var err error
	if errors.Is(readErr, io.EOF) {
		err = ErrInputClosed
	} else {
		err = fmt.Errorf("%s processor: read requests: %w", stage, readErr)
	}
	if w.err != nil {
		err = errors.Join(err, fmt.Errorf("%s processor: write responses: %w", stage, w.err))
	}
	return err
}

// result is one finished task, on either side of the pipe: exactly one of
// output and err is set.
type result struct {
	output json.RawMessage
	err    error
}

// runHandler runs one task and turns everything that can go wrong into an
// error, panics included: one bad task must not take down the others that
// share the process.
func runHandler(ctx context.Context, stage string, id uint64, handle Handler, task json.RawMessage) (res result) {
	defer func() {
		if v := recover(); v != nil {
			childLog.Errorw("task panicked", "proc", stage, "id", id, "panic", v, "stack", string(debug.Stack()))
			res = result{err: fmt.Errorf("processor panicked: %v", v)}
		}
	}()
	v, err := handle(ctx, task)
	if err != nil {
		return result{err: err}
	}
	output, err := json.Marshal(v)
	if err != nil {
		return result{err: fmt.Errorf("encode output: %w", err)}
	}
	if isNull(output) {
		// Exactly one of err_msg and output is non-null on the wire.
		return result{err: errors.New("processor returned no output")}
	}
	return result{output: output}
}

// lineWriter writes whole lines under a lock: concurrent handlers must
// never interleave their bytes.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error // the first write error; later lines are dropped
}

func (lw *lineWriter) respond(id uint64, res result) {
	resp := wireResponse{ID: &id, Output: res.output}
	if res.err != nil {
		msg := res.err.Error()
		resp.ErrMsg, resp.Output = &msg, nil
	}
	line, err := json.Marshal(resp)
	if err != nil {
		// Unreachable: the output was produced by json.Marshal.
		panic(fmt.Sprintf("extproc: encode response %d: %v", id, err))
	}
	lw.write(append(line, '\n'))
}

func (lw *lineWriter) write(line []byte) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return
	}
	if _, err := lw.w.Write(line); err != nil {
		lw.err = err
		childLog.Errorw("write to parent failed; further responses are dropped", "err", err)
	}
}
