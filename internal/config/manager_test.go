package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeConfigFile writes text as the config file name in a fresh
// directory, so that errors name it.
func writeConfigFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeManagerFile(t *testing.T, text string) string {
	t.Helper()
	return writeConfigFile(t, ManagerFileName, text)
}

// badInput is a file with one mistake, and where and how it is reported.
type badInput struct {
	name string
	text string
	line int
	key  string
	msg  string
}

// runBadInput loads each case as the config file name, which must fail
// with an error naming the file, the line and the key.
func runBadInput(t *testing.T, name string, cases []badInput) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfigFile(t, name, tc.text)
			var err error
			switch name {
			case ManagerFileName:
				_, _, err = LoadManager(path)
			case ExtProverFileName:
				_, err = LoadExtProver(path)
			default:
				t.Fatalf("no loader for %s", name)
			}
			wantLoadError(t, err, path, tc.line, tc.key, tc.msg)
		})
	}
}

// wantLoadError checks that err names path, line and key (when key is not
// empty) and says msg.
func wantLoadError(t *testing.T, err error, path string, line int, key, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the file loads; want an error at line %d", line)
	}
	want := fmt.Sprintf("%s:%d: ", path, line)
	if key != "" {
		want += "key " + key + ": "
	}
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), msg) {
		t.Errorf("error:\n%s\nwant it to contain %q and %q", err, want, msg)
	}
}

func mustAddress(t *testing.T, s string) Address {
	t.Helper()
	var a Address
	if err := a.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return a
}

func hasWarning(ws Warnings, parts ...string) bool {
	return slices.ContainsFunc(ws, func(w string) bool {
		for _, p := range parts {
			if !strings.Contains(w, p) {
				return false
			}
		}
		return true
	})
}

