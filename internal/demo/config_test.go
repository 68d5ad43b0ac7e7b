package demo

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-address"

	"github.com/damocles-go/damocles/internal/config"
)

// The demo's config files are judged by the loaders the binaries use.

func TestManagerConfigLoads(t *testing.T) {
	address.CurrentNetwork = address.Testnet
	wallet, err := address.NewFromString("t1abjxfbp274xpdqcpuaykwkfb43omjotacm2p3za")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data, err := managerConfig(config.ManagerTemplate(), managerSettings{
		Chain: "/ip4/127.0.0.1/tcp/4321/http", Token: "tok.en.x", PollInterval: 100 * time.Millisecond,
		Persist: filepath.Join(dir, "persist"), Actor: 1000, Sectors: 8, Sender: wallet,
		BatchThreshold: 2, BatchMaxWait: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, config.ManagerFileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.LoadManager(path)
	if err != nil {
		t.Fatalf("the demo's sector-manager.cfg does not load: %v\n%s", err, data)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	api := cfg.Common.API
	if api.Chain != "/ip4/127.0.0.1/tcp/4321/http" || api.Token != "tok.en.x" || api.ChainEventInterval.Std() != 100*time.Millisecond {
		t.Errorf("[Common.API] = %+v", api)
	}
	if ps := cfg.Common.PersistStores; len(ps) != 1 || ps[0].Name != persistStoreName || ps[0].Path != filepath.Join(dir, "persist") {
		t.Errorf("[[Common.PersistStores]] = %+v", ps)
	}
	if cfg.Common.DB.Driver != "sqlite" || cfg.Common.DB.DSN != "" {
		t.Errorf("[Common.DB] = %+v, want the embedded SQLite", cfg.Common.DB)
	}
	if len(cfg.Miners) != 1 {
		t.Fatalf("%d [[Miners]], want 1", len(cfg.Miners))
	}
	m := cfg.Miners[0]
	if m.Actor != 1000 || !m.Sector.Enabled || m.Sector.MaxNumber != 8 || m.Sector.InitNumber != 0 || m.Sector.MinNumber != 0 {
		t.Errorf("[Miners] Actor %d, [Miners.Sector] %+v; want 1000, enabled, numbers 1..8", m.Actor, m.Sector)
	}
	for name, p := range map[string]config.CommitPolicy{"Pre": m.Commitment.Pre, "Prove": m.Commitment.Prove} {
		if p.Sender.Address != wallet {
			t.Errorf("[Miners.Commitment.%s] Sender = %s, want %s", name, p.Sender, wallet)
		}
		b := p.Batch
		if !b.Enabled || b.Threshold != 2 || b.MaxWait.Std() != 2*time.Second || b.CheckInterval.Std() != 100*time.Millisecond {
			t.Errorf("[Miners.Commitment.%s.Batch] = %+v", name, b)
		}
	}
	if m.Commitment.Confidence != 1 {
		t.Errorf("[Miners.Commitment] Confidence = %d, want 1", m.Commitment.Confidence)
	}
	if !m.PoSt.Enabled || m.PoSt.Sender.Address != wallet {
		t.Errorf("[Miners.PoSt] Enabled %v Sender %s; want true, %s", m.PoSt.Enabled, m.PoSt.Sender, wallet)
	}
	// The template's documentation stays for the operator to read.
	if !strings.Contains(string(data), "# Chain is the endpoint of the Lotus or Venus chain node.") {
		t.Error("the template's comments were dropped")
	}
}

func TestManagerConfigRefusesAnotherFile(t *testing.T) {
	if _, err := managerConfig([]byte("[Common]\n"), managerSettings{}); err == nil || !strings.Contains(err.Error(), "[Common.API]") {
		t.Errorf("a file without [Common.API]: %v", err)
	}
}

func TestWorkerConfigLoads(t *testing.T) {
	dir := t.TempDir()
	threads := []string{filepath.Join(dir, "thread-0"), filepath.Join(dir, "thread-1")}
	path := filepath.Join(dir, "worker.toml")
	data := workerConfig(workerSettings{
		ManagerURL: "http://127.0.0.1:1789", Token: "tok.en.x", Actor: 1000,
		Threads: threads, Persist: filepath.Join(dir, "persist"),
	})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.LoadWorker(path)
	if err != nil {
		t.Fatalf("the demo's worker.toml does not load: %v\n%s", err, data)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	rc := cfg.SectorManager.RPCClient
	if rc.Addr != "http://127.0.0.1:1789" || rc.Headers["Authorization"] != "Bearer tok.en.x" {
		t.Errorf("[sector_manager] rpc_client = %+v", rc)
	}
	if cfg.Worker.RPCServer.Host != "127.0.0.1" {
		t.Errorf("[worker] rpc_server.host = %q, want loopback", cfg.Worker.RPCServer.Host)
	}
	if cfg.Metrics.Enable {
		t.Error("the worker's metrics exporter is on: it would listen beyond loopback")
	}
	if !slices.Equal(cfg.Sealing.AllowedMiners, []uint64{1000}) {
		t.Errorf("[sealing] allowed_miners = %v", cfg.Sealing.AllowedMiners)
	}
	var locs []string
	for _, th := range cfg.SealingThreads {
		locs = append(locs, th.Location)
		if th.PlanName() != config.PlanSealer {
			t.Errorf("thread %s runs plan %q", th.Location, th.PlanName())
		}
	}
	if !slices.Equal(locs, threads) {
		t.Errorf("sealing threads at %v, want %v", locs, threads)
	}
	if as := cfg.AttachedStores(); len(as) != 1 || as[0].InstanceName() != persistStoreName || as[0].Location != filepath.Join(dir, "persist") {
		t.Errorf("attached stores = %+v", as)
	}
}
