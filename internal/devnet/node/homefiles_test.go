package node

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/damocles-go/damocles/internal/rpc"
)

func TestSecretIsKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	secret, err := LoadSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, SecretFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, %v", st, err)
	}
	token, err := WriteToken(dir, secret)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, TokenFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", st, err)
	}
	again, err := LoadSecret(dir)
	if err != nil || string(again) != string(secret) {
		t.Fatalf("second load: %x, %v; want %x", again, err, secret)
	}
	perms, err := rpc.VerifyToken(again, token)
	if err != nil || !slices.Equal(perms, rpc.AllPermissions) {
		t.Fatalf("old token after a restart: %v, %v", perms, err)
	}
	if err := os.WriteFile(filepath.Join(dir, SecretFile), []byte("not hex"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecret(dir); err == nil {
		t.Fatal("a corrupt secret file was accepted")
	}
}

func TestAPIMultiaddr(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, "/ip4/127.0.0.1/tcp/1234/http"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 1234}, "/ip4/127.0.0.1/tcp/1234/http"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 1}, "/ip4/127.0.0.1/tcp/1/http"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 2}, "/ip6/::1/tcp/2/http"},
	} {
		if got, err := APIMultiaddr(tc.addr); err != nil || got != tc.want {
			t.Errorf("APIMultiaddr(%s) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
	if _, err := APIMultiaddr(&net.UnixAddr{Name: "/tmp/x", Net: "unix"}); err == nil {
		t.Error("a unix socket got a TCP multiaddr")
	}
	dir := t.TempDir()
	got, err := WriteAPIFile(dir, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5})
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, APIFile)); err != nil || string(data) != got {
		t.Fatalf("api file holds %q (%v), want %q", data, err, got)
	}
}
