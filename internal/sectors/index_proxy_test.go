package sectors_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	logging "github.com/ipfs/go-log/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sealer"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// sourceAPI is the part of the Venus API a proxy node calls, served by the
// real RPC server in front of the real sealer API.
type sourceAPI struct {
	Internal struct {
		Version           func(ctx context.Context) (string, error)                                                     `perm:"read"`
		SectorIndexerFind func(ctx context.Context, indexType string, id abi.SectorID) (rpc.SectorIndexLocation, error) `perm:"read"`
	}
}

func (s *sourceAPI) Version(ctx context.Context) (string, error) { return s.Internal.Version(ctx) }

func (s *sourceAPI) SectorIndexerFind(ctx context.Context, indexType string, id abi.SectorID) (rpc.SectorIndexLocation, error) {
	return s.Internal.SectorIndexerFind(ctx, indexType, id)
}

// sourceImpl is the source manager's sealer API, with a version.
type sourceImpl struct{ *sealer.API }

func (sourceImpl) Version(context.Context) (string, error) { return "v0.0.0-test-source", nil }

// sourceManager is a source manager: its sector index in a SQLite
// database, behind the sealer API and the RPC server on a port of
// 127.0.0.1. stop and start are a restart: the same port, the same
// database.
type sourceManager struct {
	t    *testing.T
	db   *store.DB
	api  *sealer.API
	srv  *rpc.Server
	addr string // host:port

	stopServe context.CancelFunc
	served    chan error
}

