package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The worker config examples of the seeds, copied verbatim into
// testdata/worker/seed<NNN>_<section>.toml (seed 000 has none: its config
// examples are all ext-prover.cfg), plus variants that differ from a
// verbatim example only as their first comment lines say:
//
//   - *.localhost.toml: the placeholder address
//     "/ip4/your-damocles-manager-address-here/tcp/1789" (not a multiaddr)
//     replaced by 127.0.0.1;
//   - *.repaired.toml: the literal "..." the docs use to elide envs entries
//     dropped, so the rest of the example is shown to load.
//
// full.toml is ours: every key of the current format.
type workerFixture struct {
	file string
	// syntax: the example is not TOML; loading fails with a syntax error on
	// its first line that holds a literal "...".
	syntax bool
	// errKey and errMsg: the file is TOML but refused for this key.
	errKey, errMsg string
	// check inspects a file that loads.
	check func(t *testing.T, w *Worker, warns Warnings)
}

const placeholderAddr = "your-damocles-manager-address-here"

var workerFixtures = []workerFixture{
	{file: "seed001_walkthrough.toml", syntax: true},
	{file: "seed001_walkthrough.repaired.toml", errKey: "sector_manager.rpc_client.addr", errMsg: "missing"},
	{file: "seed001_one_wdpost_thread.toml", errKey: "sector_manager.rpc_client.addr", errMsg: placeholderAddr},
	{file: "seed001_one_wdpost_thread.localhost.toml", check: checkOneWdPoStThread},
	{file: "seed001_two_gpus.toml", syntax: true},
	{file: "seed001_two_gpus.repaired.toml", check: checkTwoGPUs},
	{file: "seed002_walkthrough.toml", syntax: true},
	{file: "seed002_walkthrough.repaired.toml", errKey: "sector_manager.rpc_client.addr", errMsg: "missing"},
	{file: "seed002_one_wdpost_thread.toml", errKey: "sector_manager.rpc_client.addr", errMsg: placeholderAddr},
	{file: "seed002_one_wdpost_thread.localhost.toml", check: checkOneWdPoStThread},
	{file: "seed002_two_jobs_one_gpu.toml", syntax: true},
	{file: "seed002_two_jobs_one_gpu.repaired.toml", check: checkTwoJobsOneGPU},
	{file: "seed002_two_gpus.toml", syntax: true},
	{file: "seed002_two_gpus.repaired.toml", check: checkTwoGPUs},
	{file: "seed003_venus_worker_legacy.toml", check: func(t *testing.T, w *Worker, warns Warnings) {
		if len(w.SealingThreads) != 3 || len(warns) == 0 {
			t.Errorf("%d threads, warnings %q; want 3 threads and warnings (worker_legacy_test.go checks the rest)", len(w.SealingThreads), warns)
		}
	}},
	{file: "full.toml", check: func(*testing.T, *Worker, Warnings) {}},
}

func TestWorkerFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/worker/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range workerFixtures {
		listed[f.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no entry in workerFixtures", f)
		}
		delete(listed, filepath.Base(f))
	}
	for f := range listed {
		t.Errorf("workerFixtures lists %s, which testdata/worker lacks", f)
	}

	for _, fx := range workerFixtures {
		t.Run(fx.file, func(t *testing.T) {
			path := filepath.Join("testdata", "worker", fx.file)
			w, warns, err := LoadWorker(path)
			if fx.check != nil {
				if err != nil {
					t.Fatalf("does not load: %v", err)
				}
				if !strings.HasPrefix(fx.file, "seed003") && len(warns) != 0 {
					t.Errorf("warnings: %q", warns)
				}
				fx.check(t, w, warns)
				return
			}
			var lerr *LoadError
			if !errors.As(err, &lerr) || len(lerr.Problems) != 1 {
				t.Fatalf("error %v; want one problem in a *LoadError", err)
			}
			p := lerr.Problems[0]
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error %q does not name the file first", err)
			}
			if fx.syntax {
				want := elisionLine(t, path)
				if p.Line != want || !strings.Contains(p.Msg, `literal "..."`) {
					t.Errorf("problem %+v; want the syntax error of line %d, which holds the literal \"...\"", p, want)
				}
				return
			}
			if p.Key != fx.errKey || !strings.Contains(p.Msg, fx.errMsg) {
				t.Errorf("problem %+v; want key %s and a message with %q", p, fx.errKey, fx.errMsg)
			}
		})
	}
}

