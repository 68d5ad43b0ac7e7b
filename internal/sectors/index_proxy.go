package sectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filecoin-project/go-jsonrpc"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// Defaults of ProxyIndexOptions.
const (
	// ProxyFreshForDefault: a location younger than this is served from
	// the cache without asking the source.
	ProxyFreshForDefault = 30 * time.Second
	// ProxyStaleForDefault: while the source cannot be reached, a cached
	// location younger than this is still served.
	ProxyStaleForDefault = 30 * time.Minute
	// ProxyTriesDefault is how many times a lookup asks a source not
	// known to be down.
	ProxyTriesDefault = 3
	// ProxyBackoffDefault is the wait before the second try; it doubles
	// before each next one.
	ProxyBackoffDefault = 200 * time.Millisecond
	// ProxyAttemptTimeoutDefault bounds one ask, so that a source whose
	// host is gone (no reset, no answer) costs a lookup seconds, not the
	// caller's whole deadline.
	ProxyAttemptTimeoutDefault = 5 * time.Second
)

// Results of a proxy lookup, as the damocles_proxy_lookups_total counter
// labels them.
const (
	// lookupHit: served from the cache, fresh.
	lookupHit = "hit"
	// lookupMiss: not fresh in the cache; the source answered (found or
	// not found).
	lookupMiss = "miss"
	// lookupStale: the source did not answer; a cached location younger
	// than StaleFor was served.
	lookupStale = "stale"
	// lookupError: the source did not answer and nothing servable was
	// cached, or the caller's ctx ended.
	lookupError = "error"
)

// ProxySource is what a proxy node asks its source manager;
// *rpc.VenusStruct has it.
type ProxySource interface {
	SectorIndexerFind(ctx context.Context, indexType string, id abi.SectorID) (rpc.SectorIndexLocation, error)
	Version(ctx context.Context) (string, error)
}

// ProxyIndexOptions tune a ProxyIndex; the zero value means the defaults.
type ProxyIndexOptions struct {
	// FreshFor is how long a location the source found is served from
	// the cache without asking again; 0 means ProxyFreshForDefault. A
	// "not found" answer is never cached: a sector attached on the
	// source is seen at the next lookup.
	FreshFor time.Duration
	// StaleFor is how old a cached location may be and still be served
	// while the source cannot be reached (a restart); 0 means
	// ProxyStaleForDefault. Older ones are dropped.
	StaleFor time.Duration
	// Tries is how many times a lookup asks the source before it gives
	// up; 0 means ProxyTriesDefault. While an outage is known (the last
	// lookup got no answer), a lookup asks once, so that a dead source
	// costs each sector one attempt, not several.
	Tries int
	// Backoff is the wait before the second try, doubled before each
	// next; 0 means ProxyBackoffDefault.
	Backoff time.Duration
	// AttemptTimeout bounds one ask; 0 means ProxyAttemptTimeoutDefault.
	AttemptTimeout time.Duration
	// Now tells the cache's time; nil means time.Now.
	Now func() time.Time
}

