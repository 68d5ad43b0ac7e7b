package proofs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// errCorrupt marks data that is readable but wrong: a rebuilt tree node that
// differs from the stored one, or commitments that do not match.
var errCorrupt = errors.New("corrupt sector data")

// treeReader opens leaves of a stored tree, reading only the nodes an
// opening touches (preads at computed offsets, never a whole file).
type treeReader struct {
	shape  treeShape
	files  []*os.File
	leaves io.ReaderAt // the leaves, when the files do not hold them
	roots  []byte      // every base tree's root, when there are several
}

// openTree opens a tree's base-tree files, names in dir. leaves is where
// the leaves are read from when the shape does not store them. A missing,
// unreadable, short or non-regular file fails here.
func openTree(shape treeShape, dir string, names []string, leaves io.ReaderAt) (*treeReader, error) {
	if err := shape.validate(); err != nil {
		return nil, err
	}
	if len(names) != shape.Files {
		return nil, fmt.Errorf("tree of %d files given %d names", shape.Files, len(names))
	}
	t := &treeReader{shape: shape, leaves: leaves}
	for _, n := range names {
		f, err := openSized(filepath.Join(dir, n), shape.fileSize())
		if err != nil {
			t.close()
			return nil, err
		}
		t.files = append(t.files, f)
	}
	if shape.Files > 1 {
		h := shape.height()
		for f := range t.files {
			root, err := t.readNodes(f, h, 0, 1)
			if err != nil {
				t.close()
				return nil, err
			}
			t.roots = append(t.roots, root...)
		}
	}
	return t, nil
}

// openSized opens a regular file that must be exactly size bytes long, so
// that truncated copies are caught before any proof is built from them.
func openSized(path string, size int64) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file", path)
	case fi.Size() != size:
		err = fmt.Errorf("%s is %d bytes, want %d", path, fi.Size(), size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (t *treeReader) close() {
	for _, f := range t.files {
		f.Close()
	}
	t.files = nil
}

// readNodes reads count nodes of stored row r of base tree f from start.
func (t *treeReader) readNodes(f, r int, start uint64, count int) ([]byte, error) {
	buf := make([]byte, count*nodeSize)
	_, err := t.files[f].ReadAt(buf, t.shape.rowOffset(r)+int64(start)*nodeSize)
	if err != nil {
		return nil, fmt.Errorf("read %s row %d: %w", t.files[f].Name(), r, err)
	}
	return buf, nil
}

// open builds the path of leaf x. Rows below the first stored one are
// rebuilt from the leaves around x; strict compares the rebuilt node with
// the stored one and fails with errCorrupt when they differ, which is how
// a prover finds a corrupt replica before it builds a bad proof.
func (t *treeReader) open(x uint64, strict bool) (merklePath, error) {
	s := t.shape
	if x >= s.Leaves {
		return merklePath{}, fmt.Errorf("leaf %d out of %d", x, s.Leaves)
	}
	a := uint64(s.Arity)
	lpf := s.leavesPerFile()
	f, local := int(x/lpf), x%lpf
	first, h := s.firstStoredRow(), s.height()

	var p merklePath
	p.Siblings = make([]node, 0, s.siblingCount())
	addGroup := func(group []byte, arity int, pos uint64) {
		for i := range arity {
			if uint64(i) != pos {
				p.Siblings = append(p.Siblings, node(group[i*nodeSize:]))
			}
		}
	}

	idx := local
	if first > 0 {
		span := pow(a, first)
		start := local - local%span
		cur := make([]byte, span*nodeSize)
		if _, err := t.leaves.ReadAt(cur, int64(x-(local-start))*nodeSize); err != nil {
			return merklePath{}, fmt.Errorf("read leaves around %d: %w", x, err)
		}
		p.Leaf = node(cur[(local-start)*nodeSize:])
		i := local - start
		for range first {
			g := i - i%a
			addGroup(cur[g*nodeSize:(g+a)*nodeSize], s.Arity, i%a)
			cur = nextRow(cur, s.Arity)
			i /= a
		}
		idx = local / span
		if strict {
			stored, err := t.readNodes(f, first, idx, 1)
			if err != nil {
				return merklePath{}, err
			}
			if node(stored) != node(cur) {
				return merklePath{}, fmt.Errorf("%w: leaves %d to %d do not hash to the stored node %d of row %d",
					errCorrupt, x-(local-start), x-(local-start)+span-1, idx, first)
			}
		}
	}
	for r := first; r < h; r++ {
		pos := idx % a
		group, err := t.readNodes(f, r, idx-pos, s.Arity)
		if err != nil {
			return merklePath{}, err
		}
		if r == 0 {
			p.Leaf = node(group[pos*nodeSize:])
		}
		addGroup(group, s.Arity, pos)
		idx /= a
	}

	cur, i := t.roots, uint64(f)
	for _, ta := range s.TopArities {
		pos := i % uint64(ta)
		g := i - pos
		addGroup(cur[g*nodeSize:(g+uint64(ta))*nodeSize], ta, pos)
		cur = nextRow(cur, ta)
		i /= uint64(ta)
	}
	return p, nil
}
