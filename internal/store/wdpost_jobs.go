package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
)

// WdPoSt job states, as damocles names them on the wire.
const (
	WdPoStReady    = "ready2run"
	WdPoStRunning  = "running"
	WdPoStFinished = "finished"
)

// WdPoStHeartbeatTimeout is the ErrorReason ExpireHeartbeats gives the jobs
// it finishes.
const WdPoStHeartbeatTimeout = "heartbeat timeout"

// wdpostJobIDMax is the longest job ID Create accepts, in bytes. damocles's
// IDs (base58 of a 64-bit hash) have 11 characters.
const wdpostJobIDMax = 64

// WdPoStJob is one stored job of the WindowPoSt job queue that
// damocles-manager --worker-prover hands to workers. Input and Output are
// JSON the store does not read.
type WdPoStJob struct {
	ID            string
	Miner         abi.ActorID
	DeadlineIndex uint64
	// DeadlineOpen is the epoch at which the deadline's window opens,
	// which tells this occurrence of the deadline from the next one.
	DeadlineOpen abi.ChainEpoch
	Partitions   []uint64
	// ProofType is the PoSt proof name (such as
	// "StackedDrgWindow32GiBV1_2") that Allocate's filter matches.
	ProofType string
	// Sectors is the number of sectors in Input, for listings.
	Sectors uint32
	// Input is what the worker proves. List leaves it nil.
	Input []byte
	// Output is the worker's result, nil until the job finishes with
	// one. List leaves it nil.
	Output []byte
	// Faults is the number of faulty sectors in Output.
	Faults uint32
	// State is WdPoStReady, WdPoStRunning or WdPoStFinished.
	State string
	// TryNum counts the allocations since the job was created or reset.
	TryNum uint32
	// ErrorReason is why the job failed; empty if it did not.
	ErrorReason string
	// WorkerName is the last worker that took or heartbeated the job.
	WorkerName string
	// The times are stored to the second; the zero time is "never".
	StartedAt, HeartbeatAt, FinishedAt, CreatedAt, UpdatedAt time.Time
}

// WdPoStJobFilter selects the jobs Allocate may take. An empty list does
// not restrict.
type WdPoStJobFilter struct {
	Miners []abi.ActorID
	// ProofTypes are PoSt proof names, compared exactly with the job's.
	ProofTypes []string
}

// WdPoStJobs is the repository of the WindowPoSt job queue (table
// wdpost_jobs). Managers sharing a database share the queue: every state
// change is one statement or one transaction, and the methods that take
// jobs (Allocate, ExpireHeartbeats, RetryFailed) hand each job to one
// caller only.
type WdPoStJobs struct {
	db *DB
}

// WdPoStJobs returns the repository of the WindowPoSt job queue.
func (db *DB) WdPoStJobs() *WdPoStJobs { return &WdPoStJobs{db: db} }

// wdpostJobBriefColumns are the columns List reads: all but the bulky
// input and output.
const wdpostJobBriefColumns = `id, miner, deadline_index, deadline_open, partitions, proof_type, sectors,
	faults, state, try_num, error_reason, worker_name,
	started_at, heartbeat_at, finished_at, created_at, updated_at`

const wdpostJobColumns = wdpostJobBriefColumns + `, input, output`

// createAttempts bounds how often Create inserts again after finding the
// row it lost the insert to already deleted.
const createAttempts = 3

