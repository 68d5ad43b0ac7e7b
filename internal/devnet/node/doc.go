// Package node owns the devnet's JSON-RPC face: the Lotus v1 methods of
// chain.API (namespace Filecoin, at /rpc/v1) served from a devnet.Chain
// (FullNode), the Devnet observer namespace that tests and the demo judge
// the system by (Observer), the block clock that mines an epoch every
// block time (Clock), the home's secret, token and api files, and Run,
// which wires them into the damocles-devnet daemon.
//
// It does not own the chain's rules, state or persistence (internal/devnet),
// the Lotus JSON types (internal/chain) or the RPC server's auth and
// transport (internal/rpc).
//
// The devnet keeps no state history: it answers state queries at the
// head. A tipset key argument is still checked, so that a client holding a
// key of another chain gets "tipset not found" rather than a wrong answer,
// and the methods whose answer depends only on the height (deadlines,
// randomness, tipsets by height, message searches) answer at the key's
// height. FullNode's documentation lists which is which.
package node
