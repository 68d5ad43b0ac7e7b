package extproc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testChild runs this test binary as a child in the given mode.
func testChild(t *testing.T, mode string) ChildConfig {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return ChildConfig{Bin: bin, Envs: map[string]string{childModeEnv: mode}, ReadyTimeout: 20 * time.Second}
}

func serveChildren(t *testing.T, n, concurrent int) []ChildConfig {
	t.Helper()
	var cs []ChildConfig
	for range n {
		c := testChild(t, "serve")
		c.Concurrent = concurrent
		cs = append(cs, c)
	}
	return cs
}

// newTestPool starts a pool that the test's end closes, checking that
// nothing is left running.
func newTestPool(t *testing.T, cfg PoolConfig) *Pool {
	t.Helper()
	if cfg.Stage == "" {
		cfg.Stage = testStage
	}
	if cfg.RestartBackoffMin == 0 {
		cfg.RestartBackoffMin = 10 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewPool(ctx, cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkNoChildren(t)
	})
	return p
}

// checkNoChildren fails the test if this process has child processes,
// dead or alive: every test leaves none behind.
func checkNoChildren(t *testing.T) {
	t.Helper()
	files, _ := filepath.Glob("/proc/self/task/*/children")
	if len(files) == 0 {
		t.Log("no /proc/self/task/*/children here: child processes not checked")
		return
	}
	var pids []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			pids = append(pids, strings.Fields(string(b))...)
		}
	}
	if len(pids) > 0 {
		t.Errorf("child processes left behind: %v", pids)
	}
}

func call(ctx context.Context, p *Pool, task testTask) (testOutput, error) {
	var out testOutput
	err := p.Do(ctx, task, &out)
	return out, err
}

func mustCall(t *testing.T, p *Pool, task testTask) testOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := call(ctx, p, task)
	if err != nil {
		t.Fatalf("task %+v: %v", task, err)
	}
	if out.N != task.N {
		t.Fatalf("task %d answered with n=%d", task.N, out.N)
	}
	return out
}

// pids returns each child's current pid, 0 while it is down.
func (p *Pool) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, len(p.children))
	for i, c := range p.children {
		if c.cur != nil {
			pids[i] = c.cur.pid
		}
	}
	return pids
}

// slotsInUse counts the taken slots of the ready children.
func (p *Pool) slotsInUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.children {
		if c.cur != nil {
			n += c.cur.inflight
		}
	}
	return n
}

// lastID is the last request id given out by child i's current process.
func (p *Pool) lastID(i int) uint64 {
	p.mu.Lock()
	pr := p.children[i].cur
	p.mu.Unlock()
	if pr == nil {
		return 0
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.nextID
}

// waitFor polls cond; the conditions polled change in milliseconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// asyncCall runs a call in the background; the test's end waits for it.
func asyncCall(t *testing.T, ctx context.Context, p *Pool, task testTask) <-chan callResult {
	t.Helper()
	ch := make(chan callResult, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		out, err := call(ctx, p, task)
		ch <- callResult{out, err}
	})
	t.Cleanup(wg.Wait)
	return ch
}

type callResult struct {
	out testOutput
	err error
}

func TestPoolRoundTripOutOfOrder(t *testing.T) {
	p := newTestPool(t, PoolConfig{Children: serveChildren(t, 1, 4)})

	// Request 1 sleeps; request 2 returns once both run in the child, so
	// the child answers 2 before 1 and the pool must match them by id.
	slow := asyncCall(t, context.Background(), p, testTask{N: 1, SleepMS: 1000})
	waitFor(t, "request 1 to get its id", func() bool { return p.lastID(0) == 1 })
	mustCall(t, p, testTask{N: 2, WaitActive: 2})
	select {
	case r := <-slow:
		t.Fatalf("request 1 finished (%+v) before request 2", r)
	default:
	}
	if r := <-slow; r.err != nil || r.out.N != 1 {
		t.Fatalf("request 1: %+v", r)
	}

	// Many callers share the 4 slots; each gets its own answer back.
	const callers = 64
	outs := make([]testOutput, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			outs[i], errs[i] = call(ctx, p, testTask{N: i, SleepMS: 5 + i%16})
		})
	}
	wg.Wait()
	var maxActive int64
	for i := range callers {
		if errs[i] != nil || outs[i].N != i {
			t.Errorf("caller %d got %+v, %v", i, outs[i], errs[i])
		}
		maxActive = max(maxActive, outs[i].Active)
	}
	if maxActive != 4 {
		t.Errorf("at most %d tasks ran at once in the child; want Concurrent = 4", maxActive)
	}
	if n := p.slotsInUse(); n != 0 {
		t.Errorf("%d slots still taken after every call returned", n)
	}
}

