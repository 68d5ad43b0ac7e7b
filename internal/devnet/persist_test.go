package devnet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/exitcode"
)

func stateJSON(t *testing.T, c *Chain) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := json.Marshal(c.st)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A chain that stops without Close continues where it stopped: the
// snapshot plus the re-executed epochs and pushes give the same state,
// and a pushed message not executed yet executes after the restart.
func TestPersistenceAfterCrash(t *testing.T) {
	home := t.TempDir()
	h := newHarness(t, Config{Home: home})
	maddr := h.createMiner()
	if _, err := h.c.CreateMiner(1010, 2048); err != nil {
		t.Fatal(err)
	}
	// Start right after a snapshot, so what follows lives in the log.
	for h.c.store.epochsSinceSnapshot != 0 {
		h.advance(1)
	}
	h.activate(maddr, 1, 2)
	executed := h.push(h.wallet, builtin.MethodSend, nil)
	h.advance(1)
	pending := h.push(h.wallet, builtin.MethodSend, nil)
	if h.c.store.epochsSinceSnapshot == 0 {
		t.Fatal("a snapshot was taken: the test no longer exercises the log")
	}
	if fi, err := os.Stat(filepath.Join(home, walFile)); err != nil || fi.Size() == 0 {
		t.Fatalf("write-ahead log: %v, %v", fi, err)
	}
	head := h.c.Head()
	want := stateJSON(t, h.c)
	// h.c is abandoned without Close, as after a crash.

	c, err := New(Config{Home: home, Verifier: h.engine})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Head(); got.Height != head.Height || got.Key != head.Key || !got.Time.Equal(head.Time) {
		t.Errorf("head %+v, want %+v", got, head)
	}
	if got := stateJSON(t, c); got != want {
		t.Errorf("state after restart differs:\n got %.300s\nwant %.300s", got, want)
	}
	if l, ok := c.Lookup(executed); !ok || l.Receipt.ExitCode != exitcode.Ok {
		t.Errorf("executed message after restart: %+v, %v", l, ok)
	}
	if p := c.Pending(); len(p) != 1 || p[0].Cid != pending {
		t.Errorf("pending after restart: %+v", p)
	}
	if st, _ := c.Stats(maddr); st.Unproven != 2 {
		t.Errorf("sectors after restart: %+v", st)
	}
	if _, err := c.AdvanceEpoch(testGenesis); err != nil {
		t.Fatal(err)
	}
	if l, ok := c.Lookup(pending); !ok || l.Receipt.ExitCode != exitcode.Ok || l.Height != head.Height+1 {
		t.Errorf("pending message after restart: %+v, %v", l, ok)
	}
}

func TestPersistenceRestartRules(t *testing.T) {
	home := t.TempDir()
	h := newHarness(t, Config{Home: home})
	h.createMiner()
	h.advance(100)
	height := h.height()
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.AdvanceEpoch(testGenesis); err == nil {
		t.Error("a closed chain advanced")
	}
	if _, err := New(Config{Home: home, Seed: "other", Verifier: h.engine}); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("other seed: %v", err)
	}
	if _, err := New(Config{Home: home, PreCommitChallengeDelay: 150, Verifier: h.engine}); err == nil {
		t.Error("other pre-commit challenge delay accepted")
	}
	c, err := New(Config{Home: home, Verifier: h.engine})
	if err != nil {
		t.Fatal(err)
	}
	if c.Head().Height != height || len(c.Miners()) != 1 || c.PreCommitChallengeDelay() != testDelay {
		t.Errorf("restarted at %d with %d miners, delay %d", c.Head().Height, len(c.Miners()), c.PreCommitChallengeDelay())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(home, stateFile)
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), `"format":1`, `"format":99`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Home: home, Verifier: h.engine}); err == nil || !strings.Contains(err.Error(), "format 99") {
		t.Errorf("unknown format: %v", err)
	}
}
