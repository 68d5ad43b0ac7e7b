package rpc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/damocles-go/damocles/internal/rpc"
)

func TestClientAddressNotations(t *testing.T) {
	ts := startServer(t)
	for _, addr := range []string{
		ts.multiaddr(),
		ts.multiaddr() + "/http",
		ts.multiaddr() + "/ws",
		ts.addr,
		"http://" + ts.addr,
		"http://" + ts.addr + "/ignored/path",
		"ws://" + ts.addr,
	} {
		t.Run(addr, func(t *testing.T) {
			v, err := ts.client(t, addr, "").Version(context.Background())
			if err != nil || v != "v0.0.0-fake-test" {
				t.Fatalf("Version = %q, %v", v, err)
			}
		})
	}

	_, _, err := rpc.NewVenusClient(context.Background(), "nonsense", "", nil)
	if err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Fatalf("bad address: error = %v, want one naming it", err)
	}
}

func TestClientHeaders(t *testing.T) {
	secret := mustSecret(t)
	srv, err := rpc.NewServer(newFakeVenus(secret), rpc.ServerConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan http.Header, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		srv.Handler().ServeHTTP(w, r)
	}))
	defer hs.Close()

	token := mustToken(t, secret, rpc.PermRead)
	extra := http.Header{
		"User-Agent":    {"damocles-worker/test"},
		"X-Extra":       {"1"},
		"Authorization": {"Bearer overridden"},
	}
	api, closer, err := rpc.NewVenusClient(context.Background(), hs.URL, token, extra)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if _, err := api.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := <-seen
	if got := h.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization = %q, want the token's", got)
	}
	if h.Get("User-Agent") != "damocles-worker/test" || h.Get("X-Extra") != "1" {
		t.Errorf("extra headers not sent: %v", h)
	}
	if extra.Get("Authorization") != "Bearer overridden" {
		t.Error("NewVenusClient modified the caller's header")
	}
}
