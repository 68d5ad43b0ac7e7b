package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/node"
)

// The sealing tests run a devnet with miner t01000 (2KiB sectors), a
// manager sealing for it, and a worker with in-process devproof stages,
// and judge the outcome by the devnet: its Devnet.Stats, its Filecoin
// API, and its wallet's nonce.

// sealOpts shapes one sealing scenario.
type sealOpts struct {
	threads int
	// maxNumber bounds the sector numbers the manager allocates, so that
	// the threads stop after the sectors a test wants.
	maxNumber int
	// preBatch lines go under [Miners.Commitment.Pre.Batch].
	preBatch []string
	// extraWorker is appended to the worker's TOML.
	extraWorker string
	// extraMiner is appended to the [[Miners]] block (e.g. [Miners.PoSt]);
	// {wallet} in it stands for the devnet's wallet address.
	extraMiner string
	// proving lines go under [Common.Proving].
	proving []string
	// devnetArgs and managerArgs are added to `damocles-devnet run` and
	// `damocles-manager daemon run`.
	devnetArgs, managerArgs []string
	// prepare, when set, runs on the manager's home before it starts.
	prepare func(t *testing.T, home string)
	// noPoster keeps --poster off the manager of a PoSt scenario (a
	// source node whose sectors a proxy node proves).
	noPoster bool
	// blockTime is the devnet's; 0 means 100ms.
	blockTime time.Duration
	// beforeSealing, when set, runs once the manager serves, before the
	// sealing worker starts (to start the wdpost workers that must prove
	// the first deadlines).
	beforeSealing func(t *testing.T, s *sealScenario)
}

// sealScenario is a running devnet and manager, with a worker config ready
// to start.
type sealScenario struct {
	d          *devnetProc
	root       string
	h, url     string
	persist    string
	threads    []string
	workerCfg  string
	writeToken string
	manager    *process
}

