package sectors

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// AttachOptions are the flags of `util storage attach`.
type AttachOptions struct {
	// Name is the store's name in the index and the config; empty means
	// its Path.
	Name string
	// Path is the store's root, the directory holding sealed/ and cache/
	// (and update/, update-cache/ for snap-upgraded sectors).
	Path string
	// Strict also checks sizes: the sealed file is exactly a sector size,
	// p_aux is 64 bytes, tree-r-last files are whole nodes, equal in size
	// and smaller than their share of the sector. It also refuses a Path
	// that is a symbolic link, as a Strict store does, and is written into
	// the config snippet.
	Strict bool
	// ReadOnly is only written into the config snippet.
	ReadOnly bool
	// AllowSplitted imports sectors of which this store holds only part:
	// the sealed file without the cache dir, or the other way round. Only
	// the part found is indexed, and the index keeps what it had for the
	// other part, so attaching the other store completes the entry.
	AllowSplitted bool
	// Pattern is a glob (path/filepath.Match) that sector names must
	// match, e.g. s-t01000-1[0-9]; empty matches all.
	Pattern string
	// Verbose logs every sector.
	Verbose bool
}

// AttachIndex is what Attach needs of the sector index; *Indexer has it.
type AttachIndex interface {
	Find(ctx context.Context, kind IndexKind, id abi.SectorID) (rpc.SectorIndexLocation, error)
	Update(ctx context.Context, kind IndexKind, id abi.SectorID, stores rpc.SectorAccessStores) error
}

// AttachProgress hears about an attach while it runs, so a terminal can
// draw a bar. For each kind, Scanned comes first, then one Checked per
// sector found.
type AttachProgress interface {
	Scanned(kind IndexKind, sectors int)
	Checked(kind IndexKind, id abi.SectorID)
}

// AttachReport is what Attach did.
type AttachReport struct {
	// Name and Path are the store's, as indexed and as in Config.
	Name, Path string
	// Imported counts sectors newly indexed in the store (or moved to it).
	Imported int
	// AlreadyPresent counts sectors the index already had there.
	AlreadyPresent int
	// Skipped are the sectors found but not imported, with the reason.
	Skipped []SkippedSector
	// Config is the [[Common.PersistStores]] block to add to
	// sector-manager.cfg, for the manager to find the store by its name.
	Config string
}

// SkippedSector is a sector Attach did not import, and why.
type SkippedSector struct {
	Kind   IndexKind
	ID     abi.SectorID
	Reason string
}

// Attach imports the sectors already in a storage directory into the
// sector index, as `util storage attach` does, so the manager can prove
// them once the store is in its config. It scans the sealed/ and cache/
// folders (normal kind) and update/ and update-cache/ (upgrade kind) for
// names s-t0<miner>-<number>. A sector qualifies when its sealed file is
// a regular file and its cache dir holds p_aux, t_aux and the tree-r-last
// files of its sector size (told by the sealed file's size; when that is
// not a sector size, or only the cache dir is there, by which tree-r-last
// files are present). With Strict sizes are checked too (see
// AttachOptions). A sector that does not qualify is skipped, with the
// reason, and the others are imported.
//
// Attach is idempotent: a sector indexed in this store already is
// counted, not written again. A sector indexed in another store is moved
// to this one, as damocles does. On an error (the index failing, ctx
// ending) the report says what was done before it.
func Attach(ctx context.Context, opts AttachOptions, index AttachIndex, progress AttachProgress) (AttachReport, error) {
	if progress == nil {
		progress = noProgress{}
	}
	pattern := opts.Pattern
	if pattern == "" {
		pattern = "*"
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return AttachReport{}, fmt.Errorf("attach: pattern %q: %w", pattern, err)
	}
	root, shown, err := storeRoot(opts.Path, opts.Strict)
	if err != nil {
		return AttachReport{}, fmt.Errorf("attach: %w", err)
	}
	report := AttachReport{Name: opts.Name, Path: shown}
	if report.Name == "" {
		report.Name = shown
	}
	if report.Config, err = persistStoreSnippet(report.Name, shown, opts.Strict, opts.ReadOnly); err != nil {
		return AttachReport{}, fmt.Errorf("attach: %w", err)
	}
	a := attacher{ctx: ctx, opts: opts, pattern: pattern, root: root, name: report.Name, index: index, progress: progress, report: &report}
	found := false
	for _, kind := range []IndexKind{IndexNormal, IndexUpgrade} {
		ok, err := a.attachKind(kind)
		if err != nil {
			// What was imported before the failure stays imported.
			return report, fmt.Errorf("attach %s: %w", shown, err)
		}
		found = found || ok
	}
	if !found {
		return AttachReport{}, fmt.Errorf("attach %s: neither %s/ nor %s/ is there: give the directory that holds them",
			shown, proofs.SealedDirName, proofs.CacheDirName)
	}
	log.Infow("storage attached", "name", report.Name, "path", shown,
		"imported", report.Imported, "present", report.AlreadyPresent, "skipped", len(report.Skipped))
	return report, nil
}

