package extproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	logging "github.com/ipfs/go-log/v2"
)

// log is the parent side's logger.
var log = logging.Logger("extproc")

// Defaults for the zero values of ChildConfig and PoolConfig.
const (
	// ReadyTimeoutDefault is damocles's ReadyTimeoutSecs default.
	ReadyTimeoutDefault = 5 * time.Second
	// RestartBackoffMinDefault is the wait before restarting a child that died.
	RestartBackoffMinDefault = 500 * time.Millisecond
	// RestartBackoffMaxDefault caps the doubling wait between restarts of a
	// child that keeps dying.
	RestartBackoffMaxDefault = 30 * time.Second
)

// ErrClosed is returned by a Pool's calls once Close has begun.
var ErrClosed = errors.New("extproc: pool closed")

// ChildConfig is one child process of a pool.
type ChildConfig struct {
	// Bin is the program to run, a path or a name looked up in PATH.
	Bin string
	// Args are the program's arguments, exactly (the stage is not added).
	Args []string
	// Envs are added to the parent's environment; they win over it.
	Envs map[string]string
	// Concurrent is how many requests the child gets at once; 0 means 1.
	Concurrent int
	// Weight is the child's share of requests when several children have a
	// free slot; 0 means 1.
	Weight int
	// ReadyTimeout bounds the wait for the ready line; 0 means ReadyTimeoutDefault.
	ReadyTimeout time.Duration
	// Cpuset pins the child to these CPUs, in cpuset list syntax
	// ("0-3,8"); empty means no pinning. Best effort: see startPinned.
	Cpuset string
}

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Stage is the stage every child serves ("window_post", "pc1", ...); it
	// names the ready line and the logs.
	Stage string
	// Children are the processes to run, one each; at least one.
	Children []ChildConfig
	// RestartBackoffMin is the first wait before restarting a dead child;
	// 0 means RestartBackoffMinDefault.
	RestartBackoffMin time.Duration
	// RestartBackoffMax caps the wait, which doubles with every restart
	// and falls back to the minimum once a child has stayed up that long;
	// 0 means RestartBackoffMaxDefault.
	RestartBackoffMax time.Duration
	// KillAbandoned kills a child when a caller stops waiting (its ctx
	// ended) for a request the child is computing: the protocol cannot
	// cancel a task, so a child stuck on one (a hung GPU) would otherwise
	// hold its slot forever. Its other requests in flight fail with an
	// *ExitError, as on a crash, and it is restarted.
	KillAbandoned bool
	// Intn returns a random number in [0, n) for the weighted choice of a
	// child; nil means math/rand/v2's IntN. Tests inject a seeded or
	// scripted one. It is called with the pool's lock held.
	Intn func(n int) int
}

// Pool runs the children of one stage and sends each request to one of
// them. Its methods are safe for concurrent use.
type Pool struct {
	stage         string
	killAbandoned bool
	backoffMin    time.Duration
	backoffMax    time.Duration
	intn          func(n int) int

	// ctx ends when Close begins; it stops restarts and start-ups.
	ctx    context.Context
	cancel context.CancelFunc
	// wg owns every goroutine of the pool: supervisors and the two loops
	// of every process.
	wg sync.WaitGroup

	mu       sync.Mutex
	children []*child
	// changed is closed (and replaced) whenever a slot may have become
	// free or the pool closed, waking the callers waiting for a slot.
	changed chan struct{}
	closed  bool
}

// child is one configured child across its restarts.
type child struct {
	index   int
	cfg     ChildConfig
	cpus    []int  // parsed cfg.Cpuset
	command string // bin and args, for logs and errors
	// cur is the ready process whose slots are offered, nil while the
	// child is down. Guarded by Pool.mu.
	cur *proc
	// cpusetWarned keeps the cpuset warning to one per child, not one per
	// restart. Only the goroutine starting the child touches it.
	cpusetWarned bool
}

