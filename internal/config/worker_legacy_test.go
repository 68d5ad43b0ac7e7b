package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLegacySeed003(t *testing.T) {
	path := "testdata/worker/seed003_venus_worker_legacy.toml"
	w, warns, err := LoadWorker(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.SectorManager.RPCClient.Addr != "ws://127.0.0.1:1789/rpc/v0" || w.ManagerURL() != "http://127.0.0.1:1789/rpc/v0" {
		t.Errorf("addr %q, manager URL %q", w.SectorManager.RPCClient.Addr, w.ManagerURL())
	}
	var locs []string
	for i, th := range w.SealingThreads {
		if th.Plan != PlanSealer {
			t.Errorf("thread %d plan = %q; want sealer", i, th.Plan)
		}
		locs = append(locs, th.Location)
	}
	if want := []string{"path/to/local/store1", "path/to/local/store2", "path/to/local/store3"}; !reflect.DeepEqual(locs, want) {
		t.Errorf("thread locations = %q", locs)
	}
	if s := w.ThreadSealing(2); s.EnableDeals || s.MaxRetries != 3 || s.RecoverInterval.Std() != 60*time.Second {
		t.Errorf("thread sealing = %+v; want [sealing] (no deals, 3 retries) over the defaults", s)
	}
	if got, want := w.Processors.ConcurrentLimits(), map[string]int{"pc2": 1, "c2": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("concurrent = %v; want %v", got, want)
	}
	if want := []Attached{{Name: "path/to/remote/store", Location: "path/to/remote/store"}}; !reflect.DeepEqual(w.Attached, want) {
		t.Errorf("attached = %+v", w.Attached)
	}
	if got := w.Processors.PC2; !reflect.DeepEqual(got, []Processor{DefaultProcessor()}) {
		t.Errorf("pc2 = %+v; want one external processor with the defaults", got)
	}
	// The seed's external = true for c2 sits under the misspelt [cessors.c2],
	// so c2 stays in-process, as it did in venus-worker.
	if got := w.Processors.C2; got != nil {
		t.Errorf("c2 = %+v; want none", got)
	}

	want := []string{
		path + ": old venus-worker format (it has sealer_rpc, store, limit, remote and no [sector_manager])",
		path + ":3: key sealer_rpc.url: legacy venus-worker key, read as sector_manager.rpc_client.addr",
		path + ":16: key store.location: legacy venus-worker key, read as [[sealing_thread]] #1",
		path + ":19: key store.location: legacy venus-worker key, read as [[sealing_thread]] #2",
		path + ":22: key store.location: legacy venus-worker key, read as [[sealing_thread]] #3",
		path + ":31: key limit.pc2: legacy venus-worker key, read as processors.limitation.concurrent.pc2",
		path + ":32: key limit.c2: legacy venus-worker key, read as processors.limitation.concurrent.c2",
		path + ":36: key remote.path: legacy venus-worker key, read as one [[attached]] store",
		path + ":42: key processors.pc2.external: legacy venus-worker key, read as one [[processors.pc2]]",
		path + ":45: key cessors.c2: ignored: not a key of the legacy venus-worker format",
		path + ":51: key processors.c2: ignored: external is not true",
	}
	checkWarnings(t, warns, want)
}

func checkWarnings(t *testing.T, got Warnings, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d warnings; want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q\nwant it to start with %q", i, got[i], want[i])
		}
	}
}

