package proofs

import (
	"context"
	"encoding/binary"
	"path/filepath"
)

// labelHeaderSize is the fixed start of a label's hash input, as in
// Filecoin: replica id, layer (big-endian u32), node (big-endian u64), zero
// padding to one SHA-256 block.
const labelHeaderSize = 64

// labelInput is the hash input of one label: header, base parents' labels,
// expander parents' labels.
type labelInput [labelHeaderSize + parentCount*nodeSize]byte

func (in *labelInput) setHeader(replicaID node, layer int) {
	copy(in[:32], replicaID[:])
	binary.BigEndian.PutUint32(in[32:36], uint32(layer))
}

func (in *labelInput) setNode(i uint64) {
	binary.BigEndian.PutUint64(in[36:44], i)
}

// ctxCheckInterval is how many nodes long loops process between looks at
// their context: often enough to stop within milliseconds, rarely enough to
// cost nothing.
const ctxCheckInterval = 1 << 14

// labelLayer computes every label of one layer into cur (the layer below
// is prev, nil for layer 1). label(l, i) hashes the replica id, l, i, the
// labels of i's base parents in cur and, above layer 1, of its expander
// parents in prev. Each label needs the previous one, so a layer is one
// sequential pass: PC1's cost is N·L hashes, like Filecoin's.
func labelLayer(ctx context.Context, g graph, replicaID node, layer int, cur, prev []byte) error {
	var in labelInput
	in.setHeader(replicaID, layer)
	var base [baseDegree]uint64
	var exp [expanderDegree]uint64
	for i := range g.nodes {
		if i%ctxCheckInterval == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		in.setNode(i)
		n := labelHeaderSize
		if i > 0 {
			g.baseParents(i, &base)
			for _, p := range base {
				// Array assignment compiles to inline moves; copy would
				// call memmove 14 times per label.
				*(*node)(in[n:]) = *(*node)(cur[p*nodeSize:])
				n += nodeSize
			}
		}
		if prev != nil {
			g.expanderParents(i, &exp)
			for _, p := range exp {
				*(*node)(in[n:]) = *(*node)(prev[p*nodeSize:])
				n += nodeSize
			}
		}
		*(*node)(cur[i*nodeSize:]) = hashTrunc(in[:n])
	}
	return nil
}

// labelFromParents recomputes one label (i >= 1) from its parents' labels,
// for verification. exp is ignored in layer 1.
func labelFromParents(replicaID node, layer int, i uint64, base *[baseDegree]node, exp *[expanderDegree]node) node {
	var in labelInput
	in.setHeader(replicaID, layer)
	in.setNode(i)
	n := labelHeaderSize
	for _, l := range base {
		n += copy(in[n:], l[:])
	}
	if layer > 1 {
		for _, l := range exp {
			n += copy(in[n:], l[:])
		}
	}
	return hashTrunc(in[:n])
}

// labelLayers writes all layers of a sector into the named files of
// cacheDir. Layers are memory-mapped files: the current and the previous
// layer must be randomly accessible, and the page cache (not the Go heap)
// should hold the 2 x 32GiB a large sector needs.
func labelLayers(ctx context.Context, sp sectorParams, replicaID node, cacheDir string, names []string) error {
	g := newGraph(sp.nodes())
	var prev *mappedFile
	for l, name := range names {
		cur, err := createMapped(filepath.Join(cacheDir, name), int64(sp.size))
		if err != nil {
			if prev != nil {
				prev.close()
			}
			return err
		}
		var prevData []byte
		if prev != nil {
			prevData = prev.data
		}
		err = labelLayer(ctx, g, replicaID, l+1, cur.data, prevData)
		if prev != nil {
			if cerr := prev.close(); err == nil {
				err = cerr
			}
		}
		prev = cur
		if err != nil {
			prev.close()
			return err
		}
	}
	return prev.close()
}