// Create stores job as a new job, ready to run, unless a job with its ID
// exists: it returns the job now stored and whether this call created it.
// Of callers creating one ID at once, in this process or others, exactly
// one gets created true. Only the job's description is taken from job
// (ID, Miner, DeadlineIndex, DeadlineOpen, Partitions, ProofType, Sectors,
// Input); the rest starts afresh, created and updated at now.
func (r *WdPoStJobs) Create(ctx context.Context, job WdPoStJob, now time.Time) (WdPoStJob, bool, error) {
	fail := func(err error) (WdPoStJob, bool, error) {
		return WdPoStJob{}, false, fmt.Errorf("create wdpost job %q: %w", job.ID, err)
	}
	miner, deadlineIndex, err := job.check()
	if err != nil {
		return fail(err)
	}
	at := secondsOrZero(now)
	stored := WdPoStJob{
		ID: job.ID, Miner: job.Miner, DeadlineIndex: job.DeadlineIndex, DeadlineOpen: job.DeadlineOpen,
		Partitions: job.Partitions, ProofType: job.ProofType, Sectors: job.Sectors, Input: job.Input,
		State: WdPoStReady, CreatedAt: timeOrZero(at), UpdatedAt: timeOrZero(at),
	}
	if len(stored.Partitions) == 0 {
		stored.Partitions = nil
	}
	if len(stored.Input) == 0 {
		stored.Input = nil
	}
	insert := insertIfAbsent(r.db.driver, `INSERT INTO wdpost_jobs (`+wdpostJobColumns+`)
		VALUES (`+placeholders(strings.Count(wdpostJobColumns, ",")+1)+`)`, "id", "id")
	for range createAttempts {
		res, err := r.db.exec(ctx, insert,
			job.ID, miner, deadlineIndex, int64(job.DeadlineOpen), formatPartitions(job.Partitions), job.ProofType,
			int64(job.Sectors), 0, WdPoStReady, 0, "", "", 0, 0, 0, at, at,
			nonNilBytes(job.Input), nil)
		if err != nil {
			return fail(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fail(err)
		}
		if n > 0 {
			return stored, true, nil
		}
		existing, err := r.get(ctx, job.ID)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since our insert met it
		}
		if err != nil {
			return fail(err)
		}
		return existing, false, nil
	}
	return fail(fmt.Errorf("the job was deleted %d times as it was created", createAttempts))
}

// Get returns the job id, or an error wrapping ErrNotFound.
func (r *WdPoStJobs) Get(ctx context.Context, id string) (WdPoStJob, error) {
	j, err := r.get(ctx, id)
	if err != nil {
		return WdPoStJob{}, fmt.Errorf("get wdpost job: %w", err)
	}
	return j, nil
}

// Status returns the job id without its Input and Output (nil), for
// callers that poll a job's state; an unknown id wraps ErrNotFound.
func (r *WdPoStJobs) Status(ctx context.Context, id string) (WdPoStJob, error) {
	j, err := scanWdPoStJob(r.db.queryRow(ctx, `SELECT `+wdpostJobBriefColumns+` FROM wdpost_jobs WHERE id = ?`, id), false)
	if errors.Is(err, sql.ErrNoRows) {
		return WdPoStJob{}, fmt.Errorf("wdpost job status: %w", jobNotFoundError{id})
	}
	if err != nil {
		return WdPoStJob{}, fmt.Errorf("wdpost job status of '%s': %w", id, err)
	}
	return j, nil
}

