package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The demo tests run `damocles-devnet demo` as `make demo` does, next to
// the manager and worker binaries of binDir, and judge it by its output,
// its exit status and what it leaves behind.

var (
	demoHome    = regexp.MustCompile(`(?m)^  home: +(\S+)$`)
	demoPids    = regexp.MustCompile(`\(pid (\d+)\)|worker: +pid (\d+)`)
	demoSummary = regexp.MustCompile(`(?m)^proven=(\d+) missed=(\d+) faulty=(\d+)$`)
)

// demoPidsOf returns the manager's and the worker's pids the demo printed.
func demoPidsOf(t *testing.T, out string) []int {
	t.Helper()
	var pids []int
	for _, m := range demoPids.FindAllStringSubmatch(out, -1) {
		n, err := strconv.Atoi(m[1] + m[2])
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n)
	}
	if len(pids) != 2 {
		t.Fatalf("the demo printed %d pids, want the manager's and the worker's:\n%s", len(pids), out)
	}
	return pids
}

// requireGone fails when a process the demo started still exists.
func requireGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d the demo started is still there (kill -0: %v)", pid, err)
		}
	}
}

// runDemo runs the demo to its end and returns its summary's proven count.
func runDemo(t *testing.T, timeout time.Duration, args ...string) int {
	t.Helper()
	began := time.Now()
	p := start(t, "damocles-devnet", append([]string{"demo", "--block-time", "100ms", "--timeout", timeout.String()}, args...)...)
	err, exited := p.wait(timeout + time.Minute)
	out := p.Output()
	if !exited {
		t.Fatalf("the demo did not end within %s:\n%s", timeout+time.Minute, out)
	}
	if err != nil {
		t.Fatalf("the demo exited with %v:\n%s", err, out)
	}
	m := demoSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line proven=P missed=M faulty=F:\n%s", out)
	}
	proven, _ := strconv.Atoi(m[1])
	if proven == 0 || m[2] != "0" || m[3] != "0" {
		t.Fatalf("summary %q: want partitions proven, none missed, none faulty\n%s", m[0], out)
	}
	requireGone(t, demoPidsOf(t, out))
	if h := demoHome.FindStringSubmatch(out); h == nil {
		t.Errorf("the demo did not print its home:\n%s", out)
	} else if _, err := os.Stat(h[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's temporary home %s is still there: %v", h[1], err)
	}
	t.Logf("%s: %s", time.Since(began).Round(time.Second), m[0])
	return proven
}

// The README's first command, as it runs by default: the devnet mines
// ahead once the sectors are on chain.
func TestDemoProvesFourSectors(t *testing.T) {
	t.Parallel()
	runDemo(t, 5*time.Minute, "--sectors", "4")
}

// Sixteen sectors (eight partitions over eight deadlines) through a
// proving period lived in real time, epoch by epoch: every deadline
// holding sectors proven, nothing missed.
func TestDemoProvesSixteenSectorsInRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("a proving period in real time takes about 5 minutes at 100ms blocks (-short)")
	}
	t.Parallel()
	if proven := runDemo(t, 12*time.Minute, "--sectors", "16", "--real-time", "--threads", "4"); proven < 8 {
		t.Fatalf("%d partitions proven, want the 8 of 16 sectors", proven)
	}
}

func TestDemoInterruptStopsEverything(t *testing.T) {
	t.Parallel()
	p := start(t, "damocles-devnet", "demo", "--sectors", "1", "--block-time", "100ms")
	eventually(t, 2*time.Minute, "the demo to start its worker", func() bool {
		select {
		case <-p.done:
			t.Fatalf("the demo exited early: %v\n%s", p.err, p.Output())
		default:
		}
		return strings.Contains(p.Output(), "worker:  pid")
	})
	out := p.Output()
	pids := demoPidsOf(t, out)
	h := demoHome.FindStringSubmatch(out)
	if h == nil {
		t.Fatalf("the demo did not print its home:\n%s", out)
	}

	began := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err, exited := p.wait(30 * time.Second)
	if !exited {
		t.Fatalf("the demo did not exit within 30s of SIGINT:\n%s", p.Output())
	}
	t.Logf("SIGINT to exit: %s", time.Since(began).Round(time.Millisecond))
	if err == nil {
		t.Errorf("an interrupted demo exited 0:\n%s", p.Output())
	}
	if out := p.Output(); !strings.Contains(out, "interrupted") || !strings.Contains(out, "removed "+h[1]) {
		t.Errorf("the demo's last words:\n%s", out)
	}
	requireGone(t, pids)
	if _, err := os.Stat(h[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's temporary home %s is still there: %v", h[1], err)
	}
}

func TestDemoRefusesNonEmptyHome(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep-me"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCmd(t, "damocles-devnet", "demo", "--home", dir)
	if err == nil || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, dir) {
		t.Fatalf("demo --home on a non-empty directory: err=%v stderr=%s", err, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the refused home now holds %d entries", len(entries))
	}
}
