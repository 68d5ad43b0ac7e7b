package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/proofs"
)

// MinerDefault is the miner a bench seals for when its options leave the
// miner zero: t01000, the first miner of a devnet.
const MinerDefault abi.ActorID = 1000

// Stage names, as StageResult.Name and Progress give them.
const (
	// StageStaging writes the sector's data, all zeros (a CC sector), to
	// the staged file PC1 reads.
	StageStaging    = "staging"
	StagePC1        = "pc1"
	StagePC2        = "pc2"
	StageC1         = "c1"
	StageC2         = "c2"
	StageVerifySeal = "verify_seal"
	// StageFinalize drops what only sealing needed: the engine's
	// temporary cache files and the staged data (a CC sector has nothing
	// to unseal).
	StageFinalize = "finalize"

	// StageSealSectors seals the sectors a WindowPoSt bench lacks; its
	// steps are their sealing stages.
	StageSealSectors      = "seal_sectors"
	StageWindowPoSt       = "window_post"
	StageVerifyWindowPoSt = "verify_window_post"
)

// sealStages are the stages of sealing one sector, in order.
var sealStages = []string{StageStaging, StagePC1, StagePC2, StageC1, StageC2, StageVerifySeal, StageFinalize}

// SealOptions says what Seal seals and where.
type SealOptions struct {
	// SectorSize is one of SectorSizes; the sector is sealed as V1_1.
	SectorSize abi.SectorSize
	// Dir holds the sector's files (unsealed/, sealed/ and cache/ under
	// it) and is kept, with the finalized sector in it. Empty means a
	// temporary directory, removed at the end.
	Dir string
	// Miner is the sector's miner; zero means MinerDefault.
	Miner abi.ActorID
	// Sector is the sector number. Files an earlier run left for this
	// sector in Dir are removed before sealing.
	Sector abi.SectorNumber
}

// SealResult is what Seal measured.
type SealResult struct {
	SectorSize abi.SectorSize `json:"sector_size"`
	// SectorSizeName is SectorSize as people write it: "8MiB".
	SectorSizeName string `json:"sector_size_name"`
	// ProofType is the seal proof type's Rust name: StackedDrg8MiBV1_1.
	ProofType string           `json:"proof_type"`
	Miner     abi.ActorID      `json:"miner"`
	Sector    abi.SectorNumber `json:"sector"`
	Dir       string           `json:"dir"`
	// DirRemoved is true when Dir was a temporary directory and is gone.
	DirRemoved bool `json:"dir_removed"`
	// Stages are the stages in the order they ran: the StageStaging to
	// StageFinalize constants.
	Stages []StageResult `json:"stages"`
	// BytesWritten is the sum of the stages' BytesWritten.
	BytesWritten int64 `json:"bytes_written"`
	// PeakBytes is the most data the sector's files held at once, at the
	// end of a stage: the disk a sealing slot needs.
	PeakBytes int64 `json:"peak_bytes"`
	// FinalizedBytes is the data of the finalized sector: what a persist
	// store keeps for it.
	FinalizedBytes int64  `json:"finalized_bytes"`
	CommD          string `json:"comm_d"`
	CommR          string `json:"comm_r"`
	// ProofBytes is the size of the PoRep proof C2 made.
	ProofBytes int    `json:"proof_bytes"`
	Verified   bool   `json:"verified"`
	Total      Timing `json:"total"`
	// Machine is the machine the figures were taken on.
	Machine Machine `json:"machine"`
}

// Seal seals one CC sector, timing every stage and counting the bytes each
// writes, verifies its PoRep proof and finalizes it. A proof that does not
// verify is a result (Verified false), not an error; errors are the
// stages' failures. A nil progress hears nothing.
func Seal(ctx context.Context, eng proofs.Engine, opts SealOptions, progress Progress) (res SealResult, err error) {
	b, err := start(opts.SectorSize, opts.Dir, opts.Miner, progress)
	if err != nil {
		return res, err
	}
	defer func() { res.DirRemoved = b.release() }()

	res = SealResult{
		SectorSize:     opts.SectorSize,
		SectorSizeName: opts.SectorSize.ShortString(),
		ProofType:      b.proofName,
		Miner:          b.miner,
		Sector:         opts.Sector,
		Dir:            b.dir,
	}
	hooks := stageHooks{
		started:  func(stage string) { b.progress.StageStarted(stage, 0) },
		finished: b.progress.StageFinished,
	}
	begin := time.Now()
	s, err := sealSector(ctx, eng, b.dir, b.proofType, abi.SectorID{Miner: b.miner, Number: opts.Sector}, hooks)
	res.Total = timing(time.Since(begin))
	res.Stages = s.stages
	for _, st := range s.stages {
		res.BytesWritten += st.BytesWritten
	}
	res.Machine = thisMachine()
	if err != nil {
		return res, err
	}
	res.PeakBytes = s.peakBytes
	res.FinalizedBytes = s.finalizedBytes
	res.CommD = s.unsealedCID.String()
	res.CommR = s.sealedCID.String()
	res.ProofBytes = len(s.proof)
	res.Verified = s.verified
	return res, nil
}

// sealedSector is one sector sealSector sealed and what it measured.
type sealedSector struct {
	id                     abi.SectorID
	proofType              abi.RegisteredSealProof
	sealedCID, unsealedCID cid.Cid
	proof                  []byte
	verified               bool
	stages                 []StageResult
	peakBytes              int64
	finalizedBytes         int64
}

// stageHooks tell sealSector's caller when each stage starts and ends.
type stageHooks struct {
	started  func(stage string)
	finished func(r StageResult, err error)
}

