package poster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/prover"
)

// The test binary doubles as an ext-prover child: with childEnv set it
// serves window_post with the built-in engine, leaving a file in
// markerDirEnv per task, and, with crashEnv set, dies on its first task
// as a processor whose GPU fails would.
const (
	childEnv     = "POSTER_TEST_CHILD"
	markerDirEnv = "POSTER_TEST_MARKERS"
	crashEnv     = "POSTER_TEST_CRASH_FIRST"
	hangEnv      = "POSTER_TEST_HANG_FIRST"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		serveChild(name)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveChild(name string) {
	handle := stage.Handlers(&proofs.DevEngine{})[stage.WindowPoSt]
	crash := os.Getenv(crashEnv) != ""
	err := extproc.Serve(context.Background(), stage.WindowPoSt, os.Stdin, os.Stdout, func(ctx context.Context, task json.RawMessage) (any, error) {
		// The marker is written before any crash: it counts tasks received.
		f, err := os.CreateTemp(os.Getenv(markerDirEnv), name+"-*")
		if err == nil {
			f.Close()
		}
		if os.Getenv(hangEnv) != "" && !restarted(name) {
			// A hung GPU: the task never returns, the process stays.
			os.WriteFile(filepath.Join(os.Getenv(markerDirEnv), "crashed-"+name), nil, 0o644)
			select {}
		}
		if crash && !restarted(name) {
			os.WriteFile(filepath.Join(os.Getenv(markerDirEnv), "crashed-"+name), nil, 0o644)
			os.Exit(3)
		}
		return handle(ctx, task)
	})
	fmt.Fprintln(os.Stderr, "test child:", err)
}

// restarted tells whether this child already crashed once (a restarted
// process proves normally).
func restarted(name string) bool {
	_, err := os.Stat(filepath.Join(os.Getenv(markerDirEnv), "crashed-"+name))
	return err == nil
}

// useExtProver makes the harness prove through processors (this test
// binary) and starts the poster.
func (h *harness) useExtProver(processors ...config.ExtProcessor) {
	h.t.Helper()
	ext, err := prover.NewExt(context.Background(), &config.ExtProver{WdPost: processors}, "", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { ext.Close() })
	h.prover = ext
	h.start()
}

// testProcessor is this test binary as the processor name, with the
// given extra environment.
func testProcessor(t *testing.T, name, markers string, weight uint, envs ...string) config.ExtProcessor {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{childEnv: name, markerDirEnv: markers}
	for _, e := range envs {
		env[e] = "1"
	}
	return config.ExtProcessor{Bin: self, Envs: env, Concurrent: 1, Weight: weight}
}

func TestPosterExtProverSurvivesAChildCrash(t *testing.T) {
	h := newHarness(t, devnettest.Options{PartitionSectors: 1})
	h.seal(4) // four partitions in four deadlines
	markers := t.TempDir()
	// a takes nearly every task while it is up, so it gets (and dies on)
	// one; the retry then goes to b, the only child up while a restarts
	// (the pool waits 500ms before a restart, the poster 50ms before a
	// retry).
	h.useExtProver(testProcessor(t, "a", markers, 100, crashEnv), testProcessor(t, "b", markers, 1))
	h.walkWindows()
	h.requireNoMissed()
	if s := h.stats(); s.Active != 4 || s.ProofsAccepted != 4 {
		t.Fatalf("stats %+v: want 4 sectors active from 4 accepted proofs", s)
	}
	entries, err := os.ReadDir(markers)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int{}
	for _, e := range entries {
		name, _, _ := strings.Cut(e.Name(), "-")
		used[name]++
	}
	if used["crashed"] != 1 || used["a"] == 0 || used["b"] == 0 {
		t.Fatalf("tasks per child %v: want child a crashed once and both children used", used)
	}
}

// A processor that hangs on its only task (one processor, so nothing else
// can take the retry) is killed when the attempt's time is up, restarted,
// and the deadline is proven.
func TestPosterExtProverSurvivesAHungChild(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	// The killed processor's restart (a -race test binary) must fit in
	// what the window leaves; at 20ms epochs a loaded CI machine did not.
	h.blockTime = 60 * time.Millisecond
	h.seal(2)
	markers := t.TempDir()
	h.useExtProver(testProcessor(t, "a", markers, 1, hangEnv))
	h.walkWindows()
	h.requireNoMissed()
	if s := h.stats(); s.ProofsAccepted != 1 || s.Active != 2 {
		t.Fatalf("stats %+v: want the deadline proven", s)
	}
	if _, err := os.Stat(filepath.Join(markers, "crashed-a")); err != nil {
		t.Fatalf("the processor never hung on a task: %v", err)
	}
}
