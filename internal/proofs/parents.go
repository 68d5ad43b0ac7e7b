package proofs

import (
	"encoding/binary"
	"math/bits"
)

// Parent counts of the stacked DRG, Filecoin's: every label hashes 6 base
// parents from its own layer and, above layer 1, 8 expander parents from
// the layer below.
const (
	baseDegree     = 6
	expanderDegree = 8
	parentCount    = baseDegree + expanderDegree
)

// graph picks the parents of every node. It depends on the sector size
// only, so parents are the same for every sector of a size and could be
// cached, as Filecoin caches them; computing one costs two multiplications,
// far less than the hash that consumes it, so devproof does not cache.
type graph struct {
	nodes uint64
	seed  uint64
}

func newGraph(nodes uint64) graph {
	var buf [32]byte
	copy(buf[:], "devproof stacked drg")
	binary.LittleEndian.PutUint64(buf[24:], nodes)
	h := hashTrunc(buf[:])
	return graph{nodes: nodes, seed: binary.LittleEndian.Uint64(h[:8])}
}

// mix64 is SplitMix64's finaliser: a cheap bijection whose outputs look
// independent for consecutive inputs.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// baseParents are the base parents of node i >= 1, all before i in the same
// layer. Like Filecoin's bucket sampling, the first is i-1 and the others
// are at distances drawn from power-of-two buckets, so the graph is both
// local (cache friendly) and long-range (no cheap shortcut through it).
// Node 0 has no base parents.
func (g graph) baseParents(i uint64, dst *[baseDegree]uint64) {
	dst[0] = i - 1
	buckets := uint64(bits.Len64(i))
	for k := uint64(1); k < baseDegree; k++ {
		r := mix64(g.seed ^ (i<<4 | k))
		lo := uint64(1) << (r % buckets)
		d := min(lo+mix64(r)&(lo-1), i)
		dst[k] = i - d
	}
}

// expanderParents are the parents of node i in the layer below: uniform
// over the whole layer, which is what makes every layer depend on all of
// the previous one.
func (g graph) expanderParents(i uint64, dst *[expanderDegree]uint64) {
	for k := uint64(0); k < expanderDegree; k++ {
		dst[k] = mix64(^g.seed^(i<<4|k)) & (g.nodes - 1)
	}
}
