package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/proofs"
)

// PC1Task is pc1's task (§4.5).
type PC1Task struct {
	// RegisteredProof is the seal proof's Rust name (§5.2).
	RegisteredProof string `json:"registered_proof"`
	CachePath       string `json:"cache_path"`
	// InPath is the staged (unsealed, Fr32-padded) data.
	InPath string `json:"in_path"`
	// OutPath is the sealed file to create.
	OutPath  string   `json:"out_path"`
	ProverID [32]byte `json:"prover_id"`
	SectorID uint64   `json:"sector_id"`
	Ticket   [32]byte `json:"ticket"`
	// PieceInfos are the sector's pieces in order. The Rust add_pieces
	// stage gives a CC sector one zero piece of the whole sector; an
	// empty list also means CC here.
	PieceInfos []PieceInfo `json:"piece_infos"`
}

// PieceInfo is a piece of a PC1Task.
type PieceInfo struct {
	// Commitment is the piece's comm_p.
	Commitment [32]byte `json:"commitment"`
	// Size is the unpadded piece size (127/128 of the padded size).
	Size uint64 `json:"size"`
}

// PC1Output is pc1's answer: the engine's PC1 output, carried as the JSON
// value itself to pc2.
type PC1Output = proofs.PC1Out

// PC2Task is pc2's task.
type PC2Task struct {
	// PC1Out is pc1's output, verbatim.
	PC1Out     json.RawMessage `json:"pc1out"`
	CacheDir   string          `json:"cache_dir"`
	SealedFile string          `json:"sealed_file"`
}

// PC2Output is pc2's answer.
type PC2Output struct {
	RegisteredProof string   `json:"registered_proof"`
	CommR           [32]byte `json:"comm_r"`
	CommD           [32]byte `json:"comm_d"`
}

// C2Task is c2's task.
type C2Task struct {
	// C1Out is commit phase 1's output, verbatim (c1 runs in the worker,
	// not in a processor).
	C1Out    json.RawMessage `json:"c1out"`
	ProverID [32]byte        `json:"prover_id"`
	SectorID uint64          `json:"sector_id"`
	// MinerID must be the miner ProverID encodes.
	MinerID uint64 `json:"miner_id"`
}

// C2Output is c2's answer: the PoRep proof, which travels as an array of
// byte values, not base64 (the worker re-encodes it for SubmitProof).
type C2Output struct {
	Proof []byte `json:"proof"`
}

func (t PC1Task) MarshalJSON() ([]byte, error) {
	type plain PC1Task
	t.PieceInfos = orEmpty(t.PieceInfos)
	return json.Marshal(plain(t))
}

func (t *PC1Task) UnmarshalJSON(data []byte) error {
	type plain PC1Task
	return json.Unmarshal(data, &struct {
		*plain
		ProverID array32 `json:"prover_id"`
		Ticket   array32 `json:"ticket"`
	}{(*plain)(t), array32{"prover_id", &t.ProverID}, array32{"ticket", &t.Ticket}})
}

func (p *PieceInfo) UnmarshalJSON(data []byte) error {
	type plain PieceInfo
	return json.Unmarshal(data, &struct {
		*plain
		Commitment array32 `json:"commitment"`
	}{(*plain)(p), array32{"commitment", &p.Commitment}})
}

func (o *PC2Output) UnmarshalJSON(data []byte) error {
	type plain PC2Output
	return json.Unmarshal(data, &struct {
		*plain
		CommR array32 `json:"comm_r"`
		CommD array32 `json:"comm_d"`
	}{(*plain)(o), array32{"comm_r", &o.CommR}, array32{"comm_d", &o.CommD}})
}

func (t *C2Task) UnmarshalJSON(data []byte) error {
	type plain C2Task
	return json.Unmarshal(data, &struct {
		*plain
		ProverID array32 `json:"prover_id"`
	}{(*plain)(t), array32{"prover_id", &t.ProverID}})
}

