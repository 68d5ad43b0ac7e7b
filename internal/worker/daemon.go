package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/version"
)

var log = logging.Logger("worker")

// CheckStores verifies every store the config names was initialised: the
// sealing locations of threads whose plan needs one, and every attached
// persist store. All problems are reported together.
func CheckStores(cfg *config.Worker) error {
	var errs []error
	for i, t := range cfg.SealingThreads {
		if t.Location == "" || t.PlanName() == config.PlanWdPoSt {
			continue // wdpost threads use no local store
		}
		if err := CheckStore(t.Location, SealingStore); err != nil {
			errs = append(errs, fmt.Errorf("sealing_thread[%d]: %w", i, err))
		}
	}
	for _, a := range cfg.AttachedStores() {
		if err := CheckStore(a.Location, PersistStore); err != nil {
			errs = append(errs, fmt.Errorf("attached store %q: %w", a.InstanceName(), err))
		}
	}
	return errors.Join(errs...)
}

// planThread is a sealing thread of any plan, as the daemon runs and
// counts it.
type planThread interface {
	Run(ctx context.Context) error
	Status() ThreadStatus
}

// Daemon is a running damocles-worker: it reports itself to the manager and
// runs its sealing threads.
type Daemon struct {
	cfg     *config.Worker
	manager *rpc.VenusStruct
	name    string
	dest    string
	threads []planThread
	// closers release, in reverse order, what NewDaemon opened: manager
	// connections and processor pools.
	closers []func() error
}

// NewDaemon validates what the config alone cannot (stores initialised and
// known to the manager, plans available), connects to the manager and
// starts the external processors the threads need. Nothing runs until Run.
// selfBin is the worker's own executable, the default processor binary.
func NewDaemon(ctx context.Context, cfg *config.Worker, selfBin string) (_ *Daemon, err error) {
	if err := CheckStores(cfg); err != nil {
		return nil, err
	}
	plans := map[string]int{}
	for i, t := range cfg.SealingThreads {
		switch t.PlanName() {
		case config.PlanSealer, config.PlanWdPoSt:
			plans[t.PlanName()]++
		default:
			return nil, fmt.Errorf("sealing_thread[%d]: plan %q is not implemented yet in this build (plans: %s, %s)", i, t.PlanName(), config.PlanSealer, config.PlanWdPoSt)
		}
	}
	header := http.Header{}
	for k, v := range cfg.SectorManager.RPCClient.Headers {
		header.Set(k, v)
	}
	api, closer, err := rpc.NewVenusClient(ctx, cfg.SectorManager.RPCClient.Addr, "", header)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, manager: api}
	d.onClose(closer)
	defer func() {
		if err != nil {
			err = errors.Join(err, d.close())
		}
	}()
	if d.name, d.dest, err = identity(cfg); err != nil {
		return nil, err
	}
	if err := checkAttachedKnown(ctx, api, cfg); err != nil {
		return nil, err
	}
	engine := &proofs.DevEngine{}
	if plans[config.PlanSealer] > 0 {
		stages, err := OpenSealingStages(ctx, &cfg.Processors, engine, selfBin)
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, stages.Close)
		threads, err := NewSealerThreads(cfg, d.name, api, stages)
		if err != nil {
			return nil, err
		}
		for _, t := range threads {
			d.threads = append(d.threads, t)
		}
	}
	if plans[config.PlanWdPoSt] > 0 {
		jobs, closer, err := rpc.NewWdPoStClient(ctx, cfg.SectorManager.RPCClient.Addr, "", header)
		if err != nil {
			return nil, err
		}
		d.onClose(closer)
		post, err := OpenWindowPoStStage(ctx, &cfg.Processors, engine, selfBin)
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, post.Close)
		threads, err := NewWdPoStThreads(cfg, d.name, jobs, post)
		if err != nil {
			return nil, err
		}
		for _, t := range threads {
			d.threads = append(d.threads, t)
		}
	}
	return d, nil
}

// onClose adds a closer that cannot fail.
func (d *Daemon) onClose(f func()) {
	d.closers = append(d.closers, func() error { f(); return nil })
}

// close releases what NewDaemon opened, last opened first.
func (d *Daemon) close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// checkAttachedKnown refuses to start when the manager does not know an
// attached persist store: sectors persisted there could never be found.
func checkAttachedKnown(ctx context.Context, api *rpc.VenusStruct, cfg *config.Worker) error {
	var errs []error
	for _, a := range cfg.AttachedStores() {
		info, err := api.StoreBasicInfo(ctx, a.InstanceName())
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("attached store %q: ask the manager at %s: %w", a.InstanceName(), cfg.ManagerURL(), err))
		case info == nil:
			errs = append(errs, fmt.Errorf("attached store %q is not a [[Common.PersistStores]] entry of the manager at %s: add it there (same Name) or fix the name", a.InstanceName(), cfg.ManagerURL()))
		}
	}
	return errors.Join(errs...)
}

// identity returns the worker's name and the address the manager's CLI can
// reach it at: [worker] name, else the local IP that routes to the manager.
func identity(cfg *config.Worker) (name, dest string, err error) {
	ip, err := localIPTowards(cfg.ManagerURL())
	if err != nil {
		return "", "", err
	}
	name = cfg.Worker.Name
	if name == "" {
		name = ip
	}
	host := cfg.Worker.RPCServer.Host
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = ip
	}
	return name, net.JoinHostPort(host, strconv.Itoa(int(cfg.Worker.RPCServer.Port))), nil
}

// localIPTowards finds the local address the kernel would use to reach the
// manager; no packet is sent (UDP "dial" only picks a route).
func localIPTowards(managerURL string) (string, error) {
	u, err := url.Parse(managerURL)
	if err != nil {
		return "", fmt.Errorf("manager address %q: %w", managerURL, err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	conn, err := net.Dial("udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return "", fmt.Errorf("find the local address towards the manager %s: %w", managerURL, err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// Run runs the sealing threads and pings the manager every ping_interval
// until ctx ends. A failed ping is logged and retried at the next tick: a
// manager restart must not stop a worker.
func (d *Daemon) Run(ctx context.Context) error {
	defer func() {
		if err := d.close(); err != nil {
			log.Warnw("stop external processors", "err", err)
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, t := range d.threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.Run(ctx); err != nil && ctx.Err() == nil {
				log.Errorw("sealing thread stopped", "err", err)
			}
		}()
	}
	interval := d.cfg.Worker.PingInterval.Std()
	if interval <= 0 {
		interval = 30 * time.Second
	}
	log.Infow("worker started", "name", d.name, "dest", d.dest, "manager", d.cfg.ManagerURL(), "ping_interval", interval, "sealing_threads", len(d.threads))
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := d.ping(ctx); err != nil && ctx.Err() == nil {
			log.Warnw("ping manager failed", "manager", d.cfg.ManagerURL(), "err", err)
		}
		select {
		case <-ctx.Done():
			log.Infow("worker stopped", "name", d.name)
			return nil
		case <-ticker.C:
		}
	}
}

func (d *Daemon) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := d.manager.WorkerPing(ctx, rpc.WorkerInfo{
		Name:    d.name,
		Dest:    d.dest,
		Version: version.String(),
		Summary: SummarizeThreads(d.threads),
	})
	return err
}