// NewPool starts every child and waits until all are ready. ctx bounds only
// this start-up (like a dialer's); the pool then runs until Close. If a
// child fails to start, every child is killed and the error names each
// failure.
func NewPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if cfg.Stage == "" {
		return nil, errors.New("extproc: pool needs a stage name")
	}
	if len(cfg.Children) == 0 {
		return nil, fmt.Errorf("extproc: no %s processor configured", cfg.Stage)
	}
	p := &Pool{
		stage:         cfg.Stage,
		killAbandoned: cfg.KillAbandoned,
		backoffMin:    cmp0(cfg.RestartBackoffMin, RestartBackoffMinDefault),
		backoffMax:    cmp0(cfg.RestartBackoffMax, RestartBackoffMaxDefault),
		intn:          cfg.Intn,
		changed:       make(chan struct{}),
	}
	if p.intn == nil {
		p.intn = rand.IntN
	}
	if p.backoffMax < p.backoffMin {
		p.backoffMax = p.backoffMin
	}
	for i, cc := range cfg.Children {
		c, err := newChild(cfg.Stage, i, cc)
		if err != nil {
			return nil, err
		}
		p.children = append(p.children, c)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())

	// Children start in parallel: each may take seconds to load (GPU
	// initialisation), and the ready timeouts should not add up.
	procs := make([]*proc, len(p.children))
	errs := make([]error, len(p.children))
	var starts sync.WaitGroup
	for i, c := range p.children {
		starts.Go(func() { procs[i], errs[i] = p.startProc(ctx, c) })
	}
	starts.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, pr := range procs {
			if pr != nil {
				pr.kill("another child failed to start")
			}
		}
		p.cancel()
		p.wg.Wait()
		return nil, fmt.Errorf("start %s processors: %w", p.stage, err)
	}

	p.mu.Lock()
	for i, c := range p.children {
		c.cur = procs[i]
	}
	p.mu.Unlock()
	for i, c := range p.children {
		p.wg.Go(func() { p.supervise(c, procs[i]) })
	}
	return p, nil
}

func newChild(stage string, i int, cfg ChildConfig) (*child, error) {
	if cfg.Bin == "" {
		return nil, fmt.Errorf("extproc: %s processor #%d has no program to run", stage, i)
	}
	if cfg.Concurrent < 0 || cfg.Weight < 0 || cfg.ReadyTimeout < 0 {
		return nil, fmt.Errorf("extproc: %s processor #%d (%s): Concurrent, Weight and ReadyTimeout must not be negative", stage, i, cfg.Bin)
	}
	cfg.Concurrent = max(cfg.Concurrent, 1)
	cfg.Weight = max(cfg.Weight, 1)
	cfg.ReadyTimeout = cmp0(cfg.ReadyTimeout, ReadyTimeoutDefault)
	c := &child{index: i, cfg: cfg, command: strings.Join(append([]string{cfg.Bin}, cfg.Args...), " ")}
	if cfg.Cpuset != "" {
		cpus, err := parseCPUList(cfg.Cpuset)
		if err != nil {
			return nil, fmt.Errorf("extproc: %s processor #%d (%s): cpuset: %w", stage, i, c.command, err)
		}
		c.cpus = cpus
	}
	return c, nil
}

// cmp0 returns v, or def when v is zero.
func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Call sends task (one JSON value) to a child with a free slot, waiting for
// one if all are busy, and returns the child's output. A failed task is a
// *TaskError; a child that dies with the request in flight is an
// *ExitError, at once.
//
// When ctx ends Call returns ctx.Err() promptly. A request already sent
// keeps its slot until the child answers (or dies): the child is still
// computing it, and Concurrent bounds what a child computes, not what
// callers wait for. The late answer is dropped.
func (p *Pool) Call(ctx context.Context, task json.RawMessage) (json.RawMessage, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, task); err != nil {
		return nil, fmt.Errorf("%s task is not valid JSON: %w", p.stage, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pr, err := p.acquire(ctx)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		res, sent, err := pr.call(ctx, compact.Bytes())
		if !sent && err == nil {
			// The process died before the request reached it: nothing
			// was lost, so try the next free child.
			continue
		}
		if err != nil {
			if sent && p.killAbandoned && ctx.Err() != nil {
				log.Warnw("killing a processor: its caller gave up on a task it is still computing", "stage", p.stage, "pid", pr.pid,
					"after", time.Since(start).Round(time.Millisecond).String())
				pr.kill("its caller gave up on a task it was computing")
			}
			return nil, err
		}
		// One line per task says which process did it: with several
		// children (one per GPU) operators see the load spread.
		log.Infow("task done", "stage", p.stage, "pid", pr.pid, "ok", res.err == nil, "elapsed", time.Since(start).Round(time.Millisecond).String())
		return res.output, res.err
	}
}

// Do is Call with JSON encoding: task is marshalled, the output unmarshalled
// into out (a pointer; nil discards it).
func (p *Pool) Do(ctx context.Context, task any, out any) error {
	raw, err := json.Marshal(task)
	if err != nil {
		return fmt.Errorf("encode %s task: %w", p.stage, err)
	}
	output, err := p.Call(ctx, raw)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(output, out); err != nil {
		return fmt.Errorf("decode %s output: %w", p.stage, err)
	}
	return nil
}

