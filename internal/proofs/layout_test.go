package proofs

import (
	"fmt"
	"slices"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
)

func TestSectorPaths(t *testing.T) {
	id := abi.SectorID{Miner: 1000, Number: 42}
	if got := SectorName(id); got != "s-t01000-42" {
		t.Errorf("SectorName = %q", got)
	}
	if got := SealedPath("/mnt/store-a", id); got != "/mnt/store-a/sealed/s-t01000-42" {
		t.Errorf("SealedPath = %q", got)
	}
	if got := CacheDirPath("/mnt/store-a", id); got != "/mnt/store-a/cache/s-t01000-42" {
		t.Errorf("CacheDirPath = %q", got)
	}
}

func TestCacheFilePlan(t *testing.T) {
	numbered := func(base string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s-%d.dat", base, i))
		}
		return out
	}
	cases := []struct {
		proof     abi.RegisteredSealProof
		layers    int
		treeRLast []string
	}{
		{abi.RegisteredSealProof_StackedDrg2KiBV1_1, 2, []string{"sc-02-data-tree-r-last.dat"}},
		{abi.RegisteredSealProof_StackedDrg8MiBV1_1, 2, []string{"sc-02-data-tree-r-last.dat"}},
		{abi.RegisteredSealProof_StackedDrg512MiBV1_1, 2, []string{"sc-02-data-tree-r-last.dat"}},
		{abi.RegisteredSealProof_StackedDrg32GiBV1_1, 11, numbered("sc-02-data-tree-r-last", 8)},
		{abi.RegisteredSealProof_StackedDrg64GiBV1_1, 11, numbered("sc-02-data-tree-r-last", 16)},
		{abi.RegisteredSealProof_StackedDrg64GiBV1_2_Feat_NiPoRep, 11, numbered("sc-02-data-tree-r-last", 16)},
	}
	for _, c := range cases {
		files, err := CacheFilesFor(c.proof)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(files.TreeRLast, c.treeRLast) {
			t.Errorf("proof %d: tree-r-last %v, want %v", c.proof, files.TreeRLast, c.treeRLast)
		}
		if len(files.TreeC) != len(c.treeRLast) {
			t.Errorf("proof %d: %d tree-c files, want %d", c.proof, len(files.TreeC), len(c.treeRLast))
		}
		if len(files.Layers) != c.layers || files.Layers[0] != "sc-02-data-layer-1.dat" {
			t.Errorf("proof %d: layers %v", c.proof, files.Layers)
		}
		want := append([]string{"p_aux", "t_aux"}, c.treeRLast...)
		if !slices.Equal(files.Persisted(), want) {
			t.Errorf("proof %d: persisted %v, want %v", c.proof, files.Persisted(), want)
		}
		tmp := files.Temporary()
		if len(tmp) != c.layers+1+len(c.treeRLast) || !slices.Contains(tmp, "sc-02-data-tree-d.dat") {
			t.Errorf("proof %d: temporary %v", c.proof, tmp)
		}
		for _, p := range files.Persisted() {
			if slices.Contains(tmp, p) {
				t.Errorf("proof %d: %s both persisted and temporary", c.proof, p)
			}
		}
	}
	files, _ := CacheFilesFor(abi.RegisteredSealProof_StackedDrg64GiBV1_1)
	if files.TreeRLast[15] != "sc-02-data-tree-r-last-15.dat" || files.TreeC[0] != "sc-02-data-tree-c-0.dat" {
		t.Errorf("64GiB names: %v %v", files.TreeRLast, files.TreeC)
	}
	if _, err := CacheFilesFor(99); err == nil {
		t.Error("CacheFilesFor(99) accepted")
	}
}

// The tree layouts of production sizes, computed without sealing: file
// counts, rows discarded and file sizes are Filecoin's (a 32GiB
// tree-r-last file is 9586976 bytes, a tree-c file 4.57GiB).
func TestProductionTreeLayouts(t *testing.T) {
	for _, c := range []struct {
		size       abi.SectorSize
		files      int
		top        []int
		rLastBytes int64
		treeCBytes int64
	}{
		{32 << 30, 8, []int{8}, 9586976, 4908534048},
		{64 << 30, 16, []int{8, 2}, 9586976, 4908534048},
		{512 << 20, 1, nil, 37449 * 32, 19173961 * 32},
	} {
		var sp sectorParams
		for _, s := range sectorSizes {
			if s.size == c.size {
				sp = s
			}
		}
		r, tc := treeRLastShape(sp), treeCShape(sp)
		for _, s := range []treeShape{r, tc} {
			if err := s.validate(); err != nil {
				t.Fatal(err)
			}
			if s.Files != c.files || !slices.Equal(s.TopArities, c.top) {
				t.Errorf("%v: %d files, top %v", c.size, s.Files, s.TopArities)
			}
		}
		if r.RowsToDiscard != 2 || r.fileSize() != c.rLastBytes {
			t.Errorf("%v tree-r-last: %d rows discarded, file %d bytes; want 2, %d", c.size, r.RowsToDiscard, r.fileSize(), c.rLastBytes)
		}
		if tc.fileSize() != c.treeCBytes {
			t.Errorf("%v tree-c file %d bytes, want %d", c.size, tc.fileSize(), c.treeCBytes)
		}
		if got := len(r.levelArities()); got != r.height()+len(c.top) {
			t.Errorf("%v: %d path levels", c.size, got)
		}
	}
	small := treeRLastShape(sectorSizes[0])
	if small.RowsToDiscard != 0 || small.height() != 2 {
		t.Errorf("2KiB tree-r-last: height %d, %d rows discarded; want 2, 0", small.height(), small.RowsToDiscard)
	}
}
