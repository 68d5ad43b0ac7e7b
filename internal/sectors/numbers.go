package sectors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// MinerInfoSource tells which seal proof a miner's new sectors use (from
// its sector size on chain and its sealing policy).
type MinerInfoSource interface {
	SealProof(ctx context.Context, actor abi.ActorID) (abi.RegisteredSealProof, error)
}

// ChainSectors tells whether a sector number is already allocated on chain
// for a miner: a number used before this manager existed (by lotus-miner,
// or an earlier database) must never be handed out again.
type ChainSectors interface {
	SectorAllocated(ctx context.Context, actor abi.ActorID, num abi.SectorNumber) (bool, error)
}

// AllocatorOptions are the injected parts of an Allocator; the zero value
// means the real ones.
type AllocatorOptions struct {
	// IntN returns a random int in [0, n); nil means math/rand/v2.IntN.
	// It must be safe for concurrent use.
	IntN func(n int) int
	// Now stamps the sectors created; nil means time.Now.
	Now func() time.Time
}

// Allocator hands out sector numbers (Venus.AllocateSector). A number is
// above the miner's [[Miners]] Sector.InitNumber and MinNumber and above
// every number it handed out before, at most Sector.MaxNumber when set,
// and not allocated on chain. It is safe for concurrent use, also by
// several managers sharing one database: numbers are taken by
// compare-and-set in the store (store.SectorNumbers.Advance), which also
// creates the sector's online state in the same transaction.
type Allocator struct {
	numbers *store.SectorNumbers
	sectors *store.Sectors
	info    MinerInfoSource
	chain   ChainSectors
	intN    func(n int) int
	now     func() time.Time

	// nextMu makes this process's allocations one at a time. The store's
	// compare-and-set alone is enough to be correct, but concurrent
	// callers would all race for every number, and all but one read,
	// ask the chain and write again: n callers cost n² transactions.
	nextMu sync.Mutex
}

