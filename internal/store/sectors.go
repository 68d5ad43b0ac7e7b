package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
)

// SectorState is where a sector stands for the manager: online while a
// worker seals it, then offline for good, finalized or aborted.
type SectorState string

// Sector states.
const (
	SectorOnline    SectorState = "online"
	SectorFinalized SectorState = "finalized"
	SectorAborted   SectorState = "aborted"
)

// Online tells whether a worker is still sealing the sector.
func (s SectorState) Online() bool { return s == SectorOnline }

// Sector is the manager's record of one sector (table sectors): the state
// of its sealing, the latest report of the worker sealing it, and what
// each sealing step produced. A step's field is nil until the step is
// recorded.
type Sector struct {
	ID        abi.SectorID
	ProofType abi.RegisteredSealProof
	State     SectorState
	// Worker is the latest state report of the worker sealing the sector.
	Worker SectorWorkerReport
	// Pieces are the deal pieces assigned to the sector, encoded by their
	// owner (the sealer API); nil until deals are acquired.
	Pieces []byte
	// Ticket is the seal randomness assigned to the sector.
	Ticket *SectorRandomness
	// PreCommit is what the worker submitted after PC2, and its message.
	PreCommit *SectorPreCommit
	// Seed is the interactive randomness of the PoRep.
	Seed *SectorRandomness
	// Commit is the PoRep proof the worker submitted, and its message.
	Commit *SectorCommit
	// AbortReason is why the sector was aborted; empty otherwise.
	AbortReason string
	// CreatedAt and UpdatedAt are stored to the second.
	CreatedAt, UpdatedAt time.Time
}

// SectorWorkerReport is the latest ReportState of a worker: who reported,
// the state it moved the sector to, and the failure it hit, if any.
type SectorWorkerReport struct {
	Instance, Location string
	State, Event       string
	// FailureLevel is empty when the last step did not fail.
	FailureLevel, FailureDesc string
}

// SectorRandomness is chain randomness (a ticket or a seed) and the epoch
// it was drawn at.
type SectorRandomness struct {
	Value []byte
	Epoch abi.ChainEpoch
}

// SectorPreCommit is a submitted pre-commit and its message.
type SectorPreCommit struct {
	CommR, CommD [32]byte
	Ticket       SectorRandomness
	Message      SectorMessage
}

// SectorCommit is a submitted PoRep proof and its prove-commit message.
type SectorCommit struct {
	Proof   []byte
	Message SectorMessage
}

// SectorMessage is a chain message sent for a sector; the zero value is a
// message not sent yet.
type SectorMessage struct {
	// CID is the message's CID, as text.
	CID string
	// State is the message's on-chain state (the OnChainState numbers of
	// the sealer API); 0 is unknown.
	State uint64
	// Desc says why the message failed.
	Desc string
}

// SectorFilter selects sectors in Sectors.List. The zero value selects
// every sector.
type SectorFilter struct {
	// States keeps the sectors in one of these states; empty keeps all.
	States []SectorState
	// Miner keeps one miner's sectors; 0 keeps all (actor 0 is the
	// system actor, never a miner).
	Miner abi.ActorID
}

// Sectors is the repository of sector records (table sectors). Every
// change is one transaction.
type Sectors struct {
	db *DB
}

// Sectors returns the repository of sector records.
func (db *DB) Sectors() *Sectors { return &Sectors{db: db} }

const sectorColumns = `miner, number, proof_type, state,
	worker_state, worker_event, worker_instance, worker_location, failure_level, failure_desc,
	pieces, ticket, ticket_epoch,
	precommit_comm_r, precommit_comm_d, precommit_ticket, precommit_ticket_epoch,
	precommit_msg, precommit_msg_state, precommit_msg_desc,
	seed, seed_epoch, proof, commit_msg, commit_msg_state, commit_msg_desc,
	abort_reason, created_at, updated_at`

