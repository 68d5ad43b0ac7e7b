package rpc

import "context"

// Namespace is the JSON-RPC namespace of the API: methods are called as
// "Venus.<Method>" (the historical damocles name, kept for wire
// compatibility with existing workers).
const Namespace = "Venus"

// Path is where the API is served, exactly (no trailing slash).
const Path = "/rpc/v0"

// Venus is the API damocles-manager serves to workers, the CLI and proxy
// managers. Each method's permission is the perm tag of its field in
// VenusStruct.Internal.
type Venus interface {
	// Version returns v<version>-<prover>-<commit>.
	Version(ctx context.Context) (string, error)

	// AuthNew returns a new token granting exactly perms (bytes of the JWT).
	AuthNew(ctx context.Context, perms []Permission) ([]byte, error)
	// AuthVerify returns the permissions a token grants.
	AuthVerify(ctx context.Context, token string) ([]Permission, error)

	// WorkerPing records that a worker is alive; the result is always nil.
	WorkerPing(ctx context.Context, winfo WorkerInfo) (Meta, error)
	// WorkerList returns every worker that has pinged.
	WorkerList(ctx context.Context) ([]WorkerPingInfo, error)
}

// VenusStruct is both the typed client (go-jsonrpc fills the Internal
// funcs with remote calls) and, on the server, the permission-checking
// proxy in front of the implementation (NewServer fills them).
type VenusStruct struct {
	Internal struct {
		Version func(ctx context.Context) (string, error) `perm:"read"`

		AuthNew    func(ctx context.Context, perms []Permission) ([]byte, error) `perm:"admin"`
		AuthVerify func(ctx context.Context, token string) ([]Permission, error) `perm:"read"`

		WorkerPing func(ctx context.Context, winfo WorkerInfo) (Meta, error) `perm:"write"`
		WorkerList func(ctx context.Context) ([]WorkerPingInfo, error)       `perm:"read"`
	}
}

// VenusStruct's methods only forward to Internal.
var _ Venus = (*VenusStruct)(nil)

func (s *VenusStruct) Version(ctx context.Context) (string, error) {
	return s.Internal.Version(ctx)
}

func (s *VenusStruct) AuthNew(ctx context.Context, perms []Permission) ([]byte, error) {
	return s.Internal.AuthNew(ctx, perms)
}

func (s *VenusStruct) AuthVerify(ctx context.Context, token string) ([]Permission, error) {
	return s.Internal.AuthVerify(ctx, token)
}

func (s *VenusStruct) WorkerPing(ctx context.Context, winfo WorkerInfo) (Meta, error) {
	return s.Internal.WorkerPing(ctx, winfo)
}

func (s *VenusStruct) WorkerList(ctx context.Context) ([]WorkerPingInfo, error) {
	return s.Internal.WorkerList(ctx)
}
