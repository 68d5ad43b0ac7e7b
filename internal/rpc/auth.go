package rpc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/filecoin-project/go-jsonrpc/auth"
	"github.com/golang-jwt/jwt/v5"
)

// Permission is what a token allows. It is go-jsonrpc's type so that
// auth.WithPerm and auth.PermissionedProxy work on it directly.
type Permission = auth.Permission

// The permissions, weakest first; each one is usually granted with all the
// weaker ones (see PermsUpTo), as Lotus does.
const (
	PermRead  Permission = "read"
	PermWrite Permission = "write"
	PermSign  Permission = "sign"
	PermAdmin Permission = "admin"
)

// AllPermissions lists every permission, weakest first.
var AllPermissions = []Permission{PermRead, PermWrite, PermSign, PermAdmin}

// SecretSize is the length in bytes of the HMAC key NewSecret makes; Lotus
// uses the same size for its auth-jwt-private key.
const SecretSize = 32

// PermsUpTo returns p and every weaker permission, the list that Lotus's
// `auth create-token --perm p` puts in a token: admin gives read, write,
// sign and admin.
func PermsUpTo(p Permission) ([]Permission, error) {
	i := slices.Index(AllPermissions, p)
	if i < 0 {
		return nil, fmt.Errorf("unknown permission %q: want one of %s", p, permNames())
	}
	return slices.Clone(AllPermissions[:i+1]), nil
}

func permNames() string {
	names := make([]string, len(AllPermissions))
	for i, p := range AllPermissions {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

func checkPerms(perms []Permission) error {
	if len(perms) == 0 {
		return errors.New("no permissions")
	}
	for _, p := range perms {
		if !slices.Contains(AllPermissions, p) {
			return fmt.Errorf("unknown permission %q: want one of %s", p, permNames())
		}
	}
	return nil
}

// NewSecret returns a fresh random HMAC key for signing tokens.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate JWT secret: %w", err)
	}
	return b, nil
}

// tokenClaims is Lotus's JwtPayload. The embedded registered claims are
// all omitempty, so the payload is exactly {"Allow":[...]} and a token we
// sign is accepted by Lotus tooling and the other way round; embedding
// them also makes golang-jwt enforce exp/nbf when a token carries them.
type tokenClaims struct {
	Allow []Permission
	jwt.RegisteredClaims
}

// NewToken signs an HS256 JWT granting perms (pass PermsUpTo(p) for the
// usual cumulative set).
func NewToken(secret []byte, perms []Permission) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("create token: empty JWT secret")
	}
	if err := checkPerms(perms); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{Allow: perms})
	s, err := tok.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return s, nil
}

// VerifyToken checks token's HS256 signature against secret and returns
// the permissions it grants. Any other algorithm is refused, "none" and
// the asymmetric ones included: accepting them would let a caller choose
// how its own token is checked.
func VerifyToken(secret []byte, token string) ([]Permission, error) {
	if len(secret) == 0 {
		return nil, errors.New("verify token: empty JWT secret")
	}
	var claims tokenClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	if err := checkPerms(claims.Allow); err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	return claims.Allow, nil
}

// AuthAPI implements the Venus methods AuthNew and AuthVerify with one
// secret, the one the server verifies requests with.
type AuthAPI struct {
	secret []byte
}

// NewAuthAPI returns the token methods for secret.
func NewAuthAPI(secret []byte) *AuthAPI {
	return &AuthAPI{secret: slices.Clone(secret)}
}

// AuthNew returns a new token granting exactly perms. The token comes back
// as bytes, as from Lotus, so it travels base64-encoded on the wire.
func (a *AuthAPI) AuthNew(_ context.Context, perms []Permission) ([]byte, error) {
	tok, err := NewToken(a.secret, perms)
	if err != nil {
		return nil, err
	}
	return []byte(tok), nil
}

// AuthVerify returns the permissions token grants.
func (a *AuthAPI) AuthVerify(_ context.Context, token string) ([]Permission, error) {
	return VerifyToken(a.secret, token)
}
