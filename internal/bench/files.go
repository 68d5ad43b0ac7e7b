package bench

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
)

// UnsealedDirName is where a bench keeps the staged (unsealed) data of the
// sector it seals, next to proofs.SealedDirName and proofs.CacheDirName as
// in a Filecoin store.
const UnsealedDirName = "unsealed"

// sectorPaths are the files of one sector under a bench directory.
type sectorPaths struct {
	staged, sealed, cache string
}

func pathsOf(dir string, id abi.SectorID) sectorPaths {
	return sectorPaths{
		staged: filepath.Join(dir, UnsealedDirName, proofs.SectorName(id)),
		sealed: proofs.SealedPath(dir, id),
		cache:  proofs.CacheDirPath(dir, id),
	}
}

// prepare removes what an earlier run left of the sector, so a stage's
// bytes are its own (a file rewritten at the same size counts nothing),
// and creates the directories the engine writes into.
func (p sectorPaths) prepare() error {
	for _, f := range []string{p.staged, p.sealed} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.RemoveAll(p.cache); err != nil {
		return err
	}
	for _, d := range []string{filepath.Dir(p.staged), filepath.Dir(p.sealed), p.cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// fileSizes maps every file of a sector to the data bytes it holds.
type fileSizes map[string]int64

// snapshot lists the sector's staged file, replica and cache files. Files
// that do not exist are simply not listed.
func (p sectorPaths) snapshot() (fileSizes, error) {
	sizes := fileSizes{}
	for _, f := range []string{p.staged, p.sealed} {
		fi, err := os.Stat(f)
		switch {
		case err == nil:
			sizes[f] = dataBytes(fi)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	err := filepath.WalkDir(p.cache, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sizes[path] = dataBytes(fi)
		return nil
	})
	return sizes, err
}

// total is the data bytes of all files.
func (s fileSizes) total() int64 {
	var n int64
	for _, b := range s {
		n += b
	}
	return n
}

// diff is what happened between two snapshots: written sums the growth of
// files that were created or grew, removed the loss of files that shrank
// or went away. A file rewritten in place at the same size counts in
// neither: this measures disk space taken and given back, not write
// traffic.
func diff(before, after fileSizes) (written, removed int64) {
	for path, b := range after {
		switch d := b - before[path]; {
		case d > 0:
			written += d
		case d < 0:
			removed -= d
		}
	}
	for path, b := range before {
		if _, ok := after[path]; !ok {
			removed += b
		}
	}
	return written, removed
}
