package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
)

// PoStMessageKey names one message the WindowPoSt poster sends for a
// deadline occurrence: its proof ("post") or its recovery declaration
// ("recover") for one batch of partitions.
type PoStMessageKey struct {
	Miner abi.ActorID
	// DeadlineOpen is the epoch at which the deadline's window opens,
	// which tells this occurrence of the deadline from the next one.
	DeadlineOpen abi.ChainEpoch
	// Kind is stored as given; which kinds exist is the poster's
	// business.
	Kind string
	// Batch names the batch's partitions (such as "0,1,2"); the store
	// only compares it. On MySQL it must fit 255 characters.
	Batch string
}

// PoStMessage is the record of a message the poster claimed.
type PoStMessage struct {
	PoStMessageKey
	// Message is the CID of the pushed message, empty until it is pushed.
	Message string
	// CreatedAt and UpdatedAt are stored to the second.
	CreatedAt, UpdatedAt time.Time
}

// PoStMessages is the repository of the WindowPoSt poster's messages
// (table post_messages). A poster claims a message before pushing it, so
// that a manager restarted mid-deadline finds the claim and never sends
// the same proof or declaration twice.
type PoStMessages struct {
	db *DB
}

// PoStMessages returns the repository of the WindowPoSt poster's messages.
func (db *DB) PoStMessages() *PoStMessages { return &PoStMessages{db: db} }

// claimAttempts bounds how often Claim inserts again after finding the
// row it lost the insert to already deleted.
const claimAttempts = 3

// Claim records the intent to send the message of key, unless a row
// exists: it returns the row now stored and whether this call created it.
// Of callers claiming one key at once, in this process or others, exactly
// one gets created true.
func (r *PoStMessages) Claim(ctx context.Context, key PoStMessageKey, now time.Time) (PoStMessage, bool, error) {
	miner, err := key.check()
	if err != nil {
		return PoStMessage{}, false, fmt.Errorf("claim %s: %w", key.label(), err)
	}
	insert := insertIfAbsent(r.db.driver, `INSERT INTO post_messages
		(miner, deadline_open, kind, batch, message, created_at, updated_at) VALUES (?, ?, ?, ?, '', ?, ?)`,
		"miner, deadline_open, kind, batch", "miner")
	for range claimAttempts {
		res, err := r.db.exec(ctx, insert, miner, int64(key.DeadlineOpen), key.Kind, key.Batch, now.Unix(), now.Unix())
		if err != nil {
			return PoStMessage{}, false, fmt.Errorf("claim %s: %w", key.label(), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return PoStMessage{}, false, fmt.Errorf("claim %s: %w", key.label(), err)
		}
		if n > 0 {
			at := time.Unix(now.Unix(), 0)
			return PoStMessage{PoStMessageKey: key, CreatedAt: at, UpdatedAt: at}, true, nil
		}
		m, err := scanPoStMessage(r.db.queryRow(ctx, `SELECT `+postMessageColumns+` FROM post_messages
			WHERE miner = ? AND deadline_open = ? AND kind = ? AND batch = ?`,
			miner, int64(key.DeadlineOpen), key.Kind, key.Batch))
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted since our insert met it
		}
		if err != nil {
			return PoStMessage{}, false, fmt.Errorf("claim %s: %w", key.label(), err)
		}
		return m, false, nil
	}
	return PoStMessage{}, false, fmt.Errorf("claim %s: the row was deleted %d times as it was claimed", key.label(), claimAttempts)
}

