package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeWorker writes a worker file into a fresh directory and returns its path.
func writeWorker(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problemPlaces lists the problems of a *LoadError as "line key", in order.
func problemPlaces(t *testing.T, err error) []string {
	t.Helper()
	var lerr *LoadError
	if !errors.As(err, &lerr) {
		t.Fatalf("error %v; want a *LoadError", err)
	}
	var out []string
	for _, p := range lerr.Problems {
		out = append(out, fmt.Sprintf("%d %s", p.Line, p.Key))
	}
	return out
}

// minimalWorker is the least a worker file needs; the tests below add to it.
const minimalWorker = `[sector_manager]
rpc_client.addr = "/ip4/127.0.0.1/tcp/1789"

[[sealing_thread]]
location = "/mnt/store1"

[[attached]]
name = "p1"
location = "/mnt/p1"
`

func TestDefaultWorker(t *testing.T) {
	w := DefaultWorker()
	if w.Worker.RPCServer.Port != 17890 || w.Worker.RPCServer.Host != "0.0.0.0" {
		t.Errorf("rpc_server = %+v; want 0.0.0.0:17890", w.Worker.RPCServer)
	}
	if w.Worker.PingInterval.Std() != 30*time.Second {
		t.Errorf("ping_interval = %v; want 30s", w.Worker.PingInterval)
	}
	s := w.Sealing
	if s.MaxRetries != 5 || s.SealInterval.Std() != 30*time.Second || s.RecoverInterval.Std() != 60*time.Second ||
		s.RPCPollingInterval.Std() != 180*time.Second || s.RequestTaskMaxRetries != 3 {
		t.Errorf("sealing defaults = %+v; want damocles-worker's (5 retries, 30s, 60s, 180s, 3)", s)
	}
	p := DefaultProcessor()
	if !p.InheritEnvs || !p.AutoRestart || p.Weight != 1 || p.StableWait.Std() != 5*time.Second {
		t.Errorf("processor defaults = %+v", p)
	}
}

func TestLoadWorkerMinimal(t *testing.T) {
	w, warns, err := LoadWorker(writeWorker(t, "worker.toml", minimalWorker))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	want := DefaultWorker()
	want.SectorManager.RPCClient.Addr = "/ip4/127.0.0.1/tcp/1789"
	want.SealingThreads = []SealingThread{{Location: "/mnt/store1"}}
	want.Attached = []Attached{{Name: "p1", Location: "/mnt/p1"}}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("loaded %+v\nwant   %+v", w, want)
	}
	if got := w.SealingThreads[0].PlanName(); got != PlanSealer {
		t.Errorf("plan of a thread without one = %q; want sealer", got)
	}
}

