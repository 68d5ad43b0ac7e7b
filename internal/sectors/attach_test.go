package sectors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// sealInto seals 2KiB CC sectors with the built-in engine into the store
// layout under root, as a worker persists them: PC1, PC2, C1, C2, then
// Finalize, which leaves the sealed file, p_aux, t_aux and tree-r-last.
func sealInto(t *testing.T, root string, ids ...abi.SectorID) {
	t.Helper()
	ctx := context.Background()
	var e proofs.DevEngine
	staging := t.TempDir()
	for _, id := range ids {
		ticket := sha256.Sum256(fmt.Appendf(nil, "ticket %v", id))
		seed := sha256.Sum256(fmt.Appendf(nil, "seed %v", id))
		ticket[31] &= 0x3f
		seed[31] &= 0x3f
		staged := filepath.Join(staging, proofs.SectorName(id))
		if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
			t.Fatal(err)
		}
		cacheDir, sealedPath := proofs.CacheDirPath(root, id), proofs.SealedPath(root, id)
		if err := os.MkdirAll(filepath.Dir(sealedPath), 0o755); err != nil {
			t.Fatal(err)
		}
		pc1, err := e.SealPreCommitPhase1(ctx, proof2KiB, cacheDir, staged, sealedPath, id.Number, id.Miner, ticket[:], nil)
		if err != nil {
			t.Fatal(err)
		}
		sealed, unsealed, err := e.SealPreCommitPhase2(ctx, pc1, cacheDir, sealedPath)
		if err != nil {
			t.Fatal(err)
		}
		c1, err := e.SealCommitPhase1(ctx, proof2KiB, sealed, unsealed, cacheDir, sealedPath, id.Number, id.Miner, ticket[:], seed[:], nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.SealCommitPhase2(ctx, c1, id.Number, id.Miner); err != nil {
			t.Fatal(err)
		}
		if err := e.FinalizeSector(ctx, proof2KiB, cacheDir); err != nil {
			t.Fatal(err)
		}
	}
}

// recordedProgress remembers what Attach reported.
type recordedProgress struct {
	scanned map[IndexKind]int
	checked []abi.SectorID
}

func (p *recordedProgress) Scanned(kind IndexKind, n int) {
	if p.scanned == nil {
		p.scanned = map[IndexKind]int{}
	}
	p.scanned[kind] = n
}

func (p *recordedProgress) Checked(_ IndexKind, id abi.SectorID) { p.checked = append(p.checked, id) }

func mustAttach(t *testing.T, opts AttachOptions, ix AttachIndex, progress AttachProgress) AttachReport {
	t.Helper()
	report, err := Attach(t.Context(), opts, ix, progress)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	return report
}

func wantCounts(t *testing.T, r AttachReport, imported, present int, skipped ...string) {
	t.Helper()
	var got []string
	for _, s := range r.Skipped {
		got = append(got, fmt.Sprintf("%s %s: %s", s.Kind, proofs.SectorName(s.ID), s.Reason))
	}
	if r.Imported != imported || r.AlreadyPresent != present || !slices.Equal(got, skipped) {
		t.Fatalf("Attach imported %d, found %d present, skipped %q;\nwant %d, %d, %q", r.Imported, r.AlreadyPresent, got, imported, present, skipped)
	}
}

