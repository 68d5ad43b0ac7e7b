package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/store"
)

// PoSt proof names, as the jobs and the workers' filters carry them.
const (
	window32G  = "StackedDrgWindow32GiBV1_2"
	window64G  = "StackedDrgWindow64GiBV1_2"
	winning32G = "StackedDrgWinning32GiBV1"
)

// Allocation by many workers through several managers sharing the
// database (see exerciseConcurrentAllocate).
const (
	allocateJobs     = 300
	allocateWorkers  = 50
	allocateManagers = 10
	// allocateConns caps each manager's pool on PostgreSQL and MySQL, so
	// the test holds at most allocateManagers*allocateConns = 50 server
	// sessions: under PostgreSQL's default max_connections of 100 (and
	// MariaDB's 151) with room for other packages' tests running at the
	// same time.
	allocateConns = 5
)

// wdpostJob is the description of a job of miner.
func wdpostJob(id string, miner abi.ActorID) store.WdPoStJob {
	return store.WdPoStJob{
		ID: id, Miner: miner, DeadlineIndex: 3, DeadlineOpen: 3_000_000, Partitions: []uint64{0, 1},
		ProofType: window32G, Sectors: 2349, Input: []byte(`{"MinerId":` + fmt.Sprint(miner) + `,"id":"` + id + `"}`),
	}
}

// createdJob is j as Create stores it at at.
func createdJob(j store.WdPoStJob, at time.Time) store.WdPoStJob {
	return store.WdPoStJob{
		ID: j.ID, Miner: j.Miner, DeadlineIndex: j.DeadlineIndex, DeadlineOpen: j.DeadlineOpen,
		Partitions: j.Partitions, ProofType: j.ProofType, Sectors: j.Sectors, Input: j.Input,
		State: store.WdPoStReady, CreatedAt: at, UpdatedAt: at,
	}
}

// brief is j as List returns it.
func brief(j store.WdPoStJob) store.WdPoStJob {
	j.Input, j.Output = nil, nil
	return j
}

