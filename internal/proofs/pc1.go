package proofs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-state-types/abi"
)

// pc1Output is devproof's PC1Out.
type pc1Output struct {
	ProofType abi.RegisteredSealProof `json:"registered_proof"`
	CommD     node                    `json:"comm_d"`
	// Layers and TreeD name the files PC2 reads, relative to the cache
	// dir (so the output stays valid when the cache dir moves), like the
	// store configs of Filecoin's PC1 output. PC2 accepts only the names
	// of the file plan: a PC1 output never makes it read elsewhere.
	Layers []string `json:"layers"`
	TreeD  string   `json:"tree_d"`
}

// SealPreCommitPhase1 builds tree-d over the staged data (checking it
// against pieces: no pieces means all zeros) and the label layers.
// sealedPath gets a sector-sized (sparse) file, as after filecoin-ffi's PC1;
// devproof's PC2 reads the data from tree-d's leaves rather than from the
// sealed file, so PC2 can be rerun after a crash half way through it.
func (e *DevEngine) SealPreCommitPhase1(ctx context.Context, proofType abi.RegisteredSealProof, cacheDir, stagedPath, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) (PC1Out, error) {
	sp, err := sealParams(proofType)
	if err != nil {
		return nil, err
	}
	if len(ticket) != nodeSize {
		return nil, fmt.Errorf("sector %d: ticket is %d bytes, want %d", sector, len(ticket), nodeSize)
	}
	wantCommD, err := ComputeCommD(proofType, pieces)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", sector, err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	if err := createSparse(sealedPath, int64(sp.size)); err != nil {
		return nil, err
	}

	commD, err := e.buildTreeD(ctx, sp, stagedPath, cacheDir)
	if err != nil {
		return nil, fmt.Errorf("sector %d: tree-d: %w", sector, err)
	}
	if commD != wantCommD {
		return nil, fmt.Errorf("sector %d: staged data in %s does not match its pieces (comm_d %x, pieces give %x)", sector, stagedPath, commD, wantCommD)
	}

	files := sp.cacheFiles()
	rid := replicaID(proofType, miner, sector, node(ticket), commD)
	if err := labelLayers(ctx, sp, rid, cacheDir, files.Layers); err != nil {
		return nil, fmt.Errorf("sector %d: labels: %w", sector, err)
	}
	return json.Marshal(pc1Output{ProofType: proofType, CommD: commD, Layers: files.Layers, TreeD: files.TreeD})
}

// buildTreeD streams the staged file through a tree writer.
func (e *DevEngine) buildTreeD(ctx context.Context, sp sectorParams, stagedPath, cacheDir string) (node, error) {
	staged, err := openSized(stagedPath, int64(sp.size))
	if err != nil {
		return node{}, err
	}
	defer staged.Close()
	w, err := newTreeWriter(treeDShape(sp), cacheDir, []string{TreeDFile}, e.hashThreads())
	if err != nil {
		return node{}, err
	}
	defer w.close()
	buf := make([]byte, w.chunkLeaves()*nodeSize)
	for range sp.nodes() / w.chunkLeaves() {
		if err := ctx.Err(); err != nil {
			return node{}, err
		}
		if _, err := io.ReadFull(staged, buf); err != nil {
			return node{}, fmt.Errorf("read %s: %w", stagedPath, err)
		}
		if err := w.write(buf); err != nil {
			return node{}, err
		}
	}
	return w.finish()
}

func createSparse(path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