// elisionLine returns the first line of a file whose uncommented part holds
// "...".
func elisionLine(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(stripComment(line), "...") {
			return i + 1
		}
	}
	t.Fatalf("%s has no literal ...", path)
	return 0
}

func checkOneWdPoStThread(t *testing.T, w *Worker, _ Warnings) {
	if w.Worker.Name != "damocles-worker-USA-01" || w.ManagerURL() != "http://127.0.0.1:1789/rpc/v0" {
		t.Errorf("name %q, manager URL %q", w.Worker.Name, w.ManagerURL())
	}
	if len(w.SealingThreads) != 1 || w.SealingThreads[0].PlanName() != PlanWdPoSt || w.SealingThreads[0].Location != "" {
		t.Fatalf("threads = %+v; want one wdpost thread without a location", w.SealingThreads)
	}
	if got := w.ThreadSealing(0).RecoverInterval.Std(); got != 15*time.Second {
		t.Errorf("recover_interval = %v; want 15s", got)
	}
	if want := []Attached{{Name: "miner-6666-store", Location: "/mnt/miner-6666-store"}}; !reflect.DeepEqual(w.Attached, want) {
		t.Errorf("attached = %+v", w.Attached)
	}
	if len(w.Processors.ByStage()) != 0 {
		t.Errorf("processors = %+v; want none", w.Processors.ByStage())
	}
}

// checkTwoWdPoStThreads checks what the multi-GPU examples share: two wdpost
// threads for miners 6666 and 7777 and a store for each.
func checkTwoWdPoStThreads(t *testing.T, w *Worker) {
	if len(w.SealingThreads) != 2 {
		t.Fatalf("%d threads; want 2", len(w.SealingThreads))
	}
	for i, miner := range []uint64{6666, 7777} {
		s := w.ThreadSealing(i)
		if w.SealingThreads[i].PlanName() != PlanWdPoSt || !reflect.DeepEqual(s.AllowedMiners, []uint64{miner}) || s.RecoverInterval.Std() != 15*time.Second {
			t.Errorf("thread %d: plan %q, allowed_miners %v, recover_interval %v; want wdpost, [%d], 15s",
				i, w.SealingThreads[i].PlanName(), s.AllowedMiners, s.RecoverInterval, miner)
		}
	}
	if len(w.Attached) != 2 || w.Attached[1].Name != "miner-7777-store" || w.Attached[1].Location != "/mnt/miner-7777-store" {
		t.Errorf("attached = %+v; want the stores of 6666 and 7777", w.Attached)
	}
}

// checkTwoGPUs: `[[processors. window_post]]`, written with a space, is the
// window_post stage; one processor with two concurrent jobs.
func checkTwoGPUs(t *testing.T, w *Worker, _ Warnings) {
	checkTwoWdPoStThreads(t, w)
	wp := w.Processors.Stage("window_post")
	if len(wp) != 1 || wp[0].Concurrent == nil || *wp[0].Concurrent != 2 || wp[0].Bin != "" || wp[0].Args != nil {
		t.Errorf("window_post processors = %+v; want one with concurrent 2 and the built-in binary", wp)
	}
}

func checkTwoJobsOneGPU(t *testing.T, w *Worker, _ Warnings) {
	checkTwoWdPoStThreads(t, w)
	wp := w.Processors.WindowPoSt
	if len(wp) != 2 {
		t.Fatalf("window_post processors = %+v; want 2", wp)
	}
	for i, cpus := range []string{"10-19", "20-29"} {
		p := wp[i]
		if p.Bin != "~/my_algorithm" || p.Cgroup.Cpuset != cpus || p.Concurrent == nil || *p.Concurrent != 1 ||
			p.Envs["CUDA_VISIBLE_DEVICES"] != "0" || p.Envs["TMPDIR"] != "/tmp/worker-prover1/" || !p.AutoRestart {
			t.Errorf("window_post[%d] = %+v; want bin ~/my_algorithm, cpuset %s, concurrent 1, GPU 0", i, p, cpus)
		}
	}
}
