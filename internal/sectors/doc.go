// Package sectors owns what the manager knows about sectors: their numbers
// (allocation per miner, never reused), their state while a worker seals
// them and after (online, then finalized or aborted), the persist stores
// sealed sectors go to and the space reserved there, the sector indexer
// (which store instances hold a sector's sealed file and cache dir, and
// where that is on disk), and the scan of a storage directory that imports
// the sectors already in it (`util storage attach`).
//
// The indexer's entries come from an IndexSource: this node's database
// (LocalIndex), or on a proxy node (--proxy) the source manager's
// Venus.SectorIndexerFind (ProxyIndex: read only, cached, with its
// reachability logged and exported); the client it asks is built by the
// caller.
//
// It does not serve RPC: package sealer translates the worker's calls into
// calls here and maps ErrSectorNotFound to the 11001 error code. It does
// not send chain messages or prove anything; what it needs from the chain
// it asks through the small interfaces it declares (MinerInfoSource,
// ChainSectors). Rows live in package store; every change is one
// transaction there.
package sectors

import logging "github.com/ipfs/go-log/v2"

var log = logging.Logger("sectors")
