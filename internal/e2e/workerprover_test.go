package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/dline"

	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// The worker-prover tests run the manager with --poster --worker-prover
// and damocles-workers whose threads have plan = "wdpost"; the devnet
// judges, as for the other WindowPoSt tests.

// slowProcessor is a [[processors.window_post]] block whose child answers
// each task after delay: the worker's own processor behind a shell loop
// that holds every request line back, as a slow GPU would.
func slowProcessor(delay time.Duration) string {
	script := fmt.Sprintf(`while IFS= read -r l; do sleep %g; printf "%%s\n" "$l"; done | exec %s processor window_post`, delay.Seconds(), bin("damocles-worker"))
	return fmt.Sprintf("\n[[processors.window_post]]\nbin = \"/bin/sh\"\nargs = ['-c', '%s']\n", script)
}

// failingProcessor answers every window_post task with an error.
const failingProcessor = `
[[processors.window_post]]
bin = "/bin/sh"
args = ['-c', 'echo "window_post processor ready"; while IFS= read -r l; do id=$(echo "$l" | sed -e "s/^{\"id\":\([0-9]*\).*/\1/"); printf "{\"id\":%s,\"err_msg\":\"gpu on fire\",\"output\":null}\n" "$id"; done']
`

// startWdPoStWorker starts a damocles-worker with one wdpost thread named
// name, proving from the scenario's persist store; extra is appended to
// its config.
func (s *sealScenario) startWdPoStWorker(t *testing.T, name, extra string) *process {
	t.Helper()
	cfg := fmt.Sprintf(`[worker]
name = %q
ping_interval = "200ms"

[sector_manager]
rpc_client.addr = %q
rpc_client.headers = { Authorization = "Bearer %s" }

[[sealing_thread]]
plan = "wdpost"
sealing.recover_interval = "200ms"
sealing.allowed_miners = [1000]
params.heartbeat_interval = "500ms"

[[attached]]
name = "persist-1"
location = %q
%s
`, name, s.url, s.writeToken, s.persist, extra)
	path := filepath.Join(s.root, name+".toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, "damocles-worker", "daemon", "-c", path)
}

func stop(t *testing.T, p *process) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if _, ok := p.wait(10 * time.Second); !ok {
		_ = p.cmd.Process.Kill()
	}
}

// Two wdpost workers prove every deadline of a proving period; one is
// SIGKILLed while it holds a job: the job fails by heartbeat timeout, the
// other worker finishes it, and no partition is missed.
func TestPoStWorkerProverWorkerKilled(t *testing.T) {
	t.Parallel()
	workers := map[string]*process{}
	s := newPoStScenario(t, 6, sealOpts{
		blockTime:   200 * time.Millisecond,
		managerArgs: []string{"--worker-prover"},
		prepare: func(t *testing.T, h string) {
			setConfig(t, h, "Common.Proving.WorkerProver", `HeartbeatTimeout = "3s"`, "JobMaxTry = 3")
		},
		beforeSealing: func(t *testing.T, s *sealScenario) {
			for _, name := range []string{"wdpost-a", "wdpost-b"} {
				workers[name] = s.startWdPoStWorker(t, name, slowProcessor(2*time.Second))
			}
		},
	})
	windows := s.windows(t)
	if len(windows) < 2 {
		t.Fatalf("6 sectors in %d deadlines: want at least 2", len(windows))
	}
	// The first window is the target: the runner of a window starts while
	// the one before is still open, so a later target's job could be done
	// before the test looks.
	target := windows[0]
	s.mineTo(t, target.Challenge)
	held := waitLog(t, s.manager, regexp.MustCompile(fmt.Sprintf(`wdpost job allocated.*"deadline": %d,.*"worker": "(wdpost-[ab])"`, target.Index)),
		time.Minute, "a worker to take the target deadline's job")
	victim := regexp.MustCompile(`wdpost-[ab]`).FindAllString(held, -1)
	name := victim[len(victim)-1]
	other := map[string]string{"wdpost-a": "wdpost-b", "wdpost-b": "wdpost-a"}[name]
	if err := workers[name].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitLog(t, s.manager, regexp.MustCompile(fmt.Sprintf(`wdpost job heartbeat timeout.*"deadline": %d,.*"worker": %q`, target.Index, name)),
		time.Minute, "the killed worker's job to time out")
	waitLog(t, s.manager, regexp.MustCompile(fmt.Sprintf(`wdpost job allocated.*"deadline": %d,.*"worker": %q, "try": 2`, target.Index, other)),
		time.Minute, "the other worker to take the job")
	t.Logf("job running on %s %s after %s was killed (HeartbeatTimeout 3s)", other, time.Since(killed).Round(10*time.Millisecond), name)
	waitHeight(t, context.Background(), s.api, target.Close+1, 2*time.Minute, "the target window to close")

	s.walk(t, windows[1:]...)
	st := s.stats(t, context.Background())
	s.requireProvenOnce(t, st, windows)
	if st.Faulty != 0 {
		t.Fatalf("stats %+v: want no faulty sector", st)
	}
	for _, kw := range []string{"wdpost job created", "wdpost job finished", "Submitted window post:"} {
		requireLog(t, s.manager, kw)
	}
}

