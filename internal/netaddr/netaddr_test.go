package netaddr

import "testing"

func TestParseAndURL(t *testing.T) {
	tests := []struct {
		in, def, want string
	}{
		{"/ip4/1.2.3.4/tcp/1789", "http", "http://1.2.3.4:1789/rpc/v0"},
		{"/dns4/mgr.example/tcp/1789", "http", "http://mgr.example:1789/rpc/v0"},
		{"/ip4/1.2.3.4/tcp/1789/https", "http", "https://1.2.3.4:1789/rpc/v0"},
		{"http://mgr.example:1789/some/path", "http", "http://mgr.example:1789/rpc/v0"},
		{"/ip6/2001:db8::1/tcp/1789", "http", "http://[2001:db8::1]:1789/rpc/v0"},
		{"/ip4/47.243.169.165/tcp/1234/ws", "http", "http://47.243.169.165:1234/rpc/v0"},
		{"/ip4/47.243.169.165/tcp/1234/ws", "ws", "ws://47.243.169.165:1234/rpc/v0"},
		{"/dns/cali-messager.filincubator.com/tcp/82/wss", "ws", "wss://cali-messager.filincubator.com:82/rpc/v0"},
		{"/dns/cali-messager.filincubator.com/tcp/82/wss", "http", "https://cali-messager.filincubator.com:82/rpc/v0"},
		{"127.0.0.1:1789", "http", "http://127.0.0.1:1789/rpc/v0"},
		{":2789", "http", "http://127.0.0.1:2789/rpc/v0"},
	}
	for _, tt := range tests {
		ep, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := ep.URL(tt.def, "/rpc/v0"); got != tt.want {
			t.Errorf("Parse(%q).URL(%q) = %q, want %q", tt.in, tt.def, got, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "/ip4/1.2.3.4.5/tcp/1", "/tcp/1789", "ftp://h:1", "justahost", "http://:1789"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", in)
		}
	}
}

func TestMultiaddrRoundTrip(t *testing.T) {
	ep := Endpoint{Scheme: "http", Host: "127.0.0.1", Port: "1789"}
	if got := ep.Multiaddr(); got != "/ip4/127.0.0.1/tcp/1789/http" {
		t.Fatalf("Multiaddr() = %q", got)
	}
	back, err := Parse(ep.Multiaddr())
	if err != nil || back != ep {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