// sealSector runs sealStages on one CC sector under dir.
func sealSector(ctx context.Context, eng proofs.Engine, dir string, proofType abi.RegisteredSealProof, id abi.SectorID,
	hooks stageHooks) (sealedSector, error) {
	s := sealedSector{id: id, proofType: proofType}
	size, err := proofs.SealProofSectorSize(proofType)
	if err != nil {
		return s, err
	}
	p := pathsOf(dir, id)
	if err := p.prepare(); err != nil {
		return s, fmt.Errorf("sector %d: clear its files in %s: %w", id.Number, dir, err)
	}
	ticket, seed := fixedRandomness("ticket"), fixedRandomness("seed")
	var (
		pc1 proofs.PC1Out
		c1  proofs.C1Out
	)
	run := map[string]func() error{
		StageStaging: func() error { return writeZeros(ctx, p.staged, int64(size)) },
		StagePC1: func() (err error) {
			pc1, err = eng.SealPreCommitPhase1(ctx, proofType, p.cache, p.staged, p.sealed, id.Number, id.Miner, ticket, nil)
			return err
		},
		StagePC2: func() (err error) {
			s.sealedCID, s.unsealedCID, err = eng.SealPreCommitPhase2(ctx, pc1, p.cache, p.sealed)
			return err
		},
		StageC1: func() (err error) {
			c1, err = eng.SealCommitPhase1(ctx, proofType, s.sealedCID, s.unsealedCID, p.cache, p.sealed, id.Number, id.Miner, ticket, seed, nil)
			return err
		},
		StageC2: func() (err error) {
			s.proof, err = eng.SealCommitPhase2(ctx, c1, id.Number, id.Miner)
			return err
		},
		StageVerifySeal: func() (err error) {
			s.verified, err = eng.VerifySeal(proof.SealVerifyInfo{
				SealProof: proofType, SectorID: id,
				Randomness: ticket, InteractiveRandomness: seed, Proof: s.proof,
				SealedCID: s.sealedCID, UnsealedCID: s.unsealedCID,
			})
			return err
		},
		StageFinalize: func() error {
			if err := eng.FinalizeSector(ctx, proofType, p.cache); err != nil {
				return err
			}
			return os.Remove(p.staged)
		},
	}
	for _, stage := range sealStages {
		hooks.started(stage)
		r, files, err := measureStage(p, stage, run[stage])
		hooks.finished(r, err)
		if err != nil {
			return s, fmt.Errorf("sector %d: %s: %w", id.Number, stage, err)
		}
		s.stages = append(s.stages, r)
		s.peakBytes = max(s.peakBytes, files.total())
		s.finalizedBytes = files.total()
	}
	return s, nil
}

// measureStage times fn and diffs the sector's files around it; the file
// listings are outside the timed part. files is the listing after fn.
func measureStage(p sectorPaths, stage string, fn func() error) (r StageResult, files fileSizes, err error) {
	r.Name = stage
	before, err := p.snapshot()
	if err != nil {
		return r, nil, err
	}
	start := time.Now()
	err = fn()
	r.Duration = timing(time.Since(start))
	if err != nil {
		return r, nil, err
	}
	if files, err = p.snapshot(); err != nil {
		return r, nil, err
	}
	r.BytesWritten, r.BytesRemoved = diff(before, files)
	return r, files, nil
}

// writeZeros writes size zero bytes to path: real writes rather than a
// sparse file, so staging costs what staging real data would and PC1 reads
// data from the disk rather than holes.
func writeZeros(ctx context.Context, path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, min(size, 1<<20))
	for left := size; left > 0; left -= int64(len(buf)) {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// fixedRandomness is 32 bytes derived from a label, with the top two bits
// cleared so it is a valid field element, as filecoin-ffi wants its
// randomness. Fixed values make every run seal the same sectors and prove
// the same challenges, so runs compare.
func fixedRandomness(label string) []byte {
	h := sha256.Sum256([]byte("damocles bench " + label))
	h[31] &= 0x3f
	return h[:]
}

// benchRun is what both benchmarks start from.
type benchRun struct {
	proofType abi.RegisteredSealProof
	proofName string
	miner     abi.ActorID
	// dir is the bench directory, absolute; release ends its use: it
	// removes dir when the bench created it as a temporary one, and tells
	// whether it did.
	dir      string
	release  func() bool
	progress Progress
}

// start checks the options both benchmarks share, applies their defaults
// and opens the bench directory.
func start(size abi.SectorSize, dir string, miner abi.ActorID, progress Progress) (benchRun, error) {
	b := benchRun{miner: miner, progress: progress}
	var err error
	if b.proofType, err = SealProofForSize(size); err != nil {
		return b, err
	}
	if b.proofName, err = proofs.SealProofName(b.proofType); err != nil {
		return b, err
	}
	if b.miner == 0 {
		b.miner = MinerDefault
	}
	if b.progress == nil {
		b.progress = Discard
	}
	if dir != "" {
		if b.dir, err = filepath.Abs(dir); err != nil {
			return b, err
		}
		if err := os.MkdirAll(b.dir, 0o755); err != nil {
			return b, fmt.Errorf("bench dir: %w", err)
		}
		b.release = func() bool { return false }
		return b, nil
	}
	if b.dir, err = os.MkdirTemp("", "damocles-bench-"); err != nil {
		return b, fmt.Errorf("bench dir: %w", err)
	}
	b.release = func() bool {
		if err := os.RemoveAll(b.dir); err != nil {
			log.Warnw("could not remove the bench's temporary directory", "dir", b.dir, "error", err)
			return false
		}
		return true
	}
	return b, nil
}
