package sectors

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// DiskSpace tells how much space is free under a path.
type DiskSpace interface {
	// Available is the number of bytes an unprivileged writer can still
	// write under path.
	Available(path string) (uint64, error)
}

// PersistStoresOptions are the injected parts of PersistStores; the zero
// value means the real ones.
type PersistStoresOptions struct {
	// Space measures free space; nil means StatFS (the file system's).
	Space DiskSpace
	// Uint64N returns a random number in [0, n); nil means
	// math/rand/v2.Uint64N.
	Uint64N func(n uint64) uint64
	// Now stamps reservations; nil means time.Now.
	Now func() time.Time
}

// PersistStores are the [[Common.PersistStores]] of the config: the
// directories sealed sectors are moved to and proved from. It reserves
// space in them for sectors being sealed (Venus.StoreReserveSpace),
// describes them to workers (Venus.StoreBasicInfo) and resolves paths in
// them. Reservations are stored, so every manager sharing the database
// sees them; a sector's reservation goes when the sector goes offline.
type PersistStores struct {
	byName       map[string]*rpc.StoreBasicInfo
	names        []string // config order
	allow, deny  map[string][]abi.ActorID
	reservations *store.Reservations
	space        DiskSpace
	uint64N      func(n uint64) uint64
	now          func() time.Time

	// reserveMu makes this manager's reservations one at a time, so two
	// of them never both count on the same free space. Managers sharing
	// a database can still overcommit a store by a sector; the worker's
	// copy then fails and is retried, as it would after the disk filled
	// up for any other reason.
	reserveMu sync.Mutex
}

// NewPersistStores builds the stores of cfgs over the reservations of db.
// An entry without Path names no store and is left out (config loading
// warns about it); a Name used twice is an error, as the sector index
// could not tell the stores apart.
func NewPersistStores(cfgs []config.PersistStore, db *store.DB, opts PersistStoresOptions) (*PersistStores, error) {
	p := &PersistStores{
		byName:       map[string]*rpc.StoreBasicInfo{},
		allow:        map[string][]abi.ActorID{},
		deny:         map[string][]abi.ActorID{},
		reservations: db.Reservations(),
		space:        opts.Space,
		uint64N:      opts.Uint64N,
		now:          opts.Now,
	}
	if p.space == nil {
		p.space = StatFS{}
	}
	if p.uint64N == nil {
		p.uint64N = rand.Uint64N
	}
	if p.now == nil {
		p.now = time.Now
	}
	for i, c := range cfgs {
		if c.Path == "" {
			continue
		}
		name := c.Name
		if name == "" {
			name = c.Path
		}
		if _, dup := p.byName[name]; dup {
			return nil, fmt.Errorf("[[Common.PersistStores]] #%d: store name %q is used twice; give each store its own Name", i+1, name)
		}
		p.byName[name] = &rpc.StoreBasicInfo{
			Name: name, Path: c.Path, Strict: c.Strict, ReadOnly: c.ReadOnly, Weight: c.Weight, Meta: maps.Clone(c.Meta),
		}
		p.names = append(p.names, name)
		for _, m := range c.AllowMiners {
			p.allow[name] = append(p.allow[name], abi.ActorID(m))
		}
		for _, m := range c.DenyMiners {
			p.deny[name] = append(p.deny[name], abi.ActorID(m))
		}
	}
	return p, nil
}

// Info describes the store called name, nil if there is none.
func (p *PersistStores) Info(name string) *rpc.StoreBasicInfo {
	info, ok := p.byName[name]
	if !ok {
		return nil
	}
	out := *info
	out.Meta = maps.Clone(info.Meta)
	return &out
}

// List describes every store, in config order.
func (p *PersistStores) List() []rpc.StoreBasicInfo {
	out := make([]rpc.StoreBasicInfo, 0, len(p.names))
	for _, name := range p.names {
		out = append(out, *p.Info(name))
	}
	return out
}

// Resolve returns where rel (a path relative to a store's root, such as
// sealed/s-t01000-1) is in the store instance.
func (p *PersistStores) Resolve(instance, rel string) (string, error) {
	info, ok := p.byName[instance]
	if !ok {
		return "", fmt.Errorf("persist store %q is not in [[Common.PersistStores]]: add it (with Name = %q) or fix the sector index", instance, instance)
	}
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("path %q is not inside a store", rel)
	}
	return filepath.Join(info.Path, rel), nil
}