func TestLegacyTranslatesEveryKey(t *testing.T) {
	path := writeWorker(t, "venus-worker.toml", `[host]
name = "old-worker"

[worker_server]
host = "127.0.0.1"
port = 17999

[sealer_rpc]
url = "/ip4/10.0.0.2/tcp/1789"
headers = { User-Agent = "venus-worker" }

[sealing]
allowed_sizes = ["32GiB"]
recover_interval = "30s"

[[store]]
location = "/mnt/s1"
sealing.allowed_miners = [1001]
sealing.recovery = "1s"

[remote]
path = "/mnt/remote"

[processors.c2]
external = true
bin = "/opt/c2"
args = ["--gpu"]
envs = { CUDA_VISIBLE_DEVICES = "1" }
stable_wait = "10s"
cgroup.cpuset = "24-47"

[processors.fetch]
external = true
`)
	w, warns, err := LoadWorker(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Worker.Name != "old-worker" || w.Worker.RPCServer != (WorkerRPCServer{Host: "127.0.0.1", Port: 17999}) {
		t.Errorf("[worker] = %+v", w.Worker)
	}
	if w.ManagerURL() != "http://10.0.0.2:1789/rpc/v0" || w.SectorManager.RPCClient.Headers["User-Agent"] != "venus-worker" {
		t.Errorf("[sector_manager] = %+v", w.SectorManager)
	}
	s := w.ThreadSealing(0)
	if !reflect.DeepEqual(s.AllowedMiners, []uint64{1001}) || !reflect.DeepEqual(s.AllowedSizes, []string{"32GiB"}) || s.RecoverInterval.Std() != 30*time.Second {
		t.Errorf("thread sealing = %+v", s)
	}
	c2 := DefaultProcessor()
	c2.Bin, c2.Args, c2.Envs = "/opt/c2", []string{"--gpu"}, map[string]string{"CUDA_VISIBLE_DEVICES": "1"}
	c2.StableWait, c2.Cgroup.Cpuset = HumanDuration(10*time.Second), "24-47"
	if !reflect.DeepEqual(w.Processors.C2, []Processor{c2}) {
		t.Errorf("c2 = %+v\nwant %+v", w.Processors.C2, c2)
	}
	checkWarnings(t, warns, []string{
		path + ": old venus-worker format (it has sealer_rpc, store, remote and no [sector_manager])",
		path + ":2: key host.name: legacy venus-worker key, read as worker.name",
		path + ":5: key worker_server.host: legacy venus-worker key, read as worker.rpc_server.host",
		path + ":6: key worker_server.port: legacy venus-worker key, read as worker.rpc_server.port",
		path + ":9: key sealer_rpc.url: legacy venus-worker key, read as sector_manager.rpc_client.addr",
		path + ":10: key sealer_rpc.headers: legacy venus-worker key, read as sector_manager.rpc_client.headers",
		path + ":17: key store.location: legacy venus-worker key, read as [[sealing_thread]] #1",
		path + ":18: key store.sealing: legacy venus-worker key, read as [[sealing_thread]] #1 sealing.*",
		path + ":19: key store.sealing.recovery: ignored: not a key of the legacy venus-worker format",
		path + ":22: key remote.path: legacy venus-worker key, read as one [[attached]] store",
		path + ":25: key processors.c2.external: legacy venus-worker key, read as one [[processors.c2]]",
		path + ":30: key processors.c2.cgroup.cpuset: legacy venus-worker key, read as [[processors.c2]] cgroup.cpuset",
		path + `:32: key processors.fetch: ignored: "fetch" is not a stage`,
	})
}

// Problems found after translation name the keys the legacy file wrote.
func TestLegacyProblemsNameLegacyKeys(t *testing.T) {
	path := writeWorker(t, "venus-worker.toml", `[sealer_rpc]
url = "ws://:1789/rpc/v0"

[[store]]
location = "/mnt/s1"

[[store]]
location = "/mnt/s1"

[limit]
pc1 = 0

[processors.pc2]
external = true
cgroup.cpuset = "x"
`)
	_, _, err := LoadWorker(path)
	got := problemPlaces(t, err)
	want := []string{"0 remote.path", "2 sealer_rpc.url", "8 store.location", "11 limit.pc1", "15 processors.pc2.cgroup.cpuset"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems %q; want %q\n%v", got, want, err)
	}
}

func TestLegacyTypeErrorIsAnError(t *testing.T) {
	path := writeWorker(t, "venus-worker.toml", "[sealer_rpc]\nurl = \"ws://127.0.0.1:1789/rpc/v0\"\n\n[sealing]\nmax_retries = \"3\"\n")
	_, _, err := LoadWorker(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":5: key sealing.max_retries: ") {
		t.Errorf("error %v; want one naming line 5 and sealing.max_retries", err)
	}
}

// Only a legacy file forgives unknown keys: the same misspelt table in the
// current format is an error.
func TestCurrentFormatKeepsUnknownKeysErrors(t *testing.T) {
	path := writeWorker(t, "worker.toml", minimalWorker+"\n[cessors.c2]\nexternal = true\n\n[[store]]\nlocation = \"/x\"\n")
	_, _, err := LoadWorker(path)
	var lerr *LoadError
	if !errors.As(err, &lerr) || len(lerr.Problems) != 2 {
		t.Fatalf("error %v; want two unknown keys", err)
	}
	for i, want := range []string{path + ":11: key cessors.c2: unknown key", path + ":14: key store: unknown key"} {
		if got := strings.Split(err.Error(), "\n")[i]; !strings.HasPrefix(got, want) {
			t.Errorf("line %d of the error = %q; want %q", i, got, want)
		}
	}
}