// NewAllocator returns an allocator over db.
func NewAllocator(db *store.DB, info MinerInfoSource, chain ChainSectors, opts AllocatorOptions) *Allocator {
	a := &Allocator{
		numbers: db.SectorNumbers(), sectors: db.Sectors(),
		info: info, chain: chain,
		intN: opts.IntN, now: opts.Now,
	}
	if a.intN == nil {
		a.intN = rand.IntN
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// Allocate picks a miner at random among miners (the [[Miners]] of the
// config, passed on each call so a reload applies) that are enabled
// (Sector.Enabled) and match spec (AllowedMiners, and
// AllowedProofTypes against the miner's seal proof; empty lists allow
// all), allocates its next sector number and creates the sector's online
// state. When no sector can be allocated it returns nil and a reason that
// names each miner considered and why it gave nothing (the worker then
// idles and asks again later); an error means a miner could not be
// checked, and is returned only when no other miner gave a sector.
func (a *Allocator) Allocate(ctx context.Context, spec rpc.AllocateSectorSpec, miners []config.Miner) (*rpc.AllocatedSector, string, error) {
	var candidates []config.Miner
	for _, m := range miners {
		if m.Actor == 0 || !m.Sector.Enabled {
			continue
		}
		if len(spec.AllowedMiners) > 0 && !slices.Contains(spec.AllowedMiners, abi.ActorID(m.Actor)) {
			continue
		}
		candidates = append(candidates, m)
	}
	if len(candidates) == 0 {
		if len(spec.AllowedMiners) == 0 {
			return nil, "no miner is enabled for sealing ([[Miners]] Sector.Enabled)", nil
		}
		return nil, fmt.Sprintf("no enabled miner matches the worker's allowed miners %v", spec.AllowedMiners), nil
	}
	for i := len(candidates) - 1; i > 0; i-- {
		j := a.intN(i + 1)
		candidates[i], candidates[j] = candidates[j], candidates[i]
	}

	var (
		reasons []string
		errs    []error
	)
	for _, m := range candidates {
		actor := abi.ActorID(m.Actor)
		proof, err := a.info.SealProof(ctx, actor)
		if err != nil {
			errs = append(errs, fmt.Errorf("miner %d: seal proof: %w", actor, err))
			continue
		}
		if len(spec.AllowedProofTypes) > 0 && !slices.Contains(spec.AllowedProofTypes, proof) {
			reasons = append(reasons, fmt.Sprintf("miner %d seals with proof type %d, not one of the worker's %v",
				actor, proof, spec.AllowedProofTypes))
			continue
		}
		number, why, err := a.next(ctx, m, proof)
		if err != nil {
			errs = append(errs, fmt.Errorf("miner %d: %w", actor, err))
			continue
		}
		if why != "" {
			reasons = append(reasons, why)
			continue
		}
		sector := &rpc.AllocatedSector{ID: abi.SectorID{Miner: actor, Number: number}, ProofType: proof}
		if m.Sector.Verbose {
			log.Infow("sector allocated", "miner", actor, "number", number, "proof", proof)
		}
		return sector, "", nil
	}
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("allocate sector: %w", errors.Join(errs...))
	}
	return nil, strings.Join(reasons, "; "), nil
}

// next takes the next free number of miner m and creates its state. A
// non-empty reason says why there is none.
func (a *Allocator) next(ctx context.Context, m config.Miner, proof abi.RegisteredSealProof) (abi.SectorNumber, string, error) {
	a.nextMu.Lock()
	defer a.nextMu.Unlock()
	actor := abi.ActorID(m.Actor)
	floor := abi.SectorNumber(max(m.Sector.InitNumber, m.Sector.MinNumber))
	ceiling := abi.SectorNumber(abi.MaxSectorNumber)
	if m.Sector.MaxNumber != 0 {
		ceiling = min(ceiling, abi.SectorNumber(m.Sector.MaxNumber))
	}
	exhausted := func(last abi.SectorNumber) string {
		reason := fmt.Sprintf("miner %d has no sector number left: the last one allocated is %d, the bound is %d "+
			"([[Miners]] Sector.MaxNumber = %d, InitNumber = %d, MinNumber = %d); raise MaxNumber to seal more",
			actor, last, ceiling, m.Sector.MaxNumber, m.Sector.InitNumber, m.Sector.MinNumber)
		log.Warnw("sector numbers exhausted", "miner", actor, "last", last, "max", ceiling)
		return reason
	}
	for {
		last, err := a.numbers.Last(ctx, actor)
		if err != nil {
			return 0, "", err
		}
		start := max(floor, last)
		if start >= ceiling {
			return 0, exhausted(max(last, floor)), nil
		}
		number := start + 1
		skipped := 0
		for {
			taken, err := a.taken(ctx, abi.SectorID{Miner: actor, Number: number})
			if err != nil {
				return 0, "", err
			}
			if !taken {
				break
			}
			skipped++
			if number == ceiling {
				return 0, exhausted(number), nil
			}
			number++
		}
		if skipped > 0 {
			// A long run of these means the counter starts below the
			// numbers already used: an operator should raise the floor.
			log.Warnw("skipped sector numbers already in use", "miner", actor, "from", start+1, "count", skipped,
				"hint", "set [[Miners]] Sector.MinNumber to the highest number used on chain")
		}
		now := a.now()
		won, err := a.numbers.Advance(ctx, actor, last, number, store.Sector{
			ID:        abi.SectorID{Miner: actor, Number: number},
			ProofType: proof,
			State:     store.SectorOnline,
			CreatedAt: now,
			UpdatedAt: now,
		})
		if err != nil {
			return 0, "", err
		}
		if won {
			return number, "", nil
		}
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
	}
}

// taken tells whether a number is used already: allocated on chain, or
// with a state here that the counter does not know of (created by
// States.Create, for instance).
func (a *Allocator) taken(ctx context.Context, id abi.SectorID) (bool, error) {
	onChain, err := a.chain.SectorAllocated(ctx, id.Miner, id.Number)
	if err != nil {
		return false, fmt.Errorf("check sector %d on chain: %w", id.Number, err)
	}
	if onChain {
		return true, nil
	}
	_, err = a.sectors.Get(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}
