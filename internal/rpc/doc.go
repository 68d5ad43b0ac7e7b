// Package rpc owns the Venus JSON-RPC API that damocles-manager serves at
// /rpc/v0: the method list and wire types (api.go, types.go), the HTTP
// server with /healthcheck and /metrics (server.go), permissions and
// Lotus-style JWT tokens (auth.go), and the typed Go client (client.go).
//
// It does not own the method implementations of other domains (sealing,
// workers, WindowPoSt jobs): NewServer takes any value with the Venus
// methods, and the binaries wire the domain packages into one.
//
// Adding a method touches three places in api.go: the Venus interface, a
// field with its perm tag in VenusStruct.Internal, and a forwarding
// method. NewServer then requires the implementation to have it.
package rpc
