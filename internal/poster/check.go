package poster

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/sectors"
)

// Locator says where a sector's files are: the sector indexer.
type Locator interface {
	Paths(ctx context.Context, kind sectors.IndexKind, id abi.SectorID) (sectors.SectorPaths, error)
}

// CheckOptions bound one round of sector checks ([Common.Proving] and
// [Miners.PoSt] StrictCheck).
type CheckOptions struct {
	// Strict adds one vanilla proof of each sector, read from its files
	// and verified, to the size checks.
	Strict bool
	// Limit is the most checks run at once; 0 means no limit.
	Limit int
	// SingleTimeout is the longest one sector's check may take; 0 means none.
	SingleTimeout time.Duration
	// PartitionTimeout is the longest the whole round may take; 0 means none.
	PartitionTimeout time.Duration
	// Randomness seeds the strict check's challenges; nil draws a random one.
	Randomness abi.PoStRandomness
}

// CheckResult is the outcome of a round of checks.
type CheckResult struct {
	// Good are the sectors that passed, in the order they were given,
	// with where their files are.
	Good []proofs.PrivateSectorInfo
	// Bad are the others, each with the reason.
	Bad map[abi.SectorNumber]string
}

// Checker checks that sectors can be proven: that their files are where
// the index says, readable and of the right size, and in strict mode that
// a vanilla proof made from them verifies. Every sector is checked in its
// own goroutine and waited for at most SingleTimeout, so a file whose read
// blocks (a hung NFS mount) costs that sector only; such a goroutine is
// abandoned until the read returns.
type Checker struct {
	Locator Locator
	Engine  proofs.Engine
}

// NewChecker returns the checker of sectors located by locator.
func NewChecker(locator Locator, engine proofs.Engine) *Checker {
	return &Checker{Locator: locator, Engine: engine}
}

// Check checks sectors of miner for a proof of type postProof.
func (c *Checker) Check(ctx context.Context, miner abi.ActorID, postProof abi.RegisteredPoStProof, infos []*chain.SectorOnChainInfo, opts CheckOptions) CheckResult {
	if opts.Strict && len(opts.Randomness) == 0 {
		r := make([]byte, abi.RandomnessLength)
		_, _ = rand.Read(r)
		opts.Randomness = r
	}
	if opts.PartitionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.PartitionTimeout)
		defer cancel()
	}
	limit := opts.Limit
	if limit <= 0 || limit > len(infos) {
		limit = max(len(infos), 1)
	}
	slots := make(chan struct{}, limit)
	privs := make([]proofs.PrivateSectorInfo, len(infos))
	reasons := make([]string, len(infos))
	var wg sync.WaitGroup
	for i, info := range infos {
		wg.Go(func() {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				reasons[i] = notChecked(ctx, opts)
				return
			}
			defer func() { <-slots }()
			privs[i], reasons[i] = c.checkWithTimeout(ctx, miner, postProof, info, opts)
		})
	}
	wg.Wait()
	res := CheckResult{Bad: map[abi.SectorNumber]string{}}
	for i, info := range infos {
		if reasons[i] != "" {
			res.Bad[info.SectorNumber] = reasons[i]
			continue
		}
		res.Good = append(res.Good, privs[i])
	}
	return res
}

func notChecked(ctx context.Context, opts CheckOptions) string {
	if ctx.Err() == context.DeadlineExceeded && opts.PartitionTimeout > 0 {
		return fmt.Sprintf("not checked within the partition check timeout (%s)", opts.PartitionTimeout)
	}
	return fmt.Sprintf("not checked: %v", ctx.Err())
}

// checkWithTimeout runs one sector's check in a goroutine of its own and
// waits for it at most SingleTimeout.
func (c *Checker) checkWithTimeout(ctx context.Context, miner abi.ActorID, postProof abi.RegisteredPoStProof, info *chain.SectorOnChainInfo, opts CheckOptions) (proofs.PrivateSectorInfo, string) {
	type outcome struct {
		priv   proofs.PrivateSectorInfo
		reason string
	}
	done := make(chan outcome, 1)
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if opts.SingleTimeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, opts.SingleTimeout)
	}
	defer cancel()
	go func() {
		priv, reason := c.checkSector(sctx, miner, postProof, info, opts)
		done <- outcome{priv, reason}
	}()
	select {
	case o := <-done:
		return o.priv, o.reason
	case <-sctx.Done():
		if ctx.Err() != nil {
			return proofs.PrivateSectorInfo{}, notChecked(ctx, opts)
		}
		return proofs.PrivateSectorInfo{}, fmt.Sprintf("check timed out after %s (hung storage?)", opts.SingleTimeout)
	}
}

