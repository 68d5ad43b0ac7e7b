package devnettest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/proofs"
)

// sectorLifetime is how long after its pre-commit a sealed sector
// expires: well inside the actor's bounds (MinSectorExpiration after the
// latest activation, MaxSectorExpirationExtension from now).
const sectorLifetime = 540 * builtin.EpochsInDay

// maxBatch is the most sectors one pre-commit or prove-commit message
// carries, as internal/commit sends them.
const maxBatch = miner.PreCommitSectorBatchMaxSize

// maxParamsBytes bounds the params of one message: the CBOR byte-string
// limit (2MiB) that a message's params must stay under, with room to
// spare.
const maxParamsBytes = 1 << 20

// SealedSector is a sector sealed into a persist-store layout and active
// on chain.
type SealedSector struct {
	Number    abi.SectorNumber
	SealProof abi.RegisteredSealProof
	SealedCID cid.Cid
	// SealedPath is the replica, root/sealed/s-t0<miner>-<number>; CacheDir
	// the finalized cache, root/cache/s-t0<miner>-<number>, holding what a
	// PoSt reads (p_aux, t_aux, tree-r-last).
	SealedPath, CacheDir string
}

// Private is what proving the sector needs.
func (s SealedSector) Private() proofs.PrivateSectorInfo {
	return proofs.PrivateSectorInfo{
		SectorNumber: s.Number, SealProof: s.SealProof, SealedCID: s.SealedCID,
		CacheDir: s.CacheDir, SealedPath: s.SealedPath,
	}
}

// sealing is a sector on its way through SealSectors.
type sealing struct {
	SealedSector
	unsealedCID cid.Cid
	pc1         proofs.PC1Out
	porep       []byte
}

// SealSectors seals count new CC sectors of d.Miner into root
// (root/sealed/..., root/cache/...), numbered on from those this Chain
// sealed before (the first is 1), and brings them on chain as a manager
// does: PC1 and PC2 with the chain's ticket at the head, pre-commits in
// batch messages, the interactive seed once the challenge delay is mined,
// C1 and C2, finalization, and prove-commits that activate every sector
// into some deadline and partition. Proofs run on up to GOMAXPROCS
// goroutines. It fails the test on any error.
func (d *Chain) SealSectors(root string, count int) []SealedSector {
	d.t.Helper()
	if count < 0 {
		d.t.Fatalf("SealSectors: count %d is negative", count)
	}
	if count == 0 {
		return nil
	}
	ctx := context.Background()
	sectors := make([]*sealing, count)
	for i := range sectors {
		id := abi.SectorID{Miner: d.Actor, Number: d.nextSector + abi.SectorNumber(i)}
		sectors[i] = &sealing{SealedSector: SealedSector{
			Number: id.Number, SealProof: d.SealProof,
			SealedPath: proofs.SealedPath(root, id), CacheDir: proofs.CacheDirPath(root, id),
		}}
	}
	d.nextSector += abi.SectorNumber(count)
	for _, dir := range []string{proofs.SealedDirName, proofs.CacheDirName} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			d.t.Fatal(err)
		}
	}
	engine, workers := d.sealEngine(count)
	entropy := devnet.AddressEntropy(d.Miner)

	ticketEpoch := d.Chain.Head().Height
	ticket, err := d.Node.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, ticketEpoch, entropy, chain.EmptyTSK)
	if err != nil {
		d.t.Fatalf("SealSectors: ticket at %d: %v", ticketEpoch, err)
	}
	staged := d.stageCC()
	d.each(sectors, workers, func(s *sealing) error {
		var err error
		if s.pc1, err = engine.SealPreCommitPhase1(ctx, s.SealProof, s.CacheDir, staged, s.SealedPath, s.Number, d.Actor, abi.SealRandomness(ticket), nil); err != nil {
			return fmt.Errorf("PC1: %w", err)
		}
		if s.SealedCID, s.unsealedCID, err = engine.SealPreCommitPhase2(ctx, s.pc1, s.CacheDir, s.SealedPath); err != nil {
			return fmt.Errorf("PC2: %w", err)
		}
		return nil
	})
	if err := os.Remove(staged); err != nil {
		d.t.Fatal(err)
	}

	expiration := ticketEpoch + sectorLifetime
	preCommitEpoch := d.send(ctx, builtin.MethodsMiner.PreCommitSectorBatch2, "PreCommitSectorBatch2", sectors, func(batch []*sealing) cbg.CBORMarshaler {
		p := &miner.PreCommitSectorBatchParams2{}
		for _, s := range batch {
			p.Sectors = append(p.Sectors, miner.SectorPreCommitInfo{
				SealProof: s.SealProof, SectorNumber: s.Number, SealedCID: s.SealedCID,
				SealRandEpoch: ticketEpoch, Expiration: expiration, UnsealedCid: &s.unsealedCID,
			})
		}
		return p
	})

	params, err := d.Node.StateGetNetworkParams(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	seedEpoch := preCommitEpoch + params.PreCommitChallengeDelay
	d.AdvanceTo(seedEpoch)
	seed, err := d.Node.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_InteractiveSealChallengeSeed, seedEpoch, entropy, chain.EmptyTSK)
	if err != nil {
		d.t.Fatalf("SealSectors: interactive seed at %d: %v", seedEpoch, err)
	}
	d.each(sectors, workers, func(s *sealing) error {
		c1, err := engine.SealCommitPhase1(ctx, s.SealProof, s.SealedCID, s.unsealedCID, s.CacheDir, s.SealedPath, s.Number, d.Actor,
			abi.SealRandomness(ticket), abi.InteractiveSealRandomness(seed), nil)
		if err != nil {
			return fmt.Errorf("C1: %w", err)
		}
		if s.porep, err = engine.SealCommitPhase2(ctx, c1, s.Number, d.Actor); err != nil {
			return fmt.Errorf("C2: %w", err)
		}
		if err := engine.FinalizeSector(ctx, s.SealProof, s.CacheDir); err != nil {
			return fmt.Errorf("finalize: %w", err)
		}
		return nil
	})

	d.send(ctx, builtin.MethodsMiner.ProveCommitSectors3, "ProveCommitSectors3", sectors, func(batch []*sealing) cbg.CBORMarshaler {
		p := &miner.ProveCommitSectors3Params{RequireActivationSuccess: true}
		for _, s := range batch {
			p.SectorActivations = append(p.SectorActivations, miner.SectorActivationManifest{SectorNumber: s.Number})
			p.SectorProofs = append(p.SectorProofs, s.porep)
		}
		return p
	})

	out := make([]SealedSector, count)
	nums := make([]uint64, count)
	for i, s := range sectors {
		out[i], nums[i] = s.SealedSector, uint64(s.Number)
	}
	filter := bitfield.NewFromSet(nums)
	active, err := d.Node.StateMinerSectors(ctx, d.Miner, &filter, chain.EmptyTSK)
	if err != nil {
		d.t.Fatal(err)
	}
	if len(active) != count {
		d.t.Fatalf("SealSectors: %d of sectors %d..%d active on chain after their prove-commits, want all %d",
			len(active), nums[0], nums[count-1], count)
	}
	return out
}

