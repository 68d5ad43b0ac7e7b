package proofs

import (
	"fmt"
	"math/bits"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
)

// zeroTree[k] is the root of a binary tree over 2^k zero nodes. It lets
// comm_d of CC sectors and the padding between pieces be computed per level,
// without hashing (or reading) gigabytes of zeros.
var zeroTree = func() (z [48]node) {
	for k := 1; k < len(z); k++ {
		var pair [2 * nodeSize]byte
		copy(pair[:nodeSize], z[k-1][:])
		copy(pair[nodeSize:], z[k-1][:])
		z[k] = hashTrunc(pair[:])
	}
	return z
}()

// zeroCommD is the root of size bytes of zeros (size a power of two, at
// least one node).
func zeroCommD(size uint64) node {
	return zeroTree[bits.TrailingZeros64(size/nodeSize)]
}

// ComputeCommD is the data commitment of a sector holding pieces, laid out
// in order and aligned as Filecoin does, with zeros in the gaps and at the
// end. No pieces means a CC sector (all zeros). The result is the real
// Filecoin comm_d, because tree-d is Filecoin's binary sha256-trunc254 tree.
func ComputeCommD(p abi.RegisteredSealProof, pieces []abi.PieceInfo) ([32]byte, error) {
	sp, err := sealParams(p)
	if err != nil {
		return [32]byte{}, err
	}
	sectorSize := uint64(sp.size)
	if len(pieces) == 0 {
		return zeroCommD(sectorSize), nil
	}

	// A stack of subtree roots in offset order, sizes strictly decreasing
	// once merged: pushing a subtree merges it with its left sibling as
	// long as they have the same size.
	type subtree struct {
		size uint64
		root node
	}
	var stack []subtree
	var offset uint64
	push := func(size uint64, root node) {
		stack = append(stack, subtree{size, root})
		offset += size
		for len(stack) >= 2 && stack[len(stack)-1].size == stack[len(stack)-2].size {
			l, r := stack[len(stack)-2], stack[len(stack)-1]
			var pair [2 * nodeSize]byte
			copy(pair[:nodeSize], l.root[:])
			copy(pair[nodeSize:], r.root[:])
			stack = append(stack[:len(stack)-2], subtree{2 * l.size, hashTrunc(pair[:])})
		}
	}
	// padTo fills [offset, target) with the largest aligned zero subtrees.
	padTo := func(target uint64) {
		for offset < target {
			size := uint64(1) << (63 - bits.LeadingZeros64(target-offset))
			if offset != 0 {
				size = min(size, offset&-offset)
			}
			push(size, zeroCommD(size))
		}
	}

	for i, piece := range pieces {
		if err := piece.Size.Validate(); err != nil {
			return [32]byte{}, fmt.Errorf("piece %d: %w", i, err)
		}
		size := uint64(piece.Size)
		aligned := (offset + size - 1) / size * size
		if aligned+size > sectorSize {
			return [32]byte{}, fmt.Errorf("piece %d (%d bytes at %d) does not fit a %d-byte sector", i, size, aligned, sectorSize)
		}
		commP, err := commcid.CIDToDataCommitmentV1(piece.PieceCID)
		if err != nil {
			return [32]byte{}, fmt.Errorf("piece %d: %w", i, err)
		}
		padTo(aligned)
		push(size, node(commP))
	}
	padTo(sectorSize)
	return stack[0].root, nil
}
