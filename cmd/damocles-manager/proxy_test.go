package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/netaddr"
	"github.com/damocles-go/damocles/internal/proofs"
)

func TestCheckProxyFlag(t *testing.T) {
	for _, tt := range []struct {
		proxy, listen string
		err           string // a substring; "" means none
	}{
		{proxy: "127.0.0.1:1789", listen: ":2789"},
		{proxy: "/ip4/127.0.0.1/tcp/1789", listen: ":2789"},
		{proxy: "/ip4/10.0.0.5/tcp/1789/http", listen: ":1789"},
		{proxy: "10.0.0.5:1789", listen: ":1789"},
		{proxy: "", listen: ":2789", err: "--proxy: empty address"},
		{proxy: "127.0.0.1", listen: ":2789", err: `bad address "127.0.0.1"`},
		{proxy: "/ip4/127.0.0.1", listen: ":2789", err: "no port"},
		{proxy: "127.0.0.1:1789", listen: ":1789", err: "is this node's own --listen"},
		{proxy: "localhost:2789", listen: "0.0.0.0:2789", err: "is this node's own --listen"},
	} {
		err := checkProxyFlag(tt.proxy, tt.listen)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkProxyFlag(%q, %q) = %v; want %q", tt.proxy, tt.listen, err, tt.err)
		}
	}
}

// runningDaemon is `damocles-manager daemon run`, in this process.
type runningDaemon struct {
	cancel context.CancelFunc
	done   chan error
	addr   string // host:port, from the api file
}