func (o C2Output) MarshalJSON() ([]byte, error) {
	return append(append([]byte(`{"proof":`), encodeByteArray(o.Proof)...), '}'), nil
}

func (o *C2Output) UnmarshalJSON(data []byte) error {
	var raw struct {
		Proof json.RawMessage `json:"proof"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	proof, err := decodeByteArray(raw.Proof)
	if err != nil {
		return fmt.Errorf("proof: %w", err)
	}
	o.Proof = proof
	return nil
}

// CIDs are the sealed and unsealed CIDs of the commitments, as the chain
// and the engine's Verify methods take them.
func (o PC2Output) CIDs() (sealed, unsealed cid.Cid, err error) {
	if sealed, err = commcid.ReplicaCommitmentV1ToCID(o.CommR[:]); err != nil {
		return cid.Undef, cid.Undef, fmt.Errorf("comm_r: %w", err)
	}
	if unsealed, err = commcid.DataCommitmentV1ToCID(o.CommD[:]); err != nil {
		return cid.Undef, cid.Undef, fmt.Errorf("comm_d: %w", err)
	}
	return sealed, unsealed, nil
}

// NewPieceInfos turns the engine's pieces (padded size, piece CID) into
// the task's (unpadded size, comm_p).
func NewPieceInfos(pieces []abi.PieceInfo) ([]PieceInfo, error) {
	out := make([]PieceInfo, len(pieces))
	for i, p := range pieces {
		if err := p.Size.Validate(); err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, err)
		}
		commP, err := commcid.CIDToPieceCommitmentV1(p.PieceCID)
		if err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, err)
		}
		out[i] = PieceInfo{Commitment: [32]byte(commP), Size: uint64(p.Size.Unpadded())}
	}
	return out, nil
}

// abiPieces is the inverse of NewPieceInfos.
func abiPieces(pieces []PieceInfo) ([]abi.PieceInfo, error) {
	out := make([]abi.PieceInfo, len(pieces))
	for i, p := range pieces {
		size := abi.UnpaddedPieceSize(p.Size)
		if err := size.Validate(); err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, err)
		}
		pieceCID, err := commcid.PieceCommitmentV1ToCID(p.Commitment[:])
		if err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, err)
		}
		out[i] = abi.PieceInfo{Size: size.Padded(), PieceCID: pieceCID}
	}
	return out, nil
}

// CallPC1 sends a pc1 task and returns the engine's PC1 output.
func CallPC1(ctx context.Context, d Doer, task PC1Task) (PC1Output, error) {
	var out PC1Output
	if err := d.Do(ctx, task, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CallPC2 sends a pc2 task and decodes the commitments.
func CallPC2(ctx context.Context, d Doer, task PC2Task) (PC2Output, error) {
	var out PC2Output
	if err := d.Do(ctx, task, &out); err != nil {
		return PC2Output{}, err
	}
	return out, nil
}

// CallC2 sends a c2 task and decodes the proof.
func CallC2(ctx context.Context, d Doer, task C2Task) (C2Output, error) {
	var out C2Output
	if err := d.Do(ctx, task, &out); err != nil {
		return C2Output{}, err
	}
	if len(out.Proof) == 0 {
		return C2Output{}, fmt.Errorf("%s for sector %d of miner %d: the processor answered an empty proof", C2, task.SectorID, task.MinerID)
	}
	return out, nil
}

func (h handlers) pc1(ctx context.Context, t PC1Task) (PC1Output, error) {
	proofType, err := proofs.ParseSealProofName(t.RegisteredProof)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", t.SectorID, err)
	}
	miner, err := minerOfProverID(t.ProverID)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", t.SectorID, err)
	}
	pieces, err := abiPieces(t.PieceInfos)
	if err != nil {
		return nil, fmt.Errorf("miner %d sector %d: %w", miner, t.SectorID, err)
	}
	out, err := h.engine.SealPreCommitPhase1(ctx, proofType, t.CachePath, t.InPath, t.OutPath,
		abi.SectorNumber(t.SectorID), miner, t.Ticket[:], pieces)
	if err != nil {
		return nil, fmt.Errorf("miner %d sector %d: %w", miner, t.SectorID, err)
	}
	return out, nil
}

// pc2 names no sector in its task; its errors name the cache dir, which
// ends in the sector's name.
func (h handlers) pc2(ctx context.Context, t PC2Task) (PC2Output, error) {
	if isNull(t.PC1Out) {
		return PC2Output{}, fmt.Errorf("cache dir %s: task has no pc1out", t.CacheDir)
	}
	proofType, err := sealProofOf(t.PC1Out)
	if err != nil {
		return PC2Output{}, fmt.Errorf("cache dir %s: pc1out: %w", t.CacheDir, err)
	}
	name, err := proofs.SealProofName(proofType)
	if err != nil {
		return PC2Output{}, fmt.Errorf("cache dir %s: %w", t.CacheDir, err)
	}
	sealed, unsealed, err := h.engine.SealPreCommitPhase2(ctx, proofs.PC1Out(t.PC1Out), t.CacheDir, t.SealedFile)
	if err != nil {
		return PC2Output{}, fmt.Errorf("cache dir %s: %w", t.CacheDir, err)
	}
	commR, err := commcid.CIDToReplicaCommitmentV1(sealed)
	if err != nil {
		return PC2Output{}, fmt.Errorf("cache dir %s: sealed CID %s: %w", t.CacheDir, sealed, err)
	}
	commD, err := commcid.CIDToDataCommitmentV1(unsealed)
	if err != nil {
		return PC2Output{}, fmt.Errorf("cache dir %s: unsealed CID %s: %w", t.CacheDir, unsealed, err)
	}
	return PC2Output{RegisteredProof: name, CommR: [32]byte(commR), CommD: [32]byte(commD)}, nil
}

func (h handlers) c2(ctx context.Context, t C2Task) (C2Output, error) {
	if isNull(t.C1Out) {
		return C2Output{}, fmt.Errorf("miner %d sector %d: task has no c1out", t.MinerID, t.SectorID)
	}
	miner, err := minerOfProverID(t.ProverID)
	if err != nil {
		return C2Output{}, fmt.Errorf("miner %d sector %d: %w", t.MinerID, t.SectorID, err)
	}
	if uint64(miner) != t.MinerID {
		return C2Output{}, fmt.Errorf("miner %d sector %d: prover_id is miner %d's", t.MinerID, t.SectorID, miner)
	}
	pr, err := h.engine.SealCommitPhase2(ctx, proofs.C1Out(t.C1Out), abi.SectorNumber(t.SectorID), miner)
	if err != nil {
		return C2Output{}, fmt.Errorf("miner %d sector %d: %w", miner, t.SectorID, err)
	}
	return C2Output{Proof: pr}, nil
}

// sealProofOf reads the seal proof type a PC1 output was made for. pc2's
// answer must name it and the engine does not return it. The Rust output
// names it (§5.2), devproof's numbers it; both are accepted, so an engine
// wrapping filecoin-ffi works here too.
func sealProofOf(pc1Out json.RawMessage) (abi.RegisteredSealProof, error) {
	var head struct {
		RegisteredProof json.RawMessage `json:"registered_proof"`
	}
	if err := json.Unmarshal(pc1Out, &head); err != nil {
		return 0, err
	}
	if isNull(head.RegisteredProof) {
		return 0, errors.New("no registered_proof")
	}
	var name string
	if json.Unmarshal(head.RegisteredProof, &name) == nil {
		return proofs.ParseSealProofName(name)
	}
	var number abi.RegisteredSealProof
	if err := json.Unmarshal(head.RegisteredProof, &number); err != nil {
		return 0, fmt.Errorf("registered_proof %s is neither a seal proof name nor a number", excerpt(head.RegisteredProof))
	}
	return number, nil
}
