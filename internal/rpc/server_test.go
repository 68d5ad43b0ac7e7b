package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/damocles-go/damocles/internal/rpc"
)

// fakeVenus stands in for the manager's domain implementations; the auth
// methods are the real ones, embedded the way the binary combines parts.
type fakeVenus struct {
	*rpc.AuthAPI
	fakeSealer

	// listBlocks makes WorkerList wait for its context to end, to hold a
	// request in flight across a shutdown.
	listBlocks atomic.Bool
	listing    chan struct{}

	mu    sync.Mutex
	pings []rpc.WorkerInfo
}

func newFakeVenus(secret []byte) *fakeVenus {
	return &fakeVenus{AuthAPI: rpc.NewAuthAPI(secret), listing: make(chan struct{}, 1)}
}

func (f *fakeVenus) Version(context.Context) (string, error) { return "v0.0.0-fake-test", nil }

func (f *fakeVenus) WorkerPing(_ context.Context, w rpc.WorkerInfo) (rpc.Meta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings = append(f.pings, w)
	return nil, nil
}

func (f *fakeVenus) WorkerList(ctx context.Context) ([]rpc.WorkerPingInfo, error) {
	if f.listBlocks.Load() {
		f.listing <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]rpc.WorkerPingInfo, len(f.pings))
	for i, w := range f.pings {
		out[i] = rpc.WorkerPingInfo{Info: w, LastPing: 1700000000}
	}
	return out, nil
}

func (f *fakeVenus) lastPing() rpc.WorkerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pings) == 0 {
		return rpc.WorkerInfo{}
	}
	return f.pings[len(f.pings)-1]
}

type testServer struct {
	srv    *rpc.Server
	fake   *fakeVenus
	secret []byte
	addr   string // host:port
	stop   func() (time.Duration, error)
}

// startServer runs a real server on 127.0.0.1 through Serve; trusted are
// its trusted networks.
func startServer(t *testing.T, trusted ...string) *testServer {
	t.Helper()
	secret := mustSecret(t)
	fake := newFakeVenus(secret)
	nets, err := rpc.ParseTrustedNetworks(trusted)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rpc.NewServer(fake, rpc.ServerConfig{Secret: secret, TrustedNetworks: nets})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	var once sync.Once
	var took time.Duration
	var serveErr error
	stop := func() (time.Duration, error) {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case serveErr = <-served:
				took = time.Since(start)
			case <-time.After(10 * time.Second):
				serveErr = errors.New("Serve did not return 10s after its context ended")
				took = time.Since(start)
			}
		})
		return took, serveErr
	}
	t.Cleanup(func() { _, _ = stop() })
	return &testServer{srv: srv, fake: fake, secret: secret, addr: ln.Addr().String(), stop: stop}
}

func (ts *testServer) client(t *testing.T, addr, token string) *rpc.VenusStruct {
	t.Helper()
	api, closer, err := rpc.NewVenusClient(context.Background(), addr, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closer)
	return api
}

func (ts *testServer) multiaddr() string {
	ap := netip.MustParseAddrPort(ts.addr)
	return "/ip4/" + ap.Addr().String() + "/tcp/" + ts.addr[strings.LastIndex(ts.addr, ":")+1:]
}