// startDaemon runs the daemon of home (as given on the command line, a
// leading ~ included) with args after `daemon run`, and waits until it
// has written its api file.
func startDaemon(t *testing.T, homeFlag string, args ...string) *runningDaemon {
	t.Helper()
	h, err := home.New(homeFlag, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.Path(home.APIFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDaemon{cancel: cancel, done: make(chan error, 1)}
	argv := append([]string{"damocles-manager", "--home", homeFlag, "daemon", "run"}, args...)
	go func() { d.done <- newApp().RunContext(ctx, argv) }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(h.Path(home.APIFile)); err == nil {
			ep, err := netaddr.Parse(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			d.addr = ep.Host + ":" + ep.Port
			return d
		}
		select {
		case err := <-d.done:
			d.cancel = nil
			t.Fatalf("daemon %s stopped before it listened: %v", strings.Join(argv[1:], " "), err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon %s wrote no api file", strings.Join(argv[1:], " "))
		}
	}
}

func (d *runningDaemon) stop(t *testing.T) {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	if err := <-d.done; err != nil {
		t.Errorf("daemon: %v", err)
	}
}

// run runs a command of this binary in this process and returns what it
// printed. A daemon that should have refused to start is stopped after
// a while, so that the test fails rather than hangs.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	err = newApp().RunContext(ctx, append([]string{"damocles-manager"}, args...))
	w.Close()
	return <-out, err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("damocles-manager %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// makeStore writes a store holding the 2KiB sectors ids, as a worker
// leaves them: sealed file and persisted cache files.
func makeStore(t *testing.T, ids ...abi.SectorID) string {
	t.Helper()
	root := t.TempDir()
	files, err := proofs.CacheFilesFor(abi.RegisteredSealProof_StackedDrg2KiBV1_1)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		name := proofs.SectorName(id)
		write := func(rel string, size int) {
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(filepath.Join(proofs.SealedDirName, name), 2048)
		write(filepath.Join(proofs.CacheDirName, name, files.PAux), 64)
		write(filepath.Join(proofs.CacheDirName, name, files.TAux), 16)
		for _, f := range files.TreeRLast {
			write(filepath.Join(proofs.CacheDirName, name, f), 32)
		}
	}
	return root
}

// A source and a proxy node on one machine, as seed 001 deploys them: the
// proxy has its own home (database, api and token files) and reads the
// source's config files through --conf-dir, a leading ~ and all.
func TestProxyNode(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv(apiInfoEnv, "")
	const srcHome, proxyHome = "~/.damocles-manager", "~/.damocles-manager2"
	src, err := home.New(srcHome, "")
	if err != nil {
		t.Fatal(err)
	}
	prx, err := home.New(proxyHome, "")
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "--home", srcHome, "daemon", "init")
	mustRun(t, "--home", proxyHome, "daemon", "init")

	// The source's config names the store; the proxy's own config (from
	// its init) does not, so a proxy that lists it read the source's.
	storeDir := makeStore(t, abi.SectorID{Miner: 1000, Number: 1}, abi.SectorID{Miner: 1000, Number: 2})
	cfgPath := src.ConfPath(config.ManagerFileName)
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, []byte("\n[[Common.PersistStores]]\nName = \"store-a\"\nPath = \""+storeDir+"\"\n")...)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	source := startDaemon(t, srcHome, "--listen=127.0.0.1:0")
	out := mustRun(t, "--home", srcHome, "util", "storage", "attach", "--name", "store-a", storeDir)
	if !strings.Contains(out, "2 imported") {
		t.Fatalf("attach to the source:\n%s", out)
	}

	proxy := startDaemon(t, proxyHome, "--proxy="+source.addr, "--listen=127.0.0.1:0", "--conf-dir="+srcHome)

	// Its own home: database, api and token files; the source's config.
	for _, f := range []string{home.DatabaseFile, home.APIFile, home.TokenFile} {
		if _, err := os.Stat(prx.Path(f)); err != nil {
			t.Errorf("the proxy's home lacks %s: %v", f, err)
		}
	}
	if b, _ := os.ReadFile(src.Path(home.APIFile)); !strings.Contains(string(b), "/tcp/"+strings.Split(source.addr, ":")[1]+"/") {
		t.Errorf("the proxy overwrote the source's api file: %s", b)
	}
	if out := mustRun(t, "--home", proxyHome, "util", "storage", "list"); !strings.Contains(out, "store-a") {
		t.Errorf("the proxy's stores do not come from --conf-dir:\n%s", out)
	}

	// Locations come from the source.
	out = mustRun(t, "--home", proxyHome, "util", "storage", "find", "1000", "2")
	if want := `normal: sealed file in "store-a", cache dir in "store-a"`; !strings.Contains(out, want) {
		t.Fatalf("util storage find through the proxy:\n%s\nwant %q", out, want)
	}
	if out := mustRun(t, "--home", proxyHome, "util", "storage", "find", "1000", "3"); !strings.Contains(out, "normal: not found") {
		t.Fatalf("util storage find of a sector the source lacks, through the proxy:\n%s", out)
	}

	// Writes are refused, with the way out. (Attaching what the source
	// has already writes nothing, so the store holds a new sector.)
	newDir := makeStore(t, abi.SectorID{Miner: 1000, Number: 3})
	_, err = run(t, "--home", proxyHome, "util", "storage", "attach", "--name", "store-b", newDir)
	want := "this manager is a proxy of " + source.addr + " (--proxy): its sector index is read only; attach or persist through the source manager"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("util storage attach against the proxy = %v; want %q", err, want)
	}
	proxy.stop(t)

	// --proxy-sector-indexer-off over the proxy's own, empty index: the
	// source's entries are in the source's database, not this one.
	_, err = run(t, "--home", proxyHome, "daemon", "run", "--proxy=/ip4/127.0.0.1/tcp/"+strings.Split(source.addr, ":")[1],
		"--proxy-sector-indexer-off", "--listen=127.0.0.1:0", "--conf-dir="+srcHome)
	if err == nil || !strings.Contains(err.Error(), "--proxy-sector-indexer-off: the local sector index (this node's [Common.DB]) is empty") {
		t.Fatalf("daemon run --proxy-sector-indexer-off over an empty index = %v; want a refusal", err)
	}

	// Filled (the node run alone, its store attached), it starts, and
	// finds what its own index has.
	alone := startDaemon(t, proxyHome, "--listen=127.0.0.1:0", "--conf-dir="+srcHome)
	mustRun(t, "--home", proxyHome, "util", "storage", "attach", "--name", "store-a", "--pattern", "s-t01000-1", storeDir)
	alone.stop(t)
	startDaemon(t, proxyHome, "--proxy="+source.addr, "--proxy-sector-indexer-off", "--listen=127.0.0.1:0", "--conf-dir="+srcHome)
	if out := mustRun(t, "--home", proxyHome, "util", "storage", "find", "1000", "1"); !strings.Contains(out, `normal: sealed file in "store-a"`) {
		t.Fatalf("find in the local index:\n%s", out)
	}
	if out := mustRun(t, "--home", proxyHome, "util", "storage", "find", "1000", "2"); !strings.Contains(out, "normal: not found") {
		t.Fatalf("find of a sector only the source has, with --proxy-sector-indexer-off:\n%s", out)
	}
}

// The seed's command lines parse as written.
func TestProxySeedCommandsParse(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, argv := range [][]string{
		{"--home", "~/.damocles-manager2", "daemon", "run", "--proxy=127.0.0.1:1789", "--listen=:2789", "--conf-dir=~/.damocles-manager", "--poster"},
		{"--home=~/.damocles-individual-poster", "daemon", "run", "--proxy=127.0.0.1:1789", "--poster", "--listen=:2789", "--conf-dir=~/.damocles-manager", "--ext-prover"},
	} {
		// No home was initialised: getting as far as reading the config
		// from the --conf-dir, expanded, means the flags were accepted.
		_, err := run(t, argv...)
		want := filepath.Join(os.Getenv("HOME"), ".damocles-manager", config.ManagerFileName)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("damocles-manager %s = %v; want an error reading %s", strings.Join(argv, " "), err, want)
		}
	}
}
