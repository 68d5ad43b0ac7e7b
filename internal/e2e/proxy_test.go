package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The seeds' proxy deployment: a source node that seals (no --poster) and
// a proxy node in a home of its own with the source's config files
// (--conf-dir), --poster and --ext-prover, which proves the source's
// sectors with locations from the source, and keeps proving them while
// the source is down. Then --proxy-sector-indexer-off:
// refused while the proxy's own index is empty, proving from it once the
// store is attached there.
func TestPoStProxyNodeProvesTheSourcesSectors(t *testing.T) {
	t.Parallel()
	var proxy *process
	var proxyURL string
	var source string
	s := newPoStScenario(t, 4, sealOpts{
		noPoster: true,
		prepare: func(t *testing.T, h string) {
			if err := os.WriteFile(filepath.Join(h, "ext-prover.cfg"), []byte("[[WdPost]]\nConcurrent = 2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		beforeSealing: func(t *testing.T, s *sealScenario) {
			source = strings.TrimPrefix(s.url, "http://")
			proxy, proxyURL = startManager(t, managerHome(t), "--proxy", source, "--conf-dir", s.h, "--poster", "--ext-prover")
		},
	})
	windows := s.windows(t)
	s.walk(t, windows...)
	st := s.stats(t, context.Background())
	s.requireProvenOnce(t, st, windows)
	requireLog(t, proxy, "Submitted window post:")
	var errOut string
	var err error
	if strings.Contains(s.manager.Output(), "Submitted window post:") {
		t.Fatal("the source node sent a WindowPoSt; only the proxy runs --poster")
	}

	// The source goes away for the next windows: the proxy proves from
	// the locations it cached, and says the source is unreachable. Back
	// on its address, the source answers the proxy again.
	stop(t, s.manager)
	// A sector it never cached cannot be found: the error names the source.
	_, errOut, err = runCmd(t, "damocles-manager", "--home", proxyHome(t, proxy), "util", "storage", "find", "1000", "999")
	if err == nil || !strings.Contains(errOut, source) {
		t.Fatalf("find through the proxy while the source is down: %v\n%s", err, errOut)
	}
	// Past the cache's freshness (30s), the proxy proves from locations
	// it cannot refresh. Nothing is due meanwhile: the next windows are a
	// proving period ahead.
	time.Sleep(31 * time.Second)
	during := s.windows(t)
	s.walk(t, during...)
	st = s.stats(t, context.Background())
	s.requireProvenOnce(t, st, append(windows, during...))
	requireLog(t, proxy, "proxy source unreachable")
	if stale := metricValue(t, proxyURL, `damocles_proxy_lookups_total{result="stale"`); stale == 0 {
		t.Fatal("the proxy proved while its source was down without serving a stale location: want damocles_proxy_lookups_total{result=\"stale\"} > 0")
	}
	s.manager = start(t, "damocles-manager", "--home", s.h, "daemon", "run", "--listen", source)
	sector := fmt.Sprint(s.sectorIn(t, windows[0]))
	eventually(t, 20*time.Second, "the proxy to reach the restarted source", func() bool {
		out, _, err := runCmd(t, "damocles-manager", "--home", proxyHome(t, proxy), "util", "storage", "find", "1000", sector)
		return err == nil && strings.Contains(out, "persist-1") && strings.Contains(proxy.Output(), "proxy source reachable again")
	})
	windows = append(windows, during...)

	// Its own, empty, index: refused at start, loudly.
	own := managerHome(t)
	_, errOut, err = runCmd(t, "damocles-manager", "--home", own, "daemon", "run", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--proxy", source, "--proxy-sector-indexer-off", "--conf-dir", s.h, "--poster", "--ext-prover")
	if err == nil || !strings.Contains(errOut, "local sector indexer is empty") {
		t.Fatalf("proxy with --proxy-sector-indexer-off and an empty index: %v\n%s", err, errOut)
	}
	// Attached through the source's proxy: refused, the index is the
	// source's.
	_, errOut, err = runCmd(t, "damocles-manager", "--home", proxyHome(t, proxy), "util", "storage", "attach", "--name", "persist-1", s.persist)
	if err == nil || !strings.Contains(errOut, "read only") {
		t.Fatalf("attach through the proxy: %v\n%s", err, errOut)
	}
	stop(t, proxy)

	// Attached in its own index (by the node running alone), the proxy
	// proves from there.
	alone, _ := startManager(t, own, "--conf-dir", s.h)
	out := mustRun(t, "damocles-manager", "--home", own, "util", "storage", "attach", "--name", "persist-1", s.persist)
	if !strings.Contains(out, "4 imported") {
		t.Fatalf("attach in the proxy's own index: %s", out)
	}
	stop(t, alone)
	proxy, _ = startManager(t, own, "--proxy", source, "--proxy-sector-indexer-off", "--conf-dir", s.h, "--poster", "--ext-prover")
	next := s.windows(t)
	s.walk(t, next...)
	st = s.stats(t, context.Background())
	s.requireProvenOnce(t, st, append(windows, next...))
	requireLog(t, proxy, "Submitted window post:")
}

// proxyHome is the --home a started manager runs with.
func proxyHome(t *testing.T, p *process) string {
	t.Helper()
	args := p.cmd.Args
	for i, a := range args {
		if a == "--home" && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("no --home in %v", args)
	return ""
}

// metricValue reads the first sample of /metrics whose line starts with
// prefix; 0 when there is none.
func metricValue(t *testing.T, url, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			fields := strings.Fields(line)
			fmt.Sscan(fields[len(fields)-1], &v)
			return v
		}
	}
	return 0
}