// Reserve sets size bytes aside for a sector in one of candidates (the
// persist stores the worker has attached) and describes that store. A
// candidate qualifies when it is configured, writable, allows the
// sector's miner (DenyMiners wins over AllowMiners; an empty AllowMiners
// allows all) and has size bytes free beyond what other sectors reserved
// there; one is drawn at random among those, in proportion to Weight (0
// counts as 1). A sector that holds a reservation in one of the
// candidates keeps it, so a retried call gets the same store.
//
// When no candidate qualifies it returns nil and a reason naming each
// candidate and why it was refused. A sector that is not online is an
// error wrapping ErrSectorNotFound.
func (p *PersistStores) Reserve(ctx context.Context, sector abi.SectorID, size uint64, candidates []string) (*rpc.StoreBasicInfo, string, error) {
	p.reserveMu.Lock()
	defer p.reserveMu.Unlock()

	prev, err := p.reservations.Get(ctx, sector)
	switch {
	case err == nil:
		if slices.Contains(candidates, prev.Store) && p.byName[prev.Store] != nil {
			return p.Info(prev.Store), "", nil
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, "", err
	}
	reserved, err := p.reservations.Totals(ctx)
	if err != nil {
		return nil, "", err
	}
	if prev.Store != "" {
		// The sector's reservation elsewhere is about to be replaced.
		reserved[prev.Store] -= prev.Size
	}

	var (
		fit      []*rpc.StoreBasicInfo
		refusals []string
		seen     = map[string]bool{}
	)
	for _, name := range candidates {
		if seen[name] {
			continue
		}
		seen[name] = true
		info, why := p.check(name, sector.Miner, size, reserved[name])
		if why != "" {
			refusals = append(refusals, fmt.Sprintf("%q %s", name, why))
			continue
		}
		fit = append(fit, info)
	}
	if len(fit) == 0 {
		reason := fmt.Sprintf("no persist store can take %s for sector %s: ", formatBytes(size), proofs.SectorName(sector))
		if len(candidates) == 0 {
			reason += "the worker offered no candidate store (it has no persist store attached)"
		} else {
			reason += strings.Join(refusals, "; ")
		}
		return nil, reason, nil
	}

	chosen := p.pick(fit)
	err = p.reservations.Put(ctx, store.Reservation{Sector: sector, Store: chosen.Name, Size: size, CreatedAt: p.now()})
	if err != nil {
		return nil, "", notFound(err, sector)
	}
	log.Infow("persist store space reserved", "sector", proofs.SectorName(sector), "store", chosen.Name, "size", size)
	return p.Info(chosen.Name), "", nil
}

// check says why the store called name cannot take size bytes for miner,
// with reserved bytes already promised; empty when it can.
func (p *PersistStores) check(name string, miner abi.ActorID, size, reserved uint64) (*rpc.StoreBasicInfo, string) {
	info, ok := p.byName[name]
	if !ok {
		return nil, "is not in [[Common.PersistStores]]"
	}
	if info.ReadOnly {
		return nil, "is read-only"
	}
	if slices.Contains(p.deny[name], miner) {
		return nil, fmt.Sprintf("denies miner %d (DenyMiners)", miner)
	}
	if allow := p.allow[name]; len(allow) > 0 && !slices.Contains(allow, miner) {
		return nil, fmt.Sprintf("does not allow miner %d (AllowMiners = %v)", miner, allow)
	}
	free, err := p.space.Available(info.Path)
	if err != nil {
		return nil, fmt.Sprintf("has unknown free space: %v", err)
	}
	if free < reserved || free-reserved < size {
		return nil, fmt.Sprintf("has %s free, %s of it reserved, %s needed", formatBytes(free), formatBytes(reserved), formatBytes(size))
	}
	return info, ""
}

// pick draws one of stores with probability weight / total weight.
func (p *PersistStores) pick(stores []*rpc.StoreBasicInfo) *rpc.StoreBasicInfo {
	weight := func(s *rpc.StoreBasicInfo) uint64 { return max(1, uint64(s.Weight)) }
	var total uint64
	for _, s := range stores {
		total += weight(s)
	}
	r := p.uint64N(total)
	for _, s := range stores {
		if r < weight(s) {
			return s
		}
		r -= weight(s)
	}
	return stores[len(stores)-1]
}

// Release gives back the space reserved for a sector, reporting whether it
// held any. Finalize and Abort release it already; this is for operators
// (`util storage release-reserved`).
func (p *PersistStores) Release(ctx context.Context, sector abi.SectorID) (bool, error) {
	return p.reservations.Release(ctx, sector)
}

// formatBytes writes n in binary units, as sector sizes are written.
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