func (r *WdPoStJobs) get(ctx context.Context, id string) (WdPoStJob, error) {
	j, err := scanWdPoStJob(r.db.queryRow(ctx, `SELECT `+wdpostJobColumns+` FROM wdpost_jobs WHERE id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return WdPoStJob{}, jobNotFoundError{id}
	}
	if err != nil {
		return WdPoStJob{}, fmt.Errorf("job '%s': %w", id, err)
	}
	return j, nil
}

// Allocate takes up to num ready jobs that filter selects, oldest first
// (by CreatedAt, then ID), for worker: they become running, their TryNum
// grows by one, and StartedAt, HeartbeatAt and UpdatedAt become now. It
// returns them whole, Input included, and an empty (not nil) slice when
// there are none. Callers allocating at once, in this process or others,
// never get the same job.
//
// On PostgreSQL and MySQL, concurrent callers do not wait for each other:
// each passes over the jobs another is taking (SKIP LOCKED) and takes the
// next ones. On SQLite they take turns, as every SQLite write does.
func (r *WdPoStJobs) Allocate(ctx context.Context, filter WdPoStJobFilter, num int, worker string, now time.Time) ([]WdPoStJob, error) {
	fail := func(err error) ([]WdPoStJob, error) {
		return nil, fmt.Errorf("allocate %d wdpost jobs for worker %q: %w", num, worker, err)
	}
	if num <= 0 {
		return []WdPoStJob{}, nil
	}
	where := []string{"state = ?"}
	args := []any{WdPoStReady}
	if len(filter.Miners) > 0 {
		where = append(where, "miner IN ("+placeholders(len(filter.Miners))+")")
		for _, m := range filter.Miners {
			miner, err := i64(m)
			if err != nil {
				return fail(fmt.Errorf("miner filter: %w", err))
			}
			args = append(args, miner)
		}
	}
	if len(filter.ProofTypes) > 0 {
		where = append(where, "proof_type IN ("+placeholders(len(filter.ProofTypes))+")")
		for _, p := range filter.ProofTypes {
			args = append(args, p)
		}
	}
	at := secondsOrZero(now)
	jobs, err := r.take(ctx, jobTake{
		withData: true,
		where:    strings.Join(where, " AND "),
		args:     args,
		limit:    num,
		set: `state = ?, try_num = try_num + 1, worker_name = ?,
			started_at = ?, heartbeat_at = ?, finished_at = 0, updated_at = ?`,
		setArgs: []any{WdPoStRunning, worker, at, at, at},
		apply: func(j *WdPoStJob) {
			j.State, j.TryNum, j.WorkerName = WdPoStRunning, j.TryNum+1, worker
			j.StartedAt, j.HeartbeatAt, j.FinishedAt, j.UpdatedAt = timeOrZero(at), timeOrZero(at), time.Time{}, timeOrZero(at)
		},
	})
	if err != nil {
		return fail(err)
	}
	return jobs, nil
}

// Heartbeat records that worker is still running the jobs ids: they become
// running (a ready job too: a worker may still be proving a job an operator
// reset), with HeartbeatAt and UpdatedAt now and WorkerName worker. Every
// job must exist and be ready or running; otherwise the call fails with an
// error naming the job and its state (wrapping ErrNotFound for an unknown
// one) and changes nothing.
func (r *WdPoStJobs) Heartbeat(ctx context.Context, ids []string, worker string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	// Locked in one order, so that two calls on overlapping jobs cannot
	// deadlock.
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	err := r.db.inTx(ctx, func(t txn) error {
		for _, id := range sorted {
			var state string
			err := t.queryRow(ctx, `SELECT state FROM wdpost_jobs WHERE id = ?`+t.forUpdate(), id).Scan(&state)
			if errors.Is(err, sql.ErrNoRows) {
				return jobNotFoundError{id}
			}
			if err != nil {
				return fmt.Errorf("job '%s': %w", id, err)
			}
			if state != WdPoStReady && state != WdPoStRunning {
				return fmt.Errorf("job '%s' is %s, not %s or %s", id, state, WdPoStRunning, WdPoStReady)
			}
		}
		args := []any{WdPoStRunning, worker, secondsOrZero(now), secondsOrZero(now)}
		for _, id := range sorted {
			args = append(args, id)
		}
		_, err := t.exec(ctx, `UPDATE wdpost_jobs SET state = ?, worker_name = ?, heartbeat_at = ?, updated_at = ?
			WHERE id IN (`+placeholders(len(sorted))+`)`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat %d wdpost jobs of worker %q: %w", len(sorted), worker, err)
	}
	return nil
}

// Finish records the end of the job id, whatever its state: it becomes
// finished with output (nil for none; an empty output is stored as none),
// faults and errorReason ("" for success), FinishedAt and UpdatedAt now.
// An unknown job is an error wrapping ErrNotFound. On MySQL errorReason
// must fit 65,535 bytes.
func (r *WdPoStJobs) Finish(ctx context.Context, id string, output []byte, faults uint32, errorReason string, now time.Time) error {
	if len(output) == 0 {
		output = nil
	}
	at := secondsOrZero(now)
	err := r.updateOne(ctx, id, `state = ?, output = ?, faults = ?, error_reason = ?, finished_at = ?, updated_at = ?`,
		WdPoStFinished, nullBytes(output), int64(faults), errorReason, at, at)
	if err != nil {
		return fmt.Errorf("finish wdpost job: %w", err)
	}
	return nil
}

// Reset puts the job id back in the queue as if just created at now: ready,
// TryNum 0, no output, error or worker, and no start, heartbeat or finish
// time. An unknown job is an error wrapping ErrNotFound whose text is
// damocles's, "job '<id>' does not exist", as the CLI shows it.
func (r *WdPoStJobs) Reset(ctx context.Context, id string, now time.Time) error {
	at := secondsOrZero(now)
	err := r.updateOne(ctx, id, `state = ?, try_num = 0, output = NULL, faults = 0, error_reason = '', worker_name = '',
		started_at = 0, heartbeat_at = 0, finished_at = 0, created_at = ?, updated_at = ?`,
		WdPoStReady, at, at)
	if err != nil && !errors.As(err, new(jobNotFoundError)) {
		return fmt.Errorf("reset wdpost job: %w", err)
	}
	return err
}

// Remove deletes the job id. An unknown job is not an error.
func (r *WdPoStJobs) Remove(ctx context.Context, id string) error {
	if _, err := r.db.exec(ctx, `DELETE FROM wdpost_jobs WHERE id = ?`, id); err != nil {
		return fmt.Errorf("remove wdpost job '%s': %w", id, err)
	}
	return nil
}

// List returns every job, newest first (by CreatedAt, then ID ascending),
// without Input and Output, so that a listing of thousands of jobs stays
// small.
func (r *WdPoStJobs) List(ctx context.Context) ([]WdPoStJob, error) {
	rows, err := r.db.query(ctx, `SELECT `+wdpostJobBriefColumns+` FROM wdpost_jobs ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list wdpost jobs: %w", err)
	}
	jobs, err := scanWdPoStJobs(rows, false)
	if err != nil {
		return nil, fmt.Errorf("list wdpost jobs: %w", err)
	}
	return jobs, nil
}

// ExpireHeartbeats finishes every running job whose last heartbeat is
// older than before, with ErrorReason WdPoStHeartbeatTimeout, FinishedAt
// and UpdatedAt now, and returns them (without Input and Output), oldest
// first. Of callers expiring at once, in this process or others, one only
// reports each job.
func (r *WdPoStJobs) ExpireHeartbeats(ctx context.Context, before, now time.Time) ([]WdPoStJob, error) {
	at := secondsOrZero(now)
	jobs, err := r.take(ctx, jobTake{
		where:   `state = ? AND heartbeat_at < ?`,
		args:    []any{WdPoStRunning, secondsOrZero(before)},
		set:     `state = ?, error_reason = ?, finished_at = ?, updated_at = ?`,
		setArgs: []any{WdPoStFinished, WdPoStHeartbeatTimeout, at, at},
		apply: func(j *WdPoStJob) {
			j.State, j.ErrorReason = WdPoStFinished, WdPoStHeartbeatTimeout
			j.FinishedAt, j.UpdatedAt = timeOrZero(at), timeOrZero(at)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("expire wdpost jobs without a heartbeat since %v: %w", before, err)
	}
	return jobs, nil
}

// RetryFailed puts back in the queue every finished job that failed (its
// ErrorReason is not empty) fewer than maxTry times (TryNum < maxTry): it
// becomes ready, without output, faults, error, worker or start, heartbeat
// and finish times, its TryNum kept and UpdatedAt now. It returns them
// (without Input and Output), oldest first; of callers retrying at once,
// one only reports each job.
func (r *WdPoStJobs) RetryFailed(ctx context.Context, maxTry uint32, now time.Time) ([]WdPoStJob, error) {
	at := secondsOrZero(now)
	jobs, err := r.take(ctx, jobTake{
		where: `state = ? AND error_reason <> '' AND try_num < ?`,
		args:  []any{WdPoStFinished, int64(maxTry)},
		set: `state = ?, output = NULL, faults = 0, error_reason = '', worker_name = '',
			started_at = 0, heartbeat_at = 0, finished_at = 0, updated_at = ?`,
		setArgs: []any{WdPoStReady, at},
		apply: func(j *WdPoStJob) {
			j.State, j.Faults, j.ErrorReason, j.WorkerName = WdPoStReady, 0, "", ""
			j.StartedAt, j.HeartbeatAt, j.FinishedAt, j.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, timeOrZero(at)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("retry failed wdpost jobs (max try %d): %w", maxTry, err)
	}
	return jobs, nil
}

// DeleteCreatedBefore deletes the jobs, in any state, created before
// before, and returns how many it deleted.
func (r *WdPoStJobs) DeleteCreatedBefore(ctx context.Context, before time.Time) (int, error) {
	res, err := r.db.exec(ctx, `DELETE FROM wdpost_jobs WHERE created_at < ?`, secondsOrZero(before))
	if err != nil {
		return 0, fmt.Errorf("delete wdpost jobs created before %v: %w", before, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete wdpost jobs created before %v: %w", before, err)
	}
	return int(n), nil
}

// jobTake is a change of state that several managers may attempt at once
// on the same jobs.
type jobTake struct {
	// withData returns the jobs' Input and Output too.
	withData bool
	// where (with args) selects the jobs to change; limit, if not 0,
	// bounds how many.
	where string
	args  []any
	limit int
	// set (with setArgs) is the change, as in UPDATE ... SET; apply makes
	// the same change to the job returned.
	set     string
	setArgs []any
	apply   func(j *WdPoStJob)
}

// take makes the change c in one transaction and returns the jobs it
// changed, by CreatedAt then ID (an empty slice for none). Two guards keep
// two callers from changing one job: the SELECT locks the rows it reads and
// passes over those another transaction locked (on SQLite the transaction
// holds the database's write lock), and each UPDATE repeats the selection
// on its job, so a job that no longer matches (one the lock did not
// protect) is left out rather than changed twice.
func (r *WdPoStJobs) take(ctx context.Context, c jobTake) ([]WdPoStJob, error) {
	columns := wdpostJobBriefColumns
	if c.withData {
		columns = wdpostJobColumns
	}
	query := `SELECT ` + columns + ` FROM wdpost_jobs WHERE ` + c.where + ` ORDER BY created_at, id`
	args := c.args
	if c.limit > 0 {
		query += ` LIMIT ?`
		args = append(slices.Clip(args), c.limit)
	}
	update := `UPDATE wdpost_jobs SET ` + c.set + ` WHERE id = ? AND ` + c.where
	var taken []WdPoStJob
	err := r.db.inQueueTx(ctx, func(t txn) error {
		taken = []WdPoStJob{}
		rows, err := t.query(ctx, query+t.forUpdateSkipLocked(), args...)
		if err != nil {
			return err
		}
		jobs, err := scanWdPoStJobs(rows, c.withData)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			res, err := t.exec(ctx, update, slices.Concat(c.setArgs, []any{j.ID}, c.args)...)
			if err != nil {
				return fmt.Errorf("job '%s': %w", j.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("job '%s': %w", j.ID, err)
			}
			if n == 0 {
				continue // taken by another caller since we read it
			}
			c.apply(&j)
			taken = append(taken, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return taken, nil
}

// updateOne applies set (with args) to the job id, or returns
// jobNotFoundError.
func (r *WdPoStJobs) updateOne(ctx context.Context, id, set string, args ...any) error {
	res, err := r.db.exec(ctx, `UPDATE wdpost_jobs SET `+set+` WHERE id = ?`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("job '%s': %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("job '%s': %w", id, err)
	}
	if n > 0 {
		return nil
	}
	// MySQL counts the rows changed, not those matched: writing the
	// values already stored reports none.
	var one int
	err = r.db.queryRow(ctx, `SELECT 1 FROM wdpost_jobs WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return jobNotFoundError{id}
	}
	if err != nil {
		return fmt.Errorf("job '%s': %w", id, err)
	}
	return nil
}

// jobNotFoundError is an unknown job, in damocles's words.
type jobNotFoundError struct{ id string }

func (e jobNotFoundError) Error() string        { return fmt.Sprintf("job '%s' does not exist", e.id) }
func (e jobNotFoundError) Is(target error) bool { return target == ErrNotFound }

// check validates what Create stores of j and converts its unsigned
// numbers for a query.
func (j WdPoStJob) check() (miner, deadlineIndex int64, err error) {
	switch {
	case j.ID == "":
		return 0, 0, errors.New("empty job ID")
	case len(j.ID) > wdpostJobIDMax:
		return 0, 0, fmt.Errorf("job ID of %d bytes; at most %d are allowed", len(j.ID), wdpostJobIDMax)
	case j.ProofType == "":
		return 0, 0, errors.New("empty proof type")
	case j.DeadlineOpen < 0:
		return 0, 0, fmt.Errorf("negative deadline open epoch %d", j.DeadlineOpen)
	}
	if miner, err = i64(j.Miner); err != nil {
		return 0, 0, fmt.Errorf("miner: %w", err)
	}
	if deadlineIndex, err = i64(j.DeadlineIndex); err != nil {
		return 0, 0, fmt.Errorf("deadline index: %w", err)
	}
	return miner, deadlineIndex, nil
}

// formatPartitions stores partition indexes as "0,1,2", none as "".
func formatPartitions(ps []uint64) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(p, 10))
	}
	return b.String()
}

func parsePartitions(s string) ([]uint64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	ps := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("partitions %q: %w", s, err)
		}
		ps[i] = n
	}
	return ps, nil
}

// secondsOrZero stores a time as unix seconds, the zero time as 0.
func secondsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// timeOrZero reads what secondsOrZero stored.
func timeOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

// scanWdPoStJobs reads and closes rows of wdpostJobColumns, or of
// wdpostJobBriefColumns when not withData.
func scanWdPoStJobs(rows *sql.Rows, withData bool) ([]WdPoStJob, error) {
	defer rows.Close()
	var jobs []WdPoStJob
	for rows.Next() {
		j, err := scanWdPoStJob(rows, withData)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return jobs, nil
}

func scanWdPoStJob(row interface{ Scan(...any) error }, withData bool) (WdPoStJob, error) {
	var (
		j                                                        WdPoStJob
		miner, deadlineIndex, deadlineOpen                       int64
		sectors, faults, tryNum                                  int64
		startedAt, heartbeatAt, finishedAt, createdAt, updatedAt int64
		partitions                                               string
	)
	dest := []any{&j.ID, &miner, &deadlineIndex, &deadlineOpen, &partitions, &j.ProofType, &sectors,
		&faults, &j.State, &tryNum, &j.ErrorReason, &j.WorkerName,
		&startedAt, &heartbeatAt, &finishedAt, &createdAt, &updatedAt}
	if withData {
		dest = append(dest, &j.Input, &j.Output)
	}
	if err := row.Scan(dest...); err != nil {
		return WdPoStJob{}, err
	}
	var err error
	if j.Partitions, err = parsePartitions(partitions); err != nil {
		return WdPoStJob{}, fmt.Errorf("job '%s': %w", j.ID, err)
	}
	j.Miner, j.DeadlineIndex, j.DeadlineOpen = abi.ActorID(miner), uint64(deadlineIndex), abi.ChainEpoch(deadlineOpen)
	j.Sectors, j.Faults, j.TryNum = uint32(sectors), uint32(faults), uint32(tryNum)
	j.StartedAt, j.HeartbeatAt, j.FinishedAt = timeOrZero(startedAt), timeOrZero(heartbeatAt), timeOrZero(finishedAt)
	j.CreatedAt, j.UpdatedAt = timeOrZero(createdAt), timeOrZero(updatedAt)
	// Drivers differ on whether an empty BLOB reads as nil.
	if len(j.Input) == 0 {
		j.Input = nil
	}
	if len(j.Output) == 0 {
		j.Output = nil
	}
	return j, nil
}
