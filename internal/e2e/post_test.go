package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/dline"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/node"
	"github.com/damocles-go/damocles/internal/proofs"
)

// The WindowPoSt tests seal sectors with a real worker, run the manager
// with --poster and judge by the devnet's records. Between the windows
// that hold sectors they mine ahead with Devnet.MineTo: nothing is due
// there, and waiting for it in real time would cost minutes per test.

// postConfig enables WindowPoSt for t01000, sent from the devnet wallet.
const postConfig = `
[Miners.PoSt]
Enabled = true
Sender = "{wallet}"
StrictCheck = true
Confidence = 1
`

// catchUp is how many epochs before the epochs that matter a test stops
// mining ahead: the manager then follows the chain in real time again.
const catchUp = 100

// postScenario is a sealScenario whose sectors are active, with the
// manager running --poster.
type postScenario struct {
	*sealScenario
	api    chain.API
	n      int
	worker *process
}

// newPoStScenario seals n sectors and waits until they are active on
// chain; the worker is stopped then, sealing being over.
func newPoStScenario(t *testing.T, n int, o sealOpts) *postScenario {
	t.Helper()
	o.threads = max(o.threads, 2)
	o.maxNumber = n
	if !o.noPoster {
		o.managerArgs = append([]string{"--poster"}, o.managerArgs...)
	}
	o.extraMiner = postConfig + o.extraMiner
	s := &postScenario{sealScenario: newSealScenario(t, o), n: n}
	s.api = s.d.client(t, "")
	if o.beforeSealing != nil {
		o.beforeSealing(t, s.sealScenario)
	}
	s.worker = s.startWorker(t)
	s.waitActivated(t, context.Background(), uint64(n), 4*time.Minute, s.worker, s.manager)
	_ = s.worker.cmd.Process.Signal(syscall.SIGTERM)
	return s
}

