package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/store"
)

// Shape of BenchAllocate's load.
const (
	benchWorkers    = 50
	benchInputBytes = 2 << 10
)

// BenchAllocate measures WdPoStJobs.Allocate on a fresh database of driver:
// benchWorkers workers take b.N jobs (each with a 2 KiB input), one per
// call, until the queue is empty. It runs twice: "managers=1", all workers
// through one handle and its pool (one manager serving every worker, the
// usual deployment), and "managers=5", ten workers through each of five
// handles (managers sharing the database). It reports allocations per
// second and the median and 99th percentile latency of a call that took a
// job; ns/op is wall time per allocation. Filling the queue is not timed.
func BenchAllocate(b *testing.B, driver string) {
	for _, managers := range []int{1, 5} {
		b.Run(fmt.Sprintf("managers=%d", managers), func(b *testing.B) {
			benchAllocate(b, driver, managers)
		})
	}
}

func benchAllocate(b *testing.B, driver string, managers int) {
	ctx := context.Background()
	db := New(b, driver)
	dbs := []*store.DB{db}
	for len(dbs) < managers {
		dbs = append(dbs, Reopen(b, db))
	}
	jobs := db.WdPoStJobs()
	input := bytes.Repeat([]byte("x"), benchInputBytes)
	created := time.Now()
	for i := range b.N {
		j := wdpostJob(fmt.Sprintf("job-%08d", i), 1000)
		j.Input = input
		if _, _, err := jobs.Create(ctx, j, created); err != nil {
			b.Fatal(err)
		}
	}
	filter := store.WdPoStJobFilter{Miners: []abi.ActorID{1000}, ProofTypes: []string{winning32G, window32G}}

	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.ResetTimer()
	start := time.Now()
	errs := race(benchWorkers, func(i int) error {
		worker := fmt.Sprintf("worker-%02d", i)
		var mine []time.Duration
		defer func() {
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
		for {
			t0 := time.Now()
			got, err := dbs[i%len(dbs)].WdPoStJobs().Allocate(ctx, filter, 1, worker, t0)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mine = append(mine, time.Since(t0))
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	for i, err := range errs {
		if err != nil {
			b.Fatalf("worker %d: %v", i, err)
		}
	}
	taken := len(latencies)
	if taken != b.N {
		b.Fatalf("workers took %d jobs; want %d", taken, b.N)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(taken)/elapsed.Seconds(), "allocs/s")
	b.ReportMetric(float64(percentile(latencies, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(latencies, 99).Microseconds())/1000, "p99-ms")
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
