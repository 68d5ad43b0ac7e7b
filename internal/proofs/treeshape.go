package proofs

import (
	"errors"
	"fmt"
	"slices"
)

// treeShape describes one of a sector's Merkle trees and how it is stored.
// Leaves are split evenly over Files base trees of arity Arity, one file
// each; the file roots combine through TopArities (bottom-up) into the
// tree's root. Rows are numbered from the leaves (row 0) to the base-tree
// root (row height()).
type treeShape struct {
	Arity      int    `json:"arity"`
	Leaves     uint64 `json:"leaves"`
	Files      int    `json:"files"`
	TopArities []int  `json:"top_arities"`
	// StoreLeaves keeps row 0 in the file (tree-d, tree-c). Without it the
	// leaves live elsewhere (tree-r-last: the sealed file) and the
	// RowsToDiscard rows above them are not stored either; readers rebuild
	// them from the leaves, like Filecoin's LevelCacheStore.
	StoreLeaves   bool `json:"store_leaves"`
	RowsToDiscard int  `json:"rows_to_discard"`
}

// treeDShape is the binary tree over the unsealed data.
func treeDShape(sp sectorParams) treeShape {
	return treeShape{Arity: 2, Leaves: sp.nodes(), Files: 1, StoreLeaves: true}
}

// treeCShape is the tree over column hashes, stored whole because PoRep
// openings need any of its nodes.
func treeCShape(sp sectorParams) treeShape {
	return treeShape{Arity: 8, Leaves: sp.nodes(), Files: sp.treeFiles, TopArities: sp.topArities, StoreLeaves: true}
}

// treeRLastShape is the tree over the replica. Like Filecoin it discards 2
// rows above the leaves (so a PoSt opening rebuilds them from 512 replica
// leaves, 16KiB), but keeps at least the two top rows of every base tree:
// a 2KiB sector (64 leaves, 2 rows) discards none, and an opening reads 8
// leaves and checks them against the stored row 1.
func treeRLastShape(sp sectorParams) treeShape {
	s := treeShape{Arity: 8, Leaves: sp.nodes(), Files: sp.treeFiles, TopArities: sp.topArities}
	s.RowsToDiscard = defaultRowsToDiscard(s.height())
	return s
}

func defaultRowsToDiscard(height int) int {
	return max(0, min(2, height-2))
}

func (s treeShape) leavesPerFile() uint64 { return s.Leaves / uint64(s.Files) }

// height is the number of rows above the leaves in a base tree.
func (s treeShape) height() int {
	h := 0
	for n := s.leavesPerFile(); n > 1; n /= uint64(s.Arity) {
		h++
	}
	return h
}

// rowNodes is the number of nodes of row r in one base tree.
func (s treeShape) rowNodes(r int) uint64 {
	n := s.leavesPerFile()
	for range r {
		n /= uint64(s.Arity)
	}
	return n
}

// firstStoredRow is the lowest row a base-tree file holds.
func (s treeShape) firstStoredRow() int {
	if s.StoreLeaves {
		return 0
	}
	return 1 + s.RowsToDiscard
}

// rowOffset is the byte offset of row r in a base-tree file: stored rows
// follow each other bottom-up, like Filecoin's tree files.
func (s treeShape) rowOffset(r int) int64 {
	var off int64
	for row := s.firstStoredRow(); row < r; row++ {
		off += int64(s.rowNodes(row)) * nodeSize
	}
	return off
}

// fileSize is the size of one base-tree file.
func (s treeShape) fileSize() int64 { return s.rowOffset(s.height() + 1) }

// levelArities is the arity of every level of a path from a leaf to the
// root: what a verifier needs, and all it needs, to check an opening.
func (s treeShape) levelArities() []int {
	a := make([]int, 0, s.height()+len(s.TopArities))
	for range s.height() {
		a = append(a, s.Arity)
	}
	return append(a, s.TopArities...)
}

// siblingCount is the number of sibling nodes in one opening.
func (s treeShape) siblingCount() int {
	n := 0
	for _, a := range s.levelArities() {
		n += a - 1
	}
	return n
}

func (s treeShape) validate() error {
	if s.Arity < 2 || s.Arity > maxArity || s.Files < 1 || s.Leaves == 0 || s.Leaves%uint64(s.Files) != 0 {
		return fmt.Errorf("tree shape %+v: bad arity, files or leaves", s)
	}
	if n := s.leavesPerFile(); n < uint64(s.Arity) || s.rowNodes(s.height()) != 1 || !isPowerOf(n, uint64(s.Arity)) {
		return fmt.Errorf("tree shape %+v: %d leaves per file is not a power of %d", s, n, s.Arity)
	}
	top := 1
	for _, a := range s.TopArities {
		if a < 2 || a > maxArity {
			return fmt.Errorf("tree shape %+v: bad top arity %d", s, a)
		}
		top *= a
	}
	if top != s.Files {
		return fmt.Errorf("tree shape %+v: top arities do not combine %d files", s, s.Files)
	}
	if s.RowsToDiscard < 0 || (s.StoreLeaves && s.RowsToDiscard != 0) || s.firstStoredRow() > s.height() {
		return fmt.Errorf("tree shape %+v: bad rows to discard", s)
	}
	return nil
}

// sameTree tells whether two shapes describe the same tree (the same root
// for the same leaves), however they are stored.
func (s treeShape) sameTree(o treeShape) bool {
	return s.Arity == o.Arity && s.Leaves == o.Leaves && s.Files == o.Files && slices.Equal(s.TopArities, o.TopArities)
}

func isPowerOf(n, base uint64) bool {
	for n > 1 && n%base == 0 {
		n /= base
	}
	return n == 1
}

// maxArity is the largest arity of any level: Filecoin's oct trees.
const maxArity = 8

// merklePath opens one leaf: the leaf and, level by level from the bottom,
// the other arity-1 nodes of its group in order.
type merklePath struct {
	Leaf     node   `json:"leaf"`
	Siblings []node `json:"siblings"`
}

var errBadPath = errors.New("merkle path does not fit the tree")

// rootFromPath recomputes the root a path leads to when it opens leaf
// index. It is the whole of Merkle verification: compare its result.
func rootFromPath(arities []int, index uint64, p merklePath) (node, error) {
	cur := p.Leaf
	sib := p.Siblings
	var group [maxArity * nodeSize]byte
	for _, a := range arities {
		if a < 2 || a > maxArity || len(sib) < a-1 {
			return node{}, errBadPath
		}
		pos := int(index % uint64(a))
		index /= uint64(a)
		for i, j := 0, 0; i < a; i++ {
			if i == pos {
				copy(group[i*nodeSize:], cur[:])
				continue
			}
			copy(group[i*nodeSize:], sib[j][:])
			j++
		}
		sib = sib[a-1:]
		cur = hashTrunc(group[:a*nodeSize])
	}
	if len(sib) != 0 || index != 0 {
		return node{}, errBadPath
	}
	return cur, nil
}
