package proofs

import (
	"encoding/binary"

	"github.com/filecoin-project/go-state-types/abi"
)

// ProverID is the 32-byte prover id of a miner: the unsigned LEB128 encoding
// of its actor id (the payload of its ID address), zero padded on the right.
// Miner 1000 is [232, 7, 0, ...] (PROTOCOLS §4.6).
func ProverID(miner abi.ActorID) [32]byte {
	var id [32]byte
	binary.PutUvarint(id[:], uint64(miner))
	return id
}

// porepID is Filecoin's porep_id of a seal proof type: the registered proof
// number as little-endian u64 followed by a zero nonce. For V1 to
// SyntheticPoRep it equals go-state-types' RegisteredSealProof.PoRepID; NI
// numbers follow the same rule.
func porepID(p abi.RegisteredSealProof) [32]byte {
	var id [32]byte
	binary.LittleEndian.PutUint64(id[:8], uint64(p))
	return id
}

// replicaID binds a sealed replica to its miner, sector, ticket, data and
// proof type: it seeds every label, so a PoRep for any other of these fails.
// Same layout as Filecoin's (and go-state-types' ReplicaId).
func replicaID(p abi.RegisteredSealProof, miner abi.ActorID, sector abi.SectorNumber, ticket, commD node) node {
	var buf [32 + 8 + 32 + 32 + 32]byte
	prover := ProverID(miner)
	copy(buf[0:32], prover[:])
	binary.BigEndian.PutUint64(buf[32:40], uint64(sector))
	copy(buf[40:72], ticket[:])
	copy(buf[72:104], commD[:])
	pid := porepID(p)
	copy(buf[104:136], pid[:])
	return hashTrunc(buf[:])
}
