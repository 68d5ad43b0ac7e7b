// Package chain owns chain.API, exactly the subset of the Lotus v1
// full-node API that damocles-manager uses (api.go), the Go mirrors of the
// Lotus types that API carries (types.go, cbor.go), its go-jsonrpc client
// in namespace "Filecoin" at /rpc/v1 (client.go), head-change events with
// a polling fallback (events.go), deadline math (deadline.go) and the
// building of a CreateMiner message (miner.go).
//
// Pointing [Common.API] Chain at a Lotus node must be only a configuration
// change, so every type here encodes and decodes exactly as Lotus's JSON
// does (and, where Lotus hashes one, as its CBOR does): we cannot import
// Lotus (it drags in hundreds of modules and cgo), so the types are
// written again from Lotus's definitions and checked against the example
// JSON of Lotus's api-v1-unstable-methods.md. Everything go-state-types
// defines (addresses, big ints, bitfields, dline.Info, the miner actor's
// sector infos) is used from there, at ActorsVersion.
//
// It does not own the chain itself: the simulated chain that serves this
// API is internal/devnet, which can use APIStruct as its permission-checking
// server proxy, as internal/rpc does for the Venus API.
package chain