func TestLoadWorkerFull(t *testing.T) {
	w, warns, err := LoadWorker("testdata/worker/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	u64 := func(v uint64) *uint64 { return &v }
	integer := func(v int) *int { return &v }
	bs := ByteSize(8 << 30)

	if got, want := w.Worker, (WorkerInstance{
		Name:              "worker-full",
		RPCServer:         WorkerRPCServer{Host: "192.168.1.100", Port: 17891},
		PingInterval:      HumanDuration(time.Minute),
		LocalPiecesDirs:   []string{"/pieces/a", "/pieces/b"},
		ScanPersistStores: []string{"/fil/*"},
	}); !reflect.DeepEqual(got, want) {
		t.Errorf("[worker] = %+v; want %+v", got, want)
	}
	if got, want := w.Metrics, (WorkerMetrics{Enable: true, HTTPListen: "127.0.0.1:9100"}); got != want {
		t.Errorf("[metrics] = %+v", got)
	}
	if got := w.SectorManager; got.PieceToken != "token-1" || got.RPCClient.Headers["Authorization"] != "Bearer abc" {
		t.Errorf("[sector_manager] = %+v", got)
	}
	if got, want := w.ManagerURL(), "https://manager.example:1789/rpc/v0"; got != want {
		t.Errorf("ManagerURL = %q; want %q", got, want)
	}
	if got, want := w.Sealing, (Sealing{
		AllowedMiners: []uint64{10123, 10124}, AllowedSizes: []string{"32GiB", "64gib"},
		EnableDeals: true, DisableCC: true, MaxDeals: u64(3), MinDealSpace: &bs, MaxRetries: 7,
		SealInterval: HumanDuration(45 * time.Second), RecoverInterval: HumanDuration(90 * time.Second),
		RPCPollingInterval: HumanDuration(3 * time.Minute), IgnoreProofCheck: true,
		RequestTaskMaxRetries: 4, VerifyAfterPC2: true,
	}); !reflect.DeepEqual(got, want) {
		t.Errorf("[sealing] = %+v\nwant %+v", got, want)
	}
	if n := len(w.SealingThreads); n != 3 {
		t.Fatalf("%d sealing threads; want 3", n)
	}
	if th := w.SealingThreads[0]; th.PlanName() != PlanSnapUp || th.Params["num_sectors"] != "64" {
		t.Errorf("thread 0 = %+v", th)
	}
	if th := w.SealingThreads[2]; th.PlanName() != PlanWdPoSt || th.Location != "" {
		t.Errorf("thread 2 = %+v", th)
	}
	if got, want := w.Attached, []Attached{{Name: "persist-1", Location: "/mnt/remote/1"}, {Location: "/mnt/remote/2", Readonly: true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("[[attached]] = %+v", got)
	}
	if got := w.Attached[1].InstanceName(); got != "/mnt/remote/2" {
		t.Errorf("name of an unnamed store = %q; want its location", got)
	}

	p := &w.Processors
	if got, want := p.ConcurrentLimits(), map[string]int{"add_pieces": 5, "pc1": 3, "pc2": 2, "c2": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("concurrent = %v", got)
	}
	if got, want := p.Limitation.Staggered, map[string]HumanDuration{"pc1": HumanDuration(5 * time.Minute), "pc2": HumanDuration(48 * time.Hour)}; !reflect.DeepEqual(got, want) {
		t.Errorf("staggered = %v", got)
	}
	if p.ExtLocks["gpu1"] != 1 || p.StaticTreeD["32GiB"] != "/var/tmp/32g/sc-02-data-tree-d.dat" {
		t.Errorf("ext_locks = %v, static_tree_d = %v", p.ExtLocks, p.StaticTreeD)
	}
	if got, want := p.PC1[0], (Processor{
		Bin: "~/bin/pc1", Args: []string{"--flag", "1"}, Envs: map[string]string{"FIL_PROOFS_USE_MULTICORE_SDR": "1"},
		InheritEnvs: false, Concurrent: integer(4), Weight: 2, NumaPreferred: integer(1),
		StableWait: HumanDuration(10 * time.Second), AutoRestart: false,
		Cgroup: Cgroup{GroupName: "pc1-a", Cpuset: "0,2,4-7"},
	}); !reflect.DeepEqual(got, want) {
		t.Errorf("pc1[0] = %+v\nwant %+v", got, want)
	}
	stages := p.ByStage()
	if len(stages) != 4 || len(stages["pc1"]) != 2 || len(p.Stage("window_post")) != 1 || p.Stage("tree_d") != nil {
		t.Errorf("stages = %v", stages)
	}
	if args := p.C2[0].Args; args == nil || len(args) != 0 {
		t.Errorf("c2 args = %#v; an empty list must stay distinct from unset", args)
	}
}

// The decoder fills existing slice elements in place; presizeProcessors
// relies on it so that keys a [[processors.<stage>]] leaves out keep their
// defaults. This test fails if a toml upgrade changes that.
func TestProcessorKeysLeftOutKeepDefaults(t *testing.T) {
	w, _, err := LoadWorker(writeWorker(t, "worker.toml", minimalWorker+`
[[processors.pc1]]
auto_restart = false

[[processors.pc1]]

[[processors.tree_d]]
weight = 3
`))
	if err != nil {
		t.Fatal(err)
	}
	changed := DefaultProcessor()
	changed.AutoRestart = false
	if got := w.Processors.PC1; !reflect.DeepEqual(got, []Processor{changed, DefaultProcessor()}) {
		t.Errorf("pc1 = %+v", got)
	}
	if got := w.Processors.TreeD[0]; got.Weight != 3 || !got.AutoRestart || !got.InheritEnvs || got.StableWait.Std() != 5*time.Second {
		t.Errorf("tree_d = %+v", got)
	}
}

func TestThreadSealing(t *testing.T) {
	w, _, err := LoadWorker(writeWorker(t, "worker.toml", minimalWorker+`
[sealing]
allowed_miners = [1000, 1001]
max_retries = 8
recover_interval = "90s"
enable_deals = true

[[sealing_thread]]
location = "/mnt/store2"
sealing.allowed_miners = [2000]
sealing.recover_interval = "15s"
sealing.enable_deals = false
sealing.max_deals = 2

[[sealing_thread]]
location = "/mnt/store3"
sealing.allowed_miners = []
`))
	if err != nil {
		t.Fatal(err)
	}
	inherited := w.ThreadSealing(0)
	if !reflect.DeepEqual(inherited, w.Sealing) {
		t.Errorf("thread without overrides = %+v; want [sealing] %+v", inherited, w.Sealing)
	}
	over := w.ThreadSealing(1)
	if !reflect.DeepEqual(over.AllowedMiners, []uint64{2000}) || over.RecoverInterval.Std() != 15*time.Second ||
		over.EnableDeals || over.MaxDeals == nil || *over.MaxDeals != 2 {
		t.Errorf("overridden keys = %+v", over)
	}
	if over.MaxRetries != 8 || over.RPCPollingInterval.Std() != 180*time.Second {
		t.Errorf("keys not overridden must come from [sealing] and the defaults: %+v", over)
	}
	if got := w.ThreadSealing(2).AllowedMiners; got == nil || len(got) != 0 {
		t.Errorf("an empty override list = %#v; want empty, which allows any miner", got)
	}
	if w.Sealing.AllowedMiners[0] != 1000 {
		t.Errorf("ThreadSealing changed [sealing]: %v", w.Sealing.AllowedMiners)
	}
}

// The table of §1.5 of PROTOCOLS-damocles.md, plus the address forms the
// seeds use.
func TestManagerURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"/ip4/1.2.3.4/tcp/1789", "http://1.2.3.4:1789/rpc/v0"},
		{"/dns4/mgr.example/tcp/1789", "http://mgr.example:1789/rpc/v0"},
		{"/ip4/1.2.3.4/tcp/1789/https", "https://1.2.3.4:1789/rpc/v0"},
		{"http://mgr.example:1789", "http://mgr.example:1789/rpc/v0"},
		{"http://mgr.example:1789/some/path", "http://mgr.example:1789/rpc/v0"},
		// damocles-worker writes http://2001:db8::1:1789/rpc/v0, which no
		// client can dial; the bracketed form is the same endpoint.
		{"/ip6/2001:db8::1/tcp/1789", "http://[2001:db8::1]:1789/rpc/v0"},
		{"/ip4/1.2.3.4/tcp/1789/ws", "http://1.2.3.4:1789/rpc/v0"},
		{"ws://127.0.0.1:1789/rpc/v0", "http://127.0.0.1:1789/rpc/v0"},
		{"wss://mgr.example:1789/rpc/v0", "https://mgr.example:1789/rpc/v0"},
		{"/ip4/your-damocles-manager-address-here/tcp/1789", ""},
	} {
		w := DefaultWorker()
		w.SectorManager.RPCClient.Addr = tc.addr
		if got := w.ManagerURL(); got != tc.want {
			t.Errorf("ManagerURL(%q) = %q; want %q", tc.addr, got, tc.want)
		}
	}
}

func TestExpandHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for in, want := range map[string]string{
		"~/my_algorithm":  filepath.Join(home, "my_algorithm"),
		"~":               home,
		"/usr/bin/prover": "/usr/bin/prover",
		"./prover":        "./prover",
		"~other/prover":   "~other/prover",
		"":                "",
	} {
		got, err := ExpandHome(in)
		if err != nil || got != want {
			t.Errorf("ExpandHome(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	w, _, err := LoadWorker(writeWorker(t, "worker.toml", minimalWorker+"[[processors.window_post]]\nbin = \"~/my_algorithm\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Processors.WindowPoSt[0].Bin; got != "~/my_algorithm" {
		t.Errorf("bin = %q; loading must not expand it", got)
	}
}

func TestWorkerBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  string // appended to minimalWorker, whose last line is 9
		text string // replaces minimalWorker when set
		line int
		key  string
		msg  string
	}{
		{name: "unknown key", add: "[sealing]\nmax_retry = 3\n", line: 11, key: "sealing.max_retry", msg: "unknown key"},
		{name: "unknown processor stage", add: "[[processors.pc3]]\n", line: 10, key: "processors.pc3", msg: "unknown key"},
		{name: "wrong type", add: "[sealing]\nmax_retries = \"three\"\n", line: 11, key: "sealing.max_retries", msg: "incompatible types"},
		{name: "bad duration", add: "[sealing]\nrecover_interval = \"15 seconds ago\"\n", line: 11, key: "sealing.recover_interval", msg: `"1h 30m"`},
		{name: "bad thread duration", add: "[[sealing_thread]]\nlocation = \"/mnt/store2\"\nsealing.seal_interval = \"1.5h\"\n", line: 12, key: "sealing_thread.sealing.seal_interval", msg: "bad duration"},
		{name: "bad plan", add: "[[sealing_thread]]\nplan = \"wdpst\"\n", line: 11, key: "sealing_thread.plan", msg: `unknown plan "wdpst"; use one of sealer, snapup, rebuild, unseal, wdpost, niporep`},
		{name: "sealer thread without location", add: "[[sealing_thread]]\nplan = \"snapup\"\n", line: 10, key: "sealing_thread.location", msg: "a snapup thread needs its own local sealing store"},
		{name: "duplicate location", add: "[[sealing_thread]]\nlocation = \"/mnt/store1/\"\n", line: 11, key: "sealing_thread.location", msg: "also the location of the sealing thread at line 5"},
		{name: "bad size", add: "[sealing]\nallowed_sizes = [\"32GiB\", \"32GB\"]\n", line: 11, key: "sealing.allowed_sizes", msg: `bad sector size "32GB"`},
		{name: "bad thread size", add: "[[sealing_thread]]\nlocation = \"/mnt/store2\"\nsealing.allowed_sizes = [\"16GiB\"]\n", line: 12, key: "sealing_thread.sealing.allowed_sizes", msg: "not a sector size; use one of 2KiB, 8MiB, 512MiB, 32GiB, 64GiB"},
		{name: "bad static tree_d size", add: "[processors.static_tree_d]\n3GiB = \"/x\"\n", line: 11, key: "processors.static_tree_d.3GiB", msg: "not a sector size"},
		{name: "bad cpuset", add: "[[processors.pc1]]\ncgroup.cpuset = \"19-10\"\n", line: 11, key: "processors.pc1.cgroup.cpuset", msg: `range "19-10" goes backwards`},
		{name: "bad cpuset text", add: "[[processors.pc1]]\n[[processors.pc1]]\ncgroup.cpuset = \"0-3;8\"\n", line: 12, key: "processors.pc1.cgroup.cpuset", msg: `want CPU numbers and ranges such as "10-19"`},
		{name: "zero concurrent limit", add: "[processors.limitation.concurrent]\npc2 = 0\n", line: 11, key: "processors.limitation.concurrent.pc2", msg: "must be at least 1"},
		{name: "unknown limit stage", add: "[processors.limitation.concurrent]\nwdpost = 1\n", line: 11, key: "processors.limitation.concurrent.wdpost", msg: `unknown stage "wdpost"`},
		{name: "zero processor concurrent", add: "[[processors.window_post]]\nconcurrent = 0\n", line: 11, key: "processors.window_post.concurrent", msg: "must be at least 1"},
		{name: "zero weight", add: "[[processors.pc2]]\nweight = 0\n", line: 11, key: "processors.pc2.weight", msg: "must be at least 1"},
		{name: "undefined lock", add: "[[processors.c2]]\nlocks = [\"gpu\"]\n", line: 11, key: "processors.c2.locks", msg: `lock "gpu" is not defined`},
		{name: "bad rpc_server host", add: "[worker]\nrpc_server.host = \"my-host\"\n", line: 11, key: "worker.rpc_server.host", msg: `"my-host" is not an IP address`},
		{name: "bad metrics listen", add: "[metrics]\nhttp_listen = \"localhost:9000\"\n", line: 11, key: "metrics.http_listen", msg: "not an IP address"},
		{name: "duplicate attached name", add: "[[attached]]\nname = \"p1\"\nlocation = \"/mnt/other\"\n", line: 11, key: "attached.name", msg: `name "p1" is also used at line 8`},
		{name: "attached without location", add: "[[attached]]\nname = \"p2\"\n", line: 10, key: "attached.location", msg: "missing: the directory of the persist store"},
		{name: "bad addr", text: strings.Replace(minimalWorker, "/ip4/127.0.0.1/tcp/1789", "/ip4/your-damocles-manager-address-here/tcp/1789", 1), line: 2, key: "sector_manager.rpc_client.addr", msg: "bad multiaddr"},
		{name: "missing addr", text: strings.Replace(minimalWorker, `rpc_client.addr = "/ip4/127.0.0.1/tcp/1789"`, `piece_token = "t"`, 1), line: 1, key: "sector_manager.rpc_client.addr", msg: "missing: set the address of damocles-manager"},
		{name: "no attached store", text: strings.Split(minimalWorker, "[[attached]]")[0], key: "attached", msg: "no persist store"},
		{name: "negative miner", add: "[sealing]\nallowed_miners = [1000, -5]\n", line: 11, key: "sealing.allowed_miners", msg: "must not be negative"},
		{name: "negative thread miner", add: "[[sealing_thread]]\nlocation = \"/mnt/store2\"\nsealing.allowed_miners = [-1]\n", line: 12, key: "sealing_thread.sealing.allowed_miners", msg: "must not be negative"},
		{name: "syntax", add: "[[processors.pc1]]\nenvs = { A = \"1\", ... }\n", line: 11, key: "processors.pc1.envs.A", msg: `literal "..."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if text == "" {
				text = minimalWorker + tc.add
			}
			path := writeWorker(t, "bad-worker.toml", text)
			w, _, err := LoadWorker(path)
			if err == nil {
				t.Fatalf("loaded %+v; want an error", w)
			}
			var lerr *LoadError
			if !errors.As(err, &lerr) || len(lerr.Problems) != 1 {
				t.Fatalf("error %v; want one problem in a *LoadError", err)
			}
			p := lerr.Problems[0]
			if p.Line != tc.line || p.Key != tc.key || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("problem %+v; want line %d, key %s, message with %q", p, tc.line, tc.key, tc.msg)
			}
			want := fmt.Sprintf("%s:%d: key %s: ", path, tc.line, tc.key)
			if tc.line == 0 {
				want = fmt.Sprintf("%s: key %s: ", path, tc.key)
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
}

// Every problem found after decoding is reported in one error, in file order.
func TestWorkerReportsAllProblems(t *testing.T) {
	_, _, err := LoadWorker(writeWorker(t, "worker.toml", `[sector_manager]
rpc_client.addr = ""

[[sealing_thread]]
plan = "sealing"

[[sealing_thread]]
plan = "unseal"

[[attached]]
location = "/mnt/p"
readonly = true

[[processors.pc1]]
cgroup.cpuset = "a-b"
concurrent = 0
`))
	got := problemPlaces(t, err)
	want := []string{
		"2 sector_manager.rpc_client.addr",
		"5 sealing_thread.plan",
		"7 sealing_thread.location",
		"10 attached",
		"15 processors.pc1.cgroup.cpuset",
		"16 processors.pc1.concurrent",
	}
	if len(got) != len(want) {
		t.Fatalf("problems %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("problem %d = %q; want %q", i, got[i], want[i])
		}
	}
}

func TestWorkerDeprecatedKeys(t *testing.T) {
	path := writeWorker(t, "worker.toml", minimalWorker+`
[worker.rpc_server]
port = 17891

[remote_store]
name = "old"
location = "/mnt/old"

[attached_selection]
enable_space_weighted = true

[processors.limit]
pc1 = 2
`)
	w, warns, err := LoadWorker(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + ":14: key remote_store: deprecated",
		path + ":19: key attached_selection.enable_space_weighted: ignored",
		path + ":21: key processors.limit: deprecated",
	}
	if len(warns) != len(want) {
		t.Fatalf("warnings %q; want %d", warns, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(warns[i], want[i]) {
			t.Errorf("warning %q; want it to start with %q", warns[i], want[i])
		}
	}
	if got := w.Processors.ConcurrentLimits(); got["pc1"] != 2 {
		t.Errorf("limits = %v; the deprecated table must still apply", got)
	}
	if got := w.AttachedStores(); len(got) != 2 || got[0].Name != "old" {
		t.Errorf("attached stores = %+v; want remote_store first", got)
	}
}

func TestParseSectorSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"2KiB": 2048, "8MiB": 8 << 20, "512MiB": 512 << 20, "32GiB": 32 << 30, "64GiB": 64 << 30,
		"32gib": 32 << 30, "32 GiB": 32 << 30, "32GIB": 32 << 30, "32Gi": 32 << 30, "34359738368": 32 << 30,
	} {
		if got, err := ParseSectorSize(in); err != nil || got != want {
			t.Errorf("ParseSectorSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"32GB", "32G", "16GiB", "", "GiB", "32XiB", "0.5KiB", "2iB"} {
		if got, err := ParseSectorSize(in); err == nil {
			t.Errorf("ParseSectorSize(%q) = %d; want an error", in, got)
		}
	}
	if got := SectorSizeName(32 << 30); got != "32GiB" {
		t.Errorf("SectorSizeName = %q", got)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"8GiB": 8 << 30, "1KB": 1000, "1.5KiB": 1536, "100": 100, "2 mb": 2_000_000} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("ByteSize(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	var b ByteSize
	if err := b.UnmarshalText([]byte("1.5B")); err == nil {
		t.Errorf("1.5B parsed; want an error")
	}
	if got := ByteSize(8 << 30).String(); got != "8GiB" {
		t.Errorf("String = %q", got)
	}
	if got := ByteSize(1000).String(); got != "1000B" {
		t.Errorf("String = %q", got)
	}
}

func TestCheckCpuset(t *testing.T) {
	for _, ok := range []string{"10-19", "0,2,4-7", "3", "0-0", "1, 3"} {
		if err := checkCpuset(ok); err != nil {
			t.Errorf("checkCpuset(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"10-", "-3", "a", "1,,2", "5-1", "0-7:2", "1 2"} {
		if err := checkCpuset(bad); err == nil {
			t.Errorf("checkCpuset(%q) passed; want an error", bad)
		}
	}
}