func (o ProxyIndexOptions) withDefaults() ProxyIndexOptions {
	if o.FreshFor <= 0 {
		o.FreshFor = ProxyFreshForDefault
	}
	if o.StaleFor <= 0 {
		o.StaleFor = ProxyStaleForDefault
	}
	if o.Tries <= 0 {
		o.Tries = ProxyTriesDefault
	}
	if o.Backoff <= 0 {
		o.Backoff = ProxyBackoffDefault
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = ProxyAttemptTimeoutDefault
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// sourceState is what a proxy node last learnt of its source.
type sourceState int

const (
	sourceUnknown sourceState = iota // not asked yet
	sourceUp                         // the last ask was answered
	sourceDown                       // the last lookup got no answer
)

// indexKey is one entry of the index.
type indexKey struct {
	kind IndexKind
	id   abi.SectorID
}

// cachedLocation is a location the source found, and when.
type cachedLocation struct {
	stores rpc.SectorAccessStores
	at     time.Time
}

// ProxyIndex is the sector index of another manager, the source of a
// proxy node (--proxy), read through its Venus.SectorIndexerFind. It is
// read only: writes belong to the source.
//
// It keeps proving through a brief restart of the source: the locations
// found are cached, served without asking for FreshFor, and served for up
// to StaleFor while the source cannot be reached. A failed lookup is
// asked again Tries times with a doubling Backoff, within the caller's
// ctx. Reachability is logged on change ("proxy source unreachable" at
// Warn, once per outage; "proxy source reachable again" at Info) and
// exported by the metrics RegisterMetrics registers.
type ProxyIndex struct {
	addr    string
	source  ProxySource
	opts    ProxyIndexOptions
	created time.Time

	up       prometheus.Gauge
	lookups  *prometheus.CounterVec
	lastSeen prometheus.GaugeFunc

	mu          sync.Mutex
	cache       map[indexKey]cachedLocation
	lastSweep   time.Time
	state       sourceState
	downSince   time.Time
	lastContact time.Time
}

// NewProxyIndex returns the index of the source manager at addr (as the
// operator gave it: errors, logs and the metrics' source label name it),
// asked through source.
func NewProxyIndex(addr string, source ProxySource, opts ProxyIndexOptions) *ProxyIndex {
	opts = opts.withDefaults()
	p := &ProxyIndex{addr: addr, source: source, opts: opts, created: opts.Now(), cache: map[indexKey]cachedLocation{}}
	p.lastSweep = p.created
	labels := prometheus.Labels{"source": addr}
	p.up = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "damocles", Subsystem: "proxy", Name: "source_up", ConstLabels: labels,
		Help: "1 when the proxy's source manager (--proxy) answered the last lookup, 0 before any answer and while it cannot be reached.",
	})
	p.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "damocles", Subsystem: "proxy", Name: "lookups_total", ConstLabels: labels,
		Help: "Sector location lookups of a proxy node by result: hit (fresh in the cache), miss (asked the source), " +
			"stale (source unreachable, an older cached location served), error (source unreachable, nothing servable cached).",
	}, []string{"result"})
	p.lastSeen = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "damocles", Subsystem: "proxy", Name: "source_last_contact_age_seconds", ConstLabels: labels,
		Help: "Seconds since the proxy's source manager last answered (since start-up when it never has).",
	}, p.contactAge)
	return p
}

// RegisterMetrics registers the proxy's metrics with reg.
func (p *ProxyIndex) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{p.up, p.lookups, p.lastSeen} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("proxy index: register metrics: %w", err)
		}
	}
	return nil
}

// Source is the source manager's address, as given.
func (p *ProxyIndex) Source() string { return p.addr }

// Probe asks the source for its version, once, and records whether it
// answered (logged and exported as for lookups). A daemon calls it at
// start-up so that an unreachable source shows at once.
func (p *ProxyIndex) Probe(ctx context.Context) (string, error) {
	actx, cancel := context.WithTimeout(ctx, p.opts.AttemptTimeout)
	defer cancel()
	v, err := p.source.Version(actx)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	p.record(reached(err), err)
	if err != nil {
		return "", fmt.Errorf("proxy source %s (--proxy): %w", p.addr, err)
	}
	return v, nil
}

// Find returns where a sector's files of kind are, from the cache while
// fresh, else from the source; when the source cannot answer, from the
// cache while not older than StaleFor. Found is false for a sector the
// source does not have.
func (p *ProxyIndex) Find(ctx context.Context, kind IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, error) {
	key := indexKey{kind: kind, id: id}
	p.mu.Lock()
	cached, ok := p.cache[key]
	p.mu.Unlock()
	if ok && p.opts.Now().Sub(cached.at) < p.opts.FreshFor {
		p.lookups.WithLabelValues(lookupHit).Inc()
		return rpc.SectorIndexLocation{Found: true, Instance: cached.stores}, nil
	}

	loc, tries, err := p.ask(ctx, kind, id)
	if err == nil {
		p.remember(key, loc)
		p.lookups.WithLabelValues(lookupMiss).Inc()
		return loc, nil
	}
	name := proofs.SectorName(id)
	if ctx.Err() != nil {
		p.lookups.WithLabelValues(lookupError).Inc()
		return rpc.SectorIndexLocation{}, fmt.Errorf("find %s location of sector %s at proxy source %s: %w", kind, name, p.addr, err)
	}
	if ok {
		age := p.opts.Now().Sub(cached.at)
		if age <= p.opts.StaleFor {
			p.lookups.WithLabelValues(lookupStale).Inc()
			log.Debugw("proxy source did not answer; cached sector location served", "source", p.addr,
				"sector", name, "kind", kind, "age", age, "err", err)
			return rpc.SectorIndexLocation{Found: true, Instance: cached.stores}, nil
		}
	}
	p.lookups.WithLabelValues(lookupError).Inc()
	if ok {
		return rpc.SectorIndexLocation{}, fmt.Errorf("find %s location of sector %s: proxy source %s (--proxy) did not answer after %d attempt(s) (%w), "+
			"and the location cached %s ago is older than the %s a cached one is served for", kind, name, p.addr, tries, err,
			p.opts.Now().Sub(cached.at).Truncate(time.Second), p.opts.StaleFor)
	}
	return rpc.SectorIndexLocation{}, fmt.Errorf("find %s location of sector %s: proxy source %s (--proxy) did not answer after %d attempt(s): %w",
		kind, name, p.addr, tries, err)
}

