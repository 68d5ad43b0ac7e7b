package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/damocles-go/damocles/internal/cliutil"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/logs"
	"github.com/damocles-go/damocles/internal/netaddr"
)

// Defaults of Config, as the demo's flags have them.
const (
	SectorsDefault   = 8
	BlockTimeDefault = 100 * time.Millisecond
	TimeoutDefault   = 30 * time.Minute
	ThreadsDefault   = 2
)

// managerStartTimeout bounds the wait for the manager to serve.
const managerStartTimeout = time.Minute

// The binaries the demo starts, found next to damocles-devnet.
const (
	managerBin = "damocles-manager"
	workerBin  = "damocles-worker"
)

// ErrInterrupted is Run's error when its context ends before the summary.
var ErrInterrupted = errors.New("interrupted before the summary")

// Config is what `damocles-devnet demo` is told.
type Config struct {
	// Sectors is how many 2KiB sectors to seal and prove; at least 1.
	Sectors int
	// BlockTime is the devnet's time between epochs.
	BlockTime time.Duration
	// Home holds everything (the devnet, the manager's home, the worker's
	// stores, the logs) and is kept afterwards; it must be new or empty.
	// "" is a temporary directory, removed at the end.
	Home string
	// KeepRunning leaves the cluster up after the summary until ctx ends.
	KeepRunning bool
	// Timeout bounds the demo up to its summary.
	Timeout time.Duration
	// Threads is the worker's number of sealing threads.
	Threads int
	// RealTime waits for every epoch at BlockTime; otherwise, once all
	// sectors are on chain, the devnet mines ahead through the stretches
	// where no deadline holding sectors is due.
	RealTime bool
	// Redraw redraws the view in place with ANSI escapes, for a terminal;
	// false prints one line per change.
	Redraw bool
	// BinDir holds damocles-manager and damocles-worker; "" is the
	// directory of the running executable.
	BinDir string
	// Out receives the view, the summary and the access details; nil is
	// os.Stdout.
	Out io.Writer
	// StopGrace is how long a child process has to exit after SIGTERM
	// before SIGKILL; 0 is StopGraceDefault.
	StopGrace time.Duration
}

func (c Config) validate() error {
	switch {
	case c.Sectors < 1:
		return fmt.Errorf("--sectors %d: seal at least 1 sector", c.Sectors)
	case c.BlockTime <= 0:
		return fmt.Errorf("--block-time %s: it must be positive (e.g. 100ms)", c.BlockTime)
	case c.Threads < 1:
		return fmt.Errorf("--threads %d: the worker needs at least 1 sealing thread", c.Threads)
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout %s: it must be positive (e.g. 30m)", c.Timeout)
	}
	return nil
}

// cluster is what one demo started, and where.
type cluster struct {
	cfg   Config
	out   io.Writer
	dir   string
	temp  bool
	bins  binaries
	began time.Time

	devnet          *devnetNode
	manager, worker *child
	managerHome     string
	managerAPI      string
	workerConfig    string
}

// binaries are the paths of the programs the demo starts.
type binaries struct{ manager, worker string }

func (c *cluster) path(name string) string { return filepath.Join(c.dir, name) }

