package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/netaddr"
	"github.com/damocles-go/damocles/internal/rpc"
)

// The files of a devnet home next to the chain's own (internal/devnet),
// as a Lotus repo has them: clients find the API in api and authenticate
// with token.
const (
	// SecretFile holds the HMAC key of the API tokens, in hex. It is made
	// once and kept, so that tokens stay valid across restarts.
	SecretFile = "secret"
	// TokenFile holds an admin token.
	TokenFile = "token"
	// APIFile holds the multiaddr of the running devnet's API.
	APIFile = "api"
)

// LoadSecret reads the home's token secret, creating it on first use.
func LoadSecret(dir string) ([]byte, error) {
	path := home.Home{Dir: dir}.Path(SecretFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret, err := rpc.NewSecret()
		if err != nil {
			return nil, err
		}
		if err := (home.Home{Dir: dir}).WriteSecretFile(SecretFile, []byte(hex.EncodeToString(secret))); err != nil {
			return nil, err
		}
		return secret, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the API secret: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(secret) == 0 {
		return nil, fmt.Errorf("%s is not a hex API secret: delete it to make a new one (tokens made with the old one stop working)", path)
	}
	return secret, nil
}

// WriteToken writes an admin token signed with secret to the home's token
// file and returns it.
func WriteToken(dir string, secret []byte) (string, error) {
	token, err := rpc.NewToken(secret, rpc.AllPermissions)
	if err != nil {
		return "", err
	}
	return token, home.Home{Dir: dir}.WriteSecretFile(TokenFile, []byte(token))
}

// WriteAPIFile writes the listener's address to the home's api file as
// Lotus writes it (/ip4/127.0.0.1/tcp/1234/http) and returns it. A
// wildcard listener is written as loopback.
func WriteAPIFile(dir string, addr net.Addr) (string, error) {
	ma, err := APIMultiaddr(addr)
	if err != nil {
		return "", err
	}
	return ma, home.Home{Dir: dir}.WriteSecretFile(APIFile, []byte(ma))
}

// APIMultiaddr is the multiaddr clients dial for a listener's address.
func APIMultiaddr(addr net.Addr) (string, error) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "", fmt.Errorf("listener address %s is not TCP", addr)
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return netaddr.Endpoint{Scheme: "http", Host: host, Port: fmt.Sprint(tcp.Port)}.Multiaddr(), nil
}
