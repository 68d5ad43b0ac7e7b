// Package proofs owns the proof engine: the Engine interface every proof
// stage goes through (so an engine wrapping filecoin-ffi can replace the
// built-in one), and the built-in engine devproof (DevEngine).
//
// devproof is not Filecoin's proof system, but it has its shape, its cost
// profile and its failure modes, and its proofs are verifiable from public
// on-chain data alone: sealing writes Filecoin's file layout (layers, tree-d,
// tree-c, tree-r-last with discarded rows, p_aux, t_aux), PoRep opens
// challenged nodes against comm_d and comm_r, and a PoSt opens replica
// leaves and stored tree rows of every sector, so it needs the sealed file
// and the cache files on disk and intact. Commitments use Filecoin's
// sha256-trunc254 hashing, so comm_d of a sector (CC or with pieces) is the
// real Filecoin value and CIDs convert with go-fil-commcid.
//
// The package does not schedule work, start processes or decide partitions:
// callers hand it the sectors to prove, in the order they want them proven.
package proofs