// sectorValueColumns are the columns an update writes: all but the key.
const sectorValueColumns = `proof_type = ?, state = ?,
	worker_state = ?, worker_event = ?, worker_instance = ?, worker_location = ?, failure_level = ?, failure_desc = ?,
	pieces = ?, ticket = ?, ticket_epoch = ?,
	precommit_comm_r = ?, precommit_comm_d = ?, precommit_ticket = ?, precommit_ticket_epoch = ?,
	precommit_msg = ?, precommit_msg_state = ?, precommit_msg_desc = ?,
	seed = ?, seed_epoch = ?, proof = ?, commit_msg = ?, commit_msg_state = ?, commit_msg_desc = ?,
	abort_reason = ?, created_at = ?, updated_at = ?`

var insertSectorSQL = `INSERT INTO sectors (` + sectorColumns + `) VALUES (` +
	placeholders(strings.Count(sectorColumns, ",")+1) + `)`

// Create stores a new sector, or fails with an error wrapping ErrExists
// if the sector already has a record.
func (r *Sectors) Create(ctx context.Context, s Sector) error {
	err := r.db.inTx(ctx, func(t txn) error { return insertSector(ctx, t, s) })
	if err != nil {
		return fmt.Errorf("create sector %s: %w", formatSectorID(s.ID), err)
	}
	return nil
}

// insertSector creates s in t, failing with ErrExists if it is there.
func insertSector(ctx context.Context, t txn, s Sector) error {
	if s.State == "" {
		return errors.New("no state")
	}
	miner, number, err := sectorKey(s.ID)
	if err != nil {
		return err
	}
	values, err := sectorValues(s)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, insertIfAbsent(t.driver, insertSectorSQL, "miner, number", "miner"),
		append([]any{miner, number}, values...)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrExists
	}
	return nil
}

