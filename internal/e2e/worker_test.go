package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeWorkerConfig(t *testing.T, dir, managerURL, token, persist string) string {
	t.Helper()
	cfg := fmt.Sprintf(`[worker]
name = "e2e-worker"
ping_interval = "200ms"

[sector_manager]
rpc_client.addr = %q
rpc_client.headers = { Authorization = "Bearer %s" }

[[attached]]
name = "persist-1"
location = %q
`, managerURL, token, persist)
	path := filepath.Join(dir, "worker.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWorkerPingsManagerWithToken(t *testing.T) {
	h := managerHome(t)
	setConfig(t, h, "Common.Auth", "TrustedNetworks = []")
	dir := t.TempDir()
	persist := filepath.Join(dir, "persist")
	addPersistStore(t, h, "persist-1", persist)
	_, url := startManager(t, h)
	token := strings.TrimSpace(mustRun(t, "damocles-manager", "--home", h, "util", "auth", "create-token", "--perm", "write"))

	cfgPath := writeWorkerConfig(t, dir, url, token, persist)

	// A persist store that was never initialised (an unmounted NFS path,
	// say) keeps the worker from starting.
	_, errOut, err := runCmd(t, "damocles-worker", "daemon", "-c", cfgPath)
	if err == nil || !strings.Contains(errOut, "file-init") {
		t.Fatalf("worker on an uninitialised store: err=%v stderr=%s", err, errOut)
	}

	out := mustRun(t, "damocles-worker", "store", "file-init", "-l", persist)
	if !strings.Contains(out, "initialised persist store") {
		t.Fatalf("store file-init printed %q", out)
	}

	// A store the manager does not know: sectors persisted there could
	// never be found, so the worker refuses to start.
	unknownDir := t.TempDir()
	unknownCfg := writeWorkerConfig(t, unknownDir, url, token, persist)
	data, _ := os.ReadFile(unknownCfg)
	if err := os.WriteFile(unknownCfg, []byte(strings.Replace(string(data), `name = "persist-1"`, `name = "persist-x"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err = runCmd(t, "damocles-worker", "daemon", "-c", unknownCfg)
	if err == nil || !strings.Contains(errOut, "is not a [[Common.PersistStores]] entry") {
		t.Fatalf("worker with a store unknown to the manager: err=%v stderr=%s", err, errOut)
	}
	w := start(t, "damocles-worker", "daemon", "-c", cfgPath)
	eventually(t, 10*time.Second, "the worker to appear in util worker list", func() bool {
		out, _, err := runCmd(t, "damocles-manager", "--home", h, "util", "worker", "list")
		return err == nil && strings.Contains(out, "e2e-worker")
	})
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	if err, ok := w.wait(2 * time.Second); !ok || err != nil {
		t.Fatalf("worker exit after SIGTERM: %v (exited %v)", err, ok)
	}
}

// addPersistStore appends a [[Common.PersistStores]] entry to the manager's
// config.
func addPersistStore(t *testing.T, h, name, path string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(h, "sector-manager.cfg"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "\n[[Common.PersistStores]]\nName = %q\nPath = %q\n", name, path); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.toml")
	bad := "[sector_manager]\nrpc_client.addr = \"/ip4/127.0.0.1/tcp/1789\"\n\n[sealing]\nseal_interval = \"soonish\"\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCmd(t, "damocles-worker", "daemon", "-c", path)
	if err == nil || !strings.Contains(errOut, "worker.toml:5") || !strings.Contains(errOut, "seal_interval") {
		t.Fatalf("bad worker config: err=%v stderr=%s", err, errOut)
	}
}
