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
	_, url := startManager(t, h)
	token := strings.TrimSpace(mustRun(t, "damocles-manager", "--home", h, "util", "auth", "create-token", "--perm", "write"))

	dir := t.TempDir()
	persist := filepath.Join(dir, "persist")
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
