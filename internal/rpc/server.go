package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filecoin-project/go-jsonrpc"
	"github.com/filecoin-project/go-jsonrpc/auth"
	logging "github.com/ipfs/go-log/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var log = logging.Logger("rpc")

// MaxRequestSize is the largest request body accepted, as damocles
// (PROTOCOLS-damocles.md §1.1); larger ones get a parse error.
const MaxRequestSize = 100 << 20

const (
	// shutdownGrace is how long Serve lets running requests finish once its
	// context ends before it closes their connections.
	shutdownGrace = time.Second
	// handlerExitGrace is how long Serve then waits for handlers to return
	// after their connections and contexts are gone.
	handlerExitGrace = 500 * time.Millisecond
	// readHeaderTimeout drops clients that open a connection and never
	// finish their headers, so they cannot hold connections forever.
	readHeaderTimeout = 30 * time.Second
)

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Secret is the HMAC key tokens are signed with. Required.
	Secret []byte
	// TrustedNetworks are the client addresses whose requests without a
	// token (and without a browser's Origin header) get write permission,
	// not just read. The Rust damocles-worker cannot send a token
	// (PROTOCOLS-damocles.md §1.5), so its hosts must be listed here to
	// ping, allocate and submit.
	TrustedNetworks []netip.Prefix
	// Registry receives the RPC metrics and is what /metrics serves. Nil
	// makes a new one holding the Go runtime and process collectors.
	Registry *prometheus.Registry
	// Path is where JSON-RPC is served; empty means Path (/rpc/v0). The
	// devnet serves the Lotus API at /rpc/v1.
	Path string
}

// API is one JSON-RPC namespace served by a Server.
type API struct {
	// Namespace prefixes the method names: "Venus", "Filecoin".
	Namespace string
	// Impl has every method of Proxy's Internal funcs, same signatures.
	Impl any
	// Proxy points to a Lotus-style struct whose Internal field holds one
	// perm-tagged func per method (VenusStruct is one); the server fills
	// the funcs with permission-checked calls into Impl.
	Proxy any
}

// Server serves JSON-RPC namespaces at one path (the Venus API at /rpc/v0
// for the manager), over HTTP POST and websocket, with /healthcheck and
// /metrics on the same listener.
type Server struct {
	path     string
	secret   []byte
	trusted  atomic.Pointer[[]netip.Prefix]
	registry *prometheus.Registry
	metrics  *serverMetrics
	mux      *http.ServeMux
}

// NewRegistry returns a metrics registry holding the Go runtime and
// process collectors, for a server and the modules that register on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewServer serves the Venus API from impl, which must have every Venus
// method with the same signature (it need not be a Venus itself: the
// domains implement parts of it and the binary combines them). Each call
// is checked against the method's perm tag before it reaches impl.
func NewServer(impl any, cfg ServerConfig) (*Server, error) {
	return NewAPIServer(cfg, API{Namespace: Namespace, Impl: impl, Proxy: &VenusStruct{}})
}

// NewAPIServer serves several namespaces on one path with the same tokens
// and permission rules.
func NewAPIServer(cfg ServerConfig, apis ...API) (*Server, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("rpc server: no JWT secret; create one with NewSecret and keep it with the manager's home")
	}
	path := cfg.Path
	if path == "" {
		path = Path
	}
	reg := cfg.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	m, err := newServerMetrics(reg)
	if err != nil {
		return nil, err
	}

	rpcServer := jsonrpc.NewServer(jsonrpc.WithMaxRequestSize(MaxRequestSize))
	for _, api := range apis {
		internal, err := internalFuncs(api.Proxy)
		if err != nil {
			return nil, err
		}
		if err := checkImpl(api.Namespace, api.Impl, internal); err != nil {
			return nil, err
		}
		// go-jsonrpc serves the proxy's methods, not its Internal funcs: a
		// func without its forwarding method would answer "not found".
		if err := checkImpl(api.Namespace, api.Proxy, internal); err != nil {
			return nil, fmt.Errorf("%w (the proxy needs a forwarding method per Internal func)", err)
		}
		// defaultPerms only applies to a context without permissions, which
		// the auth middleware never lets through; read is the safe floor.
		auth.PermissionedProxy(AllPermissions, []Permission{PermRead}, api.Impl, internal)
		m.instrument(api.Namespace, internal)
		rpcServer.Register(api.Namespace, api.Proxy)
	}

	s := &Server{path: path, secret: slices.Clone(cfg.Secret), registry: reg, metrics: m, mux: http.NewServeMux()}
	s.SetTrustedNetworks(cfg.TrustedNetworks)
	s.mux.Handle(path, rpcMethods(s.authenticate(rpcServer)))
	s.mux.HandleFunc("/healthcheck", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	s.mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s, nil
}

