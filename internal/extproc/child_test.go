package extproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveHarness runs Serve in-process over pipes.
type serveHarness struct {
	in    *io.PipeWriter
	lines chan string // every line Serve writes, in order
	done  chan error  // Serve's result
}

func startServe(t *testing.T, h Handler) *serveHarness {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &serveHarness{in: inW, lines: make(chan string, 100), done: make(chan error, 1)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.done <- Serve(context.Background(), testStage, inR, outW, h)
		outW.Close()
	}()
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(s.lines)
		r := bufio.NewReader(outR)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				s.lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		inW.Close()
		for range s.lines {
		}
		<-served
		<-read
	})
	return s
}

func (s *serveHarness) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(s.in, line); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
}

func (s *serveHarness) next(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-s.lines:
		if !ok {
			t.Fatal("Serve's output ended")
		}
		return line
	case <-time.After(10 * time.Second):
		t.Fatal("no line from Serve in 10s")
	}
	return ""
}

// nextResponse reads a line that must be a well-formed response: exactly
// the keys id, err_msg and output, one of the last two null.
func (s *serveHarness) nextResponse(t *testing.T) (id uint64, errMsg string, output json.RawMessage) {
	t.Helper()
	return parseResponse(t, s.next(t))
}

func parseResponse(t *testing.T, line string) (id uint64, errMsg string, output json.RawMessage) {
	t.Helper()
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("response %q is not one newline-terminated line", line)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("response %q: %v", line, err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"err_msg", "id", "output"}) {
		t.Fatalf("response %q has keys %q; want exactly err_msg, id, output", line, keys)
	}
	if isNull(m["err_msg"]) == isNull(m["output"]) {
		t.Fatalf("response %q: want exactly one of err_msg and output non-null", line)
	}
	if err := json.Unmarshal(m["id"], &id); err != nil {
		t.Fatalf("response %q: id: %v", line, err)
	}
	if !isNull(m["err_msg"]) {
		if err := json.Unmarshal(m["err_msg"], &errMsg); err != nil {
			t.Fatalf("response %q: err_msg: %v", line, err)
		}
	}
	if !isNull(m["output"]) {
		output = m["output"]
	}
	return id, errMsg, output
}

func TestServeWritesReadyLineFirst(t *testing.T) {
	s := startServe(t, testHandler)
	if got := s.next(t); got != "window_post processor ready\n" {
		t.Fatalf("first line %q; want the ready line", got)
	}
}

func TestServeAnswersInCompletionOrder(t *testing.T) {
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	s := startServe(t, func(ctx context.Context, task json.RawMessage) (any, error) {
		if string(task) == `"slow"` {
			<-release
		}
		return task, nil
	})
	// Registered after startServe's cleanup, so it runs first: Serve
	// waits for this handler.
	t.Cleanup(unblock)
	s.next(t)
	s.send(t, `{"id":7,"task":"slow"}`+"\n")
	s.send(t, `{"id":8,"task":"quick"}`+"\n")
	if id, _, out := s.nextResponse(t); id != 8 || string(out) != `"quick"` {
		t.Fatalf("first answer id %d output %s; want the quick request 8 while 7 still runs", id, out)
	}
	unblock()
	if id, _, out := s.nextResponse(t); id != 7 || string(out) != `"slow"` {
		t.Fatalf("second answer id %d output %s; want 7 slow", id, out)
	}
}

func TestServeSkipsBadLines(t *testing.T) {
	s := startServe(t, testHandler)
	s.next(t)
	for _, bad := range []string{
		"not json\n",
		`{"task":{"n":1}}` + "\n", // no id
		`{"id":2}` + "\n",         // no task
		`{"id":-3,"task":{}}` + "\n",
		`[1,2]` + "\n",
		"\n",
	} {
		s.send(t, bad)
	}
	s.send(t, `{"id":5,"task":{"n":5}}`+"\n")
	id, errMsg, out := s.nextResponse(t)
	var o testOutput
	if err := json.Unmarshal(out, &o); err != nil || id != 5 || errMsg != "" || o.N != 5 {
		t.Fatalf("got id %d err_msg %q output %s; want the answer to request 5 only", id, errMsg, out)
	}
	s.in.Close()
	if err := <-s.done; !errors.Is(err, ErrInputClosed) {
		t.Fatalf("Serve = %v; want ErrInputClosed", err)
	}
	if line, ok := <-s.lines; ok {
		t.Fatalf("unexpected line %q: bad requests must get no answer", line)
	}
}

func TestServeTurnsFailuresIntoErrMsg(t *testing.T) {
	s := startServe(t, testHandler)
	s.next(t)
	for _, tc := range []struct {
		task    string
		wantErr string
	}{
		{`{"panic":"kaboom"}`, "processor panicked: kaboom"},
		{`{"fail":"sector 42 is gone"}`, "sector 42 is gone"},
		{`{"null_output":true}`, "processor returned no output"},
		{`"not a task object"`, "cannot unmarshal"},
	} {
		s.send(t, `{"id":1,"task":`+tc.task+"}\n")
		id, errMsg, _ := s.nextResponse(t)
		if id != 1 || !strings.Contains(errMsg, tc.wantErr) {
			t.Errorf("task %s: id %d err_msg %q; want id 1 and %q", tc.task, id, errMsg, tc.wantErr)
		}
	}
	// The process survived the panic.
	s.send(t, `{"id":2,"task":{"n":2}}`+"\n")
	if id, errMsg, _ := s.nextResponse(t); id != 2 || errMsg != "" {
		t.Fatalf("after a panic: id %d err_msg %q; want a normal answer to 2", id, errMsg)
	}
}

func TestServeReturnsAtEOFAfterInFlightRequests(t *testing.T) {
	s := startServe(t, testHandler)
	s.next(t)
	// The last request has no newline: end of input still delimits it.
	s.send(t, `{"id":1,"task":{"n":1,"sleep_ms":100}}`+"\n"+`{"id":2,"task":{"n":2}}`)
	s.in.Close()
	var got []uint64
	for line := range s.lines {
		id, errMsg, _ := parseResponse(t, line)
		if errMsg != "" {
			t.Errorf("request %d failed: %s", id, errMsg)
		}
		got = append(got, id)
	}
	if err := <-s.done; !errors.Is(err, ErrInputClosed) {
		t.Fatalf("Serve = %v; want ErrInputClosed", err)
	}
	if slices.Sort(got); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("answered %v before returning; want 1 and 2", got)
	}
}
