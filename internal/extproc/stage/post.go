package stage

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/proofs"
)

// PoStTask is the task of window_post and winning_post (§4.4).
type PoStTask struct {
	MinerID uint64 `json:"miner_id"`
	// ProofType is the PoSt proof's Rust name (§5.1):
	// StackedDrgWindow<size>V1[_2] for window_post,
	// StackedDrgWinning<size>V1 for winning_post.
	ProofType string `json:"proof_type"`
	// Replicas are the sectors to prove; at least one.
	Replicas []Replica `json:"replicas"`
	// Seed is the PoSt randomness with seed[31] &= 0x3f already applied
	// (NewPoStTask does it).
	Seed [32]byte `json:"seed"`
}

// Replica is one sector of a PoStTask.
type Replica struct {
	SectorID uint64   `json:"sector_id"`
	CommR    [32]byte `json:"comm_r"`
	// CacheDir and SealedFile are absolute paths on the machine running
	// the child.
	CacheDir   string `json:"cache_dir"`
	SealedFile string `json:"sealed_file"`
}

// WindowPoStOutput is window_post's answer: proofs on success, or no
// proofs and the sectors that could not be proven.
type WindowPoStOutput struct {
	Proofs [][]byte `json:"proofs"`
	Faults []uint64 `json:"faults"`
}

// WinningPoStOutput is winning_post's answer.
type WinningPoStOutput struct {
	Proofs [][]byte `json:"proofs"`
}

func (t PoStTask) MarshalJSON() ([]byte, error) {
	type plain PoStTask
	t.Replicas = orEmpty(t.Replicas)
	return json.Marshal(plain(t))
}

func (t *PoStTask) UnmarshalJSON(data []byte) error {
	type plain PoStTask
	return json.Unmarshal(data, &struct {
		*plain
		Seed array32 `json:"seed"`
	}{(*plain)(t), array32{"seed", &t.Seed}})
}

func (r *Replica) UnmarshalJSON(data []byte) error {
	type plain Replica
	return json.Unmarshal(data, &struct {
		*plain
		CommR array32 `json:"comm_r"`
	}{(*plain)(r), array32{"comm_r", &r.CommR}})
}

func (o WindowPoStOutput) MarshalJSON() ([]byte, error) {
	type plain WindowPoStOutput
	o.Proofs, o.Faults = orEmpty(o.Proofs), orEmpty(o.Faults)
	return json.Marshal(plain(o))
}

func (o WinningPoStOutput) MarshalJSON() ([]byte, error) {
	type plain WinningPoStOutput
	o.Proofs = orEmpty(o.Proofs)
	return json.Marshal(plain(o))
}

// PoStProofs wraps the proofs as PoSt proofs of proofType, the numeric
// type the task named, as damocles's manager does.
func (o WindowPoStOutput) PoStProofs(proofType abi.RegisteredPoStProof) []proof.PoStProof {
	return postProofs(proofType, o.Proofs)
}

// PoStProofs wraps the proofs as PoSt proofs of proofType.
func (o WinningPoStOutput) PoStProofs(proofType abi.RegisteredPoStProof) []proof.PoStProof {
	return postProofs(proofType, o.Proofs)
}

func postProofs(proofType abi.RegisteredPoStProof, raw [][]byte) []proof.PoStProof {
	out := make([]proof.PoStProof, len(raw))
	for i, b := range raw {
		out[i] = proof.PoStProof{PoStProof: proofType, ProofBytes: b}
	}
	return out
}

// NewPoStTask builds the task proving sectors for miner: the proof type by
// its Rust name, comm_r from each sealed CID, and the randomness masked
// (seed[31] &= 0x3f) as damocles's manager does before sending it.
func NewPoStTask(miner abi.ActorID, proofType abi.RegisteredPoStProof, sectors []proofs.PrivateSectorInfo,
	randomness abi.PoStRandomness) (PoStTask, error) {
	name, err := proofs.PoStProofName(proofType)
	if err != nil {
		return PoStTask{}, err
	}
	if len(randomness) != 32 {
		return PoStTask{}, fmt.Errorf("PoSt randomness is %d bytes, want 32", len(randomness))
	}
	t := PoStTask{MinerID: uint64(miner), ProofType: name, Replicas: make([]Replica, 0, len(sectors))}
	copy(t.Seed[:], randomness)
	t.Seed[31] &= 0x3f
	for _, s := range sectors {
		commR, err := commcid.CIDToReplicaCommitmentV1(s.SealedCID)
		if err != nil {
			return PoStTask{}, fmt.Errorf("sector %d of miner %d: sealed CID %s: %w", s.SectorNumber, miner, s.SealedCID, err)
		}
		t.Replicas = append(t.Replicas, Replica{
			SectorID:   uint64(s.SectorNumber),
			CommR:      [32]byte(commR),
			CacheDir:   s.CacheDir,
			SealedFile: s.SealedPath,
		})
	}
	return t, nil
}

// CallWindowPoSt sends a window_post task and decodes the answer. When the
// child reports faulty sectors the output comes back together with a
// *FaultsError naming them.
func CallWindowPoSt(ctx context.Context, d Doer, task PoStTask) (WindowPoStOutput, error) {
	var out WindowPoStOutput
	if err := d.Do(ctx, task, &out); err != nil {
		return WindowPoStOutput{}, err
	}
	if len(out.Faults) > 0 {
		return out, &FaultsError{Miner: task.MinerID, Sectors: out.Faults}
	}
	if len(out.Proofs) == 0 {
		return WindowPoStOutput{}, fmt.Errorf("%s for miner %d: the processor answered neither proofs nor faults", WindowPoSt, task.MinerID)
	}
	return out, nil
}

