// Package poster owns WindowPoSt: for every miner whose [Miners.PoSt] is
// enabled, one runner per deadline that reads the deadline's partitions
// from the chain, checks the sector files, proves the partitions in
// batches through a prover, verifies each proof, submits it with
// SubmitWindowedPoSt and waits for it; and, meanwhile, declares recoveries
// for the deadline two ahead. What a runner pushes is recorded in the
// store before and after the push, so a manager restarted mid-deadline
// picks the deadline up and never sends the same proof twice.
//
// It does not compute proofs (internal/prover), know where sector files
// are (internal/sectors) nor hold sector metadata: the chain is the truth
// about which sectors to prove.
package poster

import logging "github.com/ipfs/go-log/v2"

var log = logging.Logger("poster")
