package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/proofs"
)

// ManifestFile lists, in a WindowPoSt bench's directory, the sectors sealed
// there, so a later run proves them again instead of sealing new ones:
// sealing 32GiB sectors takes hours each.
const ManifestFile = "damocles-bench-sectors.json"

// manifestVersion changes when the manifest's format does.
const manifestVersion = 1

type manifest struct {
	Version int              `json:"version"`
	Sectors []manifestSector `json:"sectors"`
}

// manifestSector is one finalized sector whose PoRep proof verified.
type manifestSector struct {
	Miner  abi.ActorID      `json:"miner"`
	Number abi.SectorNumber `json:"number"`
	// ProofType is the seal proof type's Rust name: StackedDrg8MiBV1_1.
	ProofType string `json:"proof_type"`
	SealedCID string `json:"sealed_cid"`
	// SealedPath and CacheDir are relative to the bench directory, so
	// the directory can move.
	SealedPath string `json:"sealed_path"`
	CacheDir   string `json:"cache_dir"`
}

// loadManifest reads dir's manifest; a directory without one has no
// sectors yet.
func loadManifest(dir string) (*manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &manifest{Version: manifestVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w; delete it and the bench will seal its sectors again", path, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("%s is version %d, this build reads version %d; delete it and the bench will seal its sectors again",
			path, m.Version, manifestVersion)
	}
	return &m, nil
}

// save writes the manifest whole, through a rename, so a run killed while
// saving leaves the previous manifest rather than half of one.
func (m *manifest) save(dir string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, ManifestFile)
	if err := os.WriteFile(path+".tmp", append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// put records a sector, replacing an earlier record of the same number.
func (m *manifest) put(s manifestSector) {
	m.Sectors = slices.DeleteFunc(m.Sectors, func(o manifestSector) bool { return o.Miner == s.Miner && o.Number == s.Number })
	m.Sectors = append(m.Sectors, s)
	slices.SortFunc(m.Sectors, func(a, b manifestSector) int {
		return cmp.Or(cmp.Compare(a.Miner, b.Miner), cmp.Compare(a.Number, b.Number))
	})
}

// nextNumber is the first sector number of miner above all the manifest
// holds, whatever their proof type: the files of two sectors with the same
// number have the same names. Numbers start at 1, leaving sector 0 to
// Seal's callers.
func (m *manifest) nextNumber(miner abi.ActorID) abi.SectorNumber {
	next := abi.SectorNumber(1)
	for _, s := range m.Sectors {
		if s.Miner == miner && s.Number >= next {
			next = s.Number + 1
		}
	}
	return next
}

func recordOf(dir string, s sealedSector) (manifestSector, error) {
	name, err := proofs.SealProofName(s.proofType)
	if err != nil {
		return manifestSector{}, err
	}
	rel := func(path string) (string, error) { return filepath.Rel(dir, path) }
	sealed, err := rel(proofs.SealedPath(dir, s.id))
	if err != nil {
		return manifestSector{}, err
	}
	cache, err := rel(proofs.CacheDirPath(dir, s.id))
	if err != nil {
		return manifestSector{}, err
	}
	return manifestSector{
		Miner: s.id.Miner, Number: s.id.Number, ProofType: name,
		SealedCID: s.sealedCID.String(), SealedPath: sealed, CacheDir: cache,
	}, nil
}

// private turns a record into what the engine proves, after checking that
// the files a WindowPoSt reads are there: the replica at its full size and
// every cache file a finalized sector keeps. The error says what is wrong.
func (s manifestSector) private(dir string) (proofs.PrivateSectorInfo, error) {
	p, err := proofs.ParseSealProofName(s.ProofType)
	if err != nil {
		return proofs.PrivateSectorInfo{}, err
	}
	sealedCID, err := cid.Parse(s.SealedCID)
	if err != nil {
		return proofs.PrivateSectorInfo{}, fmt.Errorf("sealed CID %q: %w", s.SealedCID, err)
	}
	// Paths stay inside the bench directory whatever the manifest says.
	if !filepath.IsLocal(s.SealedPath) || !filepath.IsLocal(s.CacheDir) {
		return proofs.PrivateSectorInfo{}, fmt.Errorf("paths %q and %q are not inside %s", s.SealedPath, s.CacheDir, dir)
	}
	info := proofs.PrivateSectorInfo{
		SectorNumber: s.Number,
		SealProof:    p,
		SealedCID:    sealedCID,
		SealedPath:   filepath.Join(dir, s.SealedPath),
		CacheDir:     filepath.Join(dir, s.CacheDir),
	}
	size, _ := proofs.SealProofSectorSize(p)
	if err := checkFile(info.SealedPath, int64(size)); err != nil {
		return info, err
	}
	files, err := proofs.CacheFilesFor(p)
	if err != nil {
		return info, err
	}
	for _, name := range files.Persisted() {
		if err := checkFile(filepath.Join(info.CacheDir, name), -1); err != nil {
			return info, err
		}
	}
	return info, nil
}

// checkFile says why path is not a non-empty regular file of the given
// size (any size when size < 0).
func checkFile(path string, size int64) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case size >= 0 && fi.Size() != size:
		return fmt.Errorf("%s is %d bytes, want %d", path, fi.Size(), size)
	case fi.Size() == 0:
		return fmt.Errorf("%s is empty", path)
	}
	return nil
}