// Run runs the demo: it starts the devnet, the manager and the worker,
// shows the view until every deadline holding sectors was proven once
// after the last activation, and prints the summary line; with
// KeepRunning it then prints how to reach the cluster and waits for ctx to
// end. Whatever happens, it stops every process it started and removes a
// temporary home, except after a failure (a process died, a timeout, a
// summary with misses or faults), when it keeps it for its logs and says
// so. It returns the summary, and an error when it could not reach it
// (ErrInterrupted when ctx ended first).
func Run(ctx context.Context, cfg Config) (sum Summary, err error) {
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = StopGraceDefault
	}
	if err := cfg.validate(); err != nil {
		return sum, err
	}
	bins, err := findBinaries(cfg.BinDir)
	if err != nil {
		return sum, err
	}
	dir, temp, err := prepareHome(cfg.Home)
	if err != nil {
		return sum, err
	}
	c := &cluster{cfg: cfg, out: cfg.Out, dir: dir, temp: temp, bins: bins, began: time.Now()}
	// The devnet's logs (and the RPC server's) would tear the view: they
	// go to a file like the other processes' logs.
	logToFile(c.path("devnet.log"))
	defer func() {
		err = errors.Join(err, c.shutdown())
		logs.Setup()
		interrupted := ctx.Err() != nil
		err = errors.Join(err, c.cleanup(interrupted || (err == nil && sum.OK())))
	}()

	fmt.Fprintf(c.out, "damocles-devnet demo: %s of %s for miner t0%d, blocks every %s, %s\n",
		plural(cfg.Sectors, "sector"), minerSectorSize.ShortString(), minerActor, cfg.BlockTime, plural(cfg.Threads, "sealing thread"))
	fmt.Fprintf(c.out, "  home:    %s\n", c.dir)
	if err := c.start(ctx); err != nil {
		if ctx.Err() != nil {
			return sum, ErrInterrupted
		}
		return sum, err
	}
	if sum, err = c.watch(ctx); err != nil {
		return sum, err
	}
	fmt.Fprintln(c.out, sum)
	if cfg.KeepRunning {
		return sum, c.keepRunning(ctx)
	}
	return sum, nil
}

// start starts the devnet in this process, then the manager and the
// worker, each configured for it.
func (c *cluster) start(ctx context.Context) error {
	var err error
	if c.devnet, err = startDevnet(c.path("devnet"), c.cfg.BlockTime); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "  devnet:  %s (in this process), log %s\n", c.devnet.api, c.path("devnet.log"))

	persist := c.path("persist")
	workerLog := c.path("worker.log")
	if _, err := runTool(ctx, c.bins.worker, []string{"store", "file-init", "-l", persist}, workerLog); err != nil {
		return err
	}
	if err := c.startManager(ctx, persist); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "  manager: %s (pid %d), home %s, log %s\n", c.managerAPI, c.manager.pid(), c.managerHome, c.manager.log)

	token, err := runTool(ctx, c.bins.manager, []string{"--home", c.managerHome, "util", "auth", "create-token", "--perm", "write"}, c.manager.log)
	if err != nil {
		return err
	}
	threads := make([]string, c.cfg.Threads)
	for i := range threads {
		threads[i] = c.path(fmt.Sprintf("thread-%d", i))
	}
	if _, err := runTool(ctx, c.bins.worker, append([]string{"store", "sealing-init", "-l"}, threads...), workerLog); err != nil {
		return err
	}
	url, err := managerURL(c.managerAPI)
	if err != nil {
		return err
	}
	c.workerConfig = c.path("worker.toml")
	cfg := workerConfig(workerSettings{ManagerURL: url, Token: strings.TrimSpace(token), Actor: uint64(minerActor), Threads: threads, Persist: persist})
	if err := os.WriteFile(c.workerConfig, cfg, 0o600); err != nil {
		return fmt.Errorf("write the worker config: %w", err)
	}
	if c.worker, err = startChild(c.bins.worker, []string{"daemon", "-c", c.workerConfig}, workerLog); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "  worker:  pid %d, config %s, log %s\n\n", c.worker.pid(), c.workerConfig, workerLog)
	return nil
}