// checkExitError checks that err reports the death of child pid.
func checkExitError(t *testing.T, err error, bin string, pid int, state string) {
	t.Helper()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v; want an *ExitError", err)
	}
	if ee.Pid != pid || ee.State != state || ee.Stage != testStage || errors.Is(err, ErrClosed) {
		t.Errorf("ExitError %+v; want pid %d, state %q, stage %s, not closed", ee, pid, state, testStage)
	}
	for _, want := range []string{bin, "(pid " + strconv.Itoa(pid) + ")", state, testStage} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestPoolChildDeathFailsInFlightAndRestarts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state string
		// kill makes the child die once requests 1 and 2 run in it, and
		// returns the requests it sent itself.
		kill func(t *testing.T, ctx context.Context, p *Pool, pid int) []<-chan callResult
	}{
		{"SIGKILL", "signal: killed", func(t *testing.T, ctx context.Context, p *Pool, pid int) []<-chan callResult {
			mustCall(t, p, testTask{N: 3, WaitActive: 3})
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"crash", "exit status 3", func(t *testing.T, ctx context.Context, p *Pool, pid int) []<-chan callResult {
			return []<-chan callResult{asyncCall(t, ctx, p, testTask{N: 3, WaitActive: 3, Crash: true})}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := PoolConfig{Children: serveChildren(t, 1, 3)}
			p := newTestPool(t, cfg)
			pid := mustCall(t, p, testTask{}).Pid

			// Their ctx outlives the test's patience: only the death can
			// end them in time.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			inFlight := []<-chan callResult{
				asyncCall(t, ctx, p, testTask{N: 1, SleepMS: 60_000}),
				asyncCall(t, ctx, p, testTask{N: 2, SleepMS: 60_000}),
			}
			inFlight = append(inFlight, tc.kill(t, ctx, p, pid)...)
			for _, ch := range inFlight {
				checkExitError(t, (<-ch).err, cfg.Children[0].Bin, pid, tc.state)
			}

			for i := range 5 {
				if out := mustCall(t, p, testTask{N: i}); out.Pid == pid {
					t.Fatalf("answered by the dead pid %d", pid)
				}
			}
			if !processGone(pid) {
				t.Errorf("dead child %d is still there", pid)
			}
		})
	}
}

func TestPoolDeadChildSlotsNotOfferedAndCloseStopsRestart(t *testing.T) {
	// The dead child would come back only after an hour: Close must not
	// wait for that.
	p := newTestPool(t, PoolConfig{Children: serveChildren(t, 2, 1), RestartBackoffMin: time.Hour})
	pids := p.pids()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "child 0 to be marked down", func() bool { return p.pids()[0] == 0 })
	for i := range 20 {
		if out := mustCall(t, p, testTask{N: i}); out.Pid != pids[1] {
			t.Fatalf("request %d answered by pid %d; want the live child %d", i, out.Pid, pids[1])
		}
	}
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v while a restart was pending", d)
	}
}