// internalFuncs returns a pointer to proxy's Internal struct of funcs.
func internalFuncs(proxy any) (any, error) {
	v := reflect.ValueOf(proxy)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("rpc server: proxy %T is not a pointer to a struct", proxy)
	}
	f := v.Elem().FieldByName("Internal")
	if !f.IsValid() || f.Kind() != reflect.Struct {
		return nil, fmt.Errorf("rpc server: proxy %T has no Internal struct of funcs", proxy)
	}
	return f.Addr().Interface(), nil
}

// checkImpl reports every method of the namespace impl lacks or has with another
// signature. go-jsonrpc's PermissionedProxy would only panic on the first
// call of such a method, long after start-up.
func checkImpl(namespace string, impl any, internal any) error {
	if impl == nil {
		return errors.New("rpc server: no API implementation")
	}
	iv := reflect.ValueOf(impl)
	it := reflect.TypeOf(internal).Elem()
	var problems []string
	for i := range it.NumField() {
		f := it.Field(i)
		m := iv.MethodByName(f.Name)
		switch {
		case !m.IsValid():
			problems = append(problems, fmt.Sprintf("%s is missing", f.Name))
		case m.Type() != f.Type:
			problems = append(problems, fmt.Sprintf("%s is %s, want %s", f.Name, m.Type(), f.Type))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("rpc server: %T does not implement the %s API: %s", impl, namespace, strings.Join(problems, "; "))
	}
	return nil
}

// Handler returns the server's routes, for a caller that runs its own
// http.Server (tests use httptest); Serve uses the same routes.
func (s *Server) Handler() http.Handler {
	return s.mux
}

// Handle adds a route outside the JSON-RPC path, served on the same listener
// (damocles serves /piecestore/ there). h does its own authentication.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// Registry is where the server's metrics live and what /metrics serves;
// other packages register theirs here to have them served too.
func (s *Server) Registry() *prometheus.Registry {
	return s.registry
}

// SetTrustedNetworks replaces the trusted networks (see ServerConfig); safe
// while serving, for a config reload.
func (s *Server) SetTrustedNetworks(nets []netip.Prefix) {
	nets = slices.Clone(nets)
	s.trusted.Store(&nets)
	names := make([]string, len(nets))
	for i, p := range nets {
		names[i] = p.String()
	}
	log.Infow("RPC trusted networks set", "networks", names)
}

// ParseTrustedNetworks reads CIDRs ("10.0.0.0/8") and bare IP addresses
// ("10.0.0.5", meaning that host only), as written in the config file.
func ParseTrustedNetworks(entries []string) ([]netip.Prefix, error) {
	var nets []netip.Prefix
	for i, e := range entries {
		s := strings.TrimSpace(e)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted network %q (entry %d): not a CIDR like 10.0.0.0/8: %v", e, i+1, err)
			}
			nets = append(nets, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted network %q (entry %d): want a CIDR like 10.0.0.0/8 or an IP address like 10.0.0.5", e, i+1)
		}
		ip = ip.WithZone("")
		nets = append(nets, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return nets, nil
}

// Serve serves on ln until ctx ends, then shuts down: running requests get
// shutdownGrace to finish before their connections are closed, and
// websocket sessions end. It returns nil after such a shutdown, or the
// error that stopped it serving.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests see a context that outlives ctx, so that in-flight calls
	// can finish during the grace period; it is cancelled at the end to
	// stop websocket sessions, which http.Server.Shutdown does not track.
	connCtx, cancelConns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelConns()
	var handlers handlerGroup
	srv := &http.Server{
		Handler:           handlers.wrap(s.mux),
		ReadHeaderTimeout: readHeaderTimeout,
		BaseContext:       func(net.Listener) context.Context { return connCtx },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Infow("serving RPC", "addr", ln.Addr().String(), "path", s.path)

	var err error
	select {
	case err = <-serveErr:
		err = fmt.Errorf("serve RPC on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	graceCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if shutErr := srv.Shutdown(graceCtx); shutErr != nil {
		log.Warnw("RPC requests still running after the grace period, closing their connections", "grace", shutdownGrace.String())
		_ = srv.Close()
	}
	if err == nil {
		<-serveErr
	}
	cancelConns()
	if !handlers.close(handlerExitGrace) {
		log.Warnw("RPC handlers still running after shutdown; they ignore their context", "waited", handlerExitGrace.String())
	}
	log.Infow("RPC server stopped", "addr", ln.Addr().String())
	return err
}

// handlerGroup counts running handlers so that Serve can wait for them;
// http.Server forgets handlers whose connection it closed or that took
// over their connection (websockets).
type handlerGroup struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

func (g *handlerGroup) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		if g.closing {
			g.mu.Unlock()
			http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
			return
		}
		g.wg.Add(1)
		g.mu.Unlock()
		defer g.wg.Done()
		next.ServeHTTP(w, r)
	})
}

