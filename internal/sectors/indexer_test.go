package sectors

import (
	"strings"
	"testing"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

func TestIndexer(t *testing.T) {
	ctx := t.Context()
	db := storetest.NewSQLite(t)
	stores, err := NewPersistStores([]config.PersistStore{
		persistStore("nfs-1", nil), persistStore("nfs-2", nil),
	}, db, PersistStoresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndexer(db, stores, nil)
	id := sid(1000, 42)

	for _, kind := range []IndexKind{IndexNormal, IndexUpgrade} {
		if loc, err := ix.Find(ctx, kind, id); err != nil || loc != (rpc.SectorIndexLocation{}) {
			t.Fatalf("Find(%s) of an unindexed sector = %+v, %v; want Found false and empty names", kind, loc, err)
		}
	}
	for _, bad := range []IndexKind{"", "Normal", "snap"} {
		if _, err := ix.Find(ctx, bad, id); err == nil || !strings.Contains(err.Error(), "unknown sector index kind") {
			t.Errorf("Find(%q) = %v; want an unknown-kind error", bad, err)
		}
		if err := ix.Update(ctx, bad, id, rpc.SectorAccessStores{SealedFile: "nfs-1", CacheDir: "nfs-1"}); err == nil {
			t.Errorf("Update(%q) succeeded", bad)
		}
		if _, err := ix.Paths(ctx, bad, id); err == nil {
			t.Errorf("Paths(%q) succeeded", bad)
		}
	}

	wantFind := func(kind IndexKind, want rpc.SectorAccessStores) {
		t.Helper()
		loc, err := ix.Find(ctx, kind, id)
		if err != nil || !loc.Found || loc.Instance != want {
			t.Fatalf("Find(%s) = %+v, %v; want %+v", kind, loc, err, want)
		}
	}
	if err := ix.Update(ctx, IndexNormal, id, rpc.SectorAccessStores{SealedFile: "nfs-1", CacheDir: "nfs-2"}); err != nil {
		t.Fatal(err)
	}
	wantFind(IndexNormal, rpc.SectorAccessStores{SealedFile: "nfs-1", CacheDir: "nfs-2"})
	if loc, _ := ix.Find(ctx, IndexUpgrade, id); loc.Found {
		t.Fatal("indexing the normal kind indexed the upgrade kind")
	}
	paths, err := ix.Paths(ctx, IndexNormal, id)
	if err != nil || paths != (SectorPaths{SealedFile: "/mnt/nfs-1/sealed/s-t01000-42", CacheDir: "/mnt/nfs-2/cache/s-t01000-42"}) {
		t.Fatalf("Paths(normal) = %+v, %v", paths, err)
	}

	// The upgrade kind, one part at a time.
	if err := ix.Update(ctx, IndexUpgrade, id, rpc.SectorAccessStores{SealedFile: "nfs-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Paths(ctx, IndexUpgrade, id); err == nil || !strings.Contains(err.Error(), "the store of its cache dir is not indexed") {
		t.Fatalf("Paths of a half-indexed sector = %v", err)
	}
	if err := ix.Update(ctx, IndexUpgrade, id, rpc.SectorAccessStores{CacheDir: "nfs-1"}); err != nil {
		t.Fatal(err)
	}
	wantFind(IndexUpgrade, rpc.SectorAccessStores{SealedFile: "nfs-2", CacheDir: "nfs-1"})
	paths, err = ix.Paths(ctx, IndexUpgrade, id)
	if err != nil || paths != (SectorPaths{SealedFile: "/mnt/nfs-2/update/s-t01000-42", CacheDir: "/mnt/nfs-1/update-cache/s-t01000-42"}) {
		t.Fatalf("Paths(upgrade) = %+v, %v", paths, err)
	}
	if err := ix.Update(ctx, IndexUpgrade, id, rpc.SectorAccessStores{}); err == nil {
		t.Error("Update with no store succeeded")
	}

	// A store the config lost, and a sector never indexed.
	if err := ix.Update(ctx, IndexNormal, id, rpc.SectorAccessStores{SealedFile: "retired"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Paths(ctx, IndexNormal, id); err == nil || !strings.Contains(err.Error(), `persist store "retired" is not in [[Common.PersistStores]]`) {
		t.Fatalf("Paths in a store not configured = %v", err)
	}
	if _, err := ix.Paths(ctx, IndexNormal, sid(1000, 1)); err == nil || !strings.Contains(err.Error(), "s-t01000-1 is not in the normal sector index") {
		t.Fatalf("Paths of an unindexed sector = %v", err)
	}
	if _, err := NewIndexer(db, nil, nil).Paths(ctx, IndexUpgrade, id); err == nil {
		t.Fatal("Paths without persist stores succeeded")
	}
}

func TestLocalIndex(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { testLocalIndex(t, e.newDB(t)) })
	}
}

func testLocalIndex(t *testing.T, db *store.DB) {
	ctx := t.Context()
	local := NewLocalIndex(db, LocalIndexOptions{ProxyOff: true})
	if empty, err := local.Empty(ctx); err != nil || !empty {
		t.Fatalf("Empty of a new database = %t, %v; want true", empty, err)
	}
	if err := local.Writable(); err != nil {
		t.Fatalf("the local index is not writable: %v", err)
	}
	ix := NewIndexerFrom(local, nil)
	if err := ix.Update(ctx, IndexUpgrade, sid(1000, 7), rpc.SectorAccessStores{SealedFile: "nfs-1"}); err != nil {
		t.Fatal(err)
	}
	if empty, err := local.Empty(ctx); err != nil || empty {
		t.Fatalf("Empty with one upgrade entry = %t, %v; want false", empty, err)
	}
	// A proxy node's own index (--proxy-sector-indexer-off) says so when
	// it misses, so that the operator does not look for the sector at
	// the source.
	_, err := ix.Paths(ctx, IndexNormal, sid(1000, 7))
	if err == nil || !strings.Contains(err.Error(), "s-t01000-7 is not in the local sector index (--proxy-sector-indexer-off)") {
		t.Fatalf("Paths of a sector not in the local index of a proxy = %v", err)
	}
}
