package sectors

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// IndexKind tells which files of a sector an index entry locates: the
// sealed ones, or those of its snap upgrade. The values are the indexType
// strings of Venus.SectorIndexerFind.
type IndexKind string

// Index kinds.
const (
	// IndexNormal locates sealed/<name> and cache/<name>.
	IndexNormal IndexKind = "normal"
	// IndexUpgrade locates update/<name> and update-cache/<name>, the
	// files of a snap-upgraded sector.
	IndexUpgrade IndexKind = "upgrade"
)

// dirs returns the directories, relative to a store's root, that hold the
// replica files and the cache dirs of kind.
func (k IndexKind) dirs() (sealed, cache string, err error) {
	switch k {
	case IndexNormal:
		return proofs.SealedDirName, proofs.CacheDirName, nil
	case IndexUpgrade:
		return proofs.UpdateDirName, proofs.UpdateCacheDirName, nil
	}
	return "", "", fmt.Errorf("unknown sector index kind %q (want %q or %q)", k, IndexNormal, IndexUpgrade)
}

// SectorPaths are where a sector's files are on disk.
type SectorPaths struct {
	// SealedFile is the replica file.
	SealedFile string
	// CacheDir is the directory of its cache files.
	CacheDir string
}

// IndexSource is where the sector indexer's entries come from: the
// node's own database (LocalIndex), or the source manager of a proxy node
// (ProxyIndex, --proxy). The Indexer checks kinds before it asks.
type IndexSource interface {
	// Find returns where a sector's files of kind are; Found is false,
	// with empty names, for a sector not indexed.
	Find(ctx context.Context, kind IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, error)
	// Update records which store instances hold a sector's files of kind;
	// an empty name keeps the one recorded. A source this node cannot
	// write refuses with the error Writable returns.
	Update(ctx context.Context, kind IndexKind, id abi.SectorID, stores rpc.SectorAccessStores) error
	// Writable is nil when Update can succeed, else the error (wrapping
	// ErrIndexReadOnly) it answers, so that a caller can refuse a write
	// before doing anything else.
	Writable() error
	// NotIndexed is the error for a sector Find did not find: it names
	// the index that was asked and says what to do.
	NotIndexed(kind IndexKind, id abi.SectorID) error
}

// ErrIndexReadOnly is wrapped by the errors of writes to a sector index
// this node cannot write: a proxy node's (--proxy).
var ErrIndexReadOnly = errors.New("sector index is read only")

// Indexer is the sector indexer: which persist store instances hold each
// sector's sealed file and cache dir (Venus.SectorIndexerFind,
// Venus.SubmitPersistedEx, `util storage attach`), and where that is on
// disk. The entries come from its IndexSource; the paths always from this
// node's [[Common.PersistStores]], so a proxy node must see the stores
// under the same names (the same machine or the same mounts).
type Indexer struct {
	source IndexSource
	stores *PersistStores
}

// NewIndexer returns the index stored in db. stores resolves store names
// to paths for Paths; it may be nil where only Find and Update are used.
// now stamps updates (nil means time.Now).
func NewIndexer(db *store.DB, stores *PersistStores, now func() time.Time) *Indexer {
	return NewIndexerFrom(NewLocalIndex(db, LocalIndexOptions{Now: now}), stores)
}

// NewIndexerFrom returns the indexer whose entries come from source;
// stores is as for NewIndexer.
func NewIndexerFrom(source IndexSource, stores *PersistStores) *Indexer {
	return &Indexer{source: source, stores: stores}
}

// Find returns where a sector's files of kind are; Found is false, with
// empty names, for a sector not indexed. An unknown kind is an error.
func (ix *Indexer) Find(ctx context.Context, kind IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, error) {
	if _, _, err := kind.dirs(); err != nil {
		return rpc.SectorIndexLocation{}, err
	}
	return ix.source.Find(ctx, kind, id)
}

// Update records which store instances hold a sector's files of kind. An
// empty name keeps the one recorded for that part, so the sealed file and
// the cache dir can be indexed separately; both empty is an error. A read
// only index (a proxy node's) refuses with an error wrapping
// ErrIndexReadOnly.
func (ix *Indexer) Update(ctx context.Context, kind IndexKind, id abi.SectorID, stores rpc.SectorAccessStores) error {
	if err := ix.source.Writable(); err != nil {
		return err
	}
	if _, _, err := kind.dirs(); err != nil {
		return err
	}
	return ix.source.Update(ctx, kind, id, stores)
}

// Writable is nil when Update can succeed; else the error, wrapping
// ErrIndexReadOnly, that Update answers.
func (ix *Indexer) Writable() error { return ix.source.Writable() }

// Paths returns where a sector's files of kind are on disk, through the
// index and the [[Common.PersistStores]] paths. A sector not indexed, or
// indexed in a store the config lacks, is an error saying which.
func (ix *Indexer) Paths(ctx context.Context, kind IndexKind, id abi.SectorID) (SectorPaths, error) {
	sealedDir, cacheDir, err := kind.dirs()
	if err != nil {
		return SectorPaths{}, err
	}
	name := proofs.SectorName(id)
	loc, err := ix.Find(ctx, kind, id)
	if err != nil {
		return SectorPaths{}, err
	}
	switch {
	case !loc.Found:
		return SectorPaths{}, ix.source.NotIndexed(kind, id)
	case loc.Instance.SealedFile == "":
		return SectorPaths{}, fmt.Errorf("sector %s: the store of its sealed file is not indexed (%s)", name, kind)
	case loc.Instance.CacheDir == "":
		return SectorPaths{}, fmt.Errorf("sector %s: the store of its cache dir is not indexed (%s)", name, kind)
	case ix.stores == nil:
		return SectorPaths{}, fmt.Errorf("sector %s: no persist stores to resolve paths with", name)
	}
	var paths SectorPaths
	if paths.SealedFile, err = ix.stores.Resolve(loc.Instance.SealedFile, filepath.Join(sealedDir, name)); err != nil {
		return SectorPaths{}, fmt.Errorf("sector %s: sealed file: %w", name, err)
	}
	if paths.CacheDir, err = ix.stores.Resolve(loc.Instance.CacheDir, filepath.Join(cacheDir, name)); err != nil {
		return SectorPaths{}, fmt.Errorf("sector %s: cache dir: %w", name, err)
	}
	return paths, nil
}
