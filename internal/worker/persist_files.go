package worker

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
)

// persistReserveSize is the space the worker asks a persist store to
// reserve for a sector, damocles-worker's rule: twice the sector below
// 32GiB (small sectors' cache files weigh as much as the replica), 2% more
// than the sector for 32GiB and 64GiB.
func persistReserveSize(size abi.SectorSize) uint64 {
	s := uint64(size)
	if size < 32<<30 {
		return 2 * s
	}
	return s + s/50
}

// persistedFiles lists a sector's files a persist store keeps, relative to
// a store root: the sealed replica, then the finalized cache files.
func persistedFiles(id abi.SectorID, proofType abi.RegisteredSealProof) ([]string, error) {
	cache, err := proofs.CacheFilesFor(proofType)
	if err != nil {
		return nil, err
	}
	name := proofs.SectorName(id)
	files := []string{filepath.Join(proofs.SealedDirName, name)}
	for _, f := range cache.Persisted() {
		files = append(files, filepath.Join(proofs.CacheDirName, name, f))
	}
	return files, nil
}

// copySectorFiles copies the persisted files of a sector from the sealing
// location src to the persist store root dst. Persist stores are usually
// NFS mounts, so every file is copied (a rename cannot cross file systems)
// into a temporary name, synced and renamed: a crash never leaves a
// complete-looking but short file in the store.
func copySectorFiles(src, dst string, id abi.SectorID, proofType abi.RegisteredSealProof) error {
	files, err := persistedFiles(id, proofType)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := copyFileAtomic(filepath.Join(src, f), filepath.Join(dst, f)); err != nil {
			return err
		}
	}
	return nil
}

// copyFileAtomic copies src to dst through dst.tmp, fsyncing the data and
// the directory entry.
func copyFileAtomic(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err = out.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err = out.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// writeFileAtomic writes data to path through path.tmp, fsyncing the data
// before the rename and the directory after it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sectorScratch lists a sector's files in a sealing thread's location.
func sectorScratch(location string, id abi.SectorID) []string {
	name := proofs.SectorName(id)
	return []string{
		filepath.Join(location, unsealedDirName, name),
		proofs.SealedPath(location, id),
		proofs.CacheDirPath(location, id),
	}
}

// unsealedDirName holds the staged (unsealed) data in a sealing location.
const unsealedDirName = "unsealed"

// removeSectorScratch deletes a sector's local files; files already gone
// are fine, so cleaning up twice is too.
func removeSectorScratch(location string, id abi.SectorID) error {
	var errs []error
	for _, p := range sectorScratch(location, id) {
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
