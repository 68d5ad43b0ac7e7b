package proofs

import (
	"fmt"
	"path/filepath"

	"github.com/filecoin-project/go-state-types/abi"
)

// Directory names of a store, as in Filecoin and damocles (PROTOCOLS §6):
// a sealed sector's replica and cache dir, and those of a snap-upgraded
// sector.
const (
	SealedDirName      = "sealed"
	CacheDirName       = "cache"
	UpdateDirName      = "update"
	UpdateCacheDirName = "update-cache"
)

// Cache file names shared by every sector size.
const (
	// PAuxFile holds comm_c and comm_r_last (64 bytes), what a PoSt needs
	// to tie tree-r-last to the on-chain comm_r.
	PAuxFile = "p_aux"
	// TAuxFile holds the tree configuration (JSON) a PoSt reads the
	// number of discarded tree-r-last rows from.
	TAuxFile = "t_aux"
	// TreeDFile is the binary tree over the unsealed data, leaves included.
	TreeDFile = "sc-02-data-tree-d.dat"
)

// SectorName is a sector's file name: s-t0<miner>-<number>.
func SectorName(id abi.SectorID) string {
	return fmt.Sprintf("s-t0%d-%d", id.Miner, id.Number)
}

// SealedPath is where a store rooted at root keeps a sector's replica.
func SealedPath(root string, id abi.SectorID) string {
	return filepath.Join(root, SealedDirName, SectorName(id))
}

// CacheDirPath is where a store rooted at root keeps a sector's cache files.
func CacheDirPath(root string, id abi.SectorID) string {
	return filepath.Join(root, CacheDirName, SectorName(id))
}

// CacheFiles names the files sealing writes into a sector's cache dir.
type CacheFiles struct {
	// Layers are the SDR label layers, layer 1 first.
	Layers []string
	// TreeD is the tree over the unsealed data.
	TreeD string
	// TreeC are the column tree files, one per base tree.
	TreeC []string
	// TreeRLast are the replica tree files, one per base tree: 1 file up to
	// 512MiB, 8 for 32GiB, 16 for 64GiB.
	TreeRLast []string
	PAux      string
	TAux      string
}

// CacheFilesFor is the cache file plan of a seal proof type.
func CacheFilesFor(p abi.RegisteredSealProof) (CacheFiles, error) {
	sp, err := sealParams(p)
	if err != nil {
		return CacheFiles{}, err
	}
	return sp.cacheFiles(), nil
}

func (sp sectorParams) cacheFiles() CacheFiles {
	return cacheFiles(sp.layers, sp.treeFiles)
}

func cacheFiles(layers, treeFiles int) CacheFiles {
	c := CacheFiles{
		TreeD:     TreeDFile,
		TreeC:     treeFileNames("sc-02-data-tree-c", treeFiles),
		TreeRLast: treeFileNames("sc-02-data-tree-r-last", treeFiles),
		PAux:      PAuxFile,
		TAux:      TAuxFile,
	}
	for l := 1; l <= layers; l++ {
		c.Layers = append(c.Layers, fmt.Sprintf("sc-02-data-layer-%d.dat", l))
	}
	return c
}

// treeFileNames follows Filecoin: a tree in one file has no index, a split
// tree numbers its files from 0.
func treeFileNames(base string, files int) []string {
	if files == 1 {
		return []string{base + ".dat"}
	}
	names := make([]string, files)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d.dat", base, i)
	}
	return names
}

// Persisted are the cache files a finalized sector keeps, which persist
// stores hold and sector checks look for.
func (c CacheFiles) Persisted() []string {
	return append([]string{c.PAux, c.TAux}, c.TreeRLast...)
}

// Temporary are the cache files FinalizeSector removes.
func (c CacheFiles) Temporary() []string {
	files := append([]string{}, c.Layers...)
	files = append(files, c.TreeD)
	return append(files, c.TreeC...)
}
