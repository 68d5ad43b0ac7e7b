package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/commit"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/netaddr"
	"github.com/damocles-go/damocles/internal/poster"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sealer"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/version"
)

// secretName is the row of api_secrets that signs this cluster's tokens.
// Managers sharing one PostgreSQL/MySQL database share it, so a token works
// against every one of them.
const secretName = "api"

var daemonCmd = &cli.Command{
	Name:        "daemon",
	Usage:       "initialise and run the manager daemon",
	Subcommands: []*cli.Command{daemonInitCmd, daemonRunCmd},
}

var daemonInitCmd = &cli.Command{
	Name:  "init",
	Usage: "create the home: config files, database and API secret",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Usage: "overwrite existing config files with the defaults"},
	},
	Action: func(c *cli.Context) error {
		h, err := homeOf(c, "")
		if err != nil {
			return err
		}
		files := map[string][]byte{
			config.ManagerFileName:   config.ManagerTemplate(),
			config.ExtProverFileName: config.ExtProverTemplate(),
		}
		// Check every file before writing any: a refused init writes nothing.
		if !c.Bool("force") {
			for name := range files {
				if _, err := os.Stat(h.ConfPath(name)); err == nil {
					return fmt.Errorf("%s already exists: refusing to overwrite it (use --force to replace it with the defaults)", h.ConfPath(name))
				} else if !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("check %s: %w", h.ConfPath(name), err)
				}
			}
		}
		if err := h.EnsureDir(); err != nil {
			return err
		}
		for _, name := range []string{config.ManagerFileName, config.ExtProverFileName} {
			if err := os.WriteFile(h.ConfPath(name), files[name], 0o600); err != nil {
				return fmt.Errorf("write %s: %w", h.ConfPath(name), err)
			}
			log.Infow("config file written", "path", h.ConfPath(name))
		}
		cfg, warnings, err := config.LoadManager(h.ConfPath(config.ManagerFileName))
		if err != nil {
			return err
		}
		logWarnings(warnings)
		db, err := openDatabase(c.Context, h, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := loadSecret(c.Context, h, db); err != nil {
			return err
		}
		fmt.Printf("initialised %s\n  config:   %s\n  database: %s\n  token:    %s\n",
			h.Dir, h.ConfPath(config.ManagerFileName), describeDB(h, cfg), h.Path(home.TokenFile))
		return nil
	},
}

var daemonRunCmd = &cli.Command{
	Name:  "run",
	Usage: "run the manager daemon",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: ":1789", Usage: "address of the RPC listener"},
		&cli.StringFlag{Name: "conf-dir", Usage: "read sector-manager.cfg and ext-prover.cfg from this directory instead of the home"},
		&cli.BoolFlag{Name: "poster", Usage: "run the WindowPoSt module"},
		&cli.BoolFlag{Name: "miner", Usage: "run the WinningPoSt (block production) module"},
		&cli.StringFlag{Name: "proxy", Usage: proxyFlagUsage},
		&cli.BoolFlag{Name: "proxy-sector-indexer-off", Usage: proxyIndexerOffUsage},
		&cli.BoolFlag{Name: "ext-prover", Usage: "prove through the external processors of ext-prover.cfg"},
		&cli.BoolFlag{Name: "worker-prover", Usage: "prove WindowPoSt through jobs that damocles-workers claim"},
	},
	Action: runDaemon,
}

// checkModuleFlags refuses flag combinations that cannot work and modules
// that this build does not have yet, before anything is opened.
func checkModuleFlags(c *cli.Context) error {
	if c.Bool("ext-prover") && c.Bool("worker-prover") {
		return errors.New("--ext-prover and --worker-prover are mutually exclusive: choose one prover (external processors on this machine, or jobs for damocles-workers)")
	}
	if c.Bool("proxy-sector-indexer-off") && !c.IsSet("proxy") {
		return errors.New("--proxy-sector-indexer-off only makes sense with --proxy")
	}
	if c.Bool("worker-prover") && !c.Bool("poster") {
		return errors.New("--worker-prover needs --poster: the worker-prover computes the poster's WindowPoSt proofs (daemon run --poster --worker-prover)")
	}
	if c.IsSet("proxy") {
		if err := checkProxyFlag(c.String("proxy"), c.String("listen")); err != nil {
			return err
		}
	}
	if c.IsSet("miner") {
		return errors.New("--miner: module not implemented yet in this build")
	}
	return nil
}

