package proofs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// pseudoRandom fills n bytes from a hash chain: deterministic test data
// that, unlike zeros, makes every tree node different.
func pseudoRandom(label string, n int) []byte {
	out := make([]byte, 0, n+nodeSize)
	h := hashTrunc([]byte(label))
	for len(out) < n {
		out = append(out, h[:]...)
		h = hashTrunc(h[:])
	}
	return out[:n]
}

// referenceRoot computes a tree's root in memory, the plain way.
func referenceRoot(s treeShape, leaves []byte) node {
	perFile := len(leaves) / s.Files
	var roots []byte
	for f := range s.Files {
		row := leaves[f*perFile : (f+1)*perFile]
		for len(row) > nodeSize {
			row = nextRow(row, s.Arity)
		}
		roots = append(roots, row...)
	}
	for _, a := range s.TopArities {
		roots = nextRow(roots, a)
	}
	return node(roots)
}

// writeTestTree builds a tree over leaves in dir; the leaves also go to a
// file, the leaf source of shapes that do not store them.
func writeTestTree(t *testing.T, s treeShape, leaves []byte, dir string) (node, []string, *os.File) {
	t.Helper()
	names := treeFileNames("tree", s.Files)
	w, err := newTreeWriter(s, dir, names, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	chunk := int(w.chunkLeaves()) * nodeSize
	for off := 0; off < len(leaves); off += chunk {
		if err := w.write(leaves[off : off+chunk]); err != nil {
			t.Fatal(err)
		}
	}
	root, err := w.finish()
	if err != nil {
		t.Fatal(err)
	}
	leafPath := filepath.Join(dir, "leaves")
	if err := os.WriteFile(leafPath, leaves, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(leafPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return root, names, f
}

func TestTreeWriteAndOpen(t *testing.T) {
	cases := []struct {
		name  string
		shape treeShape
	}{
		{"binary, leaves stored", treeShape{Arity: 2, Leaves: 1 << 16, Files: 1, StoreLeaves: true}},
		{"oct, leaves stored, several chunks", treeShape{Arity: 8, Leaves: 1 << 18, Files: 1, StoreLeaves: true}},
		{"oct, 0 rows discarded", treeShape{Arity: 8, Leaves: 64, Files: 1}},
		{"oct, 2 rows discarded", treeShape{Arity: 8, Leaves: 1 << 18, Files: 1, RowsToDiscard: 2}},
		{"oct, root is the first stored row", treeShape{Arity: 8, Leaves: 64, Files: 1, RowsToDiscard: 1}},
		{"forced split in 8", treeShape{Arity: 8, Leaves: 8 * 4096, Files: 8, TopArities: []int{8}, RowsToDiscard: 2}},
		{"forced split in 16", treeShape{Arity: 8, Leaves: 16 * 512, Files: 16, TopArities: []int{8, 2}, RowsToDiscard: 1}},
		{"forced split in 16, leaves stored", treeShape{Arity: 8, Leaves: 16 * 64, Files: 16, TopArities: []int{8, 2}, StoreLeaves: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			leaves := pseudoRandom(c.name, int(c.shape.Leaves)*nodeSize)
			root, names, leafFile := writeTestTree(t, c.shape, leaves, dir)
			if want := referenceRoot(c.shape, leaves); root != want {
				t.Fatalf("root %x, reference %x", root, want)
			}
			for _, n := range names {
				fi, err := os.Stat(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != c.shape.fileSize() {
					t.Errorf("%s is %d bytes, want %d", n, fi.Size(), c.shape.fileSize())
				}
			}
			tr, err := openTree(c.shape, dir, names, leafFile)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.close()
			arities := c.shape.levelArities()
			for _, x := range []uint64{0, 1, 7, 8, c.shape.Leaves / 3, c.shape.Leaves/2 + 5, c.shape.Leaves - 1} {
				p, err := tr.open(x, true)
				if err != nil {
					t.Fatalf("open %d: %v", x, err)
				}
				if p.Leaf != node(leaves[x*nodeSize:]) {
					t.Errorf("leaf %d: wrong value", x)
				}
				if got, err := rootFromPath(arities, x, p); err != nil || got != root {
					t.Errorf("leaf %d: path leads to %x (%v), want %x", x, got, err, root)
				}
				if got, _ := rootFromPath(arities, (x+1)%c.shape.Leaves, p); got == root {
					t.Errorf("leaf %d: path also opens leaf %d", x, x+1)
				}
			}
			if _, err := tr.open(c.shape.Leaves, true); err == nil {
				t.Error("opened a leaf past the end")
			}
		})
	}
}

// The 8-way split of a tree whose base trees are oct trees has the same
// root as the unsplit tree: splitting is only a storage decision.
func TestTreeSplitKeepsRoot(t *testing.T) {
	leaves := pseudoRandom("split", 8*512*nodeSize)
	whole, _, _ := writeTestTree(t, treeShape{Arity: 8, Leaves: 8 * 512, Files: 1, RowsToDiscard: 1}, leaves, t.TempDir())
	split, names, _ := writeTestTree(t, treeShape{Arity: 8, Leaves: 8 * 512, Files: 8, TopArities: []int{8}, RowsToDiscard: 1}, leaves, t.TempDir())
	if whole != split || len(names) != 8 {
		t.Fatalf("whole root %x, split root %x over %d files", whole, split, len(names))
	}
}

func TestTreeOpenFindsCorruptLeaves(t *testing.T) {
	shape := treeShape{Arity: 8, Leaves: 4096, Files: 1, RowsToDiscard: 2}
	dir := t.TempDir()
	leaves := pseudoRandom("corrupt", int(shape.Leaves)*nodeSize)
	root, names, _ := writeTestTree(t, shape, leaves, dir)

	const x = 1000
	leaves[x*nodeSize+5] ^= 0x01
	damaged := filepath.Join(dir, "damaged")
	if err := os.WriteFile(damaged, leaves, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(damaged)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := openTree(shape, dir, names, f)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()

	// Leaves elsewhere in the same 512-leaf span share the damaged
	// subtree: strict opening finds the damage there too.
	for _, y := range []uint64{x, x - x%512} {
		if _, err := tr.open(y, true); !errors.Is(err, errCorrupt) {
			t.Errorf("strict open of %d: %v, want errCorrupt", y, err)
		}
		p, err := tr.open(y, false)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := rootFromPath(shape.levelArities(), y, p); got == root {
			t.Errorf("non-strict path of %d over a damaged leaf still leads to the root", y)
		}
	}
	if _, err := tr.open(3000, true); err != nil {
		t.Errorf("leaf in an intact span: %v", err)
	}
}

func TestOpenTreeRejectsBadFiles(t *testing.T) {
	shape := treeShape{Arity: 8, Leaves: 512, Files: 1, RowsToDiscard: 1}
	dir := t.TempDir()
	_, names, leafFile := writeTestTree(t, shape, pseudoRandom("bad", 512*nodeSize), dir)
	path := filepath.Join(dir, names[0])
	if err := os.Truncate(path, shape.fileSize()-1); err != nil {
		t.Fatal(err)
	}
	if _, err := openTree(shape, dir, names, leafFile); err == nil {
		t.Error("short tree file accepted")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := openTree(shape, dir, names, leafFile); err == nil {
		t.Error("missing tree file accepted")
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := openTree(shape, dir, names, leafFile); err == nil {
		t.Error("directory accepted as tree file")
	}
}

func TestTreeShapeValidate(t *testing.T) {
	for _, bad := range []treeShape{
		{Arity: 8, Leaves: 100, Files: 1},
		{Arity: 8, Leaves: 1024, Files: 16, TopArities: []int{8}},
		{Arity: 8, Leaves: 4096, Files: 1, StoreLeaves: true, RowsToDiscard: 1},
		{Arity: 8, Leaves: 64, Files: 1, RowsToDiscard: 2},
		{Arity: 16, Leaves: 256, Files: 1},
	} {
		if bad.validate() == nil {
			t.Errorf("shape %+v accepted", bad)
		}
	}
}

// A sealed 8MiB sector's replica, stored as a 32GiB sector's tree-r-last
// is (8 files under one arity-8 node): the files are named like Filecoin's,
// the root is still comm_r_last, and openings through the split tree lead
// to the sector's comm_r.
func TestForcedSplitOfSealedSector(t *testing.T) {
	s := sealedFixtures(t, testProofTypes[1])[0]
	sp, _ := sealParams(s.proofType)
	shape := treeRLastShape(sp)
	shape.Files, shape.TopArities = 8, []int{8}
	names := cacheFiles(sp.layers, shape.Files).TreeRLast
	if names[0] != "sc-02-data-tree-r-last-0.dat" || names[7] != "sc-02-data-tree-r-last-7.dat" {
		t.Fatalf("names %v", names)
	}
	replica, err := os.ReadFile(SealedPath(s.root, s.id))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := newTreeWriter(shape, dir, names, 2)
	if err != nil {
		t.Fatal(err)
	}
	chunk := int(w.chunkLeaves()) * nodeSize
	for off := 0; off < len(replica); off += chunk {
		if err := w.write(replica[off : off+chunk]); err != nil {
			t.Fatal(err)
		}
	}
	root, err := w.finish()
	if err != nil {
		t.Fatal(err)
	}
	commC, commRLast, err := readPAux(CacheDirPath(s.root, s.id))
	if err != nil {
		t.Fatal(err)
	}
	if root != commRLast {
		t.Fatalf("split root %x, comm_r_last %x", root, commRLast)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 8 {
		t.Errorf("%d files written, want 8", len(entries))
	}

	sealed, err := os.Open(SealedPath(s.root, s.id))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	tr, err := openTree(shape, dir, names, sealed)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	cr := mustCommR(t, s)
	for _, x := range []uint64{0, sp.nodes() / 8, sp.nodes() - 1, 123456} {
		p, err := tr.open(x, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Siblings) != shape.siblingCount() || shape.siblingCount() != 6*7 {
			t.Errorf("%d siblings, shape says %d", len(p.Siblings), shape.siblingCount())
		}
		got, err := rootFromPath(shape.levelArities(), x, p)
		if err != nil || commR(commC, got) != cr {
			t.Errorf("leaf %d: path does not lead to comm_r (%v)", x, err)
		}
	}
}