// startManager initialises the manager's home, writes its config and runs
// `daemon run --poster` on a loopback port, until it serves.
func (c *cluster) startManager(ctx context.Context, persist string) error {
	c.managerHome = c.path("manager")
	log := c.path("manager.log")
	if _, err := runTool(ctx, c.bins.manager, []string{"--home", c.managerHome, "daemon", "init"}, log); err != nil {
		return err
	}
	cfgPath := filepath.Join(c.managerHome, config.ManagerFileName)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return fmt.Errorf("read the manager config: %w", err)
	}
	data, err = managerConfig(data, managerSettings{
		Chain: c.devnet.api, Token: c.devnet.token, PollInterval: c.cfg.BlockTime,
		Persist: persist, Actor: uint64(minerActor), Sectors: c.cfg.Sectors, Sender: c.devnet.wallet,
		BatchThreshold: min(c.cfg.Threads, c.cfg.Sectors), BatchMaxWait: 20 * c.cfg.BlockTime,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return fmt.Errorf("write the manager config: %w", err)
	}
	args := []string{"--home", c.managerHome, "daemon", "run", "--listen", "127.0.0.1:0", "--poster"}
	if c.manager, err = startChild(c.bins.manager, args, log); err != nil {
		return err
	}
	c.managerAPI, err = waitServing(ctx, c.manager, filepath.Join(c.managerHome, home.APIFile), managerStartTimeout)
	return err
}