func runDaemon(c *cli.Context) error {
	if err := checkModuleFlags(c); err != nil {
		return err
	}
	h, err := homeOf(c, c.String("conf-dir"))
	if err != nil {
		return err
	}
	cfgPath := h.ConfPath(config.ManagerFileName)
	cfg, warnings, err := config.LoadManager(cfgPath)
	if err != nil {
		return err
	}
	logWarnings(warnings)
	trusted, err := rpc.ParseTrustedNetworks(cfg.Common.Auth.TrustedNetworks)
	if err != nil {
		return fmt.Errorf("%s: Common.Auth.TrustedNetworks: %w", cfgPath, err)
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	db, err := openDatabase(ctx, h, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	secret, err := loadSecret(ctx, h, db)
	if err != nil {
		return err
	}

	// running is the config in force: a reload replaces it, and the
	// sealer reads its [[Miners]] on each allocation.
	var running atomic.Pointer[config.Manager]
	running.Store(cfg)
	sealing, err := newSealing(ctx, cfg, db, func() []config.Miner { return running.Load().Miners }, proxyOptionsOf(c))
	if err != nil {
		return err
	}
	defer sealing.close()

	proving := func() config.Proving { return running.Load().Common.Proving }
	engine := &proofs.DevEngine{}
	api := &venusAPI{
		AuthAPI:        rpc.NewAuthAPI(secret),
		WorkerRegistry: sealer.NewWorkerRegistry(db.Workers(), nil),
		API:            sealing.api,
		ProvingAPI:     poster.NewProvingAPI(poster.NewChecker(sealing.indexer, engine), proving),
	}
	registry := rpc.NewRegistry()
	if err := sealing.registerMetrics(registry); err != nil {
		return err
	}
	wdpost, err := newPoster(ctx, c, h, cfg, posterDeps{
		db: db, sealing: sealing, engine: engine, registry: registry,
		miners: func() []config.Miner { return running.Load().Miners }, proving: proving,
	})
	if err != nil {
		return err
	}
	defer wdpost.close()
	apis := []rpc.API{{Namespace: rpc.Namespace, Impl: api, Proxy: &rpc.VenusStruct{}}}
	if wdpost.jobs != nil {
		// Without --worker-prover the WdPoSt methods stay "method not
		// found", which workers read as "enable the worker-prover".
		apis = append(apis, rpc.WdPoStAPI(wdpost.jobs))
	}
	srv, err := rpc.NewAPIServer(rpc.ServerConfig{Secret: secret, TrustedNetworks: trusted, Registry: registry}, apis...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.String("listen"), err)
	}
	if err := writeAPIFile(h, ln.Addr()); err != nil {
		ln.Close()
		return err
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		reloadOnSIGUSR1(ctx, h, cfg, srv, running.Store)
	}()
	if sealing.commit != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Run returns nil when ctx ends (a failed pass is retried
			// inside); anything else means messages stopped going out.
			if err := sealing.commit.Run(ctx); err != nil {
				log.Errorw("commitment manager stopped: no more PreCommit/ProveCommit messages will be sent until a restart", "err", err)
			}
		}()
	}

	if wdpost.run != nil {
		wg.Go(func() { wdpost.run(ctx) })
	}

	log.Infow("daemon started", "version", version.String(), "listen", ln.Addr().String(),
		"home", h.Dir, "conf-dir", h.ConfDir, "db", cfg.Common.DB.Driver)
	err = srv.Serve(ctx, ln)
	stop()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("rpc server: %w", err)
	}
	log.Infow("daemon stopped")
	return nil
}

// venusAPI is the method set served under the Venus namespace: each domain
// contributes its methods by embedding.
type venusAPI struct {
	*rpc.AuthAPI
	*sealer.WorkerRegistry
	*sealer.API
	*poster.ProvingAPI
}

// sealing is the sealing side of the daemon: the chain connection, when
// [Common.API] Chain names one, the commit manager over it, the sector
// indexer (a proxy node's reads its source's: --proxy) and the sealer
// API. Without a chain the API still serves what needs none, and answers
// sealer.ErrNoChain to the rest.
type sealing struct {
	api     *sealer.API
	commit  *commit.Manager
	node    chain.API // nil without [Common.API] Chain
	indexer *sectors.Indexer
	// registerMetrics registers the indexer's metrics (a proxy's).
	registerMetrics func(prometheus.Registerer) error
	close           func()
}

// blockDelay is the chain's time between epochs, how often the commitment
// manager looks at the messages it sent: nothing changes on chain faster.
// 0 (the commit package's default) when the node cannot say.
func blockDelay(ctx context.Context, node chain.API) time.Duration {
	params, err := node.StateGetNetworkParams(ctx)
	if err != nil || params.BlockDelaySecs == 0 {
		log.Warnw("cannot read the chain's block delay; the commitment manager polls at its default", "err", err)
		return 0
	}
	return time.Duration(params.BlockDelaySecs) * time.Second
}

