package worker

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/rpc"
)

// The wdpost examples of seed 002 (internal/config/testdata/worker), with
// the manager's address, the stores' mount points and the custom bin
// pointed at this test's, run as they are: the daemon claims the jobs of
// miners 6666 and 7777, proves them (in process, or in window_post
// processors of the real worker binary) and reports proofs that verify.
func TestDaemonRunsSeedWdPoStConfigs(t *testing.T) {
	for _, tc := range []struct {
		file       string
		threads    uint
		miners     []abi.ActorID
		processors bool // the example has [[processors.window_post]]
	}{
		{"seed002_one_wdpost_thread.localhost.toml", 1, []abi.ActorID{6666}, false},
		{"seed002_two_jobs_one_gpu.repaired.toml", 2, []abi.ActorID{6666, 7777}, true},
		{"seed002_two_gpus.repaired.toml", 2, []abi.ActorID{6666, 7777}, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			bin := "no-processor-runs"
			if tc.processors {
				bin = workerBinary(t)
			}
			stores := map[string]string{"miner-6666-store": t.TempDir(), "miner-7777-store": t.TempDir()}
			for _, dir := range stores {
				if _, err := InitStore(dir, PersistStore); err != nil {
					t.Fatal(err)
				}
			}
			queue := newFakeWdPoStQueue()
			venus := &fakeVenus{stores: stores}
			hs := serveManager(t, newManagerHandler(t,
				rpc.API{Namespace: rpc.Namespace, Impl: venus, Proxy: &rpc.VenusStruct{}}, rpc.WdPoStAPI(queue)))
			u, err := url.Parse(hs.URL)
			if err != nil {
				t.Fatal(err)
			}

			inputs := map[string]rpc.WdPoStInput{}
			for _, miner := range tc.miners {
				store := fmt.Sprintf("miner-%d-store", miner)
				in := postInput(miner, sealInStore(t, miner, store, stores[store], 1, 2)...)
				inputs[queue.add(in)] = in
			}

			cfg := loadSeedConfig(t, tc.file, strings.NewReplacer(
				"/ip4/127.0.0.1/tcp/1789", "/ip4/127.0.0.1/tcp/"+u.Port(),
				"/mnt/miner-6666-store", stores["miner-6666-store"],
				"/mnt/miner-7777-store", stores["miner-7777-store"],
				`bin="~/my_algorithm"`, `bin="`+bin+`"`,
			))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d, err := NewDaemon(ctx, cfg, bin)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := d.Run(ctx); err != nil {
					t.Errorf("Run: %v", err)
				}
			})
			defer func() { cancel(); wg.Wait() }()

			for id, in := range inputs {
				waitFor(t, "job "+id+" finished", queue.finished(id))
				job := queue.job(id)
				if job.ErrorReason != "" || job.WorkerName != "damocles-worker-USA-01" {
					t.Fatalf("job %s: worker %q, error %q", id, job.WorkerName, job.ErrorReason)
				}
				verifyWindowPoSt(t, in, job.Output)
			}
			ping, ok := venus.lastPing()
			if !ok || ping.Name != "damocles-worker-USA-01" || ping.Summary.Threads != tc.threads {
				t.Fatalf("ping %+v; want %d threads of damocles-worker-USA-01", ping, tc.threads)
			}
		})
	}
}

// loadSeedConfig loads a worker config example after rewriting it.
func loadSeedConfig(t *testing.T, file string, rewrite *strings.Replacer) *config.Worker {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config", "testdata", "worker", file))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, []byte(rewrite.Replace(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.LoadWorker(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	return cfg
}

// Plans other than sealer and wdpost are refused before anything starts.
func TestDaemonRefusesUnimplementedPlans(t *testing.T) {
	loc := t.TempDir()
	if _, err := InitStore(loc, SealingStore); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultWorker()
	cfg.SectorManager.RPCClient.Addr = "/ip4/127.0.0.1/tcp/1"
	cfg.SealingThreads = []config.SealingThread{{Plan: config.PlanWdPoSt}, {Plan: config.PlanSnapUp, Location: loc}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := NewDaemon(ctx, cfg, "unused")
	if err == nil || !strings.Contains(err.Error(), `sealing_thread[1]: plan "snapup" is not implemented`) {
		t.Fatalf("NewDaemon = %v; want snapup refused", err)
	}
}