// sealEngine is d.Engine for workers sealing at once: unless set, the
// goroutines hashing one sector's tree rows share GOMAXPROCS with the
// other workers rather than each taking all of it.
func (d *Chain) sealEngine(count int) (*proofs.DevEngine, int) {
	procs := runtime.GOMAXPROCS(0)
	workers := min(count, procs)
	e := *d.Engine
	if e.HashThreads == 0 {
		e.HashThreads = max(1, procs/workers)
	}
	return &e, workers
}

// stageCC writes the staged data of a CC sector, all zeros, which every
// sector of one SealSectors call reads.
func (d *Chain) stageCC() string {
	d.t.Helper()
	size, err := d.SealProof.SectorSize()
	if err != nil {
		d.t.Fatal(err)
	}
	staged := filepath.Join(d.t.TempDir(), "unsealed")
	if err := os.WriteFile(staged, make([]byte, size), 0o644); err != nil {
		d.t.Fatal(err)
	}
	return staged
}

// each runs step on every sector, on at most workers goroutines, and fails
// the test with the errors of the sectors that failed.
func (d *Chain) each(sectors []*sealing, workers int, step func(s *sealing) error) {
	d.t.Helper()
	errs := make([]error, len(sectors))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := step(sectors[i]); err != nil {
					errs[i] = fmt.Errorf("sector %d: %w", sectors[i].Number, err)
				}
			}
		})
	}
	for i := range sectors {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			d.t.Fatalf("SealSectors: %v", err)
		}
	}
}

// send pushes one message to d.Miner from the wallet per batch of at most
// maxBatch sectors, with the params params builds, mines the epoch that
// executes them and returns it; any message that did not succeed fails the
// test.
func (d *Chain) send(ctx context.Context, method abi.MethodNum, what string, sectors []*sealing, params func([]*sealing) cbg.CBORMarshaler) abi.ChainEpoch {
	d.t.Helper()
	var msgs []cid.Cid
	for batch := range slices.Chunk(sectors, maxBatch) {
		var buf bytes.Buffer
		if err := params(batch).MarshalCBOR(&buf); err != nil {
			d.t.Fatalf("SealSectors: encode %s: %v", what, err)
		}
		if buf.Len() > maxParamsBytes && len(batch) > 1 {
			// devproof's PoRep proofs are large: halve the batch until
			// its params fit in a message.
			half := len(batch) / 2
			d.send(ctx, method, what, batch[:half], params)
			d.send(ctx, method, what, batch[half:], params)
			continue
		}
		sm, err := d.Node.MpoolPushMessage(ctx, &chain.Message{
			To: d.Miner, From: d.Wallet, Value: big.Zero(), Method: method, Params: buf.Bytes(),
		}, nil)
		if err != nil {
			d.t.Fatalf("SealSectors: push %s of sectors %d..%d: %v", what, batch[0].Number, batch[len(batch)-1].Number, err)
		}
		id, err := sm.Cid()
		if err != nil {
			d.t.Fatal(err)
		}
		msgs = append(msgs, id)
	}
	d.Advance(1)
	head := d.Chain.Head().Height
	for _, id := range msgs {
		l, ok := d.Chain.Lookup(id)
		switch {
		case !ok:
			d.t.Fatalf("SealSectors: %s message %s not executed at %d", what, id, head)
		case l.Receipt.ExitCode != 0:
			d.t.Fatalf("SealSectors: %s message %s failed at %d: exit code %d (%s)", what, id, l.Height, l.Receipt.ExitCode, l.Error)
		}
	}
	return head
}
