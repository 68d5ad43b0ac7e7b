package rpc_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/damocles-go/damocles/internal/rpc"
)

func mustSecret(t *testing.T) []byte {
	t.Helper()
	s, err := rpc.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustToken(t *testing.T, secret []byte, p rpc.Permission) string {
	t.Helper()
	perms, err := rpc.PermsUpTo(p)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rpc.NewToken(secret, perms)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestNewSecret(t *testing.T) {
	a, b := mustSecret(t), mustSecret(t)
	if len(a) != 32 {
		t.Fatalf("secret is %d bytes, want 32", len(a))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}
}

func TestPermsUpTo(t *testing.T) {
	tests := []struct {
		in   rpc.Permission
		want []rpc.Permission
	}{
		{rpc.PermRead, []rpc.Permission{"read"}},
		{rpc.PermWrite, []rpc.Permission{"read", "write"}},
		{rpc.PermSign, []rpc.Permission{"read", "write", "sign"}},
		{rpc.PermAdmin, []rpc.Permission{"read", "write", "sign", "admin"}},
	}
	for _, tt := range tests {
		got, err := rpc.PermsUpTo(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("PermsUpTo(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}

	got, _ := rpc.PermsUpTo(rpc.PermAdmin)
	got[0] = "mutated"
	if rpc.AllPermissions[0] != rpc.PermRead {
		t.Fatal("PermsUpTo returned AllPermissions itself; callers can corrupt it")
	}

	_, err := rpc.PermsUpTo("root")
	if err == nil || !strings.Contains(err.Error(), `"root"`) || !strings.Contains(err.Error(), "read, write, sign, admin") {
		t.Fatalf("PermsUpTo(root) error = %v, want it to name the bad one and list the valid ones", err)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	secret := mustSecret(t)
	for _, p := range rpc.AllPermissions {
		tok := mustToken(t, secret, p)
		got, err := rpc.VerifyToken(secret, tok)
		want, _ := rpc.PermsUpTo(p)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s token verifies to %v, %v; want %v", p, got, err, want)
		}
	}
}

// The token must be the one Lotus makes, so tokens travel between Lotus
// tooling and ours: header HS256, payload exactly {"Allow":[...]}.
func TestTokenIsLotusShaped(t *testing.T) {
	tok := mustToken(t, mustSecret(t), rpc.PermWrite)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(header), `"alg":"HS256"`) {
		t.Errorf("header = %s, want alg HS256", header)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != `{"Allow":["read","write"]}` {
		t.Errorf("payload = %s, want {\"Allow\":[\"read\",\"write\"]}", payload)
	}
}

// hs256 signs header and payload by hand, as any other JWT library
// (Lotus's gbrlsnchs/jwt among them) would.
func hs256(secret []byte, header, payload string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestVerifyTokenFromAnotherSigner(t *testing.T) {
	secret := mustSecret(t)
	tok := hs256(secret, `{"alg":"HS256","typ":"JWT"}`, `{"Allow":["read","write","sign","admin"]}`)
	got, err := rpc.VerifyToken(secret, tok)
	if err != nil || !slices.Equal(got, rpc.AllPermissions) {
		t.Fatalf("VerifyToken = %v, %v; want all permissions", got, err)
	}
}

func TestVerifyTokenRejects(t *testing.T) {
	secret := mustSecret(t)
	writeTok := mustToken(t, secret, rpc.PermWrite)
	adminTok := mustToken(t, secret, rpc.PermAdmin)
	writeParts := strings.Split(writeTok, ".")
	adminParts := strings.Split(adminTok, ".")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"Allow": []string{"admin"}}).SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding

	tests := []struct {
		name, token string
	}{
		{"tampered payload", writeParts[0] + "." + adminParts[1] + "." + writeParts[2]},
		{"other secret", mustToken(t, mustSecret(t), rpc.PermAdmin)},
		{"alg none", enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + adminParts[1] + "."},
		{"alg RS256", rs256},
		{"unknown permission", hs256(secret, `{"alg":"HS256","typ":"JWT"}`, `{"Allow":["read","root"]}`)},
		{"no permissions", hs256(secret, `{"alg":"HS256","typ":"JWT"}`, `{"Allow":[]}`)},
		{"expired", hs256(secret, `{"alg":"HS256","typ":"JWT"}`,
			`{"Allow":["read"],"exp":`+strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)+`}`)},
		{"garbage", "not-a-token"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			perms, err := rpc.VerifyToken(secret, tt.token)
			if err == nil {
				t.Fatalf("VerifyToken accepted it, granting %v", perms)
			}
		})
	}
}

func TestNewTokenErrors(t *testing.T) {
	secret := mustSecret(t)
	if _, err := rpc.NewToken(nil, []rpc.Permission{rpc.PermRead}); err == nil {
		t.Error("NewToken accepted an empty secret")
	}
	if _, err := rpc.NewToken(secret, nil); err == nil {
		t.Error("NewToken accepted no permissions")
	}
	if _, err := rpc.NewToken(secret, []rpc.Permission{"read", "root"}); err == nil || !strings.Contains(err.Error(), `"root"`) {
		t.Errorf("NewToken with an unknown permission: error = %v, want it to name \"root\"", err)
	}
	if _, err := rpc.VerifyToken(nil, mustToken(t, secret, rpc.PermRead)); err == nil {
		t.Error("VerifyToken accepted an empty secret")
	}
}

func TestAuthAPI(t *testing.T) {
	secret := mustSecret(t)
	a := rpc.NewAuthAPI(secret)
	ctx := context.Background()
	tok, err := a.AuthNew(ctx, []rpc.Permission{rpc.PermRead, rpc.PermSign})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.AuthVerify(ctx, string(tok))
	if err != nil || !slices.Equal(got, []rpc.Permission{rpc.PermRead, rpc.PermSign}) {
		t.Fatalf("AuthVerify = %v, %v; want exactly the permissions asked for", got, err)
	}
	if _, err := rpc.NewAuthAPI(mustSecret(t)).AuthVerify(ctx, string(tok)); err == nil {
		t.Fatal("a token verified under another secret")
	}
}
