package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rpcCall posts one JSON-RPC request to the manager's /rpc/v0.
func rpcCall(t *testing.T, url, token, method string, params ...any) (int, rpcReply) {
	t.Helper()
	return postRPC(t, url+"/rpc/v0", token, method, params...)
}

// managerHome runs `daemon init` in a fresh home and returns it.
func managerHome(t *testing.T) string {
	t.Helper()
	h := filepath.Join(t.TempDir(), "manager")
	mustRun(t, "damocles-manager", "--home", h, "daemon", "init")
	return h
}

// setConfig inserts key lines right after a table header of sector-manager.cfg.
func setConfig(t *testing.T, h, table string, lines ...string) {
	t.Helper()
	path := filepath.Join(h, "sector-manager.cfg")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header := "[" + table + "]\n"
	if !bytes.Contains(data, []byte(header)) {
		t.Fatalf("sector-manager.cfg has no %q header", header)
	}
	data = bytes.Replace(data, []byte(header), []byte(header+strings.Join(lines, "\n")+"\n"), 1)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startManager runs `daemon run` on a loopback port and waits until the
// api file and /healthcheck say it serves.
func startManager(t *testing.T, h string, extra ...string) (*process, string) {
	t.Helper()
	port := freePort(t)
	args := append([]string{"--home", h, "daemon", "run", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
	p := start(t, "damocles-manager", args...)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, 20*time.Second, "the manager to serve /healthcheck", func() bool {
		select {
		case <-p.done:
			t.Fatalf("manager exited early: %v\n%s", p.err, p.Output())
		default:
		}
		resp, err := http.Get(url + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p, url
}

func workerPingParams(name string) []any {
	return []any{map[string]any{
		"Name": name, "Dest": "127.0.0.1:17890", "Version": "v0.1.0-test",
		"Summary": map[string]any{"Threads": 2, "Empty": 1, "Paused": 0, "Running": 1, "Waiting": 0, "Errors": 0},
	}}
}

func TestManagerInitRunAuthAndStop(t *testing.T) {
	h := managerHome(t)
	for _, f := range []string{"sector-manager.cfg", "ext-prover.cfg", "token", "damocles.db"} {
		if _, err := os.Stat(filepath.Join(h, f)); err != nil {
			t.Fatalf("daemon init did not create %s: %v", f, err)
		}
	}
	setConfig(t, h, "Common.Auth", "TrustedNetworks = []")

	p, url := startManager(t, h)

	status, r := rpcCall(t, url, "", "Venus.Version")
	var v string
	if status != 200 || r.Error != nil || json.Unmarshal(r.Result, &v) != nil || !strings.HasPrefix(v, "v") {
		t.Fatalf("Venus.Version = %d %+v", status, r)
	}

	// No trusted networks: a write method without a token is refused.
	if _, r := rpcCall(t, url, "", "Venus.WorkerPing", workerPingParams("w1")...); r.Error == nil || !strings.Contains(r.Error.Message, "need 'write'") {
		t.Fatalf("WorkerPing without token = %+v, want a missing-permission error", r)
	}

	writeToken := strings.TrimSpace(mustRun(t, "damocles-manager", "--home", h, "util", "auth", "create-token", "--perm", "write"))
	if strings.Count(writeToken, ".") != 2 {
		t.Fatalf("create-token printed %q, want a JWT", writeToken)
	}
	if _, r := rpcCall(t, url, writeToken, "Venus.WorkerPing", workerPingParams("w1")...); r.Error != nil || string(r.Result) != "null" {
		t.Fatalf("WorkerPing with a write token = %+v (result %s), want result null", r.Error, r.Result)
	}
	// A write token is not an admin token.
	if _, r := rpcCall(t, url, writeToken, "Venus.AuthNew", []string{"read"}); r.Error == nil {
		t.Fatal("AuthNew with a write token succeeded")
	}
	if status, _ := rpcCall(t, url, writeToken+"x", "Venus.Version"); status != http.StatusUnauthorized {
		t.Fatalf("bad token: HTTP %d, want 401", status)
	}

	list := mustRun(t, "damocles-manager", "--home", h, "util", "worker", "list")
	if !strings.Contains(list, "w1") || !strings.Contains(list, "127.0.0.1:17890") {
		t.Fatalf("util worker list:\n%s", list)
	}
	if out := mustRun(t, "damocles-manager", "--home", h, "util", "version"); strings.TrimSpace(out) != v {
		t.Fatalf("util version = %q, want %q", out, v)
	}

	resp, err := http.Get(url + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %v %v", resp, err)
	}
	resp.Body.Close()

	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err, exited := p.wait(2 * time.Second)
	if !exited {
		t.Fatal("manager did not exit within 2s of SIGTERM")
	}
	if err != nil {
		t.Fatalf("manager exited with %v after SIGTERM", err)
	}
	t.Logf("SIGTERM to exit: %s", time.Since(began))
}

func TestManagerReloadOnSIGUSR1(t *testing.T) {
	h := managerHome(t)
	setConfig(t, h, "Common.Auth", "TrustedNetworks = []")
	p, url := startManager(t, h)
	if _, r := rpcCall(t, url, "", "Venus.WorkerPing", workerPingParams("w2")...); r.Error == nil {
		t.Fatal("WorkerPing without token succeeded with no trusted networks")
	}

	path := filepath.Join(h, "sector-manager.cfg")
	data, _ := os.ReadFile(path)
	data = bytes.Replace(data, []byte("TrustedNetworks = []"), []byte(`TrustedNetworks = ["127.0.0.0/8"]`), 1)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the reload to be logged", func() bool {
		return strings.Contains(p.Output(), "Common.Auth.TrustedNetworks")
	})
	if _, r := rpcCall(t, url, "", "Venus.WorkerPing", workerPingParams("w2")...); r.Error != nil {
		t.Fatalf("WorkerPing from a trusted network after reload: %+v", r.Error)
	}

	// A broken file on reload keeps the running config.
	if err := os.WriteFile(path, append(data, []byte("\n[Common.API]\nBogusKey = 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGUSR1)
	eventually(t, 5*time.Second, "the failed reload to be logged", func() bool {
		return strings.Contains(p.Output(), "keeping the running config")
	})
	if _, r := rpcCall(t, url, "", "Venus.Version"); r.Error != nil {
		t.Fatalf("daemon stopped serving after a failed reload: %+v", r.Error)
	}
}

func TestManagerRefusesBadConfigAndFlags(t *testing.T) {
	h := managerHome(t)

	// init refuses to overwrite, --force overwrites.
	if _, errOut, err := runCmd(t, "damocles-manager", "--home", h, "daemon", "init"); err == nil || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second init: err=%v stderr=%s", err, errOut)
	}
	mustRun(t, "damocles-manager", "--home", h, "daemon", "init", "--force")

	_, errOut, err := runCmd(t, "damocles-manager", "--home", h, "daemon", "run", "--listen", "127.0.0.1:0", "--ext-prover", "--worker-prover")
	if err == nil || !strings.Contains(errOut, "mutually exclusive") {
		t.Fatalf("--ext-prover --worker-prover: err=%v stderr=%s", err, errOut)
	}
	_, errOut, err = runCmd(t, "damocles-manager", "--home", h, "daemon", "run", "--listen", "127.0.0.1:0", "--poster")
	if err == nil || !strings.Contains(errOut, "--poster needs a chain node") {
		t.Fatalf("--poster without a chain: err=%v stderr=%s", err, errOut)
	}
	_, errOut, err = runCmd(t, "damocles-manager", "--home", h, "daemon", "run", "--listen", "127.0.0.1:0", "--worker-prover")
	if err == nil || !strings.Contains(errOut, "--worker-prover needs --poster") {
		t.Fatalf("--worker-prover without --poster: err=%v stderr=%s", err, errOut)
	}
	_, errOut, err = runCmd(t, "damocles-manager", "--home", h, "daemon", "run", "--listen", "127.0.0.1:0", "--miner")
	if err == nil || !strings.Contains(errOut, "not implemented yet") {
		t.Fatalf("--miner: err=%v stderr=%s", err, errOut)
	}

	setConfig(t, h, "Common.API", `ChainEventInterval = "soon"`)
	_, errOut, err = runCmd(t, "damocles-manager", "--home", h, "daemon", "run", "--listen", "127.0.0.1:0")
	if err == nil {
		t.Fatal("daemon run with a bad duration succeeded")
	}
	if !strings.Contains(errOut, "ChainEventInterval") || !strings.Contains(errOut, "sector-manager.cfg:") {
		t.Fatalf("error does not name the file, line and key:\n%s", errOut)
	}

	// --conf-dir reads the config files from another directory.
	other := managerHome(t)
	setConfig(t, other, "Common.Auth", "TrustedNetworks = []")
	p, url := startManager(t, h, "--conf-dir", other)
	if _, r := rpcCall(t, url, "", "Venus.WorkerPing", workerPingParams("w3")...); r.Error == nil {
		t.Fatal("--conf-dir config (no trusted networks) was not used")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err, ok := p.wait(2 * time.Second); !ok || err != nil {
		t.Fatalf("exit after SIGTERM: %v %v", err, ok)
	}
}
