// Package netaddr turns the endpoint notations found in the seeds' config
// files into dialable URLs: multiaddrs such as /ip4/1.2.3.4/tcp/1789 or
// /dns/host/tcp/82/wss (damocles, Lotus and Venus all write them), plain
// URLs, and host:port. It owns no connection logic.
package netaddr

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
)

// Endpoint is a parsed network endpoint.
type Endpoint struct {
	// Scheme is "http", "https", "ws" or "wss"; empty when the notation did
	// not say (a bare multiaddr or host:port), so the caller picks.
	Scheme string
	// Host is a name or IP address, without brackets.
	Host string
	// Port is empty when not given.
	Port string
}

// Parse reads a multiaddr ("/ip4/1.2.3.4/tcp/1789", "/dns4/h/tcp/1/https"),
// a URL ("http://h:1789", any path dropped) or "host:port" (":1789" means
// localhost, as a listen address does).
func Parse(s string) (Endpoint, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Endpoint{}, fmt.Errorf("empty address")
	case strings.HasPrefix(s, "/"):
		return parseMultiaddr(s)
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil {
			return Endpoint{}, fmt.Errorf("bad URL %q: %v", s, err)
		}
		switch u.Scheme {
		case "http", "https", "ws", "wss":
		default:
			return Endpoint{}, fmt.Errorf("bad URL %q: scheme %q is not http, https, ws or wss", s, u.Scheme)
		}
		if u.Hostname() == "" {
			return Endpoint{}, fmt.Errorf("bad URL %q: no host", s)
		}
		return Endpoint{Scheme: u.Scheme, Host: u.Hostname(), Port: u.Port()}, nil
	default:
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return Endpoint{}, fmt.Errorf("bad address %q: want a multiaddr (/ip4/127.0.0.1/tcp/1789), a URL or host:port", s)
		}
		if host == "" {
			host = "127.0.0.1"
		}
		return Endpoint{Host: host, Port: port}, nil
	}
}

func parseMultiaddr(s string) (Endpoint, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("bad multiaddr %q: %v", s, err)
	}
	var ep Endpoint
	for _, c := range m {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
			ep.Host = c.Value()
		case ma.P_TCP:
			ep.Port = c.Value()
		case ma.P_HTTP:
			ep.Scheme = "http"
		case ma.P_HTTPS:
			ep.Scheme = "https"
		case ma.P_WS:
			ep.Scheme = "ws"
		case ma.P_WSS:
			ep.Scheme = "wss"
		}
	}
	if ep.Host == "" {
		return Endpoint{}, fmt.Errorf("bad multiaddr %q: no /ip4, /ip6 or /dns host", s)
	}
	return ep, nil
}

// URL returns the endpoint as a URL with the given path. defaultScheme is
// used when the notation named none; a ws scheme is turned into http (and
// wss into https) when the caller asks for http, and the other way round,
// so one address works for both transports.
func (e Endpoint) URL(defaultScheme, path string) string {
	scheme := e.Scheme
	if scheme == "" {
		scheme = defaultScheme
	}
	secure := scheme == "https" || scheme == "wss"
	switch defaultScheme {
	case "http", "https":
		scheme = map[bool]string{false: "http", true: "https"}[secure]
	case "ws", "wss":
		scheme = map[bool]string{false: "ws", true: "wss"}[secure]
	}
	host := e.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if e.Port != "" {
		host += ":" + e.Port
	}
	return scheme + "://" + host + path
}

// Multiaddr returns the endpoint as a Lotus-style API multiaddr, e.g.
// /ip4/127.0.0.1/tcp/1789/http, for the api files written next to tokens.
func (e Endpoint) Multiaddr() string {
	proto := "/dns/"
	if ip := net.ParseIP(e.Host); ip != nil {
		proto = "/ip4/"
		if ip.To4() == nil {
			proto = "/ip6/"
		}
	}
	s := proto + e.Host
	if e.Port != "" {
		s += "/tcp/" + e.Port
	}
	if e.Scheme != "" {
		s += "/" + e.Scheme
	}
	return s
}
