package proofs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-state-types/abi"
)

// FinalizeSector removes the layers, tree-d and tree-c: after the PoRep,
// only PoSt reads the sector, and PoSt needs the replica, tree-r-last and
// p_aux/t_aux. Files already gone are fine, so finalizing twice is too.
func (e *DevEngine) FinalizeSector(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir string) error {
	files, err := CacheFilesFor(proofType)
	if err != nil {
		return err
	}
	for _, name := range files.Temporary() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(cacheDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