// SetMessage stores the CID of the pushed message of key, or returns an
// error wrapping ErrNotFound when key was not claimed.
func (r *PoStMessages) SetMessage(ctx context.Context, key PoStMessageKey, message string, now time.Time) error {
	miner, err := key.check()
	if err != nil {
		return fmt.Errorf("set message of %s: %w", key.label(), err)
	}
	if message == "" {
		return fmt.Errorf("set message of %s: empty message CID", key.label())
	}
	res, err := r.db.exec(ctx, `UPDATE post_messages SET message = ?, updated_at = ?
		WHERE miner = ? AND deadline_open = ? AND kind = ? AND batch = ?`,
		message, now.Unix(), miner, int64(key.DeadlineOpen), key.Kind, key.Batch)
	if err != nil {
		return fmt.Errorf("set message of %s: %w", key.label(), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set message of %s: %w", key.label(), err)
	}
	if n > 0 {
		return nil
	}
	// MySQL counts the rows changed, not those matched: writing the
	// values already stored reports none.
	var one int
	err = r.db.queryRow(ctx, `SELECT 1 FROM post_messages
		WHERE miner = ? AND deadline_open = ? AND kind = ? AND batch = ?`,
		miner, int64(key.DeadlineOpen), key.Kind, key.Batch).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("set message of %s: %w", key.label(), ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set message of %s: %w", key.label(), err)
	}
	return nil
}

// List returns the rows of one deadline occurrence of miner, ordered by
// kind, then batch.
func (r *PoStMessages) List(ctx context.Context, miner abi.ActorID, deadlineOpen abi.ChainEpoch) ([]PoStMessage, error) {
	m, err := i64(miner)
	if err != nil {
		return nil, fmt.Errorf("list post messages of miner %d at deadline open %d: miner: %w", miner, deadlineOpen, err)
	}
	if deadlineOpen < 0 {
		return nil, fmt.Errorf("list post messages of miner %d: negative deadline open epoch %d", miner, deadlineOpen)
	}
	rows, err := r.db.query(ctx, `SELECT `+postMessageColumns+` FROM post_messages
		WHERE miner = ? AND deadline_open = ? ORDER BY kind, batch`, m, int64(deadlineOpen))
	if err != nil {
		return nil, fmt.Errorf("list post messages of miner %d at deadline open %d: %w", miner, deadlineOpen, err)
	}
	defer rows.Close()
	var out []PoStMessage
	for rows.Next() {
		pm, err := scanPoStMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("list post messages of miner %d at deadline open %d: %w", miner, deadlineOpen, err)
		}
		out = append(out, pm)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list post messages of miner %d at deadline open %d: %w", miner, deadlineOpen, err)
	}
	return out, nil
}

// Delete removes the row of key, if any.
func (r *PoStMessages) Delete(ctx context.Context, key PoStMessageKey) error {
	miner, err := key.check()
	if err != nil {
		return fmt.Errorf("delete %s: %w", key.label(), err)
	}
	_, err = r.db.exec(ctx, `DELETE FROM post_messages
		WHERE miner = ? AND deadline_open = ? AND kind = ? AND batch = ?`,
		miner, int64(key.DeadlineOpen), key.Kind, key.Batch)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key.label(), err)
	}
	return nil
}

// PruneBefore deletes the rows, of every miner, whose deadline opened
// before epoch, and returns how many it deleted. An epoch at or below 0
// deletes none, so callers may pass the head minus what they keep.
func (r *PoStMessages) PruneBefore(ctx context.Context, epoch abi.ChainEpoch) (int64, error) {
	res, err := r.db.exec(ctx, `DELETE FROM post_messages WHERE deadline_open < ?`, int64(epoch))
	if err != nil {
		return 0, fmt.Errorf("prune post messages before epoch %d: %w", epoch, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune post messages before epoch %d: %w", epoch, err)
	}
	return n, nil
}

// label names the key in errors, as in "post message (miner 1000,
// deadline open 2880, post, batch 0,1)". It is not String, which
// PoStMessage would inherit and print instead of its own fields.
func (k PoStMessageKey) label() string {
	return fmt.Sprintf("post message (miner %d, deadline open %d, %s, batch %s)", k.Miner, k.DeadlineOpen, k.Kind, k.Batch)
}

// check validates k and converts its miner for a query.
func (k PoStMessageKey) check() (miner int64, err error) {
	if k.Kind == "" {
		return 0, errors.New("empty kind")
	}
	if k.Batch == "" {
		return 0, errors.New("empty batch")
	}
	if k.DeadlineOpen < 0 {
		return 0, fmt.Errorf("negative deadline open epoch %d", k.DeadlineOpen)
	}
	if miner, err = i64(k.Miner); err != nil {
		return 0, fmt.Errorf("miner: %w", err)
	}
	return miner, nil
}

const postMessageColumns = `miner, deadline_open, kind, batch, message, created_at, updated_at`

func scanPoStMessage(row interface{ Scan(...any) error }) (PoStMessage, error) {
	var miner, deadlineOpen, createdAt, updatedAt int64
	var m PoStMessage
	if err := row.Scan(&miner, &deadlineOpen, &m.Kind, &m.Batch, &m.Message, &createdAt, &updatedAt); err != nil {
		return PoStMessage{}, err
	}
	m.Miner = abi.ActorID(miner)
	m.DeadlineOpen = abi.ChainEpoch(deadlineOpen)
	m.CreatedAt = time.Unix(createdAt, 0)
	m.UpdatedAt = time.Unix(updatedAt, 0)
	return m, nil
}