func TestAttach(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	ids := []abi.SectorID{sid(1000, 1), sid(1000, 2), sid(1000, 3), sid(1000, 10), sid(1001, 1)}
	sealInto(t, root, ids...)
	// One sector lost a cache file; a stray file and folder are no sectors.
	if err := os.Remove(filepath.Join(proofs.CacheDirPath(root, sid(1000, 3)), proofs.TAuxFile)); err != nil {
		t.Fatal(err)
	}
	for _, junk := range []string{"sealed/.s-t01000-4.tmp", "sealed/s-t01000-05", "cache/lost+found/x"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, junk)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, junk), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	db := storetest.NewSQLite(t)
	ix := NewIndexer(db, nil, nil)
	opts := AttachOptions{Name: "storage1", Path: root + "/", Verbose: true}
	var progress recordedProgress
	report := mustAttach(t, opts, ix, &progress)
	wantCounts(t, report, 4, 0, "normal s-t01000-3: cache dir cache/s-t01000-3 lacks t_aux")
	if want := map[IndexKind]int{IndexNormal: 5, IndexUpgrade: 0}; !equalMaps(progress.scanned, want) {
		t.Errorf("progress scanned %v; want %v", progress.scanned, want)
	}
	if !slices.Equal(progress.checked, ids) {
		t.Errorf("progress checked %v; want %v, in order", progress.checked, ids)
	}
	wantSnippet := "[[Common.PersistStores]]\n" +
		`Name = "storage1"` + "\n" +
		`Path = "` + root + `/"` + "\n" +
		"Strict = false\nReadOnly = false\n"
	if report.Config != wantSnippet {
		t.Errorf("config snippet =\n%s\nwant\n%s", report.Config, wantSnippet)
	}

	// The snippet is config the manager loads, and the index then
	// resolves every imported sector to its files.
	var cfg struct {
		Common struct{ PersistStores []config.PersistStore }
	}
	if _, err := toml.Decode(report.Config, &cfg); err != nil {
		t.Fatalf("decode snippet: %v", err)
	}
	stores, err := NewPersistStores(cfg.Common.PersistStores, db, PersistStoresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resolve := NewIndexer(db, stores, nil)
	for _, id := range ids {
		loc, err := ix.Find(ctx, IndexNormal, id)
		if id == sid(1000, 3) {
			if err != nil || loc.Found {
				t.Errorf("the skipped sector is indexed: %+v, %v", loc, err)
			}
			continue
		}
		if err != nil || loc.Instance != (rpc.SectorAccessStores{SealedFile: "storage1", CacheDir: "storage1"}) {
			t.Errorf("Find(%v) = %+v, %v; want both parts in storage1", id, loc, err)
		}
		paths, err := resolve.Paths(ctx, IndexNormal, id)
		if err != nil {
			t.Fatal(err)
		}
		if paths.SealedFile != proofs.SealedPath(root, id) || paths.CacheDir != proofs.CacheDirPath(root, id) {
			t.Errorf("Paths(%v) = %+v; want the files under %s", id, paths, root)
		}
	}

	// Again: nothing new, the same skip.
	report = mustAttach(t, opts, ix, nil)
	wantCounts(t, report, 0, 4, "normal s-t01000-3: cache dir cache/s-t01000-3 lacks t_aux")

	// Once repaired, the sector is imported and the rest left alone.
	if err := os.WriteFile(filepath.Join(proofs.CacheDirPath(root, sid(1000, 3)), proofs.TAuxFile), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, mustAttach(t, opts, ix, nil), 1, 4)
}

func equalMaps(a, b map[IndexKind]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestAttachStrict(t *testing.T) {
	root := t.TempDir()
	sealInto(t, root, sid(1000, 1), sid(1000, 2), sid(1000, 3), sid(1000, 4))
	appendByte := func(path string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte{0}); err != nil {
			t.Fatal(err)
		}
	}
	// Sizes a quick look misses: a sealed file one byte long, a tree file
	// with half a node, a p_aux cut short.
	appendByte(proofs.SealedPath(root, sid(1000, 2)))
	appendByte(filepath.Join(proofs.CacheDirPath(root, sid(1000, 3)), "sc-02-data-tree-r-last.dat"))
	if err := os.Truncate(filepath.Join(proofs.CacheDirPath(root, sid(1000, 4)), proofs.PAuxFile), 32); err != nil {
		t.Fatal(err)
	}

	db := storetest.NewSQLite(t)
	wantCounts(t, mustAttach(t, AttachOptions{Name: "strict", Path: root, Strict: true}, NewIndexer(db, nil, nil), nil), 1, 0,
		"normal s-t01000-2: sealed file sealed/s-t01000-2 is 2049 bytes, not the size of any sector",
		"normal s-t01000-3: cache/s-t01000-3/sc-02-data-tree-r-last.dat is 289 bytes, not a whole number of 32-byte nodes",
		"normal s-t01000-4: cache/s-t01000-4/p_aux is 32 bytes, not 64")
	// Without Strict only the files' presence counts.
	wantCounts(t, mustAttach(t, AttachOptions{Name: "lax", Path: root}, NewIndexer(storetest.NewSQLite(t), nil, nil), nil), 4, 0)

	// Tree files too big for the sector, and differing from each other.
	big := t.TempDir()
	sealInto(t, big, sid(1000, 1))
	if err := os.Truncate(filepath.Join(proofs.CacheDirPath(big, sid(1000, 1)), "sc-02-data-tree-r-last.dat"), 2048); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, mustAttach(t, AttachOptions{Name: "big", Path: big, Strict: true}, NewIndexer(db, nil, nil), nil), 0, 0,
		"normal s-t01000-1: cache/s-t01000-1/sc-02-data-tree-r-last.dat is 2048 bytes, too big for a tree over 2048 bytes of a 2.0 KiB sector")

	// A Strict store refuses a symbolic link as its path.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(t.Context(), AttachOptions{Path: link, Strict: true}, NewIndexer(db, nil, nil), nil); err == nil ||
		!strings.Contains(err.Error(), "is a symbolic link") {
		t.Fatalf("strict Attach through a symbolic link = %v", err)
	}
	wantCounts(t, mustAttach(t, AttachOptions{Name: "via-link", Path: link}, NewIndexer(storetest.NewSQLite(t), nil, nil), nil), 4, 0)
}