// TestLoadSeedManagerConfigs loads every sector-manager.cfg example of the
// seeds, copied verbatim into testdata/manager.
func TestLoadSeedManagerConfigs(t *testing.T) {
	const seed004Sender = "f3sc7rocifuabifirjul34bcpq2m2vvrg6yz2pghbbikd4aylnvhfs7dkeoaydmprzj7m4ptiff7k436x4slqa"
	const seed003Sender = "f3vur6njy6uucabdgxujlq2tsvtfrhbjwyhumangldl5mbsuzm4otzrsoykmejpukkiywmqidhksbvm32qnjga"
	workerProverOnly := func(t *testing.T, m *Manager, ws Warnings) {
		wp := m.Common.Proving.WorkerProver
		if wp.JobMaxTry != 2 || wp.HeartbeatTimeout.Std() != 15*time.Second || wp.JobLifetime.Std() != 25*time.Hour {
			t.Errorf("WorkerProver = %+v; want 2, 15s, 25h", wp)
		}
		if d := Diff(DefaultManager(), m); len(d) != 0 {
			t.Errorf("the file writes the defaults, yet differs from them: %+v", d)
		}
		if len(ws) != 0 {
			t.Errorf("warnings = %q", ws)
		}
	}
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, m *Manager, ws Warnings)
	}{
		{"seed001_worker_prover.cfg", workerProverOnly},
		{"seed002_worker_prover.cfg", workerProverOnly},
		{"seed003_legacy_default.cfg", func(t *testing.T, m *Manager, ws Warnings) {
			if d := Diff(DefaultManager(), m); len(d) != 0 {
				t.Errorf("every key is commented out, yet the config differs from the defaults: %+v", d)
			}
			if !hasWarning(ws, "legacy venus-sector-manager format", "translated: nothing") {
				t.Errorf("warnings = %q; want one naming the legacy format", ws)
			}
		}},
		{"seed003_legacy_minimal.cfg", func(t *testing.T, m *Manager, ws Warnings) {
			api := m.Common.API
			if api.Chain != "/ip4/127.0.0.1/tcp/3453" || api.Messager != "/ip4/127.0.0.1/tcp/39812" || !strings.HasPrefix(api.Token, "eyJhbGci") {
				t.Errorf("API = %+v; want Chain and Messager from [Chain] and [Messager]", api)
			}
			if len(m.Miners) != 1 {
				t.Fatalf("miners = %d; want 1", len(m.Miners))
			}
			mi := m.Miners[0]
			want := mustAddress(t, seed003Sender)
			if mi.Actor != 12345 || mi.Commitment.Pre.Sender != want || mi.Commitment.Prove.Sender != want ||
				mi.PoSt.Sender != want || !mi.PoSt.Enabled || !mi.Sector.Enabled {
				t.Errorf("miner = %+v; want actor 12345 with its senders, PoSt and sealing enabled", mi)
			}
			for _, w := range [][]string{
				{"legacy venus-sector-manager format", "Chain.Api -> Common.API.Chain", "SectorManager.Miners -> Miners[*].Actor",
					"Commitment.Miners.12345.Controls.PreCommit -> Miners[0].Commitment.Pre.Sender",
					"PoSt.Actors.12345.Sender -> Miners[0].PoSt.Sender"},
				{":8:", "SectorManager.PreFetch", "ignored"},
			} {
				if !hasWarning(ws, w...) {
					t.Errorf("warnings = %q; want one with %q", ws, w)
				}
			}
		}},
		{"seed004_full.cfg", func(t *testing.T, m *Manager, ws Warnings) {
			api := m.Common.API
			if api.Chain != "/ip4/47.243.169.165/tcp/1234/ws" || api.Messager != "/dns/cali-messager.filincubator.com/tcp/82/wss" ||
				!slices.Equal(api.Gateway, []string{"/dns/cali-gateway.filincubator.com/tcp/83/wss"}) || api.ChainEventInterval.Std() != time.Minute {
				t.Errorf("API = %+v", api)
			}
			if len(m.Common.PieceStores) != 1 || len(m.Common.PersistStores) != 1 || len(m.Miners) != 1 {
				t.Fatalf("%d piece stores, %d persist stores, %d miners; want 1 of each", len(m.Common.PieceStores), len(m.Common.PersistStores), len(m.Miners))
			}
			ps := m.Common.PersistStores[0]
			if !slices.Equal(ps.AllowMiners, []uint64{1447}) || ps.Weight != 1 || ps.Path != "" {
				t.Errorf("persist store = %+v; want AllowMiners [1447] and the default weight", ps)
			}
			mi := m.Miners[0]
			post := mi.PoSt
			if post.Sender != mustAddress(t, seed004Sender) || !post.Enabled || post.StrictCheck || post.Confidence != 6 ||
				post.GasFeeCap.String() != "5 nanoFIL" || post.GasOverEstimation != 1.2 {
				t.Errorf("PoSt = %+v", post)
			}
			if !mi.Proof.Enabled || mi.Commitment.Terminate.Batch.Threshold != 5 || mi.Commitment.Pre.Batch.Threshold != 16 ||
				mi.Commitment.Pre.Batch.MaxWait.Std() != time.Hour || mi.SnapUp.Retry.PollInterval.Std() != 3*time.Minute {
				t.Errorf("miner = %+v; want Proof enabled and the other sections at their defaults", mi)
			}
			if m.Common.Proving.WorkerProver.JobLifetime.Std() != 25*time.Hour {
				t.Errorf("JobLifetime = %v; want 25h", m.Common.Proving.WorkerProver.JobLifetime)
			}
			for _, w := range [][]string{
				{"seed004_full.cfg:33: Miners[0]: Actor is not set; this entry names no miner"},
				{"seed004_full.cfg:17: Common.PersistStores[0]: Path is not set"},
				{"seed004_full.cfg:10: Common.PieceStores[0]: Path is not set"},
			} {
				if !hasWarning(ws, w...) {
					t.Errorf("warnings = %q; want %q", ws, w)
				}
			}
		}},
		{"seed004_attach_storage1.cfg", func(t *testing.T, m *Manager, ws Warnings) {
			if len(m.Common.PersistStores) != 1 || m.Common.PersistStores[0].Name != "storage1" ||
				m.Common.PersistStores[0].Path != "/mnt/mount/nfs/0.0.0.0/" || m.Common.PersistStores[0].Weight != 1 {
				t.Errorf("persist stores = %+v", m.Common.PersistStores)
			}
		}},
		{"seed004_attach_storage2.cfg", func(t *testing.T, m *Manager, ws Warnings) {
			if len(m.Common.PersistStores) != 1 || m.Common.PersistStores[0].Name != "storage2" {
				t.Errorf("persist stores = %+v", m.Common.PersistStores)
			}
		}},
		{"seed004_persist_stores.cfg", func(t *testing.T, m *Manager, ws Warnings) {
			stores := m.Common.PersistStores
			if len(stores) != 2 || stores[0].Name != "storage1" || stores[1].Path != "/mnt/mount/nfs/0.0.0.1/" {
				t.Fatalf("persist stores = %+v", stores)
			}
			for _, s := range stores {
				// Weight = 0 is written: it must not become the default 1.
				if s.Weight != 0 || !slices.Equal(s.AllowMiners, []uint64{1008}) {
					t.Errorf("store %s = %+v; want the written Weight 0 and AllowMiners [1008]", s.Name, s)
				}
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, ws, err := LoadManager(filepath.Join("testdata", "manager", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m, ws)
		})
	}
}

func TestLoadSeedManagerConfigsAllCovered(t *testing.T) {
	files, err := filepath.Glob("testdata/manager/*.cfg")
	if err != nil || len(files) != 8 {
		t.Fatalf("testdata/manager holds %d files (%v); the table above covers 8: add the new one to it", len(files), err)
	}
}

// TestManagerBadInput checks that each kind of mistake is reported with the
// file, the line and the key, the element of an array included.
func TestManagerBadInput(t *testing.T) {
	const miner = "[[Miners]]\nActor = 1000\n"
	runBadInput(t, ManagerFileName, []badInput{
		{"unknown key", "[Common.API]\nChain = \"/ip4/127.0.0.1/tcp/1234\"\nChian = \"x\"\n", 3, "Common.API.Chian", "unknown key"},
		{"unknown key in an element", miner + "[[Miners]]\nActor = 1001\nActr = 2\n", 5, "Miners.Actr", "unknown key"},
		{"unknown section", "[Common.Prooving]\nParallelCheckLimit = 1\n", 1, "Common.Prooving", "unknown key"},
		{"wrong type", "[Common.Proving]\nParallelCheckLimit = \"many\"\n", 2, "Common.Proving.ParallelCheckLimit", "incompatible types"},
		{"wrong type in the second element", "[[Common.PersistStores]]\nName = \"a\"\nPath = \"/a\"\nWeight = 2\n\n[[Common.PersistStores]]\nName = \"b\"\nPath = \"/b\"\nWeight = \"heavy\"\n",
			9, "Common.PersistStores[1].Weight", "incompatible types"},
		{"bad duration", "[Common.API]\nChainEventInterval = \"1 minute\"\n", 2, "Common.API.ChainEventInterval", `bad duration "1 minute"`},
		{"bad address in the second miner", miner + "[Miners.PoSt]\nSender = \"" + exampleSender + "\"\n\n[[Miners]]\nActor = 1001\n[Miners.PoSt]\nSender = \"f1nope\"\n",
			9, "Miners[1].PoSt.Sender", `bad address "f1nope"`},
		{"bad FIL", miner + "[Miners.Commitment.Pre]\nGasFeeCap = \"5 gigaFIL\"\n", 4, "Miners[0].Commitment.Pre.GasFeeCap", `unknown unit "gigaFIL"`},
		{"syntax error", "[Common.API]\nChain = /ip4/1.2.3.4\n", 2, "", "expected"},
		{"unknown DB driver", "[Common.DB]\nDriver = \"oracle\"\n", 2, "Common.DB.Driver", `unknown driver "oracle" (want sqlite, postgres or mysql)`},
		{"damocles DB driver", "[Common.DB]\nDriver = \"badger\"\n", 2, "Common.DB.Driver", "key-value store is replaced by a SQL database"},
		{"DSN missing", "[Common.DB]\nDriver = \"postgres\"\n", 1, "Common.DB.DSN", "the postgres driver needs a DSN"},
		{"Mongo enabled", "[Common.MongoKVStore]\nEnable = true\nDSN = \"mongodb://127.0.0.1:27017\"\nDatabaseName = \"test\"\n", 2, "Common.MongoKVStore.Enable",
			`MongoDB is not supported by this implementation: set Enable = false (or remove [Common.MongoKVStore]) and choose a SQL database with [Common.DB] Driver = "sqlite" | "postgres" | "mysql"`},
		{"bad CIDR", "[Common.Auth]\nTrustedNetworks = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n", 2, "Common.Auth.TrustedNetworks[1]", `bad network "10.0.0.0/33"`},
		{"bad IP", "[Common.Auth]\nTrustedNetworks = [\"localhost\"]\n", 2, "Common.Auth.TrustedNetworks[0]", `bad network "localhost"`},
		{"duplicate actor", miner + "\n[[Miners]]\nActor = 1001\n\n[[Miners]]\nActor = 1000\n", 8, "Miners[2].Actor", "miner 1000 is configured twice (Miners[0] and Miners[2])"},
		{"duplicate store name", "[[Common.PersistStores]]\nName = \"s\"\nPath = \"/a\"\n[[Common.PersistStores]]\nName = \"s\"\nPath = \"/b\"\n",
			5, "Common.PersistStores[1].Name", `store name "s" is used twice`},
		{"duplicate store path without names", "[[Common.PersistStores]]\nPath = \"/a\"\n[[Common.PersistStores]]\nPath = \"/a\"\n",
			3, "Common.PersistStores[1].Name", `store name "/a" is used twice`},
		{"store plugin", "[[Common.PieceStores]]\nPath = \"/p\"\nPlugin = \"s3.so\"\n", 3, "Common.PieceStores[0].Plugin", "plugins are not supported"},
		{"sector numbers", miner + "[Miners.Sector]\nMinNumber = 100\nMaxNumber = 10\n", 4, "Miners[0].Sector.MinNumber", "MinNumber 100 is above MaxNumber 10"},
		{"negative unsigned", "[[Miners]]\nActor = -5\n", 2, "Miners[0].Actor", "must not be negative (got -5)"},
		{"negative signed", "[Common.Proving]\nParallelCheckLimit = -1\n", 2, "Common.Proving.ParallelCheckLimit", "must not be negative"},
		{"NaN multiplier", miner + "[Miners.PoSt]\nGasOverEstimation = nan\n", 4, "Miners[0].PoSt.GasOverEstimation", "must be a non-negative number"},
		{"overflowing uint32", "[Common.Proving.WorkerProver]\nJobMaxTry = 5000000000\n", 2, "Common.Proving.WorkerProver.JobMaxTry", "out of range"},
		{"zero tries", "[Common.Proving.WorkerProver]\nJobMaxTry = 0\n", 2, "Common.Proving.WorkerProver.JobMaxTry", "must be at least 1"},
		{"zero interval", "[Common.API]\nChainEventInterval = \"0s\"\n", 2, "Common.API.ChainEventInterval", "must be longer than 0s"},
		{"zero batch check interval", miner + "[Miners.Commitment.Prove.Batch]\nEnabled = true\nCheckInterval = \"0s\"\n", 5,
			"Miners[0].Commitment.Prove.Batch.CheckInterval", "must be longer than 0s"},
		{"bad endpoint", "[Common.API]\nGateway = [\"/ip4/1.2.3.4/tcp/1\", \"/ip4/1.2.3.4/tcp\"]\n", 2, "Common.API.Gateway[1]", "bad multiaddr"},
	})
}

func TestManagerReportsAllProblems(t *testing.T) {
	path := writeManagerFile(t, `[Common.DB]
Driver = "oracle"
[Common.Auth]
TrustedNetworks = ["nowhere"]
[[Miners]]
Actor = 1000
[[Miners]]
Actor = 1000
`)
	_, _, err := LoadManager(path)
	var lerr *LoadError
	if !errors.As(err, &lerr) {
		t.Fatalf("err = %v; want a *LoadError", err)
	}
	var lines []int
	for _, p := range lerr.Problems {
		lines = append(lines, p.Line)
	}
	if !slices.Equal(lines, []int{2, 4, 8}) {
		t.Errorf("problems at lines %v; want 2, 4 and 8 (all of them, in file order):\n%s", lines, err)
	}
}

// TestMinerDefaultsPerElement checks that each [[Miners]] element starts from
// DefaultMiner: a key it leaves out keeps the default, one written as zero
// or false stays so, in whichever element.
func TestMinerDefaultsPerElement(t *testing.T) {
	m, _, err := LoadManager(writeManagerFile(t, `[[Miners]]
Actor = 1000
[Miners.PoSt]
Sender = "f01000"

[[Miners]]
Actor = 1001
[Miners.Sector]
Enabled = false
LifetimeDays = 0
[Miners.Commitment.Pre.Batch]
Threshold = 0
[Miners.PoSt]
Sender = "f01001"
Confidence = 0
GasFeeCap = ""

[[Common.PersistStores]]
Path = "/a"
[[Common.PersistStores]]
Path = "/b"
Weight = 0
`))
	if err != nil {
		t.Fatal(err)
	}
	first, second := m.Miners[0], m.Miners[1]
	def := DefaultMiner(1000)
	def.PoSt.Sender = mustAddress(t, "f01000")
	if d := Diff(def, first); len(d) != 0 {
		t.Errorf("Miners[0] differs from DefaultMiner: %+v", d)
	}
	if second.Sector.Enabled || second.Sector.LifetimeDays != 0 || second.Commitment.Pre.Batch.Threshold != 0 ||
		second.PoSt.Confidence != 0 || second.PoSt.GasFeeCap.IsSet() {
		t.Errorf("Miners[1] = %+v; want the written zeros kept", second)
	}
	if !second.PoSt.Enabled || second.Commitment.Prove.Batch.Threshold != 16 || second.SnapUp.ReleaseConfidence != 30 {
		t.Errorf("Miners[1] = %+v; want the keys it leaves out at their defaults", second)
	}
	if w := []uint{m.Common.PersistStores[0].Weight, m.Common.PersistStores[1].Weight}; !slices.Equal(w, []uint{1, 0}) {
		t.Errorf("store weights = %v; want the default 1, then the written 0", w)
	}
}

func TestManagerTrustedNetworks(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"", []string{"127.0.0.0/8", "::1/128"}},
		{"[Common.Auth]\nTrustedNetworks = []\n", []string{}},
		{"[Common.Auth]\nTrustedNetworks = [\"10.0.0.5\"]\n", []string{"10.0.0.5"}},
		{"[Common.Auth]\nTrustedNetworks = [\"10.0.0.0/8\", \"192.168.0.0/16\", \"fd00::/8\"]\n", []string{"10.0.0.0/8", "192.168.0.0/16", "fd00::/8"}},
	} {
		m, _, err := LoadManager(writeManagerFile(t, tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Common.Auth.TrustedNetworks; !slices.Equal(got, tc.want) {
			t.Errorf("%q: TrustedNetworks = %q; want %q", tc.text, got, tc.want)
		}
	}
}

func TestManagerDBSettings(t *testing.T) {
	m, _, err := LoadManager(writeManagerFile(t, "[Common.DB]\nDriver = \"mysql\"\nDSN = \"user:pw@tcp(db:3306)/damocles\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Common.DB != (DB{Driver: "mysql", DSN: "user:pw@tcp(db:3306)/damocles"}) {
		t.Errorf("DB = %+v", m.Common.DB)
	}
	m, _, err = LoadManager(writeManagerFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if m.Common.DB != (DB{Driver: "sqlite"}) {
		t.Errorf("default DB = %+v; want sqlite in the home", m.Common.DB)
	}
}

func TestManagerWarnsPoStWithoutSender(t *testing.T) {
	path := writeManagerFile(t, "[[Miners]]\nActor = 1000\n")
	_, ws, err := LoadManager(path)
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(ws, path+":1: Miners[0].PoSt: WindowPoSt is enabled for miner 1000 but PoSt.Sender is not set") {
		t.Errorf("warnings = %q", ws)
	}
}

func TestFeeCap(t *testing.T) {
	five, two := NewFIL(5), NewFIL(2)
	for _, tc := range []struct {
		fee  Fee
		want string
	}{
		{Fee{GasFeeCap: five, MaxFeeCap: two}, "5 attoFIL"},
		{Fee{MaxFeeCap: two}, "2 attoFIL"},
		{Fee{}, ""},
	} {
		if got := tc.fee.FeeCap().String(); got != tc.want {
			t.Errorf("FeeCap(%+v) = %q; want %q", tc.fee, got, tc.want)
		}
	}
}

func TestLoadManagerMissingFile(t *testing.T) {
	_, _, err := LoadManager(filepath.Join(t.TempDir(), ManagerFileName))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v; want fs.ErrNotExist", err)
	}
}