// storeRoot checks path is a directory and returns it absolute, and as
// shown to the operator: absolute, with the trailing slash they typed
// (seed 004 prints Path = "/mnt/mount/nfs/0.0.0.0/").
func storeRoot(path string, strict bool) (root, shown string, err error) {
	if path == "" {
		return "", "", errors.New("no storage path given")
	}
	root, err = filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return "", "", err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if strict {
			return "", "", fmt.Errorf("%s is a symbolic link, which a Strict store refuses: attach the directory it points to", root)
		}
		if fi, err = os.Stat(root); err != nil {
			return "", "", err
		}
	}
	if !fi.IsDir() {
		return "", "", fmt.Errorf("%s is not a directory", root)
	}
	shown = root
	if strings.HasSuffix(path, string(filepath.Separator)) && !strings.HasSuffix(root, string(filepath.Separator)) {
		shown += string(filepath.Separator)
	}
	return root, shown, nil
}

// persistStoreSnippet is the config block of the store, as damocles prints
// it.
func persistStoreSnippet(name, path string, strict, readOnly bool) (string, error) {
	var buf bytes.Buffer
	buf.WriteString("[[Common.PersistStores]]\n")
	err := toml.NewEncoder(&buf).Encode(struct {
		Name     string
		Path     string
		Strict   bool
		ReadOnly bool
	}{name, path, strict, readOnly})
	return buf.String(), err
}

type noProgress struct{}

func (noProgress) Scanned(IndexKind, int)          {}
func (noProgress) Checked(IndexKind, abi.SectorID) {}

// attacher is one run of Attach.
type attacher struct {
	ctx      context.Context
	opts     AttachOptions
	pattern  string
	root     string
	name     string
	index    AttachIndex
	progress AttachProgress
	report   *AttachReport
}