func TestPoolContextEndsWaitPromptlyWithoutLeakingSlots(t *testing.T) {
	p := newTestPool(t, PoolConfig{Children: serveChildren(t, 1, 1)})

	slow := asyncCall(t, context.Background(), p, testTask{N: 1, SleepMS: 1000})
	waitFor(t, "the slow request to take the only slot", func() bool { return p.slotsInUse() == 1 })
	// Waiting for a slot.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := call(ctx, p, testTask{N: 2})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call while all slots are busy = %v; want context.DeadlineExceeded", err)
	}
	select {
	case r := <-slow:
		t.Fatalf("the slow request finished (%+v) before the waiting call gave up", r)
	default:
	}
	if r := <-slow; r.err != nil {
		t.Fatal(r.err)
	}

	// Waiting for an answer: the caller leaves, the child keeps computing
	// and keeps the slot until it answers; the late answer is dropped.
	// The ctx must outlast the sending of the request, hence not 50ms.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = call(ctx, p, testTask{N: 3, SleepMS: 1000})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call with a slow answer = %v; want context.DeadlineExceeded", err)
	}
	if n := p.slotsInUse(); n != 1 {
		t.Errorf("%d slots taken while the abandoned request runs; want 1", n)
	}
	mustCall(t, p, testTask{N: 4})
	if n := p.slotsInUse(); n != 0 {
		t.Errorf("%d slots taken at rest; want 0", n)
	}
	p.mu.Lock()
	pr := p.children[0].cur
	p.mu.Unlock()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.pending) != 0 {
		t.Errorf("pending requests at rest: %v", pr.pending)
	}
}

func TestPickWeightedReachesEveryIndex(t *testing.T) {
	for _, weights := range [][]int{{1}, {1, 1}, {3, 1}, {1, 3}, {2, 1, 5}} {
		total := 0
		for _, w := range weights {
			total += w
		}
		got := make([]int, len(weights))
		for r := range total {
			got[pickWeighted(weights, r)]++
		}
		if !slices.Equal(got, weights) {
			t.Errorf("weights %v: over every r, index counts %v; want the weights", weights, got)
		}
	}
}

func TestPoolSharesFollowWeights(t *testing.T) {
	for _, weights := range [][]int{{1, 1}, {3, 1}} {
		t.Run(strconv.Itoa(weights[0])+"to"+strconv.Itoa(weights[1]), func(t *testing.T) {
			children := serveChildren(t, 2, 1)
			for i := range children {
				children[i].Weight = weights[i]
			}
			rng := rand.New(rand.NewPCG(1, 2))
			p := newTestPool(t, PoolConfig{Children: children, Intn: rng.IntN})
			pids := p.pids()
			const requests = 400
			count := map[int]int{}
			for i := range requests {
				count[mustCall(t, p, testTask{N: i}).Pid]++
			}
			total := weights[0] + weights[1]
			for i, pid := range pids {
				want := requests * weights[i] / total
				if got := count[pid]; got < want-40 || got > want+40 {
					t.Errorf("child %d (weight %d) served %d of %d; want %d±40", i, weights[i], got, requests, want)
				}
			}
		})
	}
}

func TestPoolLastFreeChildIsReachable(t *testing.T) {
	var pickLast atomicBool
	p := newTestPool(t, PoolConfig{
		Children: serveChildren(t, 3, 1),
		Intn: func(n int) int {
			if pickLast.get() {
				return n - 1
			}
			return 0
		},
	})
	pids := p.pids()
	for _, last := range []bool{true, false} {
		pickLast.set(last)
		want := pids[0]
		if last {
			want = pids[2]
		}
		for i := range 5 {
			if got := mustCall(t, p, testTask{N: i}).Pid; got != want {
				t.Fatalf("pick last %v: request %d went to pid %d; want %d (pids %v)", last, i, got, want, pids)
			}
		}
	}
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) get() bool  { b.mu.Lock(); defer b.mu.Unlock(); return b.v }
func (b *atomicBool) set(v bool) { b.mu.Lock(); defer b.mu.Unlock(); b.v = v }

var pidInError = regexp.MustCompile(`\(pid (\d+)\)`)