func exerciseWdPoStJobs(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("CreateThenGet", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		j := store.WdPoStJob{
			ID: "5Hr2LDmpVEb", Miner: 1000, DeadlineIndex: math.MaxInt64, DeadlineOpen: 3_000_000,
			Partitions: []uint64{0, 7, math.MaxUint64}, ProofType: window32G, Sectors: math.MaxUint32,
			Input: []byte{0x00, '{', 0xff, '}', 0x00},
			// What Create ignores:
			Output: []byte("out"), Faults: 3, State: store.WdPoStFinished, TryNum: 4, ErrorReason: "boom",
			WorkerName: "w", StartedAt: testTime, HeartbeatAt: testTime, FinishedAt: testTime,
			CreatedAt: testTime.Add(-time.Hour), UpdatedAt: testTime.Add(-time.Hour),
		}
		want := createdJob(j, testTime)
		got, created, err := jobs.Create(ctx, j, testTime.Add(999*time.Millisecond))
		if err != nil || !created || !reflect.DeepEqual(got, want) {
			t.Fatalf("Create = %+v, %v, %v; want %+v, true, nil", got, created, err, want)
		}
		wantJob(t, jobs, want)

		// No partitions, and an input of megabytes.
		big := wdpostJob("big", 1000)
		big.Partitions = []uint64{}
		big.Input = bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
		want = createdJob(big, testTime)
		want.Partitions = nil
		if got, created, err := jobs.Create(ctx, big, testTime); err != nil || !created || !reflect.DeepEqual(got, want) {
			t.Fatalf("Create of a 3 MiB job = %v, %v; want created", created, err)
		}
		wantJob(t, jobs, want)

		if _, err := jobs.Status(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Status of a missing job = %v; want ErrNotFound", err)
		}
		_, err = jobs.Get(ctx, "missing")
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "job 'missing' does not exist") {
			t.Fatalf("Get of a missing job = %v; want ErrNotFound saying job 'missing' does not exist", err)
		}
		if _, err := jobs.Get(ctx, "5HR2LDMPVEB"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(5HR2LDMPVEB) = %v; want ErrNotFound: IDs are case-sensitive", err)
		}
	})

	t.Run("CreateIsIdempotent", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		j := wdpostJob("job", 1000)
		mustCreateJob(t, jobs, j, testTime)
		allocateJob(t, jobs, 1000, "w1", testTime.Add(time.Second))
		mustFinish(t, jobs, "job", []byte("proof"), 0, "", testTime.Add(2*time.Second))
		stored := getJob(t, jobs, "job")

		again := j
		again.Input, again.Sectors = []byte("other input"), 1
		got, created, err := jobs.Create(ctx, again, testTime.Add(time.Hour))
		if err != nil || created || !reflect.DeepEqual(got, stored) {
			t.Fatalf("second Create = %+v, %v, %v; want %+v, false, nil", got, created, err, stored)
		}
		wantJob(t, jobs, stored)
	})

	t.Run("CreateInvalid", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		for _, tt := range []struct {
			change func(j *store.WdPoStJob)
			want   string
		}{
			{func(j *store.WdPoStJob) { j.ID = "" }, "empty job ID"},
			{func(j *store.WdPoStJob) { j.ID = strings.Repeat("x", 65) }, "at most 64"},
			{func(j *store.WdPoStJob) { j.ProofType = "" }, "proof type"},
			{func(j *store.WdPoStJob) { j.DeadlineOpen = -1 }, "deadline open"},
			{func(j *store.WdPoStJob) { j.Miner = 1 << 63 }, "miner"},
			{func(j *store.WdPoStJob) { j.DeadlineIndex = 1 << 63 }, "deadline index"},
		} {
			j := wdpostJob("job", 1000)
			tt.change(&j)
			if _, _, err := jobs.Create(ctx, j, testTime); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create(%+v) = %v; want an error saying %q", j, err, tt.want)
			}
		}
		wantJobList(t, jobs)
		longest := wdpostJob(strings.Repeat("x", 64), 1000)
		if _, created, err := jobs.Create(ctx, longest, testTime); err != nil || !created {
			t.Fatalf("Create of a 64-byte ID = %v, %v; want created", created, err)
		}
		wantJobList(t, jobs, brief(createdJob(longest, testTime)))
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		dbs := handles(t, db)
		got := make([]store.WdPoStJob, len(dbs))
		created := make([]bool, len(dbs))
		errs := race(len(dbs), func(i int) error {
			var err error
			got[i], created[i], err = dbs[i].WdPoStJobs().Create(ctx, wdpostJob("job", 1000), testTime.Add(time.Duration(i)*time.Second))
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Create on handle %d: %v", i, err)
			}
		}
		winner := onlyWinner(t, "Creates created the job", created)
		want := createdJob(wdpostJob("job", 1000), testTime.Add(time.Duration(winner)*time.Second))
		for i := range got {
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("Create on handle %d = %+v; want the job handle %d created, %+v", i, got[i], winner, want)
			}
		}
		wantJob(t, db.WdPoStJobs(), want)
	})

	t.Run("AllocateFilters", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		// Created in this order, a second apart.
		all := []store.WdPoStJob{
			withProof(wdpostJob("a", 1000), window32G),
			withProof(wdpostJob("b", 1001), window32G),
			withProof(wdpostJob("c", 1000), window64G),
			withProof(wdpostJob("d", 1002), winning32G),
		}
		for _, tt := range []struct {
			name   string
			filter store.WdPoStJobFilter
			want   []string
		}{
			{"None", store.WdPoStJobFilter{}, []string{"a", "b", "c", "d"}},
			{"EmptyLists", store.WdPoStJobFilter{Miners: []abi.ActorID{}, ProofTypes: []string{}}, []string{"a", "b", "c", "d"}},
			{"OneMiner", store.WdPoStJobFilter{Miners: []abi.ActorID{1000}}, []string{"a", "c"}},
			{"TwoMiners", store.WdPoStJobFilter{Miners: []abi.ActorID{1002, 1000}}, []string{"a", "c", "d"}},
			{"ProofType", store.WdPoStJobFilter{ProofTypes: []string{window32G}}, []string{"a", "b"}},
			{"ProofTypes", store.WdPoStJobFilter{ProofTypes: []string{winning32G, window64G}}, []string{"c", "d"}},
			{"Both", store.WdPoStJobFilter{Miners: []abi.ActorID{1000, 1002}, ProofTypes: []string{window32G, winning32G}}, []string{"a", "d"}},
			{"UnknownMiner", store.WdPoStJobFilter{Miners: []abi.ActorID{999}}, nil},
			// Proof names match exactly, whatever the database's collation.
			{"ProofTypeCase", store.WdPoStJobFilter{ProofTypes: []string{strings.ToLower(window32G)}}, nil},
		} {
			for i, j := range all {
				mustCreateJob(t, jobs, j, testTime.Add(time.Duration(i)*time.Second))
			}
			got, err := jobs.Allocate(ctx, tt.filter, 10, "w", testTime.Add(time.Minute))
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got == nil {
				t.Fatalf("%s: Allocate returned a nil slice; want an empty one", tt.name)
			}
			if ids := jobIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("%s: Allocate(%+v) took %q; want %q", tt.name, tt.filter, ids, tt.want)
			}
			for _, j := range all {
				state := store.WdPoStReady
				if slices.Contains(tt.want, j.ID) {
					state = store.WdPoStRunning
				}
				if got := getJob(t, jobs, j.ID); got.State != state {
					t.Errorf("%s: job %s is %s after Allocate; want %s", tt.name, j.ID, got.State, state)
				}
				if err := jobs.Remove(ctx, j.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	})

	t.Run("AllocateOldestFirst", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		// Created out of order; b and a at the same second, ordered by ID.
		for _, c := range []struct {
			id string
			at time.Duration
		}{{"e", 4}, {"b", 1}, {"c", 2}, {"a", 1}, {"d", 3}, {"z", 0}} {
			mustCreateJob(t, jobs, wdpostJob(c.id, 1000), testTime.Add(c.at*time.Second))
		}
		mustFinish(t, jobs, "z", nil, 0, "done before", testTime)
		now := testTime.Add(time.Minute)
		for _, step := range []struct {
			num  int
			want []string
		}{{2, []string{"a", "b"}}, {0, nil}, {-1, nil}, {1, []string{"c"}}, {10, []string{"d", "e"}}, {1, nil}} {
			got, err := jobs.Allocate(ctx, store.WdPoStJobFilter{}, step.num, "worker-1", now)
			if err != nil {
				t.Fatalf("Allocate(%d): %v", step.num, err)
			}
			if got == nil {
				t.Fatalf("Allocate(%d) returned a nil slice; want an empty one", step.num)
			}
			if ids := jobIDs(got); !slices.Equal(ids, step.want) {
				t.Fatalf("Allocate(%d) took %q; want %q", step.num, ids, step.want)
			}
			for _, j := range got {
				want := getJob(t, jobs, j.ID) // whole, Input included
				if want.State != store.WdPoStRunning || want.TryNum != 1 || want.WorkerName != "worker-1" ||
					!want.StartedAt.Equal(now) || !want.HeartbeatAt.Equal(now) || !want.UpdatedAt.Equal(now) ||
					!want.FinishedAt.IsZero() || !bytes.Equal(want.Input, wdpostJob(j.ID, 1000).Input) {
					t.Errorf("job %s after Allocate = %+v; want running, try 1, worker-1, started, heartbeat and updated at %v", j.ID, want, now)
				}
				if !reflect.DeepEqual(j, want) {
					t.Errorf("Allocate returned %+v; Get returns %+v", j, want)
				}
			}
		}
	})

	t.Run("AllocateAgainAfterRetry", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		mustCreateJob(t, jobs, wdpostJob("job", 1000), testTime)
		allocateJob(t, jobs, 1000, "w1", testTime.Add(time.Second))
		mustFinish(t, jobs, "job", nil, 0, "out of memory", testTime.Add(2*time.Second))
		if got, err := jobs.RetryFailed(ctx, 2, testTime.Add(3*time.Second)); err != nil || len(got) != 1 {
			t.Fatalf("RetryFailed = %v, %v; want the job", got, err)
		}
		got := allocateJob(t, jobs, 1000, "w2", testTime.Add(4*time.Second))
		want := createdJob(wdpostJob("job", 1000), testTime)
		want.State, want.TryNum, want.WorkerName = store.WdPoStRunning, 2, "w2"
		want.StartedAt, want.HeartbeatAt, want.UpdatedAt = testTime.Add(4*time.Second), testTime.Add(4*time.Second), testTime.Add(4*time.Second)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("second Allocate = %+v; want %+v", got, want)
		}
		wantJob(t, jobs, want)
	})

	t.Run("ConcurrentAllocate", func(t *testing.T) { exerciseConcurrentAllocate(t, newDB) })

	t.Run("Heartbeat", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		mustCreateJob(t, jobs, wdpostJob("ready", 1000), testTime)
		mustCreateJob(t, jobs, wdpostJob("running", 1001), testTime)
		mustCreateJob(t, jobs, wdpostJob("finished", 1002), testTime)
		allocateJob(t, jobs, 1001, "w1", testTime.Add(time.Second))
		allocateJob(t, jobs, 1002, "w1", testTime.Add(time.Second))
		mustFinish(t, jobs, "finished", []byte("proof"), 0, "", testTime.Add(2*time.Second))

		running := getJob(t, jobs, "running")
		at := testTime.Add(10 * time.Second)
		if err := jobs.Heartbeat(ctx, []string{"running", "running"}, "w2", at.Add(999*time.Millisecond)); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		running.HeartbeatAt, running.UpdatedAt, running.WorkerName = at, at, "w2"
		wantJob(t, jobs, running)

		// A ready job a worker still proves (an operator reset it) runs again.
		ready := getJob(t, jobs, "ready")
		if err := jobs.Heartbeat(ctx, []string{"ready"}, "w3", at); err != nil {
			t.Fatalf("Heartbeat of a ready job: %v", err)
		}
		ready.State, ready.HeartbeatAt, ready.UpdatedAt, ready.WorkerName = store.WdPoStRunning, at, at, "w3"
		wantJob(t, jobs, ready)

		if err := jobs.Heartbeat(ctx, nil, "w2", at); err != nil {
			t.Fatalf("Heartbeat of no job: %v", err)
		}

		// One bad job fails the call and changes nothing.
		finished := getJob(t, jobs, "finished")
		later := at.Add(time.Minute)
		err := jobs.Heartbeat(ctx, []string{"running", "finished", "ready"}, "w4", later)
		if err == nil || !strings.Contains(err.Error(), "'finished'") || !strings.Contains(err.Error(), store.WdPoStFinished+",") {
			t.Fatalf("Heartbeat with a finished job = %v; want an error naming the job and its state", err)
		}
		err = jobs.Heartbeat(ctx, []string{"running", "missing"}, "w4", later)
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "'missing'") {
			t.Fatalf("Heartbeat with an unknown job = %v; want ErrNotFound naming the job", err)
		}
		wantJob(t, jobs, running)
		wantJob(t, jobs, ready)
		wantJob(t, jobs, finished)
	})

	t.Run("Finish", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		mustCreateJob(t, jobs, wdpostJob("ok", 1000), testTime)
		mustCreateJob(t, jobs, wdpostJob("failed", 1001), testTime)
		mustCreateJob(t, jobs, wdpostJob("empty", 1002), testTime)
		allocateJob(t, jobs, 1000, "w1", testTime.Add(time.Second))

		ok := getJob(t, jobs, "ok")
		output := []byte(`{"proofs":["3q2+7w=="],"faults":[42]}`)
		at := testTime.Add(time.Minute)
		for i := range 2 { // the values already stored, again: MySQL reports no row changed
			if err := jobs.Finish(ctx, "ok", output, math.MaxUint32, "", at.Add(500*time.Millisecond)); err != nil {
				t.Fatalf("Finish #%d: %v", i+1, err)
			}
		}
		ok.State, ok.Output, ok.Faults, ok.FinishedAt, ok.UpdatedAt = store.WdPoStFinished, output, math.MaxUint32, at, at
		wantJob(t, jobs, ok)

		// A job in any state finishes, here one never allocated.
		failed := getJob(t, jobs, "failed")
		mustFinish(t, jobs, "failed", nil, 0, "generate window post: some error", at)
		failed.State, failed.ErrorReason, failed.FinishedAt, failed.UpdatedAt = store.WdPoStFinished, "generate window post: some error", at, at
		wantJob(t, jobs, failed)

		empty := getJob(t, jobs, "empty")
		mustFinish(t, jobs, "empty", []byte{}, 0, "", at)
		empty.State, empty.FinishedAt, empty.UpdatedAt = store.WdPoStFinished, at, at
		wantJob(t, jobs, empty)

		if err := jobs.Finish(ctx, "missing", output, 0, "", at); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Finish of an unknown job = %v; want ErrNotFound", err)
		}
	})

	t.Run("Reset", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		j := wdpostJob("job", 1000)
		mustCreateJob(t, jobs, j, testTime)
		allocateJob(t, jobs, 1000, "w1", testTime.Add(time.Second))
		mustFinish(t, jobs, "job", []byte("proof"), 2, "some error", testTime.Add(2*time.Second))
		at := testTime.Add(time.Hour)
		for i := range 2 {
			if err := jobs.Reset(ctx, "job", at); err != nil {
				t.Fatalf("Reset #%d: %v", i+1, err)
			}
		}
		wantJob(t, jobs, createdJob(j, at))

		err := jobs.Reset(ctx, "nope", at)
		if !errors.Is(err, store.ErrNotFound) || err.Error() != "job 'nope' does not exist" {
			t.Fatalf("Reset of an unknown job = %v; want ErrNotFound saying job 'nope' does not exist", err)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		mustCreateJob(t, jobs, wdpostJob("gone", 1000), testTime)
		mustCreateJob(t, jobs, wdpostJob("kept", 1000), testTime)
		for i := range 2 {
			if err := jobs.Remove(ctx, "gone"); err != nil {
				t.Fatalf("Remove #%d: %v", i+1, err)
			}
		}
		if _, err := jobs.Get(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a removed job = %v; want ErrNotFound", err)
		}
		wantJobList(t, jobs, brief(createdJob(wdpostJob("kept", 1000), testTime)))
		// Its ID is free again.
		if _, created, err := jobs.Create(ctx, wdpostJob("gone", 1000), testTime); err != nil || !created {
			t.Fatalf("Create after Remove = %v, %v; want created", created, err)
		}
	})

	t.Run("List", func(t *testing.T) {
		jobs := newDB(t).WdPoStJobs()
		wantJobList(t, jobs)
		for _, c := range []struct {
			id string
			at time.Duration
		}{{"old", 0}, {"new-b", 2}, {"mid", 1}, {"new-a", 2}} {
			mustCreateJob(t, jobs, wdpostJob(c.id, 1000), testTime.Add(c.at*time.Second))
		}
		mustFinish(t, jobs, "mid", []byte("proof"), 5, "", testTime.Add(3*time.Second))
		var want []store.WdPoStJob
		for _, id := range []string{"new-a", "new-b", "mid", "old"} {
			want = append(want, brief(getJob(t, jobs, id)))
		}
		if want[2].Faults != 5 || want[2].Sectors != 2349 {
			t.Fatalf("job mid = %+v; want 5 faults and 2349 sectors", want[2])
		}
		wantJobList(t, jobs, want...)
	})

	t.Run("ExpireHeartbeats", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		for i, id := range []string{"stale", "boundary", "fresh", "ready", "finished"} {
			mustCreateJob(t, jobs, wdpostJob(id, abi.ActorID(1000+i)), testTime)
		}
		allocateJob(t, jobs, 1000, "w1", testTime)
		allocateJob(t, jobs, 1001, "w1", testTime)
		allocateJob(t, jobs, 1002, "w1", testTime)
		allocateJob(t, jobs, 1004, "w1", testTime)
		if err := jobs.Heartbeat(ctx, []string{"boundary"}, "w1", testTime.Add(15*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := jobs.Heartbeat(ctx, []string{"fresh"}, "w1", testTime.Add(20*time.Second)); err != nil {
			t.Fatal(err)
		}
		mustFinish(t, jobs, "finished", nil, 0, "failed", testTime)
		before := map[string]store.WdPoStJob{}
		for _, id := range []string{"stale", "boundary", "fresh", "ready", "finished"} {
			before[id] = getJob(t, jobs, id)
		}

		now := testTime.Add(30 * time.Second)
		got, err := jobs.ExpireHeartbeats(ctx, testTime.Add(15*time.Second), now)
		if err != nil {
			t.Fatal(err)
		}
		stale := before["stale"]
		stale.State, stale.ErrorReason, stale.FinishedAt, stale.UpdatedAt = store.WdPoStFinished, store.WdPoStHeartbeatTimeout, now, now
		if want := []store.WdPoStJob{brief(stale)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("ExpireHeartbeats =\n\t%+v\nwant\n\t%+v", got, want)
		}
		wantJob(t, jobs, stale)
		for _, id := range []string{"boundary", "fresh", "ready", "finished"} {
			wantJob(t, jobs, before[id])
		}
		if got, err := jobs.ExpireHeartbeats(ctx, testTime.Add(15*time.Second), now); err != nil || len(got) != 0 {
			t.Fatalf("second ExpireHeartbeats = %+v, %v; want none", got, err)
		}
	})

	t.Run("ConcurrentExpireHeartbeats", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		jobs := db.WdPoStJobs()
		const n = 100
		for i := range n {
			mustCreateJob(t, jobs, wdpostJob(fmt.Sprintf("job-%03d", i), 1000), testTime)
		}
		if got, err := jobs.Allocate(ctx, store.WdPoStJobFilter{}, n, "w", testTime); err != nil || len(got) != n {
			t.Fatalf("Allocate = %d jobs, %v; want %d", len(got), err, n)
		}
		dbs := handles(t, db)
		// Each handle at its own time, which tells who finished a job.
		now := func(i int) time.Time { return testTime.Add(time.Hour + time.Duration(i)*time.Second) }
		expired := make([][]store.WdPoStJob, len(dbs))
		errs := race(len(dbs), func(i int) error {
			var err error
			expired[i], err = dbs[i].WdPoStJobs().ExpireHeartbeats(ctx, testTime.Add(time.Minute), now(i))
			return err
		})
		reporters := map[string][]int{}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("ExpireHeartbeats on handle %d: %v", i, err)
			}
			for _, j := range expired[i] {
				reporters[j.ID] = append(reporters[j.ID], i)
			}
		}
		for i := range n {
			if id := fmt.Sprintf("job-%03d", i); len(reporters[id]) != 1 {
				t.Errorf("job %s was reported expired by handles %v; want one", id, reporters[id])
			}
		}
		for _, j := range listJobs(t, jobs) {
			if j.State != store.WdPoStFinished || j.ErrorReason != store.WdPoStHeartbeatTimeout ||
				len(reporters[j.ID]) != 1 || !j.FinishedAt.Equal(now(reporters[j.ID][0])) {
				t.Errorf("job %s is %s (%q) at %v after ExpireHeartbeats; want finished (heartbeat timeout) by the handle that reported it",
					j.ID, j.State, j.ErrorReason, j.FinishedAt)
			}
		}
	})

	t.Run("RetryFailed", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		ids := []string{"failed-once", "failed-twice", "succeeded", "running", "ready"}
		for i, id := range ids {
			mustCreateJob(t, jobs, wdpostJob(id, abi.ActorID(1000+i)), testTime)
		}
		// failed-twice: tried, failed, retried, tried and failed again.
		allocateJob(t, jobs, 1001, "w1", testTime.Add(time.Second))
		mustFinish(t, jobs, "failed-twice", nil, 0, store.WdPoStHeartbeatTimeout, testTime.Add(2*time.Second))
		if got, err := jobs.RetryFailed(ctx, 10, testTime.Add(3*time.Second)); err != nil || len(got) != 1 {
			t.Fatalf("RetryFailed = %+v, %v; want failed-twice", got, err)
		}
		allocateJob(t, jobs, 1001, "w2", testTime.Add(4*time.Second))
		mustFinish(t, jobs, "failed-twice", nil, 0, "again", testTime.Add(5*time.Second))
		// failed-once: tried once, failed with an output.
		allocateJob(t, jobs, 1000, "w1", testTime.Add(time.Second))
		mustFinish(t, jobs, "failed-once", []byte("partial"), 3, "some error", testTime.Add(2*time.Second))
		allocateJob(t, jobs, 1002, "w1", testTime.Add(time.Second))
		mustFinish(t, jobs, "succeeded", []byte("proof"), 0, "", testTime.Add(2*time.Second))
		allocateJob(t, jobs, 1003, "w1", testTime.Add(time.Second))
		before := map[string]store.WdPoStJob{}
		for _, id := range ids {
			before[id] = getJob(t, jobs, id)
		}
		if before["failed-twice"].TryNum != 2 {
			t.Fatalf("failed-twice tried %d times; want 2", before["failed-twice"].TryNum)
		}

		now := testTime.Add(time.Minute)
		retried := func(id string) store.WdPoStJob {
			j := before[id]
			j.State, j.Output, j.Faults, j.ErrorReason, j.WorkerName = store.WdPoStReady, nil, 0, "", ""
			j.StartedAt, j.HeartbeatAt, j.FinishedAt, j.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, now
			return j
		}
		for _, step := range []struct {
			maxTry uint32
			want   []string
		}{{0, nil}, {1, nil}, {2, []string{"failed-once"}}, {2, nil}, {3, []string{"failed-twice"}}} {
			got, err := jobs.RetryFailed(ctx, step.maxTry, now)
			if err != nil {
				t.Fatalf("RetryFailed(%d): %v", step.maxTry, err)
			}
			var want []store.WdPoStJob
			for _, id := range step.want {
				want = append(want, brief(retried(id)))
			}
			if !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("RetryFailed(%d) =\n\t%+v\nwant\n\t%+v", step.maxTry, got, want)
			}
		}
		wantJob(t, jobs, retried("failed-once"))
		wantJob(t, jobs, retried("failed-twice"))
		for _, id := range []string{"succeeded", "running", "ready"} {
			wantJob(t, jobs, before[id])
		}
	})

	t.Run("DeleteCreatedBefore", func(t *testing.T) {
		ctx := testContext(t)
		jobs := newDB(t).WdPoStJobs()
		for i, id := range []string{"a", "b", "c", "d"} {
			mustCreateJob(t, jobs, wdpostJob(id, abi.ActorID(1000+i)), testTime.Add(time.Duration(i)*time.Hour))
		}
		allocateJob(t, jobs, 1000, "w1", testTime)
		for _, step := range []struct {
			before time.Time
			want   int
		}{
			{time.Time{}, 0}, {testTime, 0}, {testTime.Add(time.Second), 1},
			{testTime.Add(2 * time.Hour), 1}, {testTime.Add(2 * time.Hour), 0}, {testTime.Add(3*time.Hour + time.Second), 2},
		} {
			if n, err := jobs.DeleteCreatedBefore(ctx, step.before); err != nil || n != step.want {
				t.Fatalf("DeleteCreatedBefore(%v) = %d, %v; want %d, nil", step.before, n, err, step.want)
			}
		}
		wantJobList(t, jobs)
	})
}

