package bench

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/proofs"
)

// WdPoStOptions says what WindowPoSt proves and where its sectors live.
type WdPoStOptions struct {
	// SectorSize is one of SectorSizes; sectors are sealed as V1_1.
	SectorSize abi.SectorSize
	// Sectors is how many sectors the one WindowPoSt proves.
	Sectors int
	// Dir holds the sectors and ManifestFile, and is kept for the next
	// run to reuse. Empty means a temporary directory, removed at the end.
	Dir string
	// Miner is the sectors' miner; zero means MinerDefault.
	Miner abi.ActorID
}

// WdPoStResult is what WindowPoSt measured.
type WdPoStResult struct {
	SectorSize     abi.SectorSize `json:"sector_size"`
	SectorSizeName string         `json:"sector_size_name"`
	// ProofType and PoStProofType are Rust names: StackedDrg8MiBV1_1 and
	// StackedDrgWindow8MiBV1_2.
	ProofType     string      `json:"proof_type"`
	PoStProofType string      `json:"post_proof_type"`
	Miner         abi.ActorID `json:"miner"`
	Dir           string      `json:"dir"`
	DirRemoved    bool        `json:"dir_removed"`

	// Sectors is how many sectors the WindowPoSt was asked to prove.
	Sectors int `json:"sectors"`
	// SectorsSealed were sealed by this run: missing from the manifest,
	// or in it with files gone (those are listed in Resealed too).
	SectorsSealed int `json:"sectors_sealed"`
	// SectorsReused were sealed by an earlier run in Dir.
	SectorsReused int                `json:"sectors_reused"`
	Resealed      []abi.SectorNumber `json:"resealed"`
	// Seal is the time this run spent sealing, all stages of all
	// SectorsSealed sectors; zero when it reused them all.
	Seal Timing `json:"seal"`

	// Prove is the one GenerateWindowPoSt call over all sectors;
	// PerSector is Prove divided by Sectors.
	Prove     Timing `json:"prove"`
	PerSector Timing `json:"per_sector"`
	// BytesRead is what the process read while proving, from
	// BytesReadSource: the rchar counter, every byte read(2) and pread(2)
	// returned, page cache or not, which is what the proof asks of the
	// storage (an NFS server or a cold disk serves all of it). It counts
	// the whole process during the call, which does nothing else then,
	// and misses what an engine reads through mmap or in another process
	// (an external processor). Null when unknown (outside Linux).
	BytesRead *int64 `json:"bytes_read"`
	// BytesReadFromStorage is the read_bytes counter: what the block
	// layer fetched for the process, near zero when the sectors are in
	// the page cache, as right after sealing them. Null when unknown.
	BytesReadFromStorage *int64 `json:"bytes_read_from_storage"`
	// BytesReadSource is "/proc/self/io" or "unknown".
	BytesReadSource string `json:"bytes_read_source"`
	// Faulty counts the sectors the engine could not prove (their files
	// missing, short or corrupt), listed in FaultySectors.
	Faulty        int                `json:"faulty"`
	FaultySectors []abi.SectorNumber `json:"faulty_sectors"`
	ProofBytes    int                `json:"proof_bytes"`

	Verify   Timing `json:"verify"`
	Verified bool   `json:"verified"`
	// Total is the whole run, sealing included.
	Total   Timing  `json:"total"`
	Machine Machine `json:"machine"`
}