// post sends one raw JSON-RPC body, as the Rust worker does.
func (ts *testServer) post(t *testing.T, path, body string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+ts.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, b := do(t, req)
	return code, string(b)
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

var workerInfo = rpc.WorkerInfo{
	Name: "worker-1", Dest: "10.0.0.2:17890", Version: "v0.11.0-abc",
	Summary: rpc.WorkerThreadsSummary{Threads: 4, Empty: 1, Running: 2, Waiting: 1},
}

func TestPermissions(t *testing.T) {
	const needWrite = "missing permission to invoke 'WorkerPing' (need 'write')"
	const needAdmin = "missing permission to invoke 'AuthNew' (need 'admin')"
	tests := []struct {
		name      string
		trusted   []string
		token     rpc.Permission // "" sends no token
		pingErr   string
		authNewOK bool
	}{
		{name: "no token, no trusted networks", pingErr: needWrite},
		{name: "no token, other trusted network", trusted: []string{"10.0.0.0/8"}, pingErr: needWrite},
		{name: "no token, trusted loopback", trusted: []string{"127.0.0.0/8"}},
		{name: "no token, trusted host", trusted: []string{"127.0.0.1"}},
		{name: "read token beats trusted network", trusted: []string{"127.0.0.0/8"}, token: rpc.PermRead, pingErr: needWrite},
		{name: "write token", token: rpc.PermWrite},
		{name: "sign token", token: rpc.PermSign},
		{name: "admin token", token: rpc.PermAdmin, authNewOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.trusted...)
			var token string
			if tt.token != "" {
				token = mustToken(t, ts.secret, tt.token)
			}
			api := ts.client(t, ts.multiaddr(), token)
			ctx := context.Background()

			if v, err := api.Version(ctx); err != nil || v != "v0.0.0-fake-test" {
				t.Fatalf("Version = %q, %v", v, err)
			}

			meta, err := api.WorkerPing(ctx, workerInfo)
			switch {
			case tt.pingErr == "" && err != nil:
				t.Fatalf("WorkerPing: %v", err)
			case tt.pingErr == "" && ts.fake.lastPing() != workerInfo:
				t.Fatalf("fake got %+v, want %+v", ts.fake.lastPing(), workerInfo)
			case tt.pingErr == "" && meta != nil:
				t.Fatalf("WorkerPing result = %v, want nil", meta)
			case tt.pingErr != "" && (err == nil || !strings.Contains(err.Error(), tt.pingErr)):
				t.Fatalf("WorkerPing error = %v, want %q", err, tt.pingErr)
			}

			newTok, err := api.AuthNew(ctx, []rpc.Permission{rpc.PermRead})
			if !tt.authNewOK {
				if err == nil || !strings.Contains(err.Error(), needAdmin) {
					t.Fatalf("AuthNew error = %v, want %q", err, needAdmin)
				}
				return
			}
			if err != nil {
				t.Fatalf("AuthNew: %v", err)
			}
			perms, err := api.AuthVerify(ctx, string(newTok))
			if err != nil || !slices.Equal(perms, []rpc.Permission{rpc.PermRead}) {
				t.Fatalf("AuthVerify(new token) = %v, %v; want [read]", perms, err)
			}
		})
	}
}

func TestSetTrustedNetworksAtRunTime(t *testing.T) {
	ts := startServer(t)
	api := ts.client(t, ts.addr, "")
	ctx := context.Background()
	if _, err := api.WorkerPing(ctx, workerInfo); err == nil {
		t.Fatal("WorkerPing allowed before loopback was trusted")
	}
	ts.srv.SetTrustedNetworks([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if _, err := api.WorkerPing(ctx, workerInfo); err != nil {
		t.Fatalf("WorkerPing after trusting loopback: %v", err)
	}
	ts.srv.SetTrustedNetworks(nil)
	if _, err := api.WorkerPing(ctx, workerInfo); err == nil {
		t.Fatal("WorkerPing allowed after loopback was untrusted again")
	}
}

// A browser page on a trusted host must not borrow the host's trust.
func TestTrustedNetworkIgnoresBrowserRequests(t *testing.T) {
	ts := startServer(t, "127.0.0.0/8")
	body := `{"jsonrpc":"2.0","method":"Venus.WorkerPing","params":[{"Name":"page"}],"id":1}`
	_, b := ts.post(t, rpc.Path, body, http.Header{"Origin": {"https://evil.example"}})
	if !strings.Contains(string(b), "missing permission to invoke 'WorkerPing' (need 'write')") {
		t.Fatalf("WorkerPing with an Origin header from a trusted network answered %s, want a permission error", b)
	}
	_, b = ts.post(t, rpc.Path, body, nil)
	if !strings.Contains(string(b), `"result":null`) {
		t.Fatalf("WorkerPing without Origin from a trusted network answered %s", b)
	}
}

func TestBadTokenIs401(t *testing.T) {
	ts := startServer(t, "127.0.0.0/8")
	body := `{"jsonrpc":"2.0","method":"Venus.Version","params":[],"id":1}`
	otherSecretTok := mustToken(t, mustSecret(t), rpc.PermAdmin)
	tests := []struct {
		name   string
		path   string
		header http.Header
	}{
		{"token from another secret", rpc.Path, bearer(otherSecretTok)},
		{"garbage token", rpc.Path, bearer("garbage")},
		{"not a bearer token", rpc.Path, http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}},
		{"empty bearer", rpc.Path, http.Header{"Authorization": {"Bearer "}}},
		{"bad query token", rpc.Path + "?token=garbage", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := ts.post(t, tt.path, body, tt.header)
			if code != http.StatusUnauthorized {
				t.Fatalf("status %d (%s), want 401", code, b)
			}
			if strings.Contains(string(b), otherSecretTok) {
				t.Fatal("the 401 body echoes the token")
			}
		})
	}

	// The typed client surfaces the 401 as an error rather than a result.
	api := ts.client(t, ts.addr, "garbage")
	if _, err := api.Version(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Version with a bad token: error = %v, want one naming 401", err)
	}
}