// exerciseConcurrentAllocate has allocateWorkers workers take every job of
// the queue, one at a time, through allocateManagers handles (as many
// managers sharing the database would), and checks that each job went to
// one worker only, once.
func exerciseConcurrentAllocate(t *testing.T, newDB func(t *testing.T) *store.DB) {
	ctx := testContext(t)
	db := newDB(t)
	dbs := []*store.DB{db}
	for len(dbs) < allocateManagers {
		dbs = append(dbs, Reopen(t, db))
	}
	if db.Driver() != store.DriverSQLite { // which holds one connection per handle
		for _, d := range dbs {
			d.SQL().SetMaxOpenConns(allocateConns)
		}
	}
	jobs := db.WdPoStJobs()
	for i := range allocateJobs {
		mustCreateJob(t, jobs, wdpostJob(fmt.Sprintf("job-%03d", i), 1000), testTime.Add(time.Duration(i%7)*time.Second))
	}

	var (
		mu    sync.Mutex
		takes = map[string][]string{} // job -> workers that took it
	)
	errs := race(allocateWorkers, func(i int) error {
		worker := fmt.Sprintf("worker-%02d", i)
		filter := store.WdPoStJobFilter{Miners: []abi.ActorID{1000}, ProofTypes: []string{winning32G, window32G}}
		for {
			got, err := dbs[i%len(dbs)].WdPoStJobs().Allocate(ctx, filter, 1, worker, testTime.Add(time.Minute))
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			if len(got) > 1 {
				return fmt.Errorf("Allocate(1) returned %d jobs", len(got))
			}
			mu.Lock()
			takes[got[0].ID] = append(takes[got[0].ID], worker)
			mu.Unlock()
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	if len(takes) != allocateJobs {
		t.Errorf("%d of %d jobs were allocated", len(takes), allocateJobs)
	}
	for id, workers := range takes {
		if len(workers) != 1 {
			t.Errorf("job %s was allocated %d times, to %v; want once", id, len(workers), workers)
		}
	}
	for _, j := range listJobs(t, jobs) {
		if j.State != store.WdPoStRunning || j.TryNum != 1 || !slices.Contains(takes[j.ID], j.WorkerName) {
			t.Errorf("job %s is %s, try %d, worker %q; want running, try 1, by %v", j.ID, j.State, j.TryNum, j.WorkerName, takes[j.ID])
		}
	}
}

func withProof(j store.WdPoStJob, proofType string) store.WdPoStJob {
	j.ProofType = proofType
	return j
}

func jobIDs(jobs []store.WdPoStJob) []string {
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

func mustCreateJob(t *testing.T, jobs *store.WdPoStJobs, j store.WdPoStJob, now time.Time) {
	t.Helper()
	if _, created, err := jobs.Create(testContext(t), j, now); err != nil || !created {
		t.Fatalf("Create(%s) = %v, %v; want created", j.ID, created, err)
	}
}

// allocateJob allocates the one ready job of miner to worker.
func allocateJob(t *testing.T, jobs *store.WdPoStJobs, miner abi.ActorID, worker string, now time.Time) store.WdPoStJob {
	t.Helper()
	got, err := jobs.Allocate(testContext(t), store.WdPoStJobFilter{Miners: []abi.ActorID{miner}}, 2, worker, now)
	if err != nil || len(got) != 1 {
		t.Fatalf("Allocate for miner %d = %+v, %v; want one job", miner, got, err)
	}
	return got[0]
}

func mustFinish(t *testing.T, jobs *store.WdPoStJobs, id string, output []byte, faults uint32, errorReason string, now time.Time) {
	t.Helper()
	if err := jobs.Finish(testContext(t), id, output, faults, errorReason, now); err != nil {
		t.Fatalf("Finish(%s): %v", id, err)
	}
}

func getJob(t *testing.T, jobs *store.WdPoStJobs, id string) store.WdPoStJob {
	t.Helper()
	j, err := jobs.Get(testContext(t), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return j
}

func wantJob(t *testing.T, jobs *store.WdPoStJobs, want store.WdPoStJob) {
	t.Helper()
	if got := getJob(t, jobs, want.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("Get(%s) =\n\t%+v\nwant\n\t%+v", want.ID, got, want)
	}
	if got, err := jobs.Status(testContext(t), want.ID); err != nil || !reflect.DeepEqual(got, brief(want)) {
		t.Fatalf("Status(%s) =\n\t%+v, %v\nwant\n\t%+v", want.ID, got, err, brief(want))
	}
}

func listJobs(t *testing.T, jobs *store.WdPoStJobs) []store.WdPoStJob {
	t.Helper()
	got, err := jobs.List(testContext(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func wantJobList(t *testing.T, jobs *store.WdPoStJobs, want ...store.WdPoStJob) {
	t.Helper()
	if got := listJobs(t, jobs); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
		t.Fatalf("List =\n\t%+v\nwant\n\t%+v", got, want)
	}
}
