package poster_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/poster"
)

// Three sectors whose sealed files hang, checked one at a time: the first
// costs SingleCheckTimeout, and the partition's timeout ends the round
// before the others are checked. Nothing waits longer than that.
func TestCheckerTimeouts(t *testing.T) {
	h := newHarness(t, devnettest.Options{})
	h.seal(4)
	var infos []*chain.SectorOnChainInfo
	for _, s := range h.sectors {
		infos = append(infos, &chain.SectorOnChainInfo{SectorNumber: s.Number, SealProof: s.SealProof, SealedCID: s.SealedCID})
	}
	for _, s := range h.sectors[:3] {
		if err := os.Remove(s.SealedPath); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(s.SealedPath, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if f, err := os.OpenFile(s.SealedPath, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		})
	}
	checker := poster.NewChecker(h.index, h.d.Engine)
	start := time.Now()
	res := checker.Check(context.Background(), h.d.Actor, h.d.PoStProof, infos[:3], poster.CheckOptions{
		Limit: 1, SingleTimeout: 300 * time.Millisecond, PartitionTimeout: 500 * time.Millisecond,
	})
	took := time.Since(start)
	if took > 5*time.Second {
		t.Fatalf("the round took %s; the partition timeout is 500ms", took)
	}
	if len(res.Bad) != 3 {
		t.Fatalf("bad %v: want the three hung sectors", res.Bad)
	}
	timedOut, notChecked := 0, 0
	for _, why := range res.Bad {
		switch {
		case strings.Contains(why, "check timed out after 300ms"):
			timedOut++
		case strings.Contains(why, "partition check timeout"):
			notChecked++
		default:
			t.Errorf("reason %q", why)
		}
	}
	if timedOut == 0 || notChecked == 0 {
		t.Fatalf("reasons %v: want one sector timed out and the rest cut by the partition timeout", res.Bad)
	}
	// The intact sector passes, strict check included.
	res = checker.Check(context.Background(), h.d.Actor, h.d.PoStProof, infos[3:], poster.CheckOptions{Strict: true})
	if len(res.Good) != 1 || res.Good[0].SectorNumber != abi.SectorNumber(4) {
		t.Fatalf("good sector: %+v, bad %v", res.Good, res.Bad)
	}
}