// Get returns the sector id, or an error wrapping ErrNotFound.
func (r *Sectors) Get(ctx context.Context, id abi.SectorID) (Sector, error) {
	miner, number, err := sectorKey(id)
	if err != nil {
		return Sector{}, fmt.Errorf("get sector %s: %w", formatSectorID(id), err)
	}
	s, err := scanSector(r.db.queryRow(ctx,
		`SELECT `+sectorColumns+` FROM sectors WHERE miner = ? AND number = ?`, miner, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Sector{}, fmt.Errorf("get sector %s: %w", formatSectorID(id), ErrNotFound)
	}
	if err != nil {
		return Sector{}, fmt.Errorf("get sector %s: %w", formatSectorID(id), err)
	}
	return s, nil
}

// List returns the sectors f selects, ordered by miner and number.
func (r *Sectors) List(ctx context.Context, f SectorFilter) ([]Sector, error) {
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if f.Miner != 0 {
		miner, err := i64(f.Miner)
		if err != nil {
			return nil, fmt.Errorf("list sectors: miner: %w", err)
		}
		where = append(where, "miner = ?")
		args = append(args, miner)
	}
	query := `SELECT ` + sectorColumns + ` FROM sectors`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := r.db.query(ctx, query+" ORDER BY miner, number", args...)
	if err != nil {
		return nil, fmt.Errorf("list sectors: %w", err)
	}
	defer rows.Close()
	var out []Sector
	for rows.Next() {
		s, err := scanSector(rows)
		if err != nil {
			return nil, fmt.Errorf("list sectors: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sectors: %w", err)
	}
	return out, nil
}

// Update changes the sector id in one transaction: it reads the record,
// locking it, lets change modify it, and writes it back, returning what
// was written. An error from change is returned as is and nothing is
// written. The ID change leaves in the record is ignored. A missing
// sector is an error wrapping ErrNotFound.
//
// change runs inside the transaction: it must be quick and must not use
// the database (on SQLite it would wait for itself).
func (r *Sectors) Update(ctx context.Context, id abi.SectorID, change func(s *Sector) error) (Sector, error) {
	var out Sector
	err := r.db.inTx(ctx, func(t txn) error {
		s, err := lockSector(ctx, t, id)
		if err != nil {
			return err
		}
		if err := change(&s); err != nil {
			return err
		}
		s.ID = id
		out = s
		return writeSector(ctx, t, s)
	})
	if err != nil {
		return Sector{}, fmt.Errorf("update sector %s: %w", formatSectorID(id), err)
	}
	return out, nil
}

// Finish takes an online sector offline, to state (SectorFinalized or
// SectorAborted, with reason), and releases its store reservation, in one
// transaction. A sector already offline is left as it is, so a worker's
// retried report changes nothing; changed says which happened. The
// returned record is the one stored.
func (r *Sectors) Finish(ctx context.Context, id abi.SectorID, state SectorState, reason string, now time.Time) (s Sector, changed bool, err error) {
	if state.Online() || state == "" {
		return Sector{}, false, fmt.Errorf("finish sector %s: %q is not an offline state", formatSectorID(id), state)
	}
	err = r.db.inTx(ctx, func(t txn) error {
		s, err = lockSector(ctx, t, id)
		if err != nil || !s.State.Online() {
			return err
		}
		s.State, s.AbortReason, s.UpdatedAt = state, reason, now
		if err := writeSector(ctx, t, s); err != nil {
			return err
		}
		changed = true
		return deleteReservation(ctx, t, id)
	})
	if err != nil {
		return Sector{}, false, fmt.Errorf("finish sector %s: %w", formatSectorID(id), err)
	}
	return s, changed, nil
}

// lockSector reads the sector id in t, locking its row until t ends.
func lockSector(ctx context.Context, t txn, id abi.SectorID) (Sector, error) {
	miner, number, err := sectorKey(id)
	if err != nil {
		return Sector{}, err
	}
	s, err := scanSector(t.queryRow(ctx,
		`SELECT `+sectorColumns+` FROM sectors WHERE miner = ? AND number = ?`+t.forUpdate(), miner, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Sector{}, ErrNotFound
	}
	return s, err
}

// writeSector overwrites the record of s.ID with s.
func writeSector(ctx context.Context, t txn, s Sector) error {
	miner, number, err := sectorKey(s.ID)
	if err != nil {
		return err
	}
	values, err := sectorValues(s)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `UPDATE sectors SET `+sectorValueColumns+` WHERE miner = ? AND number = ?`,
		append(values, miner, number)...)
	return err
}

// sectorValues are the values of s for sectorValueColumns, in order. A
// step not recorded (a nil pointer) is NULL in every column of its own.
func sectorValues(s Sector) ([]any, error) {
	if s.ProofType < 0 {
		return nil, fmt.Errorf("invalid proof type %d", s.ProofType)
	}
	v := []any{int64(s.ProofType), string(s.State),
		s.Worker.State, s.Worker.Event, s.Worker.Instance, s.Worker.Location,
		s.Worker.FailureLevel, s.Worker.FailureDesc,
		nullBytes(s.Pieces)}
	v = append(v, randomnessValues(s.Ticket)...)
	if p := s.PreCommit; p != nil {
		msg, err := messageValues(p.Message)
		if err != nil {
			return nil, fmt.Errorf("pre-commit message: %w", err)
		}
		v = append(v, p.CommR[:], p.CommD[:], nonNilBytes(p.Ticket.Value), int64(p.Ticket.Epoch))
		v = append(v, msg...)
	} else {
		v = append(v, nil, nil, nil, nil, nil, nil, nil)
	}
	v = append(v, randomnessValues(s.Seed)...)
	if c := s.Commit; c != nil {
		msg, err := messageValues(c.Message)
		if err != nil {
			return nil, fmt.Errorf("prove-commit message: %w", err)
		}
		v = append(v, nonNilBytes(c.Proof))
		v = append(v, msg...)
	} else {
		v = append(v, nil, nil, nil, nil)
	}
	return append(v, s.AbortReason, s.CreatedAt.Unix(), s.UpdatedAt.Unix()), nil
}

// randomnessValues are the value and epoch columns of r, NULL when nil.
func randomnessValues(r *SectorRandomness) []any {
	if r == nil {
		return []any{nil, nil}
	}
	return []any{nonNilBytes(r.Value), int64(r.Epoch)}
}

// messageValues are the CID, state and description columns of m.
func messageValues(m SectorMessage) ([]any, error) {
	state, err := i64(m.State)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return []any{m.CID, state, m.Desc}, nil
}

// nullBytes stores a nil slice as NULL, which drivers do not all do.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// nonNilBytes stores a nil slice as empty in a NOT NULL-by-convention
// column of a recorded step.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanSector(row interface{ Scan(...any) error }) (Sector, error) {
	var (
		s                                              Sector
		miner, number, proofType, createdAt, updatedAt int64
		state                                          string
		pieces, ticket, commR, commD, pcTicket         []byte
		seed, proof                                    []byte
		ticketEpoch, pcTicketEpoch, pcMsgState         sql.NullInt64
		seedEpoch, cMsgState                           sql.NullInt64
		pcMsg, pcMsgDesc, cMsg, cMsgDesc               sql.NullString
	)
	err := row.Scan(&miner, &number, &proofType, &state,
		&s.Worker.State, &s.Worker.Event, &s.Worker.Instance, &s.Worker.Location,
		&s.Worker.FailureLevel, &s.Worker.FailureDesc,
		&pieces, &ticket, &ticketEpoch,
		&commR, &commD, &pcTicket, &pcTicketEpoch,
		&pcMsg, &pcMsgState, &pcMsgDesc,
		&seed, &seedEpoch, &proof, &cMsg, &cMsgState, &cMsgDesc,
		&s.AbortReason, &createdAt, &updatedAt)
	if err != nil {
		return Sector{}, err
	}
	s.ID = abi.SectorID{Miner: abi.ActorID(miner), Number: abi.SectorNumber(number)}
	s.ProofType = abi.RegisteredSealProof(proofType)
	s.State = SectorState(state)
	s.Pieces = pieces
	// A step's presence is read from an integer column it always writes:
	// drivers disagree on whether an empty blob scans as nil.
	if ticketEpoch.Valid {
		s.Ticket = &SectorRandomness{Value: ticket, Epoch: abi.ChainEpoch(ticketEpoch.Int64)}
	}
	if pcTicketEpoch.Valid {
		p := &SectorPreCommit{
			Ticket:  SectorRandomness{Value: pcTicket, Epoch: abi.ChainEpoch(pcTicketEpoch.Int64)},
			Message: SectorMessage{CID: pcMsg.String, State: uint64(pcMsgState.Int64), Desc: pcMsgDesc.String},
		}
		if len(commR) != len(p.CommR) || len(commD) != len(p.CommD) {
			return Sector{}, fmt.Errorf("sector %s: stored commitments are %d and %d bytes, not 32",
				formatSectorID(s.ID), len(commR), len(commD))
		}
		copy(p.CommR[:], commR)
		copy(p.CommD[:], commD)
		s.PreCommit = p
	}
	if seedEpoch.Valid {
		s.Seed = &SectorRandomness{Value: seed, Epoch: abi.ChainEpoch(seedEpoch.Int64)}
	}
	if cMsgState.Valid {
		s.Commit = &SectorCommit{
			Proof:   proof,
			Message: SectorMessage{CID: cMsg.String, State: uint64(cMsgState.Int64), Desc: cMsgDesc.String},
		}
	}
	s.CreatedAt = time.Unix(createdAt, 0)
	s.UpdatedAt = time.Unix(updatedAt, 0)
	return s, nil
}

// formatSectorID names a sector in errors as its files are named.
func formatSectorID(id abi.SectorID) string {
	return fmt.Sprintf("s-t0%d-%d", id.Miner, id.Number)
}