// Cache dirs of 32GiB and 64GiB sectors hold 8 and 16 tree-r-last files:
// without a sealed file of known size, the files present tell which.
func TestAttachSplitTreeFiles(t *testing.T) {
	root := t.TempDir()
	for _, tt := range []struct {
		id    abi.SectorID
		proof abi.RegisteredSealProof
		drop  string
	}{
		{sid(1000, 1), abi.RegisteredSealProof_StackedDrg32GiBV1_1, ""},
		{sid(1000, 2), abi.RegisteredSealProof_StackedDrg64GiBV1_1, ""},
		{sid(1000, 3), abi.RegisteredSealProof_StackedDrg32GiBV1_1, "sc-02-data-tree-r-last-7.dat"},
	} {
		files, err := proofs.CacheFilesFor(tt.proof)
		if err != nil {
			t.Fatal(err)
		}
		dir := proofs.CacheDirPath(root, tt.id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files.Persisted() {
			if f != tt.drop {
				if err := os.WriteFile(filepath.Join(dir, f), make([]byte, 64), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	ix := NewIndexer(storetest.NewSQLite(t), nil, nil)
	wantCounts(t, mustAttach(t, AttachOptions{Name: "cold", Path: root, AllowSplitted: true, Strict: true}, ix, nil), 2, 0,
		"normal s-t01000-3: cache dir cache/s-t01000-3 lacks sc-02-data-tree-r-last-7.dat")
}

func TestAttachPattern(t *testing.T) {
	root := t.TempDir()
	sealInto(t, root, sid(1000, 1), sid(1000, 2), sid(1000, 12), sid(1001, 1))
	ix := NewIndexer(storetest.NewSQLite(t), nil, nil)
	var progress recordedProgress
	wantCounts(t, mustAttach(t, AttachOptions{Name: "s", Path: root, Pattern: "s-t01000-1*"}, ix, &progress), 2, 0)
	if want := []abi.SectorID{sid(1000, 1), sid(1000, 12)}; !slices.Equal(progress.checked, want) {
		t.Fatalf("pattern s-t01000-1* checked %v; want %v", progress.checked, want)
	}
	if _, err := Attach(t.Context(), AttachOptions{Path: root, Pattern: "s-t0[1000"}, ix, nil); err == nil ||
		!strings.Contains(err.Error(), "pattern") {
		t.Fatalf("Attach with a bad pattern = %v", err)
	}
	wantCounts(t, mustAttach(t, AttachOptions{Name: "s", Path: root}, ix, nil), 2, 2)
}

// A sector whose sealed file is in one store and cache dir in another is
// imported only with --allow-splitted, one part per store.
func TestAttachSplitted(t *testing.T) {
	whole, sealedOnly, cacheOnly := t.TempDir(), t.TempDir(), t.TempDir()
	id := sid(1000, 7)
	sealInto(t, whole, id)
	copyTree(t, filepath.Join(whole, proofs.SealedDirName), filepath.Join(sealedOnly, proofs.SealedDirName))
	copyTree(t, filepath.Join(whole, proofs.CacheDirName), filepath.Join(cacheOnly, proofs.CacheDirName))

	ix := NewIndexer(storetest.NewSQLite(t), nil, nil)
	wantCounts(t, mustAttach(t, AttachOptions{Name: "hot", Path: sealedOnly}, ix, nil), 0, 0,
		"normal s-t01000-7: no cache dir cache/s-t01000-7 (with --allow-splitted the sealed file alone is imported)")
	wantCounts(t, mustAttach(t, AttachOptions{Name: "cold", Path: cacheOnly}, ix, nil), 0, 0,
		"normal s-t01000-7: no sealed file sealed/s-t01000-7 (with --allow-splitted the cache dir alone is imported)")

	for range 2 { // the second round finds everything present
		mustAttach(t, AttachOptions{Name: "hot", Path: sealedOnly, AllowSplitted: true}, ix, nil)
		mustAttach(t, AttachOptions{Name: "cold", Path: cacheOnly, AllowSplitted: true}, ix, nil)
	}
	loc, err := ix.Find(t.Context(), IndexNormal, id)
	if err != nil || loc.Instance != (rpc.SectorAccessStores{SealedFile: "hot", CacheDir: "cold"}) {
		t.Fatalf("Find = %+v, %v; want sealed file in hot, cache dir in cold", loc, err)
	}
	wantCounts(t, mustAttach(t, AttachOptions{Name: "cold", Path: cacheOnly, AllowSplitted: true}, ix, nil), 0, 1)

	// Attaching the whole copy moves both parts to it.
	wantCounts(t, mustAttach(t, AttachOptions{Name: "whole", Path: whole}, ix, nil), 1, 0)
	if loc, _ := ix.Find(t.Context(), IndexNormal, id); loc.Instance != (rpc.SectorAccessStores{SealedFile: "whole", CacheDir: "whole"}) {
		t.Fatalf("after attaching the whole copy: %+v", loc)
	}
}

// Snap-upgraded sectors live in update/ and update-cache/ and are indexed
// as the upgrade kind.
func TestAttachUpgrade(t *testing.T) {
	sealed, root := t.TempDir(), t.TempDir()
	id := sid(1000, 3)
	sealInto(t, sealed, id)
	copyTree(t, filepath.Join(sealed, proofs.SealedDirName), filepath.Join(root, proofs.UpdateDirName))
	copyTree(t, filepath.Join(sealed, proofs.CacheDirName), filepath.Join(root, proofs.UpdateCacheDirName))
	ix := NewIndexer(storetest.NewSQLite(t), nil, nil)
	wantCounts(t, mustAttach(t, AttachOptions{Name: "snap", Path: root}, ix, nil), 1, 0)
	if loc, err := ix.Find(t.Context(), IndexUpgrade, id); err != nil || loc.Instance != (rpc.SectorAccessStores{SealedFile: "snap", CacheDir: "snap"}) {
		t.Fatalf("Find(upgrade) = %+v, %v", loc, err)
	}
	if loc, _ := ix.Find(t.Context(), IndexNormal, id); loc.Found {
		t.Fatal("an upgraded sector was indexed as normal")
	}
}

func TestAttachBadPaths(t *testing.T) {
	ix := NewIndexer(storetest.NewSQLite(t), nil, nil)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for path, want := range map[string]string{
		"":                         "no storage path given",
		filepath.Join(empty, "no"): "no such file or directory",
		file:                       "is not a directory",
		empty:                      "neither sealed/ nor cache/ is there: give the directory that holds them",
	} {
		_, err := Attach(t.Context(), AttachOptions{Path: path}, ix, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Attach(%q) = %v; want an error saying %q", path, err, want)
		}
	}
}

// Without --name the store is called by its path, in the index and the
// snippet alike, so the config's default name (the Path) matches.
func TestAttachDefaultName(t *testing.T) {
	root := t.TempDir()
	sealInto(t, root, sid(1000, 1))
	ix := NewIndexer(storetest.NewSQLite(t), nil, nil)
	report := mustAttach(t, AttachOptions{Path: root, ReadOnly: true, Strict: true}, ix, nil)
	if report.Name != root || !strings.Contains(report.Config, `Name = "`+root+`"`) ||
		!strings.Contains(report.Config, "Strict = true\nReadOnly = true\n") {
		t.Fatalf("report = %+v", report)
	}
	if loc, _ := ix.Find(t.Context(), IndexNormal, sid(1000, 1)); loc.Instance.SealedFile != root {
		t.Fatalf("indexed in %+v; want %s", loc.Instance, root)
	}
}

func TestParseSectorName(t *testing.T) {
	for name, want := range map[string]*abi.SectorID{
		"s-t01000-42":                   {Miner: 1000, Number: 42},
		"s-t00-0":                       {Miner: 0, Number: 0},
		"s-t01000-9223372036854775807":  {Miner: 1000, Number: abi.MaxSectorNumber},
		"s-t01000-9223372036854775808":  nil,
		"s-t01000-042":                  nil,
		"s-t001000-42":                  nil,
		"s-t1000-42":                    nil,
		"s-t01000-":                     nil,
		"s-t01000-42.tmp":               nil,
		"s-t01000-+42":                  nil,
		"s-t0f1000-42":                  nil,
		"lost+found":                    nil,
		"s-t01000-42-1":                 nil,
		"S-T01000-42":                   nil,
		"s-t018446744073709551615-1":    {Miner: 1<<64 - 1, Number: 1},
		"s-t018446744073709551616-1":    nil,
		"s-t01000-1\n":                  nil,
		"s-t01000-1 ":                   nil,
		"s-t01000-00000000000000000001": nil,
	} {
		got, ok := ParseSectorName(name)
		if want == nil {
			if ok {
				t.Errorf("ParseSectorName(%q) = %v; want not a sector name", name, got)
			}
			continue
		}
		if !ok || got != *want {
			t.Errorf("ParseSectorName(%q) = %v, %v; want %v", name, got, ok, *want)
		}
	}
}

// copyTree copies the directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, in); err != nil {
			return err
		}
		return os.WriteFile(target, buf.Bytes(), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