// checkSector is the check itself; it returns the sector's files, or why
// it cannot be proven.
func (c *Checker) checkSector(ctx context.Context, miner abi.ActorID, postProof abi.RegisteredPoStProof, info *chain.SectorOnChainInfo, opts CheckOptions) (proofs.PrivateSectorInfo, string) {
	id := abi.SectorID{Miner: miner, Number: info.SectorNumber}
	kind := sectors.IndexNormal
	if info.SectorKeyCID != nil {
		kind = sectors.IndexUpgrade
	}
	paths, err := c.Locator.Paths(ctx, kind, id)
	if err != nil {
		return proofs.PrivateSectorInfo{}, fmt.Sprintf("locate files: %v", err)
	}
	size, err := proofs.SealProofSectorSize(info.SealProof)
	if err != nil {
		return proofs.PrivateSectorInfo{}, err.Error()
	}
	if reason := checkSealedFile(paths.SealedFile, int64(size)); reason != "" {
		return proofs.PrivateSectorInfo{}, reason
	}
	if kind == sectors.IndexNormal {
		files, err := proofs.CacheFilesFor(info.SealProof)
		if err != nil {
			return proofs.PrivateSectorInfo{}, err.Error()
		}
		for _, name := range files.Persisted() {
			p := filepath.Join(paths.CacheDir, name)
			fi, err := os.Stat(p)
			switch {
			case err != nil:
				return proofs.PrivateSectorInfo{}, fmt.Sprintf("cache file: %v", err)
			case !fi.Mode().IsRegular():
				return proofs.PrivateSectorInfo{}, fmt.Sprintf("cache file %s is not a regular file", p)
			case fi.Size() == 0:
				return proofs.PrivateSectorInfo{}, fmt.Sprintf("cache file %s is empty", p)
			}
		}
	} else if fi, err := os.Stat(paths.CacheDir); err != nil || !fi.IsDir() {
		return proofs.PrivateSectorInfo{}, fmt.Sprintf("cache dir %s is missing", paths.CacheDir)
	}
	priv := proofs.PrivateSectorInfo{
		SectorNumber: info.SectorNumber,
		SealProof:    info.SealProof,
		SealedCID:    info.SealedCID,
		CacheDir:     paths.CacheDir,
		SealedPath:   paths.SealedFile,
	}
	if opts.Strict {
		vanilla, err := c.Engine.GenerateSingleVanillaProof(ctx, miner, postProof, priv, opts.Randomness)
		if err != nil {
			return proofs.PrivateSectorInfo{}, fmt.Sprintf("vanilla proof: %v", err)
		}
		pub := proof.SectorInfo{SealProof: info.SealProof, SectorNumber: info.SectorNumber, SealedCID: info.SealedCID}
		ok, err := c.Engine.VerifySingleVanillaProof(miner, postProof, pub, opts.Randomness, vanilla)
		if err != nil || !ok {
			return proofs.PrivateSectorInfo{}, fmt.Sprintf("vanilla proof does not verify (err: %v)", err)
		}
	}
	return priv, ""
}

// checkSealedFile opens the replica and reads its last byte: a stat alone
// can succeed from an attribute cache while reads hang, and a file that
// cannot be opened cannot be proven.
func checkSealedFile(path string, size int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("sealed file: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return fmt.Sprintf("sealed file: %v", err)
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("sealed file %s is not a regular file", path)
	case fi.Size() != size:
		return fmt.Sprintf("sealed file %s is %d bytes, want %d", path, fi.Size(), size)
	}
	if _, err := f.ReadAt(make([]byte, 1), size-1); err != nil {
		return fmt.Sprintf("read sealed file %s: %v", path, err)
	}
	return ""
}