// CallWinningPoSt sends a winning_post task and decodes the answer.
func CallWinningPoSt(ctx context.Context, d Doer, task PoStTask) (WinningPoStOutput, error) {
	var out WinningPoStOutput
	if err := d.Do(ctx, task, &out); err != nil {
		return WinningPoStOutput{}, err
	}
	if len(out.Proofs) == 0 {
		return WinningPoStOutput{}, fmt.Errorf("%s for miner %d: the processor answered no proof", WinningPoSt, task.MinerID)
	}
	return out, nil
}

// FaultsError is a window PoSt that could not be computed because some of
// its sectors are faulty. The caller declares them faulty and proves the
// rest again.
type FaultsError struct {
	Miner   uint64
	Sectors []uint64
}

func (e *FaultsError) Error() string {
	return fmt.Sprintf("%s for miner %d: got %d fault sectors: %v", WindowPoSt, e.Miner, len(e.Sectors), e.Sectors)
}

// windowPoSt answers faulty sectors with success, no proofs and their
// numbers, as the Rust builtin processor does; only other failures are
// errors.
func (h handlers) windowPoSt(ctx context.Context, t PoStTask) (WindowPoStOutput, error) {
	proofType, sectors, err := t.sectors(proofs.IsWindowPoStProof, "StackedDrgWindow")
	if err != nil {
		return WindowPoStOutput{}, err
	}
	miner := abi.ActorID(t.MinerID)
	postProofs, faulty, err := h.engine.GenerateWindowPoSt(ctx, miner, proofType, sectors, t.Seed[:])
	if err != nil {
		return WindowPoStOutput{}, fmt.Errorf("miner %d, %d sectors: %w", miner, len(sectors), err)
	}
	if len(faulty) > 0 {
		out := WindowPoStOutput{Proofs: [][]byte{}, Faults: make([]uint64, len(faulty))}
		for i, s := range faulty {
			out.Faults[i] = uint64(s)
		}
		log.Warnw("faulty sectors in window PoSt", "miner", miner, "faults", out.Faults, "sectors", len(sectors))
		return out, nil
	}
	out := WindowPoStOutput{Proofs: make([][]byte, len(postProofs)), Faults: []uint64{}}
	for i, p := range postProofs {
		out.Proofs[i] = p.ProofBytes
	}
	return out, nil
}

// winningPoSt fails on any faulty sector: a winning PoSt has no faults
// list.
func (h handlers) winningPoSt(ctx context.Context, t PoStTask) (WinningPoStOutput, error) {
	_, sectors, err := t.sectors(proofs.IsWinningPoStProof, "StackedDrgWinning")
	if err != nil {
		return WinningPoStOutput{}, err
	}
	miner := abi.ActorID(t.MinerID)
	postProofs, err := h.engine.GenerateWinningPoSt(ctx, miner, sectors, t.Seed[:])
	if err != nil {
		return WinningPoStOutput{}, fmt.Errorf("miner %d: %w", miner, err)
	}
	out := WinningPoStOutput{Proofs: make([][]byte, len(postProofs))}
	for i, p := range postProofs {
		out.Proofs[i] = p.ProofBytes
	}
	return out, nil
}

// sectors checks the proof type against the stage (isKind, and the name
// prefix for the error) and turns the replicas into the engine's sector
// infos. Like the Rust child, which keys them by sector_id in a BTreeMap,
// it proves each sector once (the last replica of a number wins) in
// ascending sector order.
func (t PoStTask) sectors(isKind func(abi.RegisteredPoStProof) bool, namePrefix string) (abi.RegisteredPoStProof, []proofs.PrivateSectorInfo, error) {
	proofType, err := proofs.ParsePoStProofName(t.ProofType)
	if err != nil {
		return 0, nil, fmt.Errorf("miner %d: %w", t.MinerID, err)
	}
	if !isKind(proofType) {
		return 0, nil, fmt.Errorf("miner %d: proof type %q is the wrong kind for this stage: want a %s... name", t.MinerID, t.ProofType, namePrefix)
	}
	if len(t.Replicas) == 0 {
		return 0, nil, fmt.Errorf("miner %d: %w", t.MinerID, errNoReplicas)
	}
	sealProof, err := proofs.SealProofForPoSt(proofType)
	if err != nil {
		return 0, nil, err
	}
	byNumber := make(map[abi.SectorNumber]proofs.PrivateSectorInfo, len(t.Replicas))
	for _, r := range t.Replicas {
		sealed, err := commcid.ReplicaCommitmentV1ToCID(r.CommR[:])
		if err != nil {
			return 0, nil, fmt.Errorf("miner %d sector %d: comm_r: %w", t.MinerID, r.SectorID, err)
		}
		byNumber[abi.SectorNumber(r.SectorID)] = proofs.PrivateSectorInfo{
			SectorNumber: abi.SectorNumber(r.SectorID),
			SealProof:    sealProof,
			SealedCID:    sealed,
			CacheDir:     r.CacheDir,
			SealedPath:   r.SealedFile,
		}
	}
	sectors := make([]proofs.PrivateSectorInfo, 0, len(byNumber))
	for _, s := range byNumber {
		sectors = append(sectors, s)
	}
	slices.SortFunc(sectors, func(a, b proofs.PrivateSectorInfo) int { return cmp.Compare(a.SectorNumber, b.SectorNumber) })
	return proofType, sectors, nil
}

// errNoReplicas is the Rust child's wording for an empty replica list.
var errNoReplicas = errors.New("no replicas supplied")
