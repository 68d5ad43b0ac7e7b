package proofs

import (
	"encoding/binary"
	"fmt"
)

// Proof encodings. Proofs are the openings themselves, without a SNARK, in
// a fixed layout: every length follows from the proof type, so nothing but
// nodes is written and a proof of the wrong length is simply invalid.
//
//	PoRep:       version | comm_c | comm_r_last | per challenge:
//	             data leaf, tree-d siblings,
//	             15 columns (node, 6 base parents, 8 expander parents) of
//	             L labels and tree-c siblings,
//	             replica leaf, tree-r-last siblings
//	PoSt:        version | sector count (u32 LE) | per sector: section
//	PoSt section (also the vanilla proof of one sector):
//	             comm_c | per challenge: replica leaf, tree-r-last siblings
//
// Challenged node indexes, column hashes and roots are not written: the
// verifier derives them.
const proofVersion = 1

const postHeaderSize = 1 + 4

func appendNodes(buf []byte, nodes []node) []byte {
	for _, n := range nodes {
		buf = append(buf, n[:]...)
	}
	return buf
}

func appendPath(buf []byte, p merklePath, siblings int) ([]byte, error) {
	if len(p.Siblings) != siblings {
		return nil, fmt.Errorf("path has %d siblings, want %d", len(p.Siblings), siblings)
	}
	buf = append(buf, p.Leaf[:]...)
	return appendNodes(buf, p.Siblings), nil
}

// nodeReader takes nodes off the front of an encoded proof. Its caller
// checks the total length first, so reads never run short.
type nodeReader []byte

func (r *nodeReader) node() node {
	n := node((*r)[:nodeSize])
	*r = (*r)[nodeSize:]
	return n
}

func (r *nodeReader) nodes(count int) []node {
	out := make([]node, count)
	for i := range out {
		out[i] = r.node()
	}
	return out
}

func (r *nodeReader) path(siblings int) merklePath {
	return merklePath{Leaf: r.node(), Siblings: r.nodes(siblings)}
}

// porepProofSize is the length of a PoRep proof of a sector size.
func porepProofSize(sp sectorParams) int {
	dSib, rSib := treeDShape(sp).siblingCount(), treeRLastShape(sp).siblingCount()
	perChallenge := 1 + dSib + (1+parentCount)*(sp.layers+rSib) + 1 + rSib
	return 1 + 2*nodeSize + sp.porepChallenges*perChallenge*nodeSize
}

func encodePoRep(sp sectorParams, in c1Output) ([]byte, error) {
	if len(in.Openings) != sp.porepChallenges {
		return nil, fmt.Errorf("%d openings, want %d", len(in.Openings), sp.porepChallenges)
	}
	dSib, rSib := treeDShape(sp).siblingCount(), treeRLastShape(sp).siblingCount()
	buf := make([]byte, 0, porepProofSize(sp))
	buf = append(buf, proofVersion)
	buf = append(append(buf, in.CommC[:]...), in.CommRLast[:]...)
	var err error
	for _, o := range in.Openings {
		if buf, err = appendPath(buf, o.Data, dSib); err != nil {
			return nil, fmt.Errorf("node %d data: %w", o.Node, err)
		}
		if len(o.Columns) != 1+parentCount {
			return nil, fmt.Errorf("node %d: %d columns, want %d", o.Node, len(o.Columns), 1+parentCount)
		}
		for _, col := range o.Columns {
			if len(col.Labels) != sp.layers || len(col.Path.Siblings) != rSib {
				return nil, fmt.Errorf("node %d: column of %d labels and %d siblings, want %d and %d", o.Node, len(col.Labels), len(col.Path.Siblings), sp.layers, rSib)
			}
			buf = appendNodes(appendNodes(buf, col.Labels), col.Path.Siblings)
		}
		if buf, err = appendPath(buf, o.Replica, rSib); err != nil {
			return nil, fmt.Errorf("node %d replica: %w", o.Node, err)
		}
	}
	return buf, nil
}

func decodePoRep(sp sectorParams, pr []byte) (commC, commRLast node, openings []porepOpening, ok bool) {
	if len(pr) != porepProofSize(sp) || pr[0] != proofVersion {
		return node{}, node{}, nil, false
	}
	dSib, rSib := treeDShape(sp).siblingCount(), treeRLastShape(sp).siblingCount()
	r := nodeReader(pr[1:])
	commC, commRLast = r.node(), r.node()
	openings = make([]porepOpening, sp.porepChallenges)
	for i := range openings {
		o := &openings[i]
		o.Data = r.path(dSib)
		o.Columns = make([]columnOpening, 1+parentCount)
		for j := range o.Columns {
			o.Columns[j].Labels = r.nodes(sp.layers)
			o.Columns[j].Path.Siblings = r.nodes(rSib)
		}
		o.Replica = r.path(rSib)
	}
	return commC, commRLast, openings, true
}

// postSectionSize is the length of one sector's PoSt section.
func postSectionSize(sp sectorParams, challenges int) int {
	return nodeSize + challenges*(1+treeRLastShape(sp).siblingCount())*nodeSize
}

func encodePoSt(sections [][]byte) []byte {
	size := postHeaderSize
	for _, s := range sections {
		size += len(s)
	}
	buf := make([]byte, postHeaderSize, size)
	buf[0] = proofVersion
	binary.LittleEndian.PutUint32(buf[1:], uint32(len(sections)))
	for _, s := range sections {
		buf = append(buf, s...)
	}
	return buf
}

// splitPoSt cuts a PoSt proof into its sections, if it has the layout of
// a proof of sectors sectors.
func splitPoSt(pr []byte, sectors, sectionSize int) ([][]byte, bool) {
	if len(pr) != postHeaderSize+sectors*sectionSize || pr[0] != proofVersion ||
		binary.LittleEndian.Uint32(pr[1:]) != uint32(sectors) {
		return nil, false
	}
	out := make([][]byte, sectors)
	for i := range out {
		off := postHeaderSize + i*sectionSize
		out[i] = pr[off : off+sectionSize]
	}
	return out, true
}