func TestQueryToken(t *testing.T) {
	ts := startServer(t)
	body := `{"jsonrpc":"2.0","method":"Venus.WorkerPing","params":[{"Name":"q"}],"id":3}`
	code, b := ts.post(t, rpc.Path+"?token="+mustToken(t, ts.secret, rpc.PermWrite), body, nil)
	if code != http.StatusOK || !strings.Contains(string(b), `"result":null`) {
		t.Fatalf("WorkerPing with a write token in the query: %d %s", code, b)
	}
}

func TestWebsocketClient(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	api := ts.client(t, ts.multiaddr()+"/ws", mustToken(t, ts.secret, rpc.PermWrite))
	if _, err := api.WorkerPing(ctx, workerInfo); err != nil {
		t.Fatalf("WorkerPing over websocket: %v", err)
	}
	list, err := api.WorkerList(ctx)
	if err != nil || len(list) != 1 || list[0].Info != workerInfo || list[0].LastPing != 1700000000 {
		t.Fatalf("WorkerList over websocket = %+v, %v", list, err)
	}

	_, _, err = rpc.NewVenusClient(ctx, "ws://"+ts.addr, "garbage", nil)
	if err == nil || !strings.Contains(err.Error(), ts.addr) {
		t.Fatalf("websocket dial with a bad token: error = %v, want one naming %s", err, ts.addr)
	}
}

// keysOf returns the sorted top-level keys of a JSON object.
func keysOf(t *testing.T, b []byte) (map[string]json.RawMessage, []string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return m, keys
}

// The Rust worker parses responses strictly (PROTOCOLS-damocles.md §1.3,
// §7): a Meta result must be exactly null, and an error object may carry
// only code and message.
func TestWireShapes(t *testing.T) {
	ping := `{"jsonrpc":"2.0","method":"Venus.WorkerPing","params":[{"Name":"worker-1","Dest":"10.0.0.2:17890",` +
		`"Version":"v0.11.0-abc","Summary":{"Threads":4,"Empty":1,"Paused":0,"Running":2,"Waiting":1,"Errors":0}}],"id":0}`

	t.Run("Meta result is null", func(t *testing.T) {
		ts := startServer(t, "127.0.0.0/8")
		code, b := ts.post(t, rpc.Path, ping, nil)
		m, keys := keysOf(t, b)
		if code != http.StatusOK || !slices.Equal(keys, []string{"id", "jsonrpc", "result"}) {
			t.Fatalf("status %d, body %s: want 200 with exactly id, jsonrpc, result", code, b)
		}
		if string(m["result"]) != "null" || string(m["id"]) != "0" || string(m["jsonrpc"]) != `"2.0"` {
			t.Fatalf("body %s, want result null, id 0, jsonrpc 2.0", b)
		}
		if ts.fake.lastPing() != workerInfo {
			t.Fatalf("fake got %+v, want %+v", ts.fake.lastPing(), workerInfo)
		}
	})

	errorShape := func(t *testing.T, code int, b []byte, wantStatus, wantCode int, wantMsg string) {
		t.Helper()
		m, keys := keysOf(t, b)
		if code != wantStatus || !slices.Equal(keys, []string{"error", "id", "jsonrpc"}) {
			t.Fatalf("status %d, body %s: want %d with exactly error, id, jsonrpc", code, b, wantStatus)
		}
		e, ekeys := keysOf(t, m["error"])
		if !slices.Equal(ekeys, []string{"code", "message"}) {
			t.Fatalf("error object %s: want exactly code and message", m["error"])
		}
		var msg string
		if err := json.Unmarshal(e["message"], &msg); err != nil {
			t.Fatal(err)
		}
		if string(e["code"]) != strconv.Itoa(wantCode) || !strings.Contains(msg, wantMsg) {
			t.Fatalf("error %s: want code %d and a message containing %q", m["error"], wantCode, wantMsg)
		}
	}

	t.Run("method error", func(t *testing.T) {
		ts := startServer(t) // untrusted: WorkerPing is refused by the permission proxy
		code, b := ts.post(t, rpc.Path, ping, nil)
		errorShape(t, code, b, http.StatusOK, 1, "missing permission to invoke 'WorkerPing' (need 'write')")
	})
	t.Run("error returned by a method", func(t *testing.T) {
		ts := startServer(t)
		code, b := ts.post(t, rpc.Path, `{"jsonrpc":"2.0","method":"Venus.AuthVerify","params":["garbage"],"id":5}`, nil)
		errorShape(t, code, b, http.StatusOK, 1, "verify token")
	})
	t.Run("unknown method", func(t *testing.T) {
		ts := startServer(t)
		code, b := ts.post(t, rpc.Path, `{"jsonrpc":"2.0","method":"Venus.NoSuchMethod","params":[],"id":2}`, nil)
		errorShape(t, code, b, http.StatusInternalServerError, -32601, "not found")
	})
}

