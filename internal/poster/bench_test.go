package poster_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/devnet/devnettest"
)

// BenchmarkDeadline proves one deadline holding one partition of sealed
// 8MiB sectors (POSTER_BENCH_SECTORS, default 500; the devnet's partition
// size is set to that count) and reports the time from the runner's start
// to the message pushed, split into check, prove and verify, and the
// poster's overhead beyond them. The chain is brought to the window's
// open + SubmitConfidence before the poster starts, so the runner submits
// as soon as its proof is verified. Run it once:
//
//	go test -run '^$' -bench BenchmarkDeadline -benchtime 1x -timeout 60m ./internal/poster/
func BenchmarkDeadline(b *testing.B) {
	count := 500
	if v := os.Getenv("POSTER_BENCH_SECTORS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("POSTER_BENCH_SECTORS=%q: want a positive number", v)
		}
		count = n
	}
	for b.Loop() {
		h := newHarness(b, devnettest.Options{SectorSize: 8 << 20, PartitionSectors: uint64(count)})
		start := time.Now()
		h.seal(count)
		b.Logf("sealed %d 8MiB sectors in %s", count, time.Since(start).Round(time.Second))
		windows := h.windowsInOrder()
		if len(windows) != 1 {
			b.Fatalf("%d sectors in %d deadlines, want 1", count, len(windows))
		}
		di := windows[0]
		h.d.AdvanceTo(di.Open + 4)
		p := h.start()
		h.pace(di.Close, func() bool {
			return p.counter("damocles_poster_proofs_sent_total") > 0 || p.counter("damocles_poster_proofs_failed_total") > 0
		})
		phases := p.histogramSums("damocles_poster_phase_seconds", "phase")
		work := phases["check"] + phases["prove"] + phases["verify"]
		b.Logf("deadline of %d sectors: runner start to proof verified %.3fs: check %.3fs, prove %.3fs, verify %.3fs, poster overhead %.3fs",
			count, phases["start_to_verified"], phases["check"], phases["prove"], phases["verify"], phases["start_to_verified"]-work)
		submit := p.histogramSums("damocles_poster_deadline_submit_seconds", "")[""]
		if p.counter("damocles_poster_proofs_sent_total") == 0 {
			b.Logf("no message pushed: the proof does not fit in one (see the poster's error above)")
		} else {
			b.Logf("runner start to message pushed %.3fs: poster overhead %.3fs beyond check, prove and verify", submit, submit-work)
		}
		b.ReportMetric(phases["start_to_verified"], "s-to-verified")
	}
}
