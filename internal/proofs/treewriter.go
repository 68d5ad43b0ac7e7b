package proofs

import (
	"fmt"
	"os"
	"path/filepath"
)

// maxChunkLeaves bounds the leaves a treeWriter takes per call (1MiB of
// nodes): large enough to amortise writes, small enough that building a
// 64GiB tree needs a few MiB of memory.
const maxChunkLeaves = 1 << 15

// treeWriter builds a tree from its leaves, streamed in order, and writes
// the stored rows of each base tree to its file. It keeps one chunk of rows
// and one node per chunk in memory, whatever the sector size.
type treeWriter struct {
	shape   treeShape
	paths   []string
	threads int

	chunkHeight int    // rows a chunk's leaves reduce to one node
	chunk       uint64 // leaves per write call
	rows        [][]byte

	file       *os.File // the base tree being written
	fed        uint64   // its leaves written so far
	chunkRoots []byte
	fileRoots  []byte
}

// newTreeWriter starts a tree whose base-tree files are names in dir.
func newTreeWriter(shape treeShape, dir string, names []string, threads int) (*treeWriter, error) {
	if err := shape.validate(); err != nil {
		return nil, err
	}
	if len(names) != shape.Files {
		return nil, fmt.Errorf("tree of %d files given %d names", shape.Files, len(names))
	}
	w := &treeWriter{shape: shape, threads: threads, chunk: 1}
	for _, n := range names {
		w.paths = append(w.paths, filepath.Join(dir, n))
	}
	for w.chunkHeight < shape.height() && w.chunk*uint64(shape.Arity) <= maxChunkLeaves {
		w.chunk *= uint64(shape.Arity)
		w.chunkHeight++
	}
	w.rows = make([][]byte, w.chunkHeight+1)
	for r := 1; r <= w.chunkHeight; r++ {
		w.rows[r] = make([]byte, w.chunk/pow(uint64(shape.Arity), r)*nodeSize)
	}
	return w, nil
}

func pow(base uint64, exp int) uint64 {
	n := uint64(1)
	for range exp {
		n *= base
	}
	return n
}

// chunkLeaves is the number of leaves write takes at a time.
func (w *treeWriter) chunkLeaves() uint64 { return w.chunk }

// write adds the next chunkLeaves() leaves.
func (w *treeWriter) write(leaves []byte) error {
	if uint64(len(leaves)) != w.chunk*nodeSize {
		return fmt.Errorf("tree writer: got %d bytes of leaves, want %d", len(leaves), w.chunk*nodeSize)
	}
	fileIdx := len(w.fileRoots) / nodeSize
	if fileIdx >= w.shape.Files {
		return fmt.Errorf("tree writer: more than %d leaves", w.shape.Leaves)
	}
	if w.file == nil {
		f, err := os.OpenFile(w.paths[fileIdx], os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		w.file = f
		if err := f.Truncate(w.shape.fileSize()); err != nil {
			return err
		}
	}

	w.rows[0] = leaves
	for r := 1; r <= w.chunkHeight; r++ {
		hashRow(w.rows[r], w.rows[r-1], w.shape.Arity, w.threads)
	}
	for r := w.shape.firstStoredRow(); r <= w.chunkHeight; r++ {
		at := w.shape.rowOffset(r) + int64(w.fed/pow(uint64(w.shape.Arity), r))*nodeSize
		if _, err := w.file.WriteAt(w.rows[r], at); err != nil {
			return err
		}
	}
	w.chunkRoots = append(w.chunkRoots, w.rows[w.chunkHeight]...)
	w.rows[0] = nil
	w.fed += w.chunk
	if w.fed == w.shape.leavesPerFile() {
		return w.finishFile()
	}
	return nil
}

// finishFile computes the rows above the chunks and closes the base tree.
func (w *treeWriter) finishFile() error {
	cur := w.chunkRoots
	for r := w.chunkHeight + 1; r <= w.shape.height(); r++ {
		next := make([]byte, len(cur)/w.shape.Arity)
		hashRow(next, cur, w.shape.Arity, w.threads)
		cur = next
		if r >= w.shape.firstStoredRow() {
			if _, err := w.file.WriteAt(cur, w.shape.rowOffset(r)); err != nil {
				return err
			}
		}
	}
	w.fileRoots = append(w.fileRoots, cur...)
	w.chunkRoots, w.fed = w.chunkRoots[:0], 0
	err := w.file.Close()
	w.file = nil
	return err
}

// finish returns the root once every leaf was written.
func (w *treeWriter) finish() (node, error) {
	if len(w.fileRoots)/nodeSize != w.shape.Files {
		return node{}, fmt.Errorf("tree writer: finished after %d of %d files", len(w.fileRoots)/nodeSize, w.shape.Files)
	}
	cur := w.fileRoots
	for _, a := range w.shape.TopArities {
		cur = nextRow(cur, a)
	}
	return node(cur), nil
}

// close releases the file of an unfinished tree.
func (w *treeWriter) close() {
	if w.file != nil {
		w.file.Close()
		w.file = nil
	}
}
