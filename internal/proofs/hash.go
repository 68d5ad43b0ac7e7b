package proofs

import (
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/minio/sha256-simd"
)

// nodeSize is the size of every node of a sector: data, labels, replica and
// tree nodes are all 32 bytes, one BLS12-381 scalar in Filecoin.
const nodeSize = 32

// node is one 32-byte element of a sector or of one of its trees. In JSON it
// is a hex string, which keeps C1 output (thousands of nodes) compact.
type node [nodeSize]byte

func (n node) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, n[:]), nil
}

func (n *node) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != nodeSize {
		return fmt.Errorf("node: want %d hex digits, got %d", 2*nodeSize, len(b))
	}
	_, err := hex.Decode(n[:], b)
	return err
}

// hashTrunc is Filecoin's sha256-trunc254: SHA-256 with the two top bits of
// the last byte cleared, so that every digest is a valid BLS12-381 scalar.
// Using it everywhere makes comm_d the real Filecoin value and makes comm_r
// look like a real one (go-fil-commcid accepts both).
func hashTrunc(data []byte) node {
	h := sha256.Sum256(data)
	h[31] &= 0x3f
	return h
}

// parallelMin is the number of hashes under which work stays on one
// goroutine: below it, starting goroutines costs more than the hashing
// they would share.
const parallelMin = 1024

// inParallel runs f over [0, n) split into at most threads contiguous
// ranges, concurrently, and returns when all are done.
func inParallel(n, threads int, f func(start, end int)) {
	if threads <= 1 || n < parallelMin {
		f(0, n)
		return
	}
	per := (n + threads - 1) / threads
	var wg sync.WaitGroup
	for start := 0; start < n; start += per {
		wg.Go(func() { f(start, min(start+per, n)) })
	}
	wg.Wait()
}

// hashRow computes one tree row: each group of arity nodes of src becomes
// one node of dst. threads bounds the goroutines sharing a long row.
func hashRow(dst, src []byte, arity, threads int) {
	groupSize := arity * nodeSize
	inParallel(len(dst)/nodeSize, threads, func(start, end int) {
		hashGroups(dst[start*nodeSize:end*nodeSize], src[start*groupSize:end*groupSize], groupSize)
	})
}

func hashGroups(dst, src []byte, groupSize int) {
	for i := 0; i*nodeSize < len(dst); i++ {
		h := hashTrunc(src[i*groupSize : (i+1)*groupSize])
		copy(dst[i*nodeSize:], h[:])
	}
}

// nextRow returns the row above src as a new slice.
func nextRow(src []byte, arity int) []byte {
	dst := make([]byte, len(src)/arity)
	hashRow(dst, src, arity, 1)
	return dst
}