// close refuses new handlers and waits up to d for running ones; false
// means some are still running.
func (g *handlerGroup) close(d time.Duration) bool {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// isWebsocket is go-jsonrpc's own test for an upgrade request, so both
// agree on which requests become websocket sessions.
func isWebsocket(r *http.Request) bool {
	return strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// rpcMethods refuses what go-jsonrpc would misread: it treats any
// non-upgrade request as a POST and answers an empty body with a
// confusing "Invalid request".
func rpcMethods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && !(r.Method == http.MethodGet && isWebsocket(r)) {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST, or GET with a websocket upgrade", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate puts the caller's permissions in the request context for
// the permission proxy. go-jsonrpc's auth.Handler cannot grant write to
// trusted networks, hence this one.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		perms, err := s.permissions(r)
		if err != nil {
			s.metrics.authRejected.Inc()
			log.Warnw("rejected RPC request", "remote", r.RemoteAddr, "error", err)
			http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPerm(r.Context(), perms)))
	})
}

// permissions returns what the request may do: a token's permissions
// when it carries one (even from a trusted network, so a read-only token
// stays read-only), otherwise read, plus write from a trusted network.
//
// A request with an Origin header comes from a web page, which may be any
// site open in a browser on a trusted host (a cross-site form POST or
// websocket needs no token); workers and CLIs send no Origin, so such a
// request gets no write from the network rule.
func (s *Server) permissions(r *http.Request) ([]Permission, error) {
	token, err := requestToken(r)
	if err != nil {
		return nil, err
	}
	if token != "" {
		return VerifyToken(s.secret, token)
	}
	if r.Header.Get("Origin") == "" && s.trusts(r.RemoteAddr) {
		return []Permission{PermRead, PermWrite}, nil
	}
	return []Permission{PermRead}, nil
}

// requestToken reads "Authorization: Bearer <token>", or the token query
// parameter that browsers' websocket clients, unable to set headers, use.
// The query is read from the URL only: r.FormValue would consume a
// form-encoded body.
func requestToken(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return "", errors.New(`the Authorization header is not "Bearer <token>"`)
		}
		return token, nil
	}
	return r.URL.Query().Get("token"), nil
}

// trusts reports whether remoteAddr (ip:port, as net/http gives it) is in
// a trusted network. Only the connection's address counts: headers such
// as X-Forwarded-For are the client's to forge.
func (s *Server) trusts(remoteAddr string) bool {
	nets := *s.trusted.Load()
	if len(nets) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap().WithZone("")
	for _, p := range nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