// Close kills the children, stops restarting them and waits for every
// goroutine of the pool. Requests in flight fail with an error matching
// ErrClosed. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	var running []*proc
	for _, c := range p.children {
		if c.cur != nil {
			running = append(running, c.cur)
		}
	}
	p.notifyLocked()
	p.mu.Unlock()

	// Processes still starting see ctx end; ready ones are killed here.
	p.cancel()
	for _, pr := range running {
		pr.kill("pool closed")
	}
	p.wg.Wait()
	return nil
}

// acquire takes a free slot of a ready child, waiting for one.
func (p *Pool) acquire(ctx context.Context) (*proc, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if pr := p.pickLocked(); pr != nil {
			pr.inflight++
			p.mu.Unlock()
			return pr, nil
		}
		wait := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
		}
	}
}

// release gives back a slot taken by acquire.
func (p *Pool) release(pr *proc) {
	p.mu.Lock()
	pr.inflight--
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// pickLocked chooses among the ready children with a free slot, at random
// in proportion to their weights; nil when none has one.
func (p *Pool) pickLocked() *proc {
	var free []*proc
	var weights []int
	total := 0
	for _, c := range p.children {
		if pr := c.cur; pr != nil && pr.inflight < c.cfg.Concurrent {
			free = append(free, pr)
			weights = append(weights, c.cfg.Weight)
			total += c.cfg.Weight
		}
	}
	if len(free) == 0 {
		return nil
	}
	return free[pickWeighted(weights, p.intn(total))]
}

// pickWeighted maps r, uniform in [0, sum of weights), to an index, each
// index i for exactly weights[i] values of r. damocles's loop could never
// return the last index; every index is reachable here.
func pickWeighted(weights []int, r int) int {
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	// Only an r outside the documented range gets here.
	return len(weights) - 1
}

// supervise restarts c whenever its process dies, until Close. pr is the
// process NewPool started.
func (p *Pool) supervise(c *child, pr *proc) {
	delay := p.backoffMin
	for {
		if pr != nil {
			upSince := time.Now()
			<-pr.dead
			if p.ctx.Err() != nil {
				return
			}
			if time.Since(upSince) >= p.backoffMax {
				// It ran long enough to count as healthy again.
				delay = p.backoffMin
			}
			log.Warnw("processor exited; restarting it", "stage", p.stage, "bin", c.cfg.Bin, "pid", pr.pid,
				"status", pr.deathErr.State, "restart_in", delay.String())
		}
		timer := time.NewTimer(delay)
		select {
		case <-p.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		delay = min(2*delay, p.backoffMax)

		var err error
		pr, err = p.startProc(p.ctx, c)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			log.Errorw("restart processor failed; trying again", "stage", p.stage, "err", err, "restart_in", delay.String())
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.kill("pool closed")
			<-pr.dead
			return
		}
		c.cur = pr
		p.notifyLocked()
		p.mu.Unlock()
		log.Infow("processor restarted", "stage", p.stage, "bin", c.cfg.Bin, "pid", pr.pid)
	}
}

// TaskError is a task the child answered with an err_msg.
type TaskError struct {
	Stage   string
	Command string // the child's bin and args
	Pid     int
	// Msg is the child's err_msg, verbatim.
	Msg string
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("%s processor %s (pid %d): %s", e.Stage, e.Command, e.Pid, e.Msg)
}

// ExitError is a request lost because its child process ended. The request
// may be retried: the child is being restarted, unless the pool is closing
// (then errors.Is(err, ErrClosed)).
type ExitError struct {
	Stage   string
	Command string // the child's bin and args
	Pid     int
	// State is how the process ended: "exit status 3", "signal: killed".
	State string
	// Reason says why the pool killed the process, if it did.
	Reason string
	closed bool
}

func (e *ExitError) Error() string {
	how := e.State
	if e.Reason != "" {
		how += ", killed by the pool: " + e.Reason
	}
	next := "the request was lost; the processor is being restarted"
	if e.closed {
		next = "the request was lost; the pool is closing"
	}
	return fmt.Sprintf("%s processor %s (pid %d) exited (%s): %s", e.Stage, e.Command, e.Pid, how, next)
}

// Unwrap makes a loss caused by Close match ErrClosed.
func (e *ExitError) Unwrap() error {
	if e.closed {
		return ErrClosed
	}
	return nil
}

// selfPid is this process's pid, the children's ppid in logs.
var selfPid = os.Getpid()