func TestRoutes(t *testing.T) {
	ts := startServer(t, "127.0.0.0/8")
	if code, body := get(t, "http://"+ts.addr+"/healthcheck"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthcheck = %d %q, want 200 ok", code, body)
	}
	if code, _ := get(t, "http://"+ts.addr+rpc.Path); code != http.StatusMethodNotAllowed {
		t.Errorf("plain GET %s = %d, want 405", rpc.Path, code)
	}
	if code, _ := get(t, "http://"+ts.addr+rpc.Path+"/"); code != http.StatusNotFound {
		t.Errorf("GET %s/ = %d, want 404: the path is exact", rpc.Path, code)
	}

	if _, err := ts.client(t, ts.addr, "").Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts.post(t, rpc.Path, `{"jsonrpc":"2.0","method":"Venus.Version","params":[],"id":1}`, bearer("garbage"))

	code, body := get(t, "http://"+ts.addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"go_goroutines ",
		`damocles_rpc_calls_total{method="Venus.Version",outcome="ok"} 1`,
		`damocles_rpc_call_duration_seconds_count{method="Venus.Version"} 1`,
		"damocles_rpc_auth_rejected_total 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestServeStopsWhenContextEnds(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()

	ws := ts.client(t, ts.multiaddr()+"/ws", "")
	if _, err := ws.Version(ctx); err != nil {
		t.Fatal(err)
	}
	// A request still running at shutdown must not hold Serve past the
	// grace period.
	ts.fake.listBlocks.Store(true)
	api := ts.client(t, ts.addr, "")
	go func() { _, _ = api.WorkerList(ctx) }()
	<-ts.fake.listing

	took, err := ts.stop()
	if err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	if took > 2*time.Second {
		t.Fatalf("Serve took %v to return, want under 2s", took)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("the listener still accepts connections")
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	srv, err := rpc.NewServer(newFakeVenus(mustSecret(t)), rpc.ServerConfig{Secret: mustSecret(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := srv.Serve(context.Background(), ln); err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
}

// partialVenus lacks most of the API and has WorkerPing with the wrong
// result type.
type partialVenus struct{}

func (partialVenus) Version(context.Context) (string, error) { return "", nil }
func (partialVenus) WorkerPing(context.Context, rpc.WorkerInfo) (struct{}, error) {
	return struct{}{}, nil
}

func TestNewServerErrors(t *testing.T) {
	secret := mustSecret(t)
	_, err := rpc.NewServer(partialVenus{}, rpc.ServerConfig{Secret: secret})
	if err == nil {
		t.Fatal("NewServer accepted an incomplete implementation")
	}
	for _, want := range []string{"AuthNew is missing", "AuthVerify is missing", "WorkerList is missing", "WorkerPing is func("} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	if _, err := rpc.NewServer(newFakeVenus(secret), rpc.ServerConfig{}); err == nil {
		t.Error("NewServer accepted no secret")
	}

	reg := prometheus.NewRegistry()
	if _, err := rpc.NewServer(newFakeVenus(secret), rpc.ServerConfig{Secret: secret, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := rpc.NewServer(newFakeVenus(secret), rpc.ServerConfig{Secret: secret, Registry: reg}); err == nil {
		t.Error("two servers registered the same metrics in one registry")
	}
}

func TestParseTrustedNetworks(t *testing.T) {
	got, err := rpc.ParseTrustedNetworks([]string{"10.0.0.0/8", " 192.168.1.7 ", "172.16.5.4/12", "::1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "172.16.0.0/12", "::1/128", "2001:db8::/32"}
	var gotS []string
	for _, p := range got {
		gotS = append(gotS, p.String())
	}
	if !slices.Equal(gotS, want) {
		t.Fatalf("got %v, want %v", gotS, want)
	}

	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "", "10.0.0.1/x", "10.0.0"} {
		_, err := rpc.ParseTrustedNetworks([]string{"10.0.0.0/8", bad})
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if quoted, _ := json.Marshal(bad); !strings.Contains(err.Error(), string(quoted)) || !strings.Contains(err.Error(), "entry 2") {
			t.Errorf("error for %q = %q, want it to quote the entry and give its position", bad, err)
		}
	}
}

// Every method must be in the interface, the struct and have a valid perm
// tag, with the same signature in both; the metrics wrapper relies on the
// error result coming last.
func TestVenusStructShape(t *testing.T) {
	iface := reflect.TypeFor[rpc.Venus]()
	internal := reflect.TypeFor[rpc.VenusStruct]().Field(0).Type
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	if internal.NumField() != iface.NumMethod() {
		t.Errorf("Internal has %d funcs, Venus %d methods", internal.NumField(), iface.NumMethod())
	}
	for i := range internal.NumField() {
		f := internal.Field(i)
		if !slices.Contains(rpc.AllPermissions, rpc.Permission(f.Tag.Get("perm"))) {
			t.Errorf("%s: perm tag %q is not a permission", f.Name, f.Tag.Get("perm"))
		}
		m, ok := iface.MethodByName(f.Name)
		if !ok {
			t.Errorf("%s is not in the Venus interface", f.Name)
			continue
		}
		if m.Type != f.Type {
			t.Errorf("%s: Venus has %s, Internal %s", f.Name, m.Type, f.Type)
		}
		if f.Type.NumIn() == 0 || f.Type.In(0) != ctxType || f.Type.NumOut() == 0 || f.Type.Out(f.Type.NumOut()-1) != errType {
			t.Errorf("%s: %s must take a context first and return an error last", f.Name, f.Type)
		}
	}
}

// echoStruct is a second namespace, as the devnet serves Filecoin and
// Devnet side by side.
type echoStruct struct {
	Internal struct {
		Echo  func(ctx context.Context, s string) (string, error) `perm:"read"`
		Write func(ctx context.Context) error                     `perm:"sign"`
	}
}

func (s *echoStruct) Echo(ctx context.Context, v string) (string, error) {
	return s.Internal.Echo(ctx, v)
}
func (s *echoStruct) Write(ctx context.Context) error { return s.Internal.Write(ctx) }

type echoImpl struct{}

func (echoImpl) Echo(_ context.Context, s string) (string, error) { return s, nil }
func (echoImpl) Write(context.Context) error                      { return nil }

func TestAPIServerServesSeveralNamespacesOnItsPath(t *testing.T) {
	secret, _ := rpc.NewSecret()
	srv, err := rpc.NewAPIServer(rpc.ServerConfig{Secret: secret, Path: "/rpc/v1"},
		rpc.API{Namespace: "Venus", Impl: newFakeVenus(secret), Proxy: &rpc.VenusStruct{}},
		rpc.API{Namespace: "Echo", Impl: echoImpl{}, Proxy: &echoStruct{}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	call := func(method, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/rpc/v1", strings.NewReader(`{"jsonrpc":"2.0","method":"`+method+`","params":[`+map[bool]string{true: `"hi"`, false: ``}[method == "Echo.Echo"]+`],"id":1}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		code, body := do(t, req)
		return code, string(body)
	}
	if code, body := call("Echo.Echo", ""); code != 200 || !strings.Contains(body, `"result":"hi"`) {
		t.Fatalf("Echo.Echo = %d %s", code, body)
	}
	if _, body := call("Venus.Version", ""); !strings.Contains(body, "v0.0.0-fake-test") {
		t.Fatalf("Venus.Version = %s", body)
	}
	if _, body := call("Echo.Write", ""); !strings.Contains(body, "need 'sign'") {
		t.Fatalf("Echo.Write without a token = %s; want a missing-permission error", body)
	}
	sign, _ := rpc.NewToken(secret, []rpc.Permission{rpc.PermRead, rpc.PermWrite, rpc.PermSign})
	if _, body := call("Echo.Write", sign); strings.Contains(body, "error") {
		t.Fatalf("Echo.Write with a sign token = %s", body)
	}
	if code, _ := call("Echo.Echo", ""); code != 200 {
		t.Fatal("the custom path is not served")
	}
	if resp, err := http.Post(hs.URL+"/rpc/v0", "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("/rpc/v0 on a /rpc/v1 server: HTTP %d, want 404", resp.StatusCode)
		}
	}
}