// windows returns the next window of every deadline holding sectors,
// earliest first.
func (s *postScenario) windows(t *testing.T) []*dline.Info {
	t.Helper()
	ctx := context.Background()
	maddr := minerAddr(t)
	di, err := s.api.StateMinerProvingDeadline(ctx, maddr, chain.TipSetKey{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*dline.Info
	for range chain.WPoStPeriodDeadlines {
		parts, err := s.api.StateMinerPartitions(ctx, maddr, di.Index, chain.TipSetKey{})
		if err != nil {
			t.Fatal(err)
		}
		// The open deadline's window may be half gone: take its next one.
		if len(parts) > 0 && di.Open > di.CurrentEpoch {
			out = append(out, di)
		} else if len(parts) > 0 {
			out = append(out, chain.NewDeadlineInfo(di.PeriodStart+chain.WPoStProvingPeriod, di.Index, di.CurrentEpoch))
		}
		di = chain.NextDeadline(di)
	}
	slices.SortFunc(out, func(a, b *dline.Info) int { return int(a.Open - b.Open) })
	return out
}

// mineTo mines ahead to catchUp epochs before epoch, unless the head is
// past that already.
func (s *postScenario) mineTo(t *testing.T, epoch abi.ChainEpoch) {
	t.Helper()
	ctx := context.Background()
	if head(t, ctx, s.api) >= epoch-catchUp {
		return
	}
	obs, closer, err := node.NewObserverClient(ctx, s.d.api, s.d.token)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if _, err := obs.MineTo(ctx, epoch-catchUp); err != nil {
		t.Fatal(err)
	}
}

// walk mines ahead to each window in turn and lives through it in real
// time, until every one has closed.
func (s *postScenario) walk(t *testing.T, windows ...*dline.Info) {
	t.Helper()
	for _, di := range windows {
		s.mineTo(t, di.Challenge)
		waitHeight(t, context.Background(), s.api, di.Close+1, 2*time.Minute, fmt.Sprintf("deadline %d's window to close", di.Index))
	}
}

// postsIn returns the WindowPoSt records of window di.
func postsIn(st devnet.MinerStats, di *dline.Info) []devnet.PoStRecord {
	var out []devnet.PoStRecord
	for _, p := range st.PoSts {
		if p.Deadline == di.Index && p.Epoch > di.Open && p.Epoch <= di.Close {
			out = append(out, p)
		}
	}
	return out
}

// requireProvenOnce requires exactly one accepted WindowPoSt in each
// window, no rejected one, and no missed partition.
func (s *postScenario) requireProvenOnce(t *testing.T, st devnet.MinerStats, windows []*dline.Info) {
	t.Helper()
	for _, di := range windows {
		if posts := postsIn(st, di); len(posts) != 1 || !posts[0].Accepted {
			t.Errorf("deadline %d (open %d): PoSt records %+v, want exactly one accepted", di.Index, di.Open, posts)
		}
	}
	if len(st.Missed) != 0 || st.ProofsRejected != 0 {
		t.Errorf("missed partitions %+v, rejected proofs %d: want none", st.Missed, st.ProofsRejected)
	}
	if t.Failed() {
		t.Fatalf("manager log:\n%s", tail(s.manager.Output(), 60))
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

func requireLog(t *testing.T, p *process, keyword string) {
	t.Helper()
	if !strings.Contains(p.Output(), keyword) {
		t.Fatalf("the manager never logged %q:\n%s", keyword, tail(p.Output(), 60))
	}
}

// The acceptance run: 16 sectors over several deadlines, each proven in
// its window, none missed.
func TestPoStProvesEveryDeadline(t *testing.T) {
	t.Parallel()
	s := newPoStScenario(t, 16, sealOpts{threads: 4})
	windows := s.windows(t)
	if len(windows) < 2 {
		t.Fatalf("16 sectors in %d deadlines: want several", len(windows))
	}
	s.walk(t, windows...)
	st := s.stats(t, context.Background())
	s.requireProvenOnce(t, st, windows)
	if st.Active != 16 || st.Faulty != 0 {
		t.Fatalf("stats %+v: want 16 active sectors, none faulty", st)
	}
	for _, kw := range []string{"Checked sectors", "Submitted window post:"} {
		requireLog(t, s.manager, kw)
	}
}

// sectorIn returns a sector of deadline di's first partition.
func (s *postScenario) sectorIn(t *testing.T, di *dline.Info) abi.SectorNumber {
	t.Helper()
	parts, err := s.api.StateMinerPartitions(context.Background(), minerAddr(t), di.Index, chain.TipSetKey{})
	if err != nil || len(parts) == 0 {
		t.Fatalf("partitions of deadline %d: %v, %v", di.Index, parts, err)
	}
	n, err := parts[0].AllSectors.First()
	if err != nil {
		t.Fatal(err)
	}
	return abi.SectorNumber(n)
}

func (s *postScenario) sealedFile(n abi.SectorNumber) string {
	return proofs.SealedPath(s.persist, abi.SectorID{Miner: 1000, Number: n})
}

// One sector's sealed file corrupted, another's replaced by a FIFO whose
// read never returns: each costs its own sector only. Restored, both are
// declared recovered and proven again.
func TestPoStBadSectorsAreSkippedThenRecovered(t *testing.T) {
	t.Parallel()
	s := newPoStScenario(t, 4, sealOpts{proving: []string{`SingleCheckTimeout = "2s"`}})
	windows := s.windows(t)
	if len(windows) != 2 {
		t.Fatalf("4 sectors in %d deadlines, want 2", len(windows))
	}
	corrupt, hung := s.sectorIn(t, windows[0]), s.sectorIn(t, windows[1])
	corruptPath, hungPath := s.sealedFile(corrupt), s.sealedFile(hung)
	corruptData, err := os.ReadFile(corruptPath)
	if err != nil {
		t.Fatal(err)
	}
	hungData, err := os.ReadFile(hungPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corruptPath, make([]byte, len(corruptData)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(hungPath); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(hungPath, 0o644); err != nil {
		t.Fatal(err)
	}

	s.walk(t, windows...)
	st := s.stats(t, context.Background())
	for _, di := range windows {
		if posts := postsIn(st, di); len(posts) != 1 || !posts[0].Accepted || posts[0].Skipped != 1 || posts[0].Proven != 1 {
			t.Fatalf("deadline %d: posts %+v, want one accepted proof with 1 sector skipped and 1 proven\n%s", di.Index, posts, tail(s.manager.Output(), 60))
		}
	}
	if st.Faulty != 2 || len(st.Missed) != 0 || st.ProofsRejected != 0 {
		t.Fatalf("stats %+v: want the 2 bad sectors faulty, nothing missed or rejected", st)
	}
	if !regexp.MustCompile(`check timed out after 2s`).MatchString(s.manager.Output()) {
		t.Fatalf("the manager never gave up on the hung file:\n%s", tail(s.manager.Output(), 60))
	}

	// Restore both: a writer releases the manager's blocked open of the
	// FIFO, then the real file takes its place.
	if f, err := os.OpenFile(hungPath, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
	for path, data := range map[string][]byte{corruptPath: corruptData, hungPath: hungData} {
		tmp := filepath.Join(filepath.Dir(path), ".restore")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	// Each is declared recovered by the runner of the deadline two
	// before its own, whose challenge is 140 epochs before its window.
	next := s.windows(t)
	s.mineTo(t, next[0].Open-2*chain.WPoStChallengeWindow-chain.WPoStChallengeLookback)
	s.walk(t, next...)
	st = s.stats(t, context.Background())
	if st.Faulty != 0 || st.Recovered != 2 || st.Active != 4 || len(st.Missed) != 0 || st.ProofsRejected != 0 {
		t.Fatalf("stats %+v: want both sectors recovered and active again\n%s", st, tail(s.manager.Output(), 80))
	}
	requireLog(t, s.manager, "declare faults recovered message published")
}

// waitLog waits until p's output matches re and returns the match.
func waitLog(t *testing.T, p *process, re *regexp.Regexp, timeout time.Duration, what string) string {
	t.Helper()
	var m string
	eventually(t, timeout, what, func() bool {
		m = re.FindString(p.Output())
		return m != ""
	})
	return m
}

func (s *postScenario) killManager(t *testing.T) {
	t.Helper()
	if err := s.manager.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.manager.wait(10 * time.Second)
}

// A manager SIGKILLed mid-deadline and restarted before the window closes
// still proves it: once killed after proving and before submitting, once
// right after pushing its message, which must not be sent again.
func TestPoStManagerKilledMidDeadline(t *testing.T) {
	t.Parallel()
	s := newPoStScenario(t, 4, sealOpts{})
	windows := s.windows(t)
	if len(windows) != 2 {
		t.Fatalf("4 sectors in %d deadlines, want 2", len(windows))
	}

	s.mineTo(t, windows[0].Challenge)
	waitLog(t, s.manager, regexp.MustCompile(fmt.Sprintf(`window post computed.*"deadline": %d,`, windows[0].Index)), time.Minute, "the first proof computed")
	if strings.Contains(s.manager.Output(), "Submitted window post:") {
		t.Fatal("the proof was submitted before the kill; the test wants it killed in between")
	}
	s.killManager(t)
	s.manager, s.url = startManager(t, s.h, "--poster")
	waitHeight(t, context.Background(), s.api, windows[0].Close+1, 2*time.Minute, "the first window to close")

	s.mineTo(t, windows[1].Challenge)
	waitLog(t, s.manager, regexp.MustCompile(fmt.Sprintf(`Submitted window post: \S+\s.*"deadline": %d,`, windows[1].Index)), time.Minute, "the second proof pushed")
	s.killManager(t)
	s.manager, s.url = startManager(t, s.h, "--poster")
	waitHeight(t, context.Background(), s.api, windows[1].Close+1, 2*time.Minute, "the second window to close")

	st := s.stats(t, context.Background())
	s.requireProvenOnce(t, st, windows)
	if strings.Contains(s.manager.Output(), "Submitted window post:") {
		t.Fatalf("the restarted manager pushed the second proof again:\n%s", tail(s.manager.Output(), 40))
	}
}

// childEnv tells the ext-prover processors apart: each [[WdPost]] block
// gives its process its own value.
const childEnv = "DAMOCLES_E2E_PROCESSOR"

// processors maps the manager's child processes to their childEnv value.
func processors(t *testing.T, manager *process) map[int]string {
	t.Helper()
	// Any thread of the manager may have forked a child: list every
	// thread's children.
	pid := manager.cmd.Process.Pid
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(files) == 0 {
		t.Fatalf("threads of the manager (pid %d): %v", pid, err)
	}
	var children []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			children = append(children, strings.Fields(string(data))...)
		}
	}
	out := map[int]string{}
	for _, f := range children {
		var child int
		fmt.Sscan(f, &child)
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", child))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, childEnv+"="); ok {
				out[child] = v
			}
		}
	}
	return out
}

// tasksByProcessor counts the manager's "task done" lines per processor
// name, through pids (a restarted process has a new one).
func tasksByProcessor(log string, names map[int]string) map[string]int {
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`task done\s+\{"stage": "window_post", "pid": (\d+), "ok": true`).FindAllStringSubmatch(log, -1) {
		var pid int
		fmt.Sscan(m[1], &pid)
		out[names[pid]]++
	}
	return out
}

// --ext-prover with two [[WdPost]] processors (damocles-worker processor
// window_post): a deadline of two partitions proven in parallel uses
// both; one SIGKILLed as the next deadline starts is restarted and that
// deadline is still proven.
func TestPoStExtProverProcessorKilled(t *testing.T) {
	t.Parallel()
	extCfg := fmt.Sprintf(`
[[WdPost]]
Concurrent = 1
[WdPost.Envs]
%[1]s = "a"

[[WdPost]]
Concurrent = 1
[WdPost.Envs]
%[1]s = "b"
`, childEnv)
	// With one sector per partition, 49 sectors make a second partition
	// in some deadline: every deadline gets one before any gets two, the
	// open and next ones excepted at each activation.
	s := newPoStScenario(t, 50, sealOpts{
		threads:     4,
		devnetArgs:  []string{"--partition-sectors", "1"},
		managerArgs: []string{"--ext-prover"},
		extraMiner:  "Parallel = true\nMaxPartitionsPerPoStMessage = 1\n",
		prepare: func(t *testing.T, h string) {
			if err := os.WriteFile(filepath.Join(h, "ext-prover.cfg"), []byte(extCfg), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	})
	var double, next *dline.Info
	var partitions int
	windows := s.windows(t)
	for i, di := range windows {
		parts, err := s.api.StateMinerPartitions(context.Background(), minerAddr(t), di.Index, chain.TipSetKey{})
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) >= 2 && i+1 < len(windows) {
			double, next, partitions = di, windows[i+1], len(parts)
			break
		}
	}
	if double == nil {
		t.Fatalf("no deadline with two partitions (and one after it) among %d windows", len(windows))
	}
	names := processors(t, s.manager)
	if len(names) != 2 {
		t.Fatalf("manager children %v: want the two processors", names)
	}

	s.walk(t, double)
	st := s.stats(t, context.Background())
	posts := postsIn(st, double)
	for _, p := range posts {
		if !p.Accepted {
			t.Fatalf("deadline %d: post %+v rejected", double.Index, p)
		}
	}
	if len(posts) != partitions {
		t.Fatalf("deadline %d: %d posts for %d partitions, want one per partition: %+v", double.Index, len(posts), partitions, posts)
	}
	if used := tasksByProcessor(s.manager.Output(), names); used["a"] == 0 || used["b"] == 0 {
		t.Fatalf("tasks per processor %v: want both used", used)
	}

	s.mineTo(t, next.Challenge)
	waitLog(t, s.manager, regexp.MustCompile(fmt.Sprintf(`deadline runner started.*"deadline": %d,`, next.Index)), time.Minute, "the next deadline's runner")
	for pid, name := range names {
		if name == "a" {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitHeight(t, context.Background(), s.api, next.Close+1, 2*time.Minute, "the next window to close")
	st = s.stats(t, context.Background())
	nextParts, err := s.api.StateMinerPartitions(context.Background(), minerAddr(t), next.Index, chain.TipSetKey{})
	if err != nil {
		t.Fatal(err)
	}
	posts = postsIn(st, next)
	if len(posts) != len(nextParts) {
		t.Fatalf("deadline %d after a processor was killed: posts %+v, want one per partition (%d)\n%s", next.Index, posts, len(nextParts), tail(s.manager.Output(), 60))
	}
	for _, p := range posts {
		if !p.Accepted {
			t.Fatalf("deadline %d after a processor was killed: post %+v rejected", next.Index, p)
		}
	}
	waitLog(t, s.manager, regexp.MustCompile(`processor restarted`), 30*time.Second, "the killed processor restarted")
}