// WindowPoSt proves opts.Sectors sealed sectors in one WindowPoSt with
// fixed randomness and verifies the proof. Sectors an earlier run sealed in
// opts.Dir are reused when their files are there; the missing ones are
// sealed first, and recorded in Dir's manifest one by one, so an
// interrupted run loses at most the sector it was sealing.
//
// A proof that does not verify, or faulty sectors, are a result, not an
// error; errors are failures to seal or to run the proof at all. A nil
// progress hears nothing.
func WindowPoSt(ctx context.Context, eng proofs.Engine, opts WdPoStOptions, progress Progress) (res WdPoStResult, err error) {
	if opts.Sectors < 1 {
		return res, fmt.Errorf("a window PoSt bench needs at least 1 sector, not %d", opts.Sectors)
	}
	b, err := start(opts.SectorSize, opts.Dir, opts.Miner, progress)
	if err != nil {
		return res, err
	}
	defer func() { res.DirRemoved = b.release() }()
	postType, err := proofs.WindowPoStProof(b.proofType)
	if err != nil {
		return res, err
	}
	postName, err := proofs.PoStProofName(postType)
	if err != nil {
		return res, err
	}
	res = WdPoStResult{
		SectorSize:      opts.SectorSize,
		SectorSizeName:  opts.SectorSize.ShortString(),
		ProofType:       b.proofName,
		PoStProofType:   postName,
		Miner:           b.miner,
		Dir:             b.dir,
		Sectors:         opts.Sectors,
		Resealed:        []abi.SectorNumber{},
		FaultySectors:   []abi.SectorNumber{},
		BytesReadSource: "unknown",
	}
	begin := time.Now()
	defer func() {
		res.Total = timing(time.Since(begin))
		res.Machine = thisMachine()
	}()

	m, err := loadManifest(b.dir)
	if err != nil {
		return res, err
	}
	sectors, toSeal := plan(m, b.dir, b.miner, b.proofName, opts.Sectors)
	for _, n := range toSeal {
		if slices.ContainsFunc(m.Sectors, func(s manifestSector) bool { return s.Miner == b.miner && s.Number == n }) {
			res.Resealed = append(res.Resealed, n)
		}
	}
	res.SectorsReused = len(sectors)
	if len(toSeal) > 0 {
		sealed, took, err := b.sealMissing(ctx, eng, m, toSeal)
		res.Seal = timing(took)
		res.SectorsSealed = len(sealed)
		if err != nil {
			return res, err
		}
		sectors = append(sectors, sealed...)
		slices.SortFunc(sectors, func(x, y proofs.PrivateSectorInfo) int { return cmp.Compare(x.SectorNumber, y.SectorNumber) })
	}

	rand := abi.PoStRandomness(fixedRandomness("window post"))
	b.progress.StageStarted(StageWindowPoSt, 0)
	io0, ok0 := readIOCounters()
	proveStart := time.Now()
	postProofs, faulty, err := eng.GenerateWindowPoSt(ctx, b.miner, postType, sectors, rand)
	took := time.Since(proveStart)
	io1, ok1 := readIOCounters()
	b.progress.StageFinished(StageResult{Name: StageWindowPoSt, Duration: timing(took)}, err)
	if err != nil {
		return res, fmt.Errorf("window PoSt over %d sectors: %w", len(sectors), err)
	}
	res.Prove = timing(took)
	res.PerSector = timing(took / time.Duration(len(sectors)))
	if ok0 && ok1 {
		read, fromStorage := io1.rchar-io0.rchar, io1.readBytes-io0.readBytes
		res.BytesRead, res.BytesReadFromStorage = &read, &fromStorage
		res.BytesReadSource = ioCountersSource
	}
	res.Faulty = len(faulty)
	res.FaultySectors = append(res.FaultySectors, faulty...)
	for _, p := range postProofs {
		res.ProofBytes += len(p.ProofBytes)
	}
	if len(postProofs) == 0 {
		// Every sector was faulty: there is no proof to verify.
		return res, nil
	}

	// The chain checks a proof against the sectors that were not declared
	// faulty, in order.
	var challenged []proof.SectorInfo
	for _, s := range sectors {
		if !slices.Contains(faulty, s.SectorNumber) {
			challenged = append(challenged, proof.SectorInfo{SealProof: s.SealProof, SectorNumber: s.SectorNumber, SealedCID: s.SealedCID})
		}
	}
	b.progress.StageStarted(StageVerifyWindowPoSt, 0)
	verifyStart := time.Now()
	res.Verified, err = eng.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{
		Randomness: rand, Proofs: postProofs, ChallengedSectors: challenged, Prover: b.miner,
	})
	res.Verify = timing(time.Since(verifyStart))
	b.progress.StageFinished(StageResult{Name: StageVerifyWindowPoSt, Duration: res.Verify}, err)
	if err != nil {
		return res, fmt.Errorf("verify window PoSt: %w", err)
	}
	return res, nil
}

// plan picks the lowest-numbered sectors of the manifest with the miner and
// proof type asked for, up to want: those whose files are there are reused,
// the others sealed again under their numbers, and new numbers make up the
// rest.
func plan(m *manifest, dir string, miner abi.ActorID, proofType string, want int) (reuse []proofs.PrivateSectorInfo, seal []abi.SectorNumber) {
	for _, s := range m.Sectors {
		if len(reuse)+len(seal) == want {
			break
		}
		if s.Miner != miner || s.ProofType != proofType {
			continue
		}
		info, err := s.private(dir)
		if err != nil {
			log.Warnw("bench sector cannot be reused, sealing it again", "sector", s.Number, "error", err)
			seal = append(seal, s.Number)
			continue
		}
		reuse = append(reuse, info)
	}
	for n := m.nextNumber(miner); len(reuse)+len(seal) < want; n++ {
		seal = append(seal, n)
	}
	return reuse, seal
}

// sealMissing seals the given sectors one after the other as one stage
// whose steps are their sealing stages, recording each in the manifest as
// soon as it is finalized.
func (b benchRun) sealMissing(ctx context.Context, eng proofs.Engine, m *manifest, numbers []abi.SectorNumber) (
	sealed []proofs.PrivateSectorInfo, took time.Duration, err error) {
	b.progress.StageStarted(StageSealSectors, len(numbers)*len(sealStages))
	begin := time.Now()
	var written int64
	defer func() {
		took = time.Since(begin)
		b.progress.StageFinished(StageResult{Name: StageSealSectors, Duration: timing(took), BytesWritten: written}, err)
	}()
	hooks := stageHooks{
		started: func(string) {},
		finished: func(r StageResult, err error) {
			if err == nil {
				written += r.BytesWritten
				b.progress.StepDone()
			}
		},
	}
	for _, n := range numbers {
		s, err := sealSector(ctx, eng, b.dir, b.proofType, abi.SectorID{Miner: b.miner, Number: n}, hooks)
		if err != nil {
			return sealed, took, err
		}
		if !s.verified {
			return sealed, took, fmt.Errorf("sector %d: its PoRep proof does not verify; the engine sealed it wrong, a window PoSt of it would prove nothing", n)
		}
		rec, err := recordOf(b.dir, s)
		if err != nil {
			return sealed, took, err
		}
		m.put(rec)
		if err := m.save(b.dir); err != nil {
			return sealed, took, fmt.Errorf("record sector %d in %s: %w", n, ManifestFile, err)
		}
		info, err := rec.private(b.dir)
		if err != nil {
			return sealed, took, fmt.Errorf("sector %d was just sealed but cannot be proven: %w", n, err)
		}
		sealed = append(sealed, info)
	}
	return sealed, took, nil
}