// waitServing waits until the daemon p has written its api file and
// answers /healthcheck there, and returns the file's multiaddr.
func waitServing(ctx context.Context, p *child, apiFile string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if data, err := os.ReadFile(apiFile); err == nil {
			api := strings.TrimSpace(string(data))
			if url, err := managerURL(api); err == nil {
				if resp, err := http.Get(url + "/healthcheck"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return api, nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s (pid %d) did not serve within %s; the end of %s:\n%s", p.name, p.pid(), timeout, p.log, logTail(p.log))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-p.exited():
			return "", p.failure()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func managerURL(api string) (string, error) {
	ep, err := netaddr.Parse(api)
	if err != nil {
		return "", fmt.Errorf("manager address %q: %w", api, err)
	}
	return ep.URL("http", ""), nil
}

// watch shows the view at every epoch until the board is done, and
// returns its summary.
func (c *cluster) watch(ctx context.Context) (Summary, error) {
	var v view = &lineView{w: c.out}
	if c.cfg.Redraw {
		v = &redrawView{w: c.out}
	}
	defer v.close()
	timeout := time.NewTimer(c.cfg.Timeout)
	defer timeout.Stop()
	// The elapsed time moves on between epochs too.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		headChanged := c.devnet.chain.HeadChanged()
		o, err := c.devnet.observe(ctx)
		if err != nil {
			return Summary{}, fmt.Errorf("observe the devnet: %w", err)
		}
		b := NewBoard(o, c.cfg.Sectors)
		v.show(b, time.Since(c.began))
		if b.Done() {
			return b.Summary, nil
		}
		if to, ok := b.FastForwardTo(); ok && !c.cfg.RealTime {
			v.note(fmt.Sprintf("nothing is due before epoch %d: mining ahead from epoch %d to %d (--real-time waits instead)",
				to+FastForwardMargin, b.Height, to), time.Since(c.began))
			if _, err := c.devnet.observer.MineTo(ctx, to); err != nil {
				return b.Summary, fmt.Errorf("mine ahead to epoch %d: %w", to, err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return b.Summary, ErrInterrupted
		case <-timeout.C:
			return b.Summary, fmt.Errorf("timed out after %s (--timeout) at height %d: still waiting for %s; look at %s and %s",
				c.cfg.Timeout, b.Height, b.WaitingFor(), c.manager.log, c.worker.log)
		case <-c.manager.exited():
			return b.Summary, c.manager.failure()
		case <-c.worker.exited():
			return b.Summary, c.worker.failure()
		case <-c.devnet.failed:
			return b.Summary, c.devnet.err
		case <-headChanged:
		case <-tick.C:
		}
	}
}

// keepRunning prints how to reach the cluster and waits for ctx to end.
func (c *cluster) keepRunning(ctx context.Context) error {
	m := c.bins.manager + " --home " + c.managerHome
	fmt.Fprintf(c.out, `
The cluster keeps running; Ctrl-C stops it%s.
  devnet API:    %s
  devnet token:  %s
  manager home:  %s (API %s, pid %d), for example:
    %s util sealer sectors list
    %s util storage find %d 1
    %s util chain head
  worker config: %s (pid %d)
  logs:          %s %s %s
`, c.removalNote(), c.devnet.api, c.devnet.token, c.managerHome, c.managerAPI, c.manager.pid(),
		m, m, minerActor, m, c.workerConfig, c.worker.pid(), c.path("devnet.log"), c.manager.log, c.worker.log)
	select {
	case <-ctx.Done():
		return nil
	case <-c.manager.exited():
		return c.manager.failure()
	case <-c.worker.exited():
		return c.worker.failure()
	case <-c.devnet.failed:
		return c.devnet.err
	}
}

func (c *cluster) removalNote() string {
	if c.temp {
		return " and removes " + c.dir
	}
	return ""
}

// shutdown stops the worker, then the manager (SIGTERM, SIGKILL after the
// grace), then the devnet.
func (c *cluster) shutdown() error {
	var errs []error
	for _, p := range []*child{c.worker, c.manager} {
		if p == nil {
			continue
		}
		if err := p.stop(c.cfg.StopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
		}
	}
	if c.devnet != nil {
		errs = append(errs, c.devnet.stop())
	}
	return errors.Join(errs...)
}

// cleanup removes a temporary home when remove says so, and tells where
// what stays is.
func (c *cluster) cleanup(remove bool) error {
	switch {
	case c.temp && remove:
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("remove the demo's directory: %w", err)
		}
		fmt.Fprintf(c.out, "stopped; removed %s\n", c.dir)
	case c.temp:
		fmt.Fprintf(c.out, "stopped; kept %s for its logs (devnet.log, manager.log, worker.log): remove it when done\n", c.dir)
	default:
		fmt.Fprintf(c.out, "stopped; kept %s\n", c.dir)
	}
	return nil
}

// findBinaries finds damocles-manager and damocles-worker in dir, or next
// to the running executable.
func findBinaries(dir string) (binaries, error) {
	find := func(name string) (string, error) {
		if dir == "" {
			return cliutil.SiblingBinary(name)
		}
		return cliutil.ExecutableIn(dir, name)
	}
	var b binaries
	var err error
	if b.manager, err = find(managerBin); err != nil {
		return binaries{}, fmt.Errorf("the demo runs the binaries next to damocles-devnet: %w", err)
	}
	if b.worker, err = find(workerBin); err != nil {
		return binaries{}, fmt.Errorf("the demo runs the binaries next to damocles-devnet: %w", err)
	}
	return b, nil
}

// prepareHome returns the demo's directory: a new temporary one for "",
// else h, created if missing, which must be empty.
func prepareHome(h string) (dir string, temp bool, err error) {
	if h == "" {
		dir, err := os.MkdirTemp("", "damocles-demo-")
		if err != nil {
			return "", false, fmt.Errorf("create the demo's temporary directory: %w", err)
		}
		return dir, true, nil
	}
	if dir, err = home.Expand(h); err != nil {
		return "", false, fmt.Errorf("--home %s: %w", h, err)
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", false, fmt.Errorf("--home %s: %w", h, err)
		}
	case err != nil:
		return "", false, fmt.Errorf("--home %s: %w", h, err)
	case len(entries) > 0:
		return "", false, fmt.Errorf("--home %s is not empty: give a new or empty directory (the demo puts its devnet, manager home, worker stores and logs there, and keeps them)", dir)
	}
	return dir, false, nil
}

// logToFile sends this process's logs to path instead of stderr.
func logToFile(path string) {
	cfg := logging.GetConfig()
	cfg.Stderr, cfg.Stdout, cfg.File = false, false, path
	if os.Getenv("GOLOG_LOG_FMT") == "" {
		cfg.Format = logging.PlaintextOutput
	}
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		cfg.Level = logging.LevelInfo
	}
	logging.SetupLogging(cfg)
}
