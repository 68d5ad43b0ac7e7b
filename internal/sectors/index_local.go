package sectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// LocalIndexOptions configure NewLocalIndex; the zero value is the index
// of a manager that is no proxy.
type LocalIndexOptions struct {
	// Now stamps updates; nil means time.Now.
	Now func() time.Time
	// ProxyOff marks the index of a proxy node run with
	// --proxy-sector-indexer-off: its misses say that this node's own
	// index was asked, not the source's.
	ProxyOff bool
}

// LocalIndex is the sector index in this node's database (table
// sector_index): every manager's, unless it is a proxy node that reads its
// source's (ProxyIndex).
type LocalIndex struct {
	index    *store.SectorIndex
	now      func() time.Time
	proxyOff bool
}

// NewLocalIndex returns the sector index stored in db.
func NewLocalIndex(db *store.DB, opts LocalIndexOptions) *LocalIndex {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &LocalIndex{index: db.SectorIndex(), now: opts.Now, proxyOff: opts.ProxyOff}
}

// Find returns where a sector's files of kind are; Found is false, with
// empty names, for a sector not indexed.
func (l *LocalIndex) Find(ctx context.Context, kind IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, error) {
	loc, err := l.index.Get(ctx, string(kind), id)
	if errors.Is(err, store.ErrNotFound) {
		return rpc.SectorIndexLocation{}, nil
	}
	if err != nil {
		return rpc.SectorIndexLocation{}, err
	}
	return rpc.SectorIndexLocation{
		Found:    true,
		Instance: rpc.SectorAccessStores{SealedFile: loc.SealedStore, CacheDir: loc.CacheStore},
	}, nil
}

// Update records which store instances hold a sector's files of kind.
func (l *LocalIndex) Update(ctx context.Context, kind IndexKind, id abi.SectorID, stores rpc.SectorAccessStores) error {
	return l.index.Put(ctx, string(kind), id,
		store.SectorLocation{SealedStore: stores.SealedFile, CacheStore: stores.CacheDir}, l.now())
}

// Writable is nil: this node owns its database.
func (l *LocalIndex) Writable() error { return nil }

// NotIndexed says the sector is not in this node's index.
func (l *LocalIndex) NotIndexed(kind IndexKind, id abi.SectorID) error {
	name := proofs.SectorName(id)
	if l.proxyOff {
		return fmt.Errorf("sector %s is not in the local sector index (--proxy-sector-indexer-off), %s kind: "+
			"attach its store to this node (util storage attach), or run without --proxy-sector-indexer-off to read the source manager's index",
			name, kind)
	}
	return fmt.Errorf("sector %s is not in the %s sector index: attach its store (util storage attach)", name, kind)
}

// Empty tells whether the index has no entry at all, of any kind.
func (l *LocalIndex) Empty(ctx context.Context) (bool, error) {
	return l.index.Empty(ctx)
}