func newSealScenario(t *testing.T, o sealOpts) *sealScenario {
	t.Helper()
	root := t.TempDir()
	if o.blockTime == 0 {
		o.blockTime = 100 * time.Millisecond
	}
	d := startDevnet(t, filepath.Join(root, "devnet"), o.blockTime, append([]string{"--miner", "t01000:2KiB"}, o.devnetArgs...)...)
	s := &sealScenario{d: d, root: root, persist: filepath.Join(root, "persist")}

	s.h = managerHome(t)
	setConfig(t, s.h, "Common.API", fmt.Sprintf("Chain = %q", d.api), fmt.Sprintf("Token = %q", d.token), `ChainEventInterval = "200ms"`)
	setConfig(t, s.h, "Common.Auth", "TrustedNetworks = []")
	if len(o.proving) > 0 {
		setConfig(t, s.h, "Common.Proving", o.proving...)
	}
	addPersistStore(t, s.h, "persist-1", s.persist)
	miner := fmt.Sprintf(`
[[Miners]]
Actor = 1000

[Miners.Sector]
InitNumber = 0
MaxNumber = %d
Enabled = true

[Miners.Commitment]
Confidence = 1

[Miners.Commitment.Pre]
Sender = %q

[Miners.Commitment.Pre.Batch]
%s

[Miners.Commitment.Prove]
Sender = %q
%s
`, o.maxNumber, d.wallet.String(), strings.Join(o.preBatch, "\n"), d.wallet.String(), strings.ReplaceAll(o.extraMiner, "{wallet}", d.wallet.String()))
	f, err := os.OpenFile(filepath.Join(s.h, "sector-manager.cfg"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(miner); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if o.prepare != nil {
		o.prepare(t, s.h)
	}
	s.manager, s.url = startManager(t, s.h, o.managerArgs...)
	s.writeToken = strings.TrimSpace(mustRun(t, "damocles-manager", "--home", s.h, "util", "auth", "create-token", "--perm", "write"))

	mustRun(t, "damocles-worker", "store", "file-init", "-l", s.persist)
	var threads strings.Builder
	for i := range o.threads {
		loc := filepath.Join(root, fmt.Sprintf("thread-%d", i))
		s.threads = append(s.threads, loc)
		mustRun(t, "damocles-worker", "store", "sealing-init", "-l", loc)
		fmt.Fprintf(&threads, "[[sealing_thread]]\nlocation = %q\n\n", loc)
	}
	cfg := fmt.Sprintf(`[worker]
name = "e2e-sealer"
ping_interval = "200ms"

[sector_manager]
rpc_client.addr = %q
rpc_client.headers = { Authorization = "Bearer %s" }

[sealing]
allowed_miners = [1000]
seal_interval = "200ms"
recover_interval = "1s"
rpc_polling_interval = "200ms"

%s
[[attached]]
name = "persist-1"
location = %q
%s
`, s.url, s.writeToken, threads.String(), s.persist, o.extraWorker)
	s.workerCfg = filepath.Join(root, "worker.toml")
	if err := os.WriteFile(s.workerCfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *sealScenario) startWorker(t *testing.T) *process {
	t.Helper()
	return start(t, "damocles-worker", "daemon", "-c", s.workerCfg)
}

// stats reads the devnet's record of t01000.
func (s *sealScenario) stats(t *testing.T, ctx context.Context) devnet.MinerStats {
	t.Helper()
	obs, closer, err := node.NewObserverClient(ctx, s.d.api, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	st, err := obs.Stats(ctx, minerAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitActivated waits until n sectors of t01000 are activated on chain.
// Nothing sends WindowPoSts here (the manager's poster is not run), so
// activated sectors stay Unproven; Active counts those proven since.
func (s *sealScenario) waitActivated(t *testing.T, ctx context.Context, n uint64, timeout time.Duration, procs ...*process) devnet.MinerStats {
	t.Helper()
	began, lastLog := time.Now(), time.Now()
	for {
		st := s.stats(t, ctx)
		if st.Active+st.Unproven >= n {
			t.Logf("%s: %d sectors activated (%+v)", time.Since(began).Round(time.Millisecond), n, st)
			return st
		}
		for _, p := range procs {
			select {
			case <-p.done:
				t.Fatalf("a process exited early: %v", p.err)
			default:
			}
		}
		if time.Since(began) > timeout {
			t.Fatalf("timed out after %s waiting for %d activated sectors: %+v\nonline sectors:\n%s", timeout, n, st,
				mustRun(t, "damocles-manager", "--home", s.h, "util", "sealer", "sectors", "list"))
		}
		if time.Since(lastLog) > 20*time.Second {
			t.Logf("%s: still waiting for %d activated sectors: %+v", time.Since(began).Round(time.Second), n, st)
			lastLog = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitFinalized waits until `util sealer sectors list --offline` shows
// want finalized sectors, and returns its output.
func (s *sealScenario) waitFinalized(t *testing.T, want int, timeout time.Duration) string {
	t.Helper()
	var out string
	eventually(t, timeout, fmt.Sprintf("%d finalized sectors", want), func() bool {
		o, _, err := runCmd(t, "damocles-manager", "--home", s.h, "util", "sealer", "sectors", "list", "--offline")
		out = o
		return err == nil && strings.Count(o, " finalized ") == want && strings.Contains(o, fmt.Sprintf("%d offline sectors", want))
	})
	return out
}

func minerAddr(t *testing.T) address.Address {
	t.Helper()
	a, err := address.NewIDAddress(1000)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// copyDir copies a directory tree of plain files.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var attachSummary = regexp.MustCompile(`: (\d+) imported, (\d+) already present, (\d+) skipped`)

// attach runs `util storage attach` against the manager of home h and
// returns the imported, already-present and skipped counts and the output.
func attach(t *testing.T, h, name, dir string) (imported, present, skipped int, out string) {
	t.Helper()
	out = mustRun(t, "damocles-manager", "--home", h, "util", "storage", "attach", "--name", name, dir)
	m := attachSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("util storage attach printed no summary:\n%s", out)
	}
	fmt.Sscan(m[1], &imported)
	fmt.Sscan(m[2], &present)
	fmt.Sscan(m[3], &skipped)
	return imported, present, skipped, out
}

func TestSealingFourSectors(t *testing.T) {
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s := newSealScenario(t, sealOpts{threads: 2, maxNumber: 4})
	w := s.startWorker(t)
	s.waitActivated(t, ctx, 4, 5*time.Minute, w)

	for n := 1; n <= 4; n++ {
		out := mustRun(t, "damocles-manager", "--home", s.h, "util", "storage", "find", "1000", fmt.Sprint(n))
		if !strings.Contains(out, `normal: sealed file in "persist-1", cache dir in "persist-1"`) {
			t.Errorf("util storage find 1000 %d:\n%s", n, out)
		}
		name := fmt.Sprintf("s-t01000-%d", n)
		for _, f := range []string{
			filepath.Join("sealed", name),
			filepath.Join("cache", name, "p_aux"),
			filepath.Join("cache", name, "t_aux"),
			filepath.Join("cache", name, "sc-02-data-tree-r-last.dat"),
		} {
			if fi, err := os.Stat(filepath.Join(s.persist, f)); err != nil || fi.Size() == 0 {
				t.Errorf("persist store: %s: %v", f, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(s.persist, "sealed", "s-t01000-5")); err == nil {
		t.Error("a fifth sector was sealed despite MaxNumber = 4")
	}
	offline := s.waitFinalized(t, 4, time.Minute)
	for n := 1; n <= 4; n++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^s-t01000-%d\s+\d+\s+finalized\s`, n)).MatchString(offline) {
			t.Errorf("sector %d not finalized:\n%s", n, offline)
		}
	}
	t.Logf("%s: 4 sectors sealed, found and finalized", time.Since(began).Round(time.Millisecond))
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	if err, ok := w.wait(10 * time.Second); !ok || err != nil {
		t.Errorf("worker exit after SIGTERM: %v (exited %v)", err, ok)
	}

	// Import a copy of the persist store into a second manager's index.
	copy1 := filepath.Join(t.TempDir(), "copy")
	copyDir(t, s.persist, copy1)
	h2 := managerHome(t)
	startManager(t, h2)
	if imp, pres, skip, out := attach(t, h2, "copy", copy1); imp != 4 || pres != 0 || skip != 0 {
		t.Errorf("first attach: %d imported, %d present, %d skipped; want 4, 0, 0\n%s", imp, pres, skip, out)
	}
	if imp, pres, skip, out := attach(t, h2, "copy", copy1); imp != 0 || pres != 4 || skip != 0 {
		t.Errorf("second attach: %d imported, %d present, %d skipped; want 0, 4, 0\n%s", imp, pres, skip, out)
	}
	if out := mustRun(t, "damocles-manager", "--home", h2, "util", "storage", "find", "1000", "3"); !strings.Contains(out, `normal: sealed file in "copy", cache dir in "copy"`) {
		t.Errorf("second manager: util storage find 1000 3:\n%s", out)
	}

	// A copy missing one sector's t_aux, attached to a third manager: that
	// sector is skipped and named with the file, the others imported.
	copy2 := filepath.Join(t.TempDir(), "copy2")
	copyDir(t, s.persist, copy2)
	if err := os.Remove(filepath.Join(copy2, "cache", "s-t01000-2", "t_aux")); err != nil {
		t.Fatal(err)
	}
	h3 := managerHome(t)
	startManager(t, h3)
	imp, pres, skip, out := attach(t, h3, "copy2", copy2)
	if imp != 3 || pres != 0 || skip != 1 {
		t.Errorf("attach of the damaged copy: %d imported, %d present, %d skipped; want 3, 0, 1\n%s", imp, pres, skip, out)
	}
	if !regexp.MustCompile(`skipped \S+ s-t01000-2: .*t_aux`).MatchString(out) {
		t.Errorf("the skip does not name sector 2 and t_aux:\n%s", out)
	}
	if out := mustRun(t, "damocles-manager", "--home", h3, "util", "storage", "find", "1000", "2"); !strings.Contains(out, "normal: not found") {
		t.Errorf("the skipped sector is in the index:\n%s", out)
	}
	t.Logf("%s: done", time.Since(began).Round(time.Millisecond))
}

// walletNonce pushes a zero-value send from the devnet wallet to itself
// and returns its nonce: the number of messages the wallet sent before.
func walletNonce(t *testing.T, ctx context.Context, api chain.API, s *sealScenario) uint64 {
	t.Helper()
	sm, err := api.MpoolPushMessage(ctx, &chain.Message{To: s.d.wallet, From: s.d.wallet, Value: big.Zero(), Method: 0}, nil)
	if err != nil {
		t.Fatalf("push a send from the wallet: %v", err)
	}
	return sm.Message.Nonce
}

func TestSealingBatchedPreCommit(t *testing.T) {
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s := newSealScenario(t, sealOpts{threads: 4, maxNumber: 4, preBatch: []string{
		"Enabled = true", "Threshold = 4", `MaxWait = "1h"`, `CheckInterval = "1s"`,
	}})
	api := s.d.client(t, s.d.token)
	before := walletNonce(t, ctx, api, s)
	w := s.startWorker(t)
	s.waitActivated(t, ctx, 4, 5*time.Minute, w)
	s.waitFinalized(t, 4, time.Minute)
	after := walletNonce(t, ctx, api, s)

	// The judge is the devnet wallet's nonce: between the two probe sends
	// the manager sent one PreCommitSectorBatch2 and four
	// ProveCommitSectors3 (prove batching is off); four separate
	// pre-commits would make it 8.
	if sent := after - before - 1; sent != 5 {
		t.Errorf("the wallet sent %d messages for 4 sectors; want 5 (1 batched pre-commit + 4 prove-commits)", sent)
	}
	// The manager's log agrees: one PreCommit message naming 4 sectors.
	var published []string
	for _, line := range strings.Split(s.manager.Output(), "\n") {
		if strings.Contains(line, "pre-commit message published") {
			published = append(published, line)
		}
	}
	if len(published) != 1 || !strings.Contains(published[0], `"sectors": [1,2,3,4]`) {
		t.Errorf("pre-commit messages published:\n%s", strings.Join(published, "\n"))
	}
	t.Logf("%s: 4 sectors pre-committed in one message", time.Since(began).Round(time.Millisecond))
}

func TestSealingWorkerKilledDuringPC2(t *testing.T) {
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// PC2 runs in an external processor whose requests are held 2s by a
	// shell loop, so the thread sits at PC1Done (PC2 running) long enough
	// to be seen and killed there.
	slowPC2 := fmt.Sprintf(`
[[processors.pc2]]
bin = "/bin/sh"
args = ["-c", %q, %q]
`, `while IFS= read -r l; do sleep 2; printf '%s\n' "$l"; done | exec "$0" processor pc2`, bin("damocles-worker"))
	s := newSealScenario(t, sealOpts{threads: 1, maxNumber: 1, extraWorker: slowPC2})
	w := s.startWorker(t)

	stateFile := filepath.Join(s.threads[0], "sealing-thread-state.json")
	var rec struct {
		State  string
		Sector struct{ ID abi.SectorID }
	}
	eventually(t, 2*time.Minute, "the thread's state file to show PC1Done", func() bool {
		data, err := os.ReadFile(stateFile)
		return err == nil && json.Unmarshal(data, &rec) == nil && rec.State == "PC1Done"
	})
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.wait(5 * time.Second); !ok {
		t.Fatal("the worker outlived SIGKILL")
	}
	t.Logf("%s: worker killed at PC1Done of sector %d", time.Since(began).Round(time.Millisecond), rec.Sector.ID.Number)
	if rec.Sector.ID.Number != 1 {
		t.Fatalf("the thread seals sector %d; want 1", rec.Sector.ID.Number)
	}
	data, _ := os.ReadFile(stateFile)
	if !strings.Contains(string(data), `"PC1Done"`) {
		t.Fatalf("state file after the kill:\n%s", data)
	}

	w2 := s.startWorker(t)
	s.waitActivated(t, ctx, 1, 3*time.Minute, w2)
	offline := s.waitFinalized(t, 1, time.Minute)
	if !strings.Contains(offline, "s-t01000-1 ") {
		t.Errorf("offline sectors:\n%s", offline)
	}
	online := mustRun(t, "damocles-manager", "--home", s.h, "util", "sealer", "sectors", "list")
	if !strings.Contains(online, "0 online sectors") {
		t.Errorf("online sectors after the sector finished:\n%s", online)
	}
	api := s.d.client(t, s.d.token)
	info, err := api.StateSectorGetInfo(ctx, minerAddr(t), 1, chain.EmptyTSK)
	if err != nil || info == nil {
		t.Fatalf("sector 1 on chain: %+v, %v", info, err)
	}
	if alloc, err := api.StateMinerSectorAllocated(ctx, minerAddr(t), 2, chain.EmptyTSK); err != nil || alloc {
		t.Errorf("sector 2 allocated on chain: %v, %v", alloc, err)
	}
	t.Logf("%s: sector 1 activated after the restart", time.Since(began).Round(time.Millisecond))
}
