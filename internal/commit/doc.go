// Package commit owns the commitment messages of each miner: PreCommit and
// ProveCommit (Terminate to come). It records what workers submit on the
// sector rows, builds the messages, aggregates sectors into batches when
// the miner's policy asks for it, sends them through a chain.API node and
// follows them until their sectors are visible in chain state.
//
// It does not seal sectors, verify proofs nor choose sector numbers: the
// worker and the sectors package do. Everything it knows lives in the
// sector rows (store.Sector PreCommit and Commit), so a new Manager on the
// same database carries on where the last one stopped.
package commit

import logging "github.com/ipfs/go-log/v2"

var log = logging.Logger("commitmgr")
