package rpc

import (
	"context"
	"fmt"
	"net/http"

	"github.com/filecoin-project/go-jsonrpc"

	"github.com/damocles-go/damocles/internal/netaddr"
)

// NewVenusClient connects to a manager's Venus API. addr is any notation
// netaddr.Parse reads (/ip4/127.0.0.1/tcp/1789, http://host:1789,
// host:1789); the client uses HTTP POST, like the Rust worker, unless the
// address names ws or wss. token, when not empty, is sent as
// "Authorization: Bearer <token>" and wins over an Authorization in
// header; header's other entries (the worker's rpc_client.headers) are
// sent as given. Close the client with the returned closer.
func NewVenusClient(ctx context.Context, addr, token string, header http.Header) (*VenusStruct, jsonrpc.ClientCloser, error) {
	var api VenusStruct
	closer, err := dial(ctx, addr, token, header, &api.Internal)
	if err != nil {
		return nil, nil, err
	}
	return &api, closer, nil
}

// dial connects the Internal funcs of one or more API structs to the
// manager at addr.
func dial(ctx context.Context, addr, token string, header http.Header, internals ...any) (jsonrpc.ClientCloser, error) {
	ep, err := netaddr.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("manager RPC address: %w", err)
	}
	scheme := "http"
	if ep.Scheme == "ws" || ep.Scheme == "wss" {
		scheme = "ws"
	}
	url := ep.URL(scheme, Path)

	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}

	closer, err := jsonrpc.NewMergeClient(ctx, url, Namespace, internals, h)
	if err != nil {
		return nil, fmt.Errorf("connect to damocles-manager at %s (from address %q): %w", url, addr, err)
	}
	return closer, nil
}
