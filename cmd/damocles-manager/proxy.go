package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/netaddr"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
)

// Usage of the proxy flags of `daemon run` (seed 001, "Proxy node mode").
const (
	proxyFlagUsage = "run as a proxy node of the manager at `IP:PORT` (or its multiaddr): sector locations come from its " +
		"Venus.SectorIndexerFind, cached 30s and served up to 30m old while it cannot be reached; this node's sector index " +
		"is read only (attach and persist through the source); store names resolve with this node's [[Common.PersistStores]]"
	proxyIndexerOffUsage = "with --proxy: use this node's own sector index (its [Common.DB]) instead of the source's; " +
		"refuses to start while that index is empty, as every sector would be unlocatable"
)

// A proxy node (seed 001: `--home ~/.damocles-manager2 daemon run
// --proxy=127.0.0.1:1789 --listen=:2789 --conf-dir=~/.damocles-manager
// --poster`) keeps in its own --home its database, api and token files,
// and reads sector-manager.cfg and ext-prover.cfg from --conf-dir. The
// default [Common.DB] is SQLite with a DSN relative to the home, so the
// shared config still gives each node its own file (damocles.db in each
// home). A PostgreSQL or MySQL DSN names one database for both nodes: the
// proxy then shares the source's sector, job and message rows too, and
// --proxy-sector-indexer-off reads the source's index directly.

// proxyOptions are the proxy flags of `daemon run`.
type proxyOptions struct {
	// source is --proxy, the source manager's address; empty when this
	// node is no proxy.
	source string
	// indexerOff is --proxy-sector-indexer-off.
	indexerOff bool
}

func proxyOptionsOf(c *cli.Context) proxyOptions {
	return proxyOptions{source: c.String("proxy"), indexerOff: c.Bool("proxy-sector-indexer-off")}
}

// checkProxyFlag checks --proxy before anything is opened: an address
// with a port, and not this node's own listener.
func checkProxyFlag(source, listen string) error {
	ep, err := netaddr.Parse(source)
	if err != nil {
		return fmt.Errorf("--proxy: %w: give the source manager's IP:PORT, e.g. --proxy=127.0.0.1:1789", err)
	}
	if ep.Port == "" {
		return fmt.Errorf("--proxy %q: no port: give the source manager's IP:PORT, e.g. --proxy=127.0.0.1:1789", source)
	}
	if self, err := netaddr.Parse(listen); err == nil && self.Port == ep.Port && isLocalHost(self.Host) && isLocalHost(ep.Host) {
		return fmt.Errorf("--proxy %s is this node's own --listen %s: a proxy node reads another manager, the source (e.g. --proxy=127.0.0.1:1789 --listen=:2789)", source, listen)
	}
	return nil
}

// isLocalHost tells a host that names this machine without a doubt.
func isLocalHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// nodeIndex is the sector indexer of this node, with its metrics and what
// it holds open.
type nodeIndex struct {
	indexer *sectors.Indexer
	// registerMetrics registers the indexer's metrics (a proxy's); a no-op
	// otherwise.
	registerMetrics func(prometheus.Registerer) error
	close           func()
}

// newNodeIndex returns the sector indexer of a node run with p: the
// source's index, read through RPC, for a proxy node; its own database's
// otherwise, which with --proxy-sector-indexer-off must not be empty.
func newNodeIndex(ctx context.Context, p proxyOptions, db *store.DB, stores *sectors.PersistStores) (nodeIndex, error) {
	n := nodeIndex{registerMetrics: func(prometheus.Registerer) error { return nil }, close: func() {}}
	if p.source == "" {
		n.indexer = sectors.NewIndexer(db, stores, nil)
		return n, nil
	}
	if p.indexerOff {
		local := sectors.NewLocalIndex(db, sectors.LocalIndexOptions{ProxyOff: true})
		empty, err := local.Empty(ctx)
		if err != nil {
			return nodeIndex{}, fmt.Errorf("--proxy-sector-indexer-off: %w", err)
		}
		if empty {
			log.Errorw("local sector indexer is empty: every sector would be reported unlocatable and WindowPoSt would skip all sectors",
				"flag", "--proxy-sector-indexer-off", "proxy", p.source)
			return nodeIndex{}, errors.New("--proxy-sector-indexer-off: the local sector index (this node's [Common.DB]) is empty, " +
				"so every sector would be unlocatable and WindowPoSt would skip them all; refusing to start. " +
				"Drop --proxy-sector-indexer-off to read the source manager's index, or fill this one first " +
				"(run this node without --proxy and `util storage attach` its stores, or share the source's [Common.DB])")
		}
		log.Infow("proxy node: sector locations come from this node's own index (--proxy-sector-indexer-off)", "proxy", p.source)
		n.indexer = sectors.NewIndexerFrom(local, stores)
		return n, nil
	}

	// SectorIndexerFind and Version need only the read permission, which
	// a request without a token has.
	client, closer, err := rpc.NewVenusClient(ctx, p.source, "", nil)
	if err != nil {
		return nodeIndex{}, fmt.Errorf("--proxy: %w", err)
	}
	proxy := sectors.NewProxyIndex(p.source, client, sectors.ProxyIndexOptions{})
	if v, err := proxy.Probe(ctx); err != nil {
		// Not fatal: the source may be restarting; lookups ask again.
		log.Warnw("proxy node started while its source does not answer: sectors cannot be located until it does", "source", p.source, "err", err)
	} else {
		log.Infow("proxy node: sector locations come from the source manager (read only)", "source", p.source, "source_version", v)
	}
	n.indexer = sectors.NewIndexerFrom(proxy, stores)
	n.registerMetrics = proxy.RegisterMetrics
	n.close = func() { closer() }
	return n, nil
}
