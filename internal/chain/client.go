package chain

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/filecoin-project/go-jsonrpc"

	"github.com/damocles-go/damocles/internal/netaddr"
)

// The websocket client reconnects after a lost connection, waiting from
// reconnectMin up to reconnectMax between attempts: short, because a
// manager that misses head changes can miss a WindowPoSt deadline.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// NewClient connects to a chain node's v1 API (Lotus, Venus or the devnet).
// addr is any notation netaddr.Parse reads, as written in [Common.API]
// Chain: /ip4/10.0.0.1/tcp/1234, /dns/node/tcp/443/wss, ws://host:1234,
// host:1234. The client uses a websocket, which ChainNotify needs, unless
// a URL names http or https; over HTTP, ChainNotify fails and HeadEvents
// polls instead. A multiaddr always gets a websocket, as Lotus's clients
// dial one: the api file Lotus (and the devnet) writes ends in /http. token, when not empty, is sent as
// "Authorization: Bearer <token>". A websocket client dials at once and
// reconnects by itself after a lost connection; close it with the
// returned closer.
func NewClient(ctx context.Context, addr, token string) (API, jsonrpc.ClientCloser, error) {
	ep, err := netaddr.Parse(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("chain node address: %w", err)
	}
	transport := "ws"
	isURL := strings.Contains(addr, "://")
	if isURL && (ep.Scheme == "http" || ep.Scheme == "https") {
		transport = "http"
	}
	url := ep.URL(transport, Path)

	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}

	var api APIStruct
	closer, err := jsonrpc.NewMergeClient(ctx, url, Namespace, []any{&api.Internal}, header,
		jsonrpc.WithReconnectBackoff(reconnectMin, reconnectMax))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to chain node at %s (from address %q): %w", url, addr, err)
	}
	return &api, closer, nil
}
