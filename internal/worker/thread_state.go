package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// SectorState is a step of the sealer plan, named as damocles-worker names
// it in ReportState (PROTOCOLS-damocles.md §2.1).
type SectorState string

// The sealer plan's states, in order, plus Aborted.
const (
	StateEmpty                SectorState = "Empty"
	StateAllocated            SectorState = "Allocated"
	StateDealsAcquired        SectorState = "DealsAcquired"
	StatePieceAdded           SectorState = "PieceAdded"
	StateTreeDBuilt           SectorState = "TreeDBuilt"
	StateTicketAssigned       SectorState = "TicketAssigned"
	StatePC1Done              SectorState = "PC1Done"
	StatePC2Done              SectorState = "PC2Done"
	StatePCSubmitted          SectorState = "PCSubmitted"
	StatePCLanded             SectorState = "PCLanded"
	StatePersisted            SectorState = "Persisted"
	StatePersistanceSubmitted SectorState = "PersistanceSubmitted" // sic, damocles's spelling
	StateSeedAssigned         SectorState = "SeedAssigned"
	StateC1Done               SectorState = "C1Done"
	StateC2Done               SectorState = "C2Done"
	StateProofSubmitted       SectorState = "ProofSubmitted"
	StateFinished             SectorState = "Finished"
	StateAborted              SectorState = "Aborted"
)

// ThreadStateFile is the file, in a sealing thread's location, holding the
// sector the thread works on. It exists only while a sector is in progress.
const ThreadStateFile = "sealing-thread-state.json"

// SectorRecord is everything a sealing thread knows about its sector: what
// the manager gave it and what each step produced, so that a restarted
// worker resumes at State without asking the manager again.
type SectorRecord struct {
	State  SectorState         `json:"state"`
	Sector rpc.AllocatedSector `json:"sector"`
	// Pieces are the deal pieces; empty for a committed-capacity sector.
	Pieces []abi.PieceInfo `json:"pieces,omitempty"`
	Ticket *rpc.Ticket     `json:"ticket,omitempty"`
	PC1Out proofs.PC1Out   `json:"pc1_out,omitempty"`
	CommR  *[32]byte       `json:"comm_r,omitempty"`
	CommD  *[32]byte       `json:"comm_d,omitempty"`
	// PreCommitReset is set after a Failed pre-commit poll: the next
	// SubmitPreCommit overwrites the manager's record.
	PreCommitReset bool `json:"pre_commit_reset,omitempty"`
	// PersistInstance is the persist store the sector files were copied to.
	PersistInstance string    `json:"persist_instance,omitempty"`
	Seed            *rpc.Seed `json:"seed,omitempty"`
	// C1Out is kept here rather than beside the cache files: it is what a
	// rerun C2 needs, and losing it would mean redoing C1.
	C1Out       proofs.C1Out `json:"c1_out,omitempty"`
	Proof       []byte       `json:"proof,omitempty"`
	ProofReset  bool         `json:"proof_reset,omitempty"`
	AbortReason string       `json:"abort_reason,omitempty"`
}

// ID is the sector's id.
func (r *SectorRecord) ID() abi.SectorID { return r.Sector.ID }

// loadRecord reads the thread's state file; (nil, nil) when there is none,
// which means the thread is idle.
func loadRecord(location string) (*SectorRecord, error) {
	path := filepath.Join(location, ThreadStateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r SectorRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("sealing thread state %s is corrupt (move it away to abandon the sector): %w", path, err)
	}
	return &r, nil
}

// saveRecord replaces the thread's state file atomically, so a crash leaves
// either the previous state or the new one, never half of one.
func saveRecord(location string, r *SectorRecord) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(location, ThreadStateFile), append(data, '\n'))
}

// removeRecord deletes the thread's state file: the thread is idle again.
func removeRecord(location string) error {
	err := os.Remove(filepath.Join(location, ThreadStateFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(location)
}