func TestNewPoolRefusesChildThatIsNotReady(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{"silent", []string{`did not print "window_post processor ready" within 500ms`, "it printed nothing"}},
		{"never-ready", []string{`did not print "window_post processor ready" within 500ms`, `it printed "loading" instead`}},
		{"wrong-ready", []string{`printed "window_post processor ready \n", not "window_post processor ready\n"`}},
		{"exit-early", []string{`exited (exit status 2) before printing "window_post processor ready"`, `it printed "no GPU found" instead`}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			bad := testChild(t, tc.mode)
			bad.ReadyTimeout = 500 * time.Millisecond
			_, err := NewPool(context.Background(), PoolConfig{
				Stage:    testStage,
				Children: []ChildConfig{testChild(t, "serve"), bad},
			})
			if err == nil {
				t.Fatal("NewPool succeeded")
			}
			for _, want := range append(tc.want, "child "+bad.Bin+" (pid ") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not say %q", err, want)
				}
			}
			m := pidInError.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q names no pid", err)
			}
			if pid, _ := strconv.Atoi(m[1]); !processGone(pid) {
				t.Errorf("refused child %d is still running", pid)
			}
			// The good child was killed too.
			checkNoChildren(t)
		})
	}
}

func TestNewPoolReportsBadConfig(t *testing.T) {
	good := testChild(t, "serve")
	bad := good
	bad.Cpuset = "0-x"
	for _, tc := range []struct {
		name string
		cfg  PoolConfig
		want string
	}{
		{"no stage", PoolConfig{Children: []ChildConfig{good}}, "needs a stage"},
		{"no children", PoolConfig{Stage: testStage}, "no window_post processor configured"},
		{"no bin", PoolConfig{Stage: testStage, Children: []ChildConfig{{}}}, "no program to run"},
		{"bad cpuset", PoolConfig{Stage: testStage, Children: []ChildConfig{bad}}, `"0-x" is not a CPU range`},
		{"missing bin", PoolConfig{Stage: testStage, Children: []ChildConfig{{Bin: "/nonexistent/prover"}}}, "/nonexistent/prover"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPool(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewPool = %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestPoolReportsTaskErrors(t *testing.T) {
	p := newTestPool(t, PoolConfig{Children: serveChildren(t, 1, 1)})
	pid := p.pids()[0]
	for _, tc := range []struct {
		task testTask
		msg  string
	}{
		{testTask{Fail: "sector 42: no such file"}, "sector 42: no such file"},
		{testTask{Panic: "index out of range"}, "processor panicked: index out of range"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := call(ctx, p, tc.task)
		cancel()
		var te *TaskError
		if !errors.As(err, &te) || te.Msg != tc.msg || te.Pid != pid {
			t.Errorf("task %+v: error %v; want a TaskError from pid %d with message %q", tc.task, err, pid, tc.msg)
		}
	}
	// A failed task or a panic costs nothing but the task.
	if got := mustCall(t, p, testTask{N: 1}).Pid; got != pid {
		t.Errorf("answered by pid %d; want the same child %d", got, pid)
	}
}

func TestPoolSkipsBadResponseLines(t *testing.T) {
	// The raw child writes a junk line and an answer to an unknown id
	// before every real answer.
	p := newTestPool(t, PoolConfig{Children: []ChildConfig{testChild(t, "raw")}})
	for i := range 3 {
		mustCall(t, p, testTask{N: i + 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := call(ctx, p, testTask{N: -1})
	if err == nil || !strings.Contains(err.Error(), "neither err_msg nor output") {
		t.Fatalf("answer with null output and err_msg: %v; want an error saying so", err)
	}
	if _, err := p.Call(ctx, []byte(`{"n":`)); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("Call with broken JSON = %v; want an error before anything is sent", err)
	}
}

func TestPoolCloseFailsInFlightAndLeavesNothing(t *testing.T) {
	p := newTestPool(t, PoolConfig{Children: serveChildren(t, 2, 1)})
	pids := p.pids()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inFlight := asyncCall(t, ctx, p, testTask{SleepMS: 60_000})
	waitFor(t, "the request to be in flight", func() bool { return p.slotsInUse() == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-inFlight; !errors.Is(r.err, ErrClosed) {
		t.Errorf("in-flight request at Close: %v; want ErrClosed", r.err)
	}
	if _, err := call(ctx, p, testTask{}); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: %v; want ErrClosed", err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("child %d still running after Close", pid)
		}
	}
	checkNoChildren(t)
}

func TestPoolChildEnvironment(t *testing.T) {
	t.Setenv("EXTPROC_TEST_FROM_PARENT", "parent")
	t.Setenv("EXTPROC_TEST_OVERRIDDEN", "parent")
	c := testChild(t, "serve")
	c.Envs["EXTPROC_TEST_OVERRIDDEN"] = "child"
	p := newTestPool(t, PoolConfig{Children: []ChildConfig{c}})
	for name, want := range map[string]string{"EXTPROC_TEST_FROM_PARENT": "parent", "EXTPROC_TEST_OVERRIDDEN": "child"} {
		if got := mustCall(t, p, testTask{Env: name}).Env; got != want {
			t.Errorf("child's %s = %q; want %q", name, got, want)
		}
	}
}

func TestPoolCpuset(t *testing.T) {
	own := affinity()
	if len(own) == 0 {
		t.Skip("CPU affinity is not readable here")
	}
	pinned := testChild(t, "serve")
	pinned.Cpuset = strconv.Itoa(own[len(own)-1])
	// CPU 1000 exists nowhere here: the child must start unpinned.
	unavailable := testChild(t, "serve")
	unavailable.Cpuset = "1000"
	p := newTestPool(t, PoolConfig{Children: []ChildConfig{pinned, unavailable}, Intn: func(int) int { return 0 }})
	got := mustCall(t, p, testTask{}).CPUs
	if want := own[len(own)-1:]; !slices.Equal(got, want) {
		t.Errorf("pinned child runs on CPUs %v; want %v", got, want)
	}
	// Keep child 0 busy so that the next request goes to child 1.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	busy := asyncCall(t, ctx, p, testTask{SleepMS: 500})
	waitFor(t, "child 0 to be busy", func() bool { return p.slotsInUse() == 1 })
	if got := mustCall(t, p, testTask{}).CPUs; !slices.Equal(got, own) {
		t.Errorf("child with an unavailable cpuset runs on CPUs %v; want all of ours, %v", got, own)
	}
	if r := <-busy; r.err != nil {
		t.Fatal(r.err)
	}
	// Our own threads were not pinned by starting a pinned child.
	if got := affinity(); !slices.Equal(got, own) {
		t.Errorf("this process now runs on CPUs %v; want %v as before", got, own)
	}
}

// A caller that stops waiting for a task kills its child when
// KillAbandoned is set: the child is restarted and serves again; without
// it the child keeps computing and stays up.
func TestPoolKillAbandoned(t *testing.T) {
	for _, kill := range []bool{true, false} {
		t.Run(fmt.Sprintf("KillAbandoned=%v", kill), func(t *testing.T) {
			p := newTestPool(t, PoolConfig{Children: serveChildren(t, 1, 1), KillAbandoned: kill})
			before := p.pids()[0]
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if _, err := call(ctx, p, testTask{N: 1, SleepMS: 60_000}); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("abandoned task: %v, want the deadline error", err)
			}
			if !kill {
				if pid := p.pids()[0]; pid != before {
					t.Fatalf("child pid %d → %d: it was restarted without KillAbandoned", before, pid)
				}
				return
			}
			// The slot is free again only through the restart.
			mustCall(t, p, testTask{N: 2})
			if pid := p.pids()[0]; pid == before || pid == 0 {
				t.Fatalf("child pid %d → %d: want a restarted child", before, pid)
			}
		})
	}
}
