package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/damocles-go/damocles/internal/config"
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
		if t.Location == "" {
			continue // wdpost threads need no local store
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

// Daemon is a running damocles-worker: it reports itself to the manager and,
// once plans land, runs its sealing threads.
type Daemon struct {
	cfg     *config.Worker
	manager *rpc.VenusStruct
	closer  func()
	name    string
	dest    string
}

// NewDaemon validates what the config alone cannot (stores initialised,
// plans available) and connects to the manager. Nothing runs until Run.
func NewDaemon(ctx context.Context, cfg *config.Worker) (*Daemon, error) {
	if err := CheckStores(cfg); err != nil {
		return nil, err
	}
	if len(cfg.SealingThreads) > 0 {
		return nil, fmt.Errorf("sealing_thread[0]: plan %q is not implemented yet in this build (remove the [[sealing_thread]] entries to run the worker for its heartbeat only)", cfg.SealingThreads[0].PlanName())
	}
	header := http.Header{}
	for k, v := range cfg.SectorManager.RPCClient.Headers {
		header.Set(k, v)
	}
	api, closer, err := rpc.NewVenusClient(ctx, cfg.SectorManager.RPCClient.Addr, "", header)
	if err != nil {
		return nil, err
	}
	name, dest, err := identity(cfg)
	if err != nil {
		closer()
		return nil, err
	}
	return &Daemon{cfg: cfg, manager: api, closer: closer, name: name, dest: dest}, nil
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

// Run pings the manager every ping_interval until ctx ends. A failed ping is
// logged and retried at the next tick: a manager restart must not stop a
// worker.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.closer()
	interval := d.cfg.Worker.PingInterval.Std()
	if interval <= 0 {
		interval = 30 * time.Second
	}
	log.Infow("worker started", "name", d.name, "dest", d.dest, "manager", d.cfg.ManagerURL(), "ping_interval", interval)
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
		Summary: rpc.WorkerThreadsSummary{Threads: uint(len(d.cfg.SealingThreads))},
	})
	return err
}