// wdpostList runs `util worker wdpost list` with args.
func wdpostList(t *testing.T, h string, args ...string) string {
	t.Helper()
	return mustRun(t, "damocles-manager", append([]string{"--home", h, "util", "worker", "wdpost", "list"}, args...)...)
}

// jobRow returns the row of job id in a listing, "" when absent.
func jobRow(list, id string) string {
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, id+" ") {
			return line
		}
	}
	return ""
}

// The job commands on a job the poster is waiting for: list shows it,
// remove-all without --really-do-it changes nothing, remove and remove-all
// delete it and the poster queues it again, a job failed JobMaxTry times
// waits until reset, and the deadline is still proven.
func TestPoStWorkerProverJobCommands(t *testing.T) {
	t.Parallel()
	var good *process
	s := newPoStScenario(t, 2, sealOpts{
		blockTime:   400 * time.Millisecond,
		managerArgs: []string{"--worker-prover"},
		beforeSealing: func(t *testing.T, s *sealScenario) {
			good = s.startWdPoStWorker(t, "wdpost-good", "")
		},
	})
	windows := s.windows(t)
	target := windows[0]
	stop(t, good)

	s.mineTo(t, target.Challenge)
	created := waitLog(t, s.manager, regexp.MustCompile(fmt.Sprintf(`wdpost job created\s+\{"job": "(\w+)", "miner": "1000", "deadline": %d,`, target.Index)),
		time.Minute, "the target deadline's job")
	id := regexp.MustCompile(`"job": "(\w+)"`).FindStringSubmatch(created)[1]

	list := wdpostList(t, s.h)
	if header := strings.Fields(strings.SplitN(list, "\n", 2)[0]); strings.Join(header, " ") != "JobID MinerID DDL Partitions Worker State Try CreateAt Elapsed Heartbeat Error" {
		t.Fatalf("list header:\n%s", list)
	}
	if row := strings.Fields(jobRow(list, id)); len(row) < 9 || row[1] != "1000" || row[2] != fmt.Sprint(target.Index) || row[3] != "0" ||
		row[4] != "-" || row[5] != "ReadyToRun" || row[6] != "0" {
		t.Fatalf("row of job %s: %q\n%s", id, row, list)
	}

	out := mustRun(t, "damocles-manager", "--home", s.h, "util", "worker", "wdpost", "remove-all")
	if !strings.Contains(out, "would remove wdpost job "+id) || !strings.Contains(out, "nothing was changed") || jobRow(wdpostList(t, s.h), id) == "" {
		t.Fatalf("remove-all without --really-do-it:\n%s\nlist:\n%s", out, wdpostList(t, s.h))
	}
	requeued := regexp.MustCompile(`wdpost job was removed while the poster waits for it: queueing it again`)
	out = mustRun(t, "damocles-manager", "--home", s.h, "util", "worker", "wdpost", "remove", id)
	if !strings.Contains(out, "wdpost job "+id+" removed") {
		t.Fatalf("remove: %s", out)
	}
	eventually(t, 10*time.Second, "the poster to queue the removed job again", func() bool {
		return len(requeued.FindAllString(s.manager.Output(), -1)) == 1 && jobRow(wdpostList(t, s.h), id) != ""
	})
	out = mustRun(t, "damocles-manager", "--home", s.h, "util", "worker", "wdpost", "remove-all", "--really-do-it")
	if !strings.Contains(out, "wdpost job "+id+" removed") {
		t.Fatalf("remove-all --really-do-it: %s", out)
	}
	eventually(t, 10*time.Second, "the poster to queue the job again after remove-all", func() bool {
		return len(requeued.FindAllString(s.manager.Output(), -1)) == 2 && jobRow(wdpostList(t, s.h), id) != ""
	})

	bad := s.startWdPoStWorker(t, "wdpost-bad", failingProcessor)
	eventually(t, 30*time.Second, "the job to fail JobMaxTry times", func() bool {
		row := jobRow(wdpostList(t, s.h), id)
		return strings.Contains(row, "Failed") && strings.Contains(row, "2(Max)") && strings.Contains(row, "gpu on fire")
	})
	stop(t, bad)
	out = mustRun(t, "damocles-manager", "--home", s.h, "util", "worker", "wdpost", "reset", id)
	if !strings.Contains(out, "wdpost job "+id+" reset") {
		t.Fatalf("reset: %s", out)
	}
	if row := strings.Fields(jobRow(wdpostList(t, s.h), id)); len(row) < 7 || row[5] != "ReadyToRun" || row[6] != "0" {
		t.Fatalf("row after reset: %q", row)
	}
	good = s.startWdPoStWorker(t, "wdpost-good", "")
	waitHeight(t, context.Background(), s.api, target.Close+1, 2*time.Minute, "the target window to close")
	st := s.stats(t, context.Background())
	s.requireProvenOnce(t, st, []*dline.Info{target})

	if row := jobRow(wdpostList(t, s.h), id); row != "" {
		t.Fatalf("the succeeded job is listed without --all: %q", row)
	}
	if row := strings.Fields(jobRow(wdpostList(t, s.h, "--all"), id)); len(row) < 10 || row[4] != "wdpost-good" || row[5] != "Succeed" || !strings.HasSuffix(row[9], "(done)") {
		t.Fatalf("row with --all: %q", row)
	}
	detail := wdpostList(t, s.h, "--all", "--detail")
	if !strings.Contains(detail, "StartedAt") || !strings.Contains(jobRow(detail, id), "finished") {
		t.Fatalf("--detail:\n%s", detail)
	}
	_, errOut, err := runCmd(t, "damocles-manager", "--home", s.h, "util", "worker", "wdpost", "reset", "nosuchjob")
	if err == nil || !strings.Contains(errOut, "job 'nosuchjob' does not exist") {
		t.Fatalf("reset of an unknown job: %v\n%s", err, errOut)
	}
}