func newSealing(ctx context.Context, cfg *config.Manager, db *store.DB, miners func() []config.Miner, proxy proxyOptions) (*sealing, error) {
	stores, err := sectors.NewPersistStores(cfg.Common.PersistStores, db, sectors.PersistStoresOptions{})
	if err != nil {
		return nil, err
	}
	index, err := newNodeIndex(ctx, proxy, db, stores)
	if err != nil {
		return nil, err
	}
	s := &sealing{close: index.close, indexer: index.indexer, registerMetrics: index.registerMetrics}
	var node chain.API
	if addr := cfg.Common.API.Chain; addr != "" {
		var closer func()
		node, closer, err = chain.NewClient(ctx, addr, cfg.Common.API.Token)
		if err != nil {
			index.close()
			return nil, fmt.Errorf("[Common.API] Chain: %w", err)
		}
		s.close = func() { closer(); index.close() }
		s.node = node
		if s.commit, err = commit.New(commit.Config{Miners: cfg.Miners, DB: db, Chain: node, PollInterval: blockDelay(ctx, node)}); err != nil {
			s.close()
			return nil, err
		}
		log.Infow("chain node connected", "addr", addr)
	} else {
		log.Warnw("no chain node configured: workers cannot allocate, pre-commit nor prove sectors; set [Common.API] Chain")
	}
	s.api, err = sealer.NewAPI(sealer.Config{Miners: miners, DB: db, Stores: stores, Indexer: s.indexer, Chain: node, Commit: s.commit})
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// Version returns the version string damocles reports (Venus.Version).
func (venusAPI) Version(context.Context) (string, error) { return version.String(), nil }

// reloadOnSIGUSR1 re-reads both config files on SIGUSR1, logs every changed
// key, and applies what can change at run time. A file that no longer loads
// is reported and the running config kept.
//
// applied is called with each config that loads; the commit manager and
// the persist stores keep the config they started with until a restart.
func reloadOnSIGUSR1(ctx context.Context, h home.Home, cfg *config.Manager, srv *rpc.Server, applied func(*config.Manager)) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	extPath := h.ConfPath(config.ExtProverFileName)
	ext, err := config.LoadExtProver(extPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warnw("ext-prover config does not load; it is only needed with --ext-prover", "path", extPath, "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		path := h.ConfPath(config.ManagerFileName)
		next, warnings, err := config.LoadManager(path)
		if err != nil {
			log.Errorw("config reload failed; keeping the running config", "path", path, "err", err)
			continue
		}
		logWarnings(warnings)
		trusted, err := rpc.ParseTrustedNetworks(next.Common.Auth.TrustedNetworks)
		if err != nil {
			log.Errorw("config reload failed; keeping the running config", "path", path, "err", err)
			continue
		}
		changes := config.Diff(cfg, next)
		for _, ch := range changes {
			log.Infow("config changed", "file", path, "key", ch.Key, "old", ch.Old, "new", ch.New)
		}
		if next.Common.DB != cfg.Common.DB {
			log.Warnw("Common.DB changed: it takes effect at the next restart", "file", path)
		}
		srv.SetTrustedNetworks(trusted)
		cfg = next
		applied(next)
		if nextExt, err := config.LoadExtProver(extPath); err == nil {
			for _, ch := range config.Diff(ext, nextExt) {
				log.Infow("config changed", "file", extPath, "key", ch.Key, "old", ch.Old, "new", ch.New)
			}
			ext = nextExt
		} else if !errors.Is(err, fs.ErrNotExist) {
			log.Errorw("ext-prover config reload failed; keeping the running one", "path", extPath, "err", err)
		}
		log.Infow("config reloaded", "changes", len(changes))
	}
}

// openDatabase opens and migrates the database named by [Common.DB].
func openDatabase(ctx context.Context, h home.Home, cfg *config.Manager) (*store.DB, error) {
	dsn := cfg.Common.DB.DSN
	if cfg.Common.DB.Driver == store.DriverSQLite {
		dsn = h.SQLitePath(dsn)
	}
	db, err := store.Open(ctx, cfg.Common.DB.Driver, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func describeDB(h home.Home, cfg *config.Manager) string {
	if cfg.Common.DB.Driver == store.DriverSQLite {
		return "sqlite " + h.SQLitePath(cfg.Common.DB.DSN)
	}
	return cfg.Common.DB.Driver
}

// loadSecret returns the secret that signs API tokens, creating it on first
// use, and writes the admin token the local CLI uses, as Lotus does.
func loadSecret(ctx context.Context, h home.Home, db *store.DB) ([]byte, error) {
	secret, err := db.Secrets().Ensure(ctx, secretName, rpc.NewSecret)
	if err != nil {
		return nil, fmt.Errorf("load API secret: %w", err)
	}
	token, err := rpc.NewToken(secret, rpc.AllPermissions)
	if err != nil {
		return nil, err
	}
	return secret, h.WriteSecretFile(home.TokenFile, []byte(token))
}

// writeAPIFile records where the daemon listens, so the CLI finds it. A
// wildcard listener is recorded as loopback.
func writeAPIFile(h home.Home, addr net.Addr) error {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("listener address %s is not TCP", addr)
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	ep := netaddr.Endpoint{Scheme: "http", Host: host, Port: fmt.Sprint(tcp.Port)}
	return h.WriteSecretFile(home.APIFile, []byte(ep.Multiaddr()))
}

func logWarnings(ws config.Warnings) {
	for _, w := range ws {
		log.Warnw("config: " + w)
	}
}