func newSourceManager(t *testing.T) *sourceManager {
	t.Helper()
	db := storetest.NewSQLite(t)
	stores, err := sectors.NewPersistStores(nil, db, sectors.PersistStoresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := sealer.NewAPI(sealer.Config{DB: db, Stores: stores})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := rpc.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rpc.NewAPIServer(rpc.ServerConfig{Secret: secret},
		rpc.API{Namespace: rpc.Namespace, Impl: sourceImpl{api}, Proxy: &sourceAPI{}})
	if err != nil {
		t.Fatal(err)
	}
	s := &sourceManager{t: t, db: db, api: api, srv: srv}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start serves on the source's port (a new one the first time).
func (s *sourceManager) start() {
	s.t.Helper()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("source manager: listen on %s: %v", addr, err)
	}
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopServe, s.served = cancel, make(chan error, 1)
	go func() { s.served <- s.srv.Serve(ctx, ln) }()
}

// stop shuts the server down and waits for it; a stopped source is left
// as is.
func (s *sourceManager) stop() {
	if s.stopServe == nil {
		return
	}
	s.stopServe()
	if err := <-s.served; err != nil {
		s.t.Errorf("source manager: serve: %v", err)
	}
	s.stopServe = nil
}

// attach indexes a sector at the source, as `util storage attach` does.
func (s *sourceManager) attach(kind sectors.IndexKind, id abi.SectorID, stores rpc.SectorAccessStores) {
	s.t.Helper()
	if _, err := s.api.StorageAttachIndex(context.Background(), []rpc.SectorIndexEntry{{Kind: string(kind), ID: id, Stores: stores}}); err != nil {
		s.t.Fatal(err)
	}
}

// countingSource counts the asks that reach the client.
type countingSource struct {
	sectors.ProxySource
	finds atomic.Int64
}

func (c *countingSource) SectorIndexerFind(ctx context.Context, indexType string, id abi.SectorID) (rpc.SectorIndexLocation, error) {
	c.finds.Add(1)
	return c.ProxySource.SectorIndexerFind(ctx, indexType, id)
}

// fakeClock is the cache's time, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// proxyNode is a proxy's view of a source: its ProxyIndex over a real
// client, the Indexer over it with the proxy's own persist stores, and the
// metrics registry.
type proxyNode struct {
	index   *sectors.ProxyIndex
	indexer *sectors.Indexer
	source  *countingSource
	clock   *fakeClock
	reg     *prometheus.Registry
	db      *store.DB
	stores  *sectors.PersistStores
}

func newProxyNode(t *testing.T, src *sourceManager, opts sectors.ProxyIndexOptions) *proxyNode {
	t.Helper()
	client, closer, err := rpc.NewVenusClient(t.Context(), src.addr, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closer)
	n := &proxyNode{source: &countingSource{ProxySource: client}, clock: &fakeClock{now: time.Unix(1_700_000_000, 0)}, reg: prometheus.NewRegistry()}
	if opts.Now == nil {
		opts.Now = n.clock.Now
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	n.index = sectors.NewProxyIndex(src.addr, n.source, opts)
	if err := n.index.RegisterMetrics(n.reg); err != nil {
		t.Fatal(err)
	}
	n.db = storetest.NewSQLite(t)
	store1 := config.DefaultPersistStore()
	store1.Name, store1.Path = "store-1", "/mnt/proxy-view/store-1"
	if n.stores, err = sectors.NewPersistStores([]config.PersistStore{store1}, n.db, sectors.PersistStoresOptions{}); err != nil {
		t.Fatal(err)
	}
	n.indexer = sectors.NewIndexerFrom(n.index, n.stores)
	return n
}

// find is Find through the indexer, which must not fail.
func (n *proxyNode) find(t *testing.T, kind sectors.IndexKind, id abi.SectorID) rpc.SectorIndexLocation {
	t.Helper()
	loc, err := n.indexer.Find(t.Context(), kind, id)
	if err != nil {
		t.Fatalf("Find(%s, %v): %v", kind, id, err)
	}
	return loc
}

// metric returns the value of the proxy metric name, with result label
// result when not empty.
func (n *proxyNode) metric(t *testing.T, name, result string) float64 {
	t.Helper()
	families, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if result == "" || labelOf(m, "result") == result {
				switch {
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Counter != nil:
					return m.Counter.GetValue()
				}
			}
		}
		return 0
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// lookups returns the lookup counters, hit/miss/stale/error.
func (n *proxyNode) lookups(t *testing.T) [4]float64 {
	t.Helper()
	var out [4]float64
	for i, r := range []string{"hit", "miss", "stale", "error"} {
		out[i] = n.metric(t, "damocles_proxy_lookups_total", r)
	}
	return out
}

// logTap collects what the sectors logger writes, as JSON lines.
type logTap struct {
	mu    sync.Mutex
	lines []map[string]any
	done  chan struct{}
	pipe  *logging.PipeReader
}

func tapLogs(t *testing.T) *logTap {
	t.Helper()
	if err := logging.SetLogLevel("sectors", "debug"); err != nil {
		t.Fatal(err)
	}
	tap := &logTap{done: make(chan struct{}), pipe: logging.NewPipeReader()}
	go func() {
		defer close(tap.done)
		sc := bufio.NewScanner(tap.pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["logger"] == "sectors" {
				tap.mu.Lock()
				tap.lines = append(tap.lines, line)
				tap.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = tap.pipe.Close()
		<-tap.done
		_ = logging.SetLogLevel("sectors", "error")
	})
	return tap
}

// count returns how many lines at level have a message starting with
// prefix.
func (l *logTap) count(level, prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		msg, _ := line["msg"].(string)
		if line["level"] == level && strings.HasPrefix(msg, prefix) {
			n++
		}
	}
	return n
}

// waitCount waits a little for the tap's reader to catch up, then checks
// the count.
func (l *logTap) waitCount(t *testing.T, level, prefix string, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for l.count(level, prefix) != want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := l.count(level, prefix); got != want {
		t.Fatalf("%d %s logs %q; want %d", got, level, prefix, want)
	}
}

var (
	sector1 = abi.SectorID{Miner: 1000, Number: 1}
	sector2 = abi.SectorID{Miner: 1000, Number: 2}
	inStore = rpc.SectorAccessStores{SealedFile: "store-1", CacheDir: "store-1"}
)

func TestProxyIndexFindsTheSourceEntries(t *testing.T) {
	src := newSourceManager(t)
	src.attach(sectors.IndexNormal, sector1, inStore)
	src.attach(sectors.IndexUpgrade, sector2, rpc.SectorAccessStores{SealedFile: "store-1", CacheDir: "store-2"})
	n := newProxyNode(t, src, sectors.ProxyIndexOptions{})
	tap := tapLogs(t)

	if v, err := n.index.Probe(t.Context()); err != nil || v != "v0.0.0-test-source" {
		t.Fatalf("Probe = %q, %v", v, err)
	}
	tap.waitCount(t, "info", "proxy source reachable", 1)
	if up := n.metric(t, "damocles_proxy_source_up", ""); up != 1 {
		t.Fatalf("source_up = %v after a probe answered; want 1", up)
	}

	if loc := n.find(t, sectors.IndexNormal, sector1); !loc.Found || loc.Instance != inStore {
		t.Fatalf("Find(normal, 1) = %+v; want the source's entry %+v", loc, inStore)
	}
	if loc := n.find(t, sectors.IndexUpgrade, sector2); !loc.Found || loc.Instance.CacheDir != "store-2" {
		t.Fatalf("Find(upgrade, 2) = %+v", loc)
	}
	for _, q := range []struct {
		kind sectors.IndexKind
		id   abi.SectorID
	}{{sectors.IndexUpgrade, sector1}, {sectors.IndexNormal, sector2}, {sectors.IndexNormal, abi.SectorID{Miner: 1001, Number: 1}}} {
		if loc := n.find(t, q.kind, q.id); loc != (rpc.SectorIndexLocation{}) {
			t.Fatalf("Find(%s, %v) = %+v; want not found", q.kind, q.id, loc)
		}
	}

	// Paths: the source's store names, this node's store paths.
	paths, err := n.indexer.Paths(t.Context(), sectors.IndexNormal, sector1)
	if err != nil || paths.SealedFile != "/mnt/proxy-view/store-1/sealed/s-t01000-1" || paths.CacheDir != "/mnt/proxy-view/store-1/cache/s-t01000-1" {
		t.Fatalf("Paths = %+v, %v", paths, err)
	}
	_, err = n.indexer.Paths(t.Context(), sectors.IndexNormal, sector2)
	if err == nil || !strings.Contains(err.Error(), "not in the normal sector index of the source manager "+src.addr+" (--proxy)") {
		t.Fatalf("Paths of a sector the source lacks = %v; want the source named", err)
	}

	// A bad kind is refused before the source is asked.
	asked := n.source.finds.Load()
	if _, err := n.indexer.Find(t.Context(), "snap", sector1); err == nil || !strings.Contains(err.Error(), "unknown sector index kind") {
		t.Fatalf("Find(snap) = %v", err)
	}
	if n.source.finds.Load() != asked {
		t.Fatal("a bad kind was sent to the source")
	}
	// An error the source answers (here, asked past the Indexer's check)
	// is no outage: the source stays up.
	if _, err := n.index.Find(t.Context(), "snap", sector1); err == nil || !strings.Contains(err.Error(), "unknown sector index kind") {
		t.Fatalf("ProxyIndex.Find(snap) = %v; want the source's error", err)
	}
	if up := n.metric(t, "damocles_proxy_source_up", ""); up != 1 {
		t.Fatalf("source_up = %v after the source answered an error; want 1", up)
	}
	tap.waitCount(t, "warn", "proxy source answered a lookup with an error", 1)
	tap.waitCount(t, "warn", "proxy source unreachable", 0)
}

func TestProxyIndexCache(t *testing.T) {
	src := newSourceManager(t)
	src.attach(sectors.IndexNormal, sector1, inStore)
	n := newProxyNode(t, src, sectors.ProxyIndexOptions{})

	n.find(t, sectors.IndexNormal, sector1)
	moved := rpc.SectorAccessStores{SealedFile: "store-9", CacheDir: "store-9"}
	src.attach(sectors.IndexNormal, sector1, moved)

	n.clock.Advance(sectors.ProxyFreshForDefault - time.Second)
	if loc := n.find(t, sectors.IndexNormal, sector1); loc.Instance != inStore {
		t.Fatalf("a location %s old = %+v; want the cached %+v, not asked again", sectors.ProxyFreshForDefault-time.Second, loc, inStore)
	}
	if got := n.source.finds.Load(); got != 1 {
		t.Fatalf("the source was asked %d times; want 1 (the second lookup is a hit)", got)
	}
	n.clock.Advance(2 * time.Second)
	if loc := n.find(t, sectors.IndexNormal, sector1); loc.Instance != moved {
		t.Fatalf("a location past FreshFor = %+v; want the source's new %+v", loc, moved)
	}
	if got, want := n.lookups(t), [4]float64{1, 2, 0, 0}; got != want {
		t.Fatalf("lookups hit/miss/stale/error = %v; want %v", got, want)
	}

	// "Not found" is not cached: a sector attached on the source is seen
	// at the next lookup, however soon.
	if loc := n.find(t, sectors.IndexNormal, sector2); loc.Found {
		t.Fatalf("Find of a sector not attached yet = %+v", loc)
	}
	src.attach(sectors.IndexNormal, sector2, inStore)
	if loc := n.find(t, sectors.IndexNormal, sector2); !loc.Found {
		t.Fatal("a sector attached on the source right after a \"not found\" was not found: the miss was cached")
	}

	// An entry the source no longer has (its database restored from an
	// older backup) is dropped: not served stale in the next outage.
	if _, err := src.db.SQL().ExecContext(t.Context(), "DELETE FROM sector_index"); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(sectors.ProxyFreshForDefault)
	if loc := n.find(t, sectors.IndexNormal, sector2); loc.Found {
		t.Fatalf("Find after the source lost the entry = %+v; want not found", loc)
	}
	src.stop()
	if _, err := n.indexer.Find(t.Context(), sectors.IndexNormal, sector2); err == nil {
		t.Fatal("an entry the source said it no longer has was served while the source is down")
	}
}

func TestProxyIndexSourceRestart(t *testing.T) {
	src := newSourceManager(t)
	src.attach(sectors.IndexNormal, sector1, inStore)
	n := newProxyNode(t, src, sectors.ProxyIndexOptions{})
	tap := tapLogs(t)

	n.find(t, sectors.IndexNormal, sector1)
	src.stop()
	n.clock.Advance(time.Minute)

	// Down: the cached location, a minute old, is served; the outage is
	// logged once and exported.
	for range 3 {
		if loc := n.find(t, sectors.IndexNormal, sector1); loc.Instance != inStore {
			t.Fatalf("Find while the source is down = %+v; want the cached %+v", loc, inStore)
		}
	}
	tap.waitCount(t, "warn", "proxy source unreachable", 1)
	if up := n.metric(t, "damocles_proxy_source_up", ""); up != 0 {
		t.Fatalf("source_up = %v while the source is down; want 0", up)
	}
	if age := n.metric(t, "damocles_proxy_source_last_contact_age_seconds", ""); age != 60 {
		t.Fatalf("last contact age = %v; want 60", age)
	}
	if got := n.lookups(t); got[2] != 3 {
		t.Fatalf("lookups hit/miss/stale/error = %v; want 3 stale", got)
	}
	// The first lookup retried; once the outage is known, each asks once.
	if got, want := n.source.finds.Load(), int64(1+sectors.ProxyTriesDefault+2); got != want {
		t.Fatalf("the source was asked %d times; want %d", got, want)
	}

	// Down, nothing cached: an error naming the source.
	_, err := n.indexer.Find(t.Context(), sectors.IndexNormal, sector2)
	if err == nil || !strings.Contains(err.Error(), "proxy source "+src.addr+" (--proxy) did not answer") {
		t.Fatalf("Find of an uncached sector while the source is down = %v; want an error naming %s", err, src.addr)
	}
	// Paths says so too, rather than "not indexed".
	if _, err := n.indexer.Paths(t.Context(), sectors.IndexNormal, sector2); err == nil || !strings.Contains(err.Error(), src.addr) {
		t.Fatalf("Paths while the source is down = %v", err)
	}

	// Back: asked again, logged once, exported.
	src.start()
	n.clock.Advance(time.Second)
	if loc := n.find(t, sectors.IndexNormal, sector1); loc.Instance != inStore {
		t.Fatalf("Find after the restart = %+v", loc)
	}
	n.find(t, sectors.IndexNormal, sector2)
	tap.waitCount(t, "info", "proxy source reachable again", 1)
	tap.waitCount(t, "warn", "proxy source unreachable", 1)
	if up := n.metric(t, "damocles_proxy_source_up", ""); up != 1 {
		t.Fatalf("source_up = %v after the restart; want 1", up)
	}
	if age := n.metric(t, "damocles_proxy_source_last_contact_age_seconds", ""); age != 0 {
		t.Fatalf("last contact age = %v after the restart; want 0", age)
	}
}

func TestProxyIndexStaleLimit(t *testing.T) {
	src := newSourceManager(t)
	src.attach(sectors.IndexNormal, sector1, inStore)
	n := newProxyNode(t, src, sectors.ProxyIndexOptions{FreshFor: time.Second, StaleFor: time.Minute})

	n.find(t, sectors.IndexNormal, sector1)
	src.stop()
	n.clock.Advance(59 * time.Second)
	if loc := n.find(t, sectors.IndexNormal, sector1); !loc.Found {
		t.Fatal("a location younger than StaleFor was not served while the source is down")
	}
	n.clock.Advance(2 * time.Second)
	_, err := n.indexer.Find(t.Context(), sectors.IndexNormal, sector1)
	if err == nil || !strings.Contains(err.Error(), src.addr) || !strings.Contains(err.Error(), "older than the 1m0s a cached one is served for") {
		t.Fatalf("Find of a location as old as StaleFor while the source is down = %v; want an error naming the source and the age limit", err)
	}
	if got := n.lookups(t); got != [4]float64{0, 1, 1, 1} {
		t.Fatalf("lookups hit/miss/stale/error = %v; want 0 1 1 1", got)
	}
}

// A source whose host is gone answers nothing: each attempt ends at
// AttemptTimeout, not at the caller's deadline.
func TestProxyIndexHungSource(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	conns.Go(func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // read nothing, answer nothing
		}
	})
	client, closer, err := rpc.NewVenusClient(t.Context(), ln.Addr().String(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	p := sectors.NewProxyIndex(ln.Addr().String(), client, sectors.ProxyIndexOptions{Tries: 2, Backoff: time.Millisecond, AttemptTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = p.Find(ctx, sectors.IndexNormal, sector1)
	if err == nil || !strings.Contains(err.Error(), "did not answer after 2 attempt(s)") {
		t.Fatalf("Find at a hung source = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Find at a hung source took %s: the attempt timeout did not apply", d)
	}
}

// The caller's ctx ending is not an outage: nothing stale is served and
// the source is not marked down.
func TestProxyIndexCallerGivesUp(t *testing.T) {
	src := newSourceManager(t)
	src.attach(sectors.IndexNormal, sector1, inStore)
	n := newProxyNode(t, src, sectors.ProxyIndexOptions{})
	n.find(t, sectors.IndexNormal, sector1)
	n.clock.Advance(time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := n.indexer.Find(ctx, sectors.IndexNormal, sector1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Find with an ended ctx = %v; want context.Canceled", err)
	}
	if up := n.metric(t, "damocles_proxy_source_up", ""); up != 1 {
		t.Fatalf("source_up = %v after the caller gave up; want 1 (the source is fine)", up)
	}
}

// Every write to a proxy node's index is refused, through the sealer API
// that workers and the CLI call, before anything else is done.
func TestProxyIndexRefusesWrites(t *testing.T) {
	src := newSourceManager(t)
	n := newProxyNode(t, src, sectors.ProxyIndexOptions{})
	api, err := sealer.NewAPI(sealer.Config{DB: n.db, Stores: n.stores, Indexer: n.indexer})
	if err != nil {
		t.Fatal(err)
	}
	want := "this manager is a proxy of " + src.addr + " (--proxy): its sector index is read only; attach or persist through the source manager"
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, sectors.ErrIndexReadOnly) {
			t.Fatalf("%s on a proxy node = %v; want %q", what, err, want)
		}
	}
	check("Update", n.indexer.Update(t.Context(), sectors.IndexNormal, sector1, inStore))
	_, err = api.StorageAttachIndex(t.Context(), []rpc.SectorIndexEntry{{Kind: "normal", ID: sector1, Stores: inStore}})
	check("StorageAttachIndex", err)
	// No sector state on the proxy: the refusal comes first, not the
	// 11001 "not found" that would make the worker abort the sector.
	_, err = api.SubmitPersistedEx(t.Context(), sector1, "store-1", false)
	check("SubmitPersistedEx", err)
	if rpc.IsSectorStateNotFound(err) {
		t.Fatal("SubmitPersistedEx on a proxy answered 11001")
	}
	_, err = api.SubmitPersisted(t.Context(), sector1, "store-1")
	check("SubmitPersisted", err)
	if loc := n.find(t, sectors.IndexNormal, sector1); loc.Found {
		t.Fatal("a refused write reached the source")
	}
	// The proxy's own database has no entry either.
	if loc, err := sectors.NewIndexer(n.db, nil, nil).Find(t.Context(), sectors.IndexNormal, sector1); err != nil || loc.Found {
		t.Fatalf("the proxy's database = %+v, %v; want no entry", loc, err)
	}
}