// ask asks the source, retrying with backoff, and returns how many times
// it asked. An error after ctx ended is ctx's.
func (p *ProxyIndex) ask(ctx context.Context, kind IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, int, error) {
	tries := p.opts.Tries
	p.mu.Lock()
	if p.state == sourceDown {
		tries = 1
	}
	p.mu.Unlock()
	wait := p.opts.Backoff
	var err error
	for i := range tries {
		if i > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return rpc.SectorIndexLocation{}, i, ctx.Err()
			case <-t.C:
			}
			wait *= 2
		}
		actx, cancel := context.WithTimeout(ctx, p.opts.AttemptTimeout)
		var loc rpc.SectorIndexLocation
		loc, err = p.source.SectorIndexerFind(actx, string(kind), id)
		cancel()
		if ctx.Err() != nil {
			// The caller gave up: that says nothing of the source.
			return rpc.SectorIndexLocation{}, i + 1, ctx.Err()
		}
		if err == nil {
			p.record(true, nil)
			return loc, i + 1, nil
		}
	}
	p.record(reached(err), err)
	return rpc.SectorIndexLocation{}, tries, err
}

// reached tells whether err, of an ask, is the source's answer (an RPC
// error it sent) rather than the lack of one.
func reached(err error) bool {
	var answer *jsonrpc.JSONRPCError
	return err == nil || errors.As(err, &answer)
}

// record notes whether the source answered, and logs and exports a
// change. err is what the lookup got, for the logs.
func (p *ProxyIndex) record(answered bool, err error) {
	now := p.opts.Now()
	p.mu.Lock()
	prev, downSince := p.state, p.downSince
	if answered {
		p.state, p.lastContact = sourceUp, now
		p.up.Set(1)
	} else {
		if prev != sourceDown {
			p.downSince = now
		}
		p.state = sourceDown
		p.up.Set(0)
	}
	p.mu.Unlock()

	if !answered {
		if prev != sourceDown {
			log.Warnw("proxy source unreachable: cached sector locations are served while not older than stale_for; others cannot be located",
				"source", p.addr, "stale_for", p.opts.StaleFor, "err", err)
		}
		return
	}
	switch prev {
	case sourceDown:
		log.Infow("proxy source reachable again", "source", p.addr, "down_for", now.Sub(downSince).Truncate(time.Millisecond))
	case sourceUnknown:
		log.Infow("proxy source reachable", "source", p.addr)
	}
	if err != nil {
		log.Warnw("proxy source answered a lookup with an error", "source", p.addr, "err", err)
	}
}

// remember caches what the source answered: a location found, or the
// absence of one (which drops the entry), and now and then drops the
// entries too old to be served at all.
func (p *ProxyIndex) remember(key indexKey, loc rpc.SectorIndexLocation) {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if loc.Found {
		p.cache[key] = cachedLocation{stores: loc.Instance, at: now}
	} else {
		delete(p.cache, key)
	}
	if now.Sub(p.lastSweep) <= p.opts.StaleFor {
		return
	}
	p.lastSweep = now
	for k, c := range p.cache {
		if now.Sub(c.at) > p.opts.StaleFor {
			delete(p.cache, k)
		}
	}
}

// contactAge is the seconds since the source last answered, or since
// start-up when it never has.
func (p *ProxyIndex) contactAge() float64 {
	p.mu.Lock()
	last := p.lastContact
	p.mu.Unlock()
	if last.IsZero() {
		last = p.created
	}
	return p.opts.Now().Sub(last).Seconds()
}

// Update refuses: the source's index is written through the source.
func (p *ProxyIndex) Update(context.Context, IndexKind, abi.SectorID, rpc.SectorAccessStores) error {
	return p.Writable()
}

// Writable is the read-only error: this node is a proxy.
func (p *ProxyIndex) Writable() error {
	return fmt.Errorf("this manager is a proxy of %s (--proxy): its %w; attach or persist through the source manager", p.addr, ErrIndexReadOnly)
}

// NotIndexed says the source does not have the sector.
func (p *ProxyIndex) NotIndexed(kind IndexKind, id abi.SectorID) error {
	return fmt.Errorf("sector %s is not in the %s sector index of the source manager %s (--proxy): attach its store through the source manager (util storage attach)",
		proofs.SectorName(id), kind, p.addr)
}