// attachKind imports the sectors of kind, reporting whether either of its
// directories exists.
func (a *attacher) attachKind(kind IndexKind) (bool, error) {
	sealedDir, cacheDir, err := kind.dirs()
	if err != nil {
		return false, err
	}
	ids := map[abi.SectorID]bool{}
	found := false
	for _, dir := range []string{sealedDir, cacheDir} {
		entries, err := os.ReadDir(filepath.Join(a.root, dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		found = true
		for _, e := range entries {
			if ok, _ := filepath.Match(a.pattern, e.Name()); !ok {
				continue
			}
			id, ok := ParseSectorName(e.Name())
			if !ok {
				if a.opts.Verbose {
					log.Infow("not a sector name, ignored", "path", filepath.Join(dir, e.Name()))
				}
				continue
			}
			ids[id] = true
		}
	}
	sorted := slices.SortedFunc(maps.Keys(ids), func(x, y abi.SectorID) int {
		return cmp.Or(cmp.Compare(x.Miner, y.Miner), cmp.Compare(x.Number, y.Number))
	})
	a.progress.Scanned(kind, len(sorted))
	for _, id := range sorted {
		if err := a.ctx.Err(); err != nil {
			return found, err
		}
		if err := a.attachSector(kind, id); err != nil {
			return found, err
		}
		a.progress.Checked(kind, id)
	}
	return found, nil
}

// attachSector checks one sector and indexes what qualifies.
func (a *attacher) attachSector(kind IndexKind, id abi.SectorID) error {
	want, reason := a.check(kind, id)
	name := proofs.SectorName(id)
	if reason != "" {
		a.report.Skipped = append(a.report.Skipped, SkippedSector{Kind: kind, ID: id, Reason: reason})
		if a.opts.Verbose {
			log.Warnw("sector skipped", "sector", name, "kind", kind, "reason", reason)
		}
		return nil
	}
	cur, err := a.index.Find(a.ctx, kind, id)
	if err != nil {
		return err
	}
	if cur.Found && (want.SealedFile == "" || cur.Instance.SealedFile == want.SealedFile) &&
		(want.CacheDir == "" || cur.Instance.CacheDir == want.CacheDir) {
		a.report.AlreadyPresent++
		if a.opts.Verbose {
			log.Infow("sector already indexed", "sector", name, "kind", kind)
		}
		return nil
	}
	if err := a.index.Update(a.ctx, kind, id, want); err != nil {
		return err
	}
	a.report.Imported++
	if cur.Found {
		log.Warnw("sector moved to this store in the index", "sector", name, "kind", kind,
			"sealed_was", cur.Instance.SealedFile, "cache_was", cur.Instance.CacheDir, "store", a.name)
	} else if a.opts.Verbose {
		log.Infow("sector indexer updated", "sector", name, "kind", kind, "store", a.name)
	}
	return nil
}

// check returns what of the sector this store can be indexed for, or why
// the sector does not qualify.
func (a *attacher) check(kind IndexKind, id abi.SectorID) (rpc.SectorAccessStores, string) {
	sealedDir, cacheDir, _ := kind.dirs()
	name := proofs.SectorName(id)
	sealedRel, cacheRel := filepath.Join(sealedDir, name), filepath.Join(cacheDir, name)
	sealed, sealedErr := os.Stat(filepath.Join(a.root, sealedRel))
	hasSealed := sealedErr == nil && sealed.Mode().IsRegular()
	cache, cacheErr := os.Stat(filepath.Join(a.root, cacheRel))
	hasCache := cacheErr == nil && cache.IsDir()

	switch {
	case !hasSealed && !hasCache:
		return rpc.SectorAccessStores{}, fmt.Sprintf("%s; %s", missing(sealedRel, sealedErr, "sealed file"),
			missing(cacheRel, cacheErr, "cache dir"))
	case !hasSealed && !a.opts.AllowSplitted:
		return rpc.SectorAccessStores{}, missing(sealedRel, sealedErr, "sealed file") +
			" (with --allow-splitted the cache dir alone is imported)"
	case !hasCache && !a.opts.AllowSplitted:
		return rpc.SectorAccessStores{}, missing(cacheRel, cacheErr, "cache dir") +
			" (with --allow-splitted the sealed file alone is imported)"
	}

	var size abi.SectorSize
	if hasSealed {
		size = sectorSizeOf(sealed.Size())
		if size == 0 && a.opts.Strict {
			return rpc.SectorAccessStores{}, fmt.Sprintf("sealed file %s is %d bytes, not the size of any sector", sealedRel, sealed.Size())
		}
	}
	if hasCache {
		if why := checkCacheDir(filepath.Join(a.root, cacheRel), cacheRel, size, a.opts.Strict); why != "" {
			return rpc.SectorAccessStores{}, why
		}
	}
	var stores rpc.SectorAccessStores
	if hasSealed {
		stores.SealedFile = a.name
	}
	if hasCache {
		stores.CacheDir = a.name
	}
	return stores, ""
}

// missing says why a part of a sector is not usable.
func missing(rel string, statErr error, what string) string {
	switch {
	case errors.Is(statErr, fs.ErrNotExist):
		return fmt.Sprintf("no %s %s", what, rel)
	case statErr != nil:
		return fmt.Sprintf("%s %s: %v", what, rel, statErr)
	case what == "cache dir":
		return fmt.Sprintf("%s %s is not a directory", what, rel)
	}
	return fmt.Sprintf("%s %s is not a regular file", what, rel)
}

// sectorShape is the persisted cache files of a sector size.
type sectorShape struct {
	size  abi.SectorSize
	files proofs.CacheFiles
}

// sectorShapes are every sector size's shape, smallest first. Proof
// families differ in challenges, not in files, so V1_1 stands for all.
var sectorShapes = func() []sectorShape {
	var shapes []sectorShape
	for p := abi.RegisteredSealProof_StackedDrg2KiBV1_1; p <= abi.RegisteredSealProof_StackedDrg64GiBV1_1; p++ {
		size, err := proofs.SealProofSectorSize(p)
		if err != nil {
			panic(err)
		}
		files, err := proofs.CacheFilesFor(p)
		if err != nil {
			panic(err)
		}
		shapes = append(shapes, sectorShape{size: size, files: files})
	}
	return shapes
}()

// sectorSizeOf is the sector size a sealed file of n bytes has, 0 if none.
func sectorSizeOf(n int64) abi.SectorSize {
	for _, s := range sectorShapes {
		if int64(s.size) == n {
			return s.size
		}
	}
	return 0
}

// checkCacheDir says what is wrong with a cache dir, empty if nothing. size
// is the sector's, or 0 when unknown: the shape is then the one with the
// most of its files present (the tree-r-last files tell 32GiB and 64GiB
// from the smaller sizes, which share one file list), the smallest on a
// tie.
func checkCacheDir(dir, rel string, size abi.SectorSize, strict bool) string {
	var (
		shape   sectorShape
		present = -1
		lack    []string
	)
	for _, s := range sectorShapes {
		if size != 0 && s.size != size {
			continue
		}
		var l []string
		for _, f := range s.files.Persisted() {
			if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() {
				l = append(l, f)
			}
		}
		if p := len(s.files.Persisted()) - len(l); p > present {
			shape, present, lack = s, p, l
		}
	}
	if len(lack) > 0 {
		return fmt.Sprintf("cache dir %s lacks %s", rel, strings.Join(lack, ", "))
	}
	if strict {
		return checkCacheSizes(dir, rel, shape, size)
	}
	return ""
}

// pAuxSize is Filecoin's p_aux: comm_c and comm_r_last.
const pAuxSize = 64

// nodeSize is the size of a Merkle tree node.
const nodeSize = 32

// checkCacheSizes checks what can be told of cache file sizes without
// knowing the proof engine's tree layout: p_aux holds two commitments,
// t_aux is not empty, and tree-r-last files hold whole nodes, are all the
// same size and, since the tree does not store the leaves (they are the
// sealed file), are smaller than their share of the sector.
func checkCacheSizes(dir, rel string, shape sectorShape, size abi.SectorSize) string {
	sizeOf := func(f string) int64 {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	if n := sizeOf(shape.files.PAux); n != pAuxSize {
		return fmt.Sprintf("%s/%s is %d bytes, not %d", rel, shape.files.PAux, n, pAuxSize)
	}
	if n := sizeOf(shape.files.TAux); n <= 0 {
		return fmt.Sprintf("%s/%s is empty", rel, shape.files.TAux)
	}
	trees := shape.files.TreeRLast
	first := sizeOf(trees[0])
	for _, f := range trees {
		n := sizeOf(f)
		switch {
		case n <= 0 || n%nodeSize != 0:
			return fmt.Sprintf("%s/%s is %d bytes, not a whole number of %d-byte nodes", rel, f, n, nodeSize)
		case n != first:
			return fmt.Sprintf("%s/%s is %d bytes but %s is %d: tree-r-last files differ", rel, f, n, trees[0], first)
		case size != 0 && n >= int64(size)/int64(len(trees)):
			return fmt.Sprintf("%s/%s is %d bytes, too big for a tree over %d bytes of a %s sector",
				rel, f, n, int64(size)/int64(len(trees)), formatBytes(uint64(size)))
		}
	}
	return ""
}

// ParseSectorName reads a sector's file name, s-t0<miner>-<number>. Only
// the form SectorName writes is accepted: a name with leading zeros would
// be another file than the sector's.
func ParseSectorName(name string) (abi.SectorID, bool) {
	rest, ok := strings.CutPrefix(name, "s-t0")
	if !ok {
		return abi.SectorID{}, false
	}
	miner, number, ok := strings.Cut(rest, "-")
	if !ok {
		return abi.SectorID{}, false
	}
	m, err := strconv.ParseUint(miner, 10, 64)
	if err != nil {
		return abi.SectorID{}, false
	}
	n, err := strconv.ParseUint(number, 10, 64)
	if err != nil || n > abi.MaxSectorNumber {
		return abi.SectorID{}, false
	}
	id := abi.SectorID{Miner: abi.ActorID(m), Number: abi.SectorNumber(n)}
	if proofs.SectorName(id) != name {
		return abi.SectorID{}, false
	}
	return id, true
}