// Two managers sharing one PostgreSQL database, both with --poster
// --worker-prover and a wdpost worker each: every deadline is proven once
// (one leader per miner, see the poster's leadership), and no two jobs
// cover the same partitions of one deadline.
func TestPoStWorkerProverTwoManagersShareADatabase(t *testing.T) {
	t.Parallel()
	pg := storetest.NewDatabase(t, store.DriverPostgres)
	var second *process
	s := newPoStScenario(t, 6, sealOpts{
		managerArgs: []string{"--worker-prover"},
		prepare: func(t *testing.T, h string) {
			setConfig(t, h, "Common.DB", `Driver = "postgres"`, fmt.Sprintf("DSN = %q", pg.DSN))
		},
		beforeSealing: func(t *testing.T, s *sealScenario) {
			// The second manager runs the first one's config in a home
			// of its own.
			h2 := managerHome(t)
			data, err := os.ReadFile(filepath.Join(s.h, "sector-manager.cfg"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(h2, "sector-manager.cfg"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			var url2 string
			second, url2 = startManager(t, h2, "--poster", "--worker-prover")
			s.startWdPoStWorker(t, "wdpost-1", "")
			at2 := *s
			at2.url = url2
			at2.startWdPoStWorker(t, "wdpost-2", "")
		},
	})
	windows := s.windows(t)
	s.walk(t, windows...)
	st := s.stats(t, context.Background())
	s.requireProvenOnce(t, st, windows)

	leaders := 0
	for _, p := range []*process{s.manager, second} {
		if strings.Contains(p.Output(), "WindowPoSt leader for the miner") {
			leaders++
		}
	}
	if leaders != 1 || !strings.Contains(s.manager.Output()+second.Output(), "another manager proves this miner") {
		t.Fatalf("%d managers logged the leadership of t01000; want exactly one, the other following", leaders)
	}
	db := pg.Open(t)
	defer db.Close()
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT deadline_open, partitions, COUNT(*) FROM wdpost_jobs GROUP BY deadline_open, partitions HAVING COUNT(*) > 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var open int64
		var parts string
		var n int
		if err := rows.Scan(&open, &parts, &n); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%d jobs for partitions %s of the deadline opening at %d; want one", n, parts, open)
	}
	var jobs int
	if err := db.SQL().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM wdpost_jobs`).Scan(&jobs); err != nil || jobs < len(windows) {
		t.Fatalf("%d jobs in the shared database (%v); want at least one per window (%d)", jobs, err, len(windows))
	}
}
