// Package prover is the manager's prover facade: what computes a WindowPoSt
// or WinningPoSt proof for the poster and the miner. Local proves with the
// proof engine inside the manager; Ext sends each proof to the external
// processors of ext-prover.cfg (`daemon run --ext-prover`, seed 001). The
// worker-prover job queue plugs in behind the same interface.
//
// It does not choose sectors, check their files nor talk to the chain:
// that is the poster's business.
package prover

import logging "github.com/ipfs/go-log/v2"

var log = logging.Logger("prover")
