package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkSummary is the last line of `util sealer proving check`.
var checkSummary = regexp.MustCompile(`(?m)^(\d+) sectors checked: (\d+) good, (\d+) bad$`)

// provingCheck runs `util sealer proving check` and returns its output,
// its exit status and the checked, good and bad counts it printed.
func provingCheck(t *testing.T, h string, args ...string) (out, errOut string, status, checked, good, bad int) {
	t.Helper()
	out, errOut, err := runCmd(t, "damocles-manager", append([]string{"--home", h, "util", "sealer", "proving", "check"}, args...)...)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("proving check %q: %v", args, err)
	}
	m := checkSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("proving check %q (exit %d) printed no summary:\nstdout:\n%s\nstderr:\n%s", args, status, out, errOut)
	}
	checked, _ = strconv.Atoi(m[1])
	good, _ = strconv.Atoi(m[2])
	bad, _ = strconv.Atoi(m[3])
	return out, errOut, status, checked, good, bad
}

// The proving commands against a devnet whose miner has two sectors sealed
// by a manager and a worker. The manager runs no poster, so the sectors
// turn faulty once their deadline closes unproven: the checks that must
// see both sectors use --faulty.
func TestProvingCLI(t *testing.T) {
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s := newSealScenario(t, sealOpts{threads: 2, maxNumber: 2})
	w := s.startWorker(t)
	s.waitActivated(t, ctx, 2, 5*time.Minute, w)
	s.waitFinalized(t, 2, time.Minute)
	proving := func(args ...string) string {
		t.Helper()
		return mustRun(t, "damocles-manager", append([]string{"--home", s.h, "util", "sealer", "proving"}, args...)...)
	}

	// The devnet logs where the miner's proving periods start.
	offset := regexp.MustCompile(`"provingPeriodOffset": "(\d+)"`).FindStringSubmatch(s.d.proc.Output())
	if offset == nil {
		t.Fatal("the devnet did not log the miner's provingPeriodOffset")
	}
	info := proving("info", "t01000")
	t.Logf("proving info:\n%s", info)
	for _, re := range []string{
		`(?m)^Miner:\s+[tf]01000$`, `(?m)^Current Epoch:\s+\d+$`, `(?m)^Proving Period Boundary:\s+` + offset[1] + `$`,
		`(?m)^Proving Period Start:\s+-?\d+ \(\d+ epochs ago\)$`, `(?m)^Sectors:\s+2 live, \d+ active$`,
		`(?m)^Faults:\s+\d+ \(`, `(?m)^Deadline Index:\s+\d+ \(open\)$`,
		`(?m)^Deadline Close:\s+\d+ \(in \d+ epochs\)$`, `(?m)^Deadline Challenge:\s+-?\d+ `,
	} {
		if !regexp.MustCompile(re).MatchString(info) {
			t.Errorf("proving info does not match %s", re)
		}
	}

	// One row per deadline; the sectors are in one (two when the first
	// deadline turned immutable between the two activations).
	deadlines := proving("deadlines", "f01000")
	t.Logf("proving deadlines:\n%s", deadlines)
	rows := regexp.MustCompile(`(?m)^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*(\(open\))?$`).FindAllStringSubmatch(deadlines, -1)
	if len(rows) != 48 {
		t.Fatalf("proving deadlines printed %d deadline rows; want 48", len(rows))
	}
	idx, inIdx, total, open := -1, 0, 0, 0
	for i, r := range rows {
		if r[1] != strconv.Itoa(i) {
			t.Errorf("row %d is deadline %s", i, r[1])
		}
		n, _ := strconv.Atoi(r[3])
		total += n
		if n > 0 && idx < 0 {
			idx, inIdx = i, n
		}
		if r[7] != "" {
			open++
		}
	}
	if total != 2 || idx < 0 || open != 1 {
		t.Fatalf("proving deadlines: %d live sectors, first in deadline %d, %d open deadlines; want 2 sectors and 1 open deadline", total, idx, open)
	}
	dl := strconv.Itoa(idx)

	detail := proving("deadline", "--sector-nums", "1000", dl)
	t.Logf("proving deadline %s --sector-nums:\n%s", dl, detail)
	live := regexp.MustCompile(`(?m)^0\s+live\s+([\d ]+)$`).FindStringSubmatch(detail)
	if live == nil || len(strings.Fields(live[1])) != inIdx {
		t.Fatalf("proving deadline %s: partition 0 does not list %d live sectors", dl, inIdx)
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^0\s+%d\s+%d\s+\d+\s+\d+\s+\d+\s+(yes|no)$`, inIdx, inIdx)).MatchString(detail) {
		t.Errorf("proving deadline %s: partition 0's counts are not %d all, %d live", dl, inIdx, inIdx)
	}
	victim := strings.Fields(live[1])[0]

	// All files intact: every sector checked is good, exit 0.
	out, errOut, status, checked, good, bad := provingCheck(t, s.h, "t01000", dl)
	t.Logf("proving check t01000 %s:\n%s", dl, out)
	if status != 0 || bad != 0 || good != checked {
		t.Errorf("check of intact sectors: exit %d, %d checked, %d good, %d bad; want exit 0, all good\n%s%s", status, checked, good, bad, out, errOut)
	}
	for _, args := range [][]string{{"--faulty"}, {"--faulty", "--strict"}} {
		out, errOut, status, checked, good, bad := provingCheck(t, s.h, append(args, "t01000", dl)...)
		if status != 0 || checked != inIdx || good != inIdx || bad != 0 {
			t.Errorf("check %q of intact sectors: exit %d, %d checked, %d good, %d bad; want exit 0, %d good\n%s%s",
				args, status, checked, good, bad, inIdx, out, errOut)
		}
	}

	// Half a sealed file: that sector is bad for its size, exit 1.
	sealed := filepath.Join(s.persist, "sealed", "s-t01000-"+victim)
	if err := os.Truncate(sealed, 1024); err != nil {
		t.Fatal(err)
	}
	badRow := regexp.MustCompile(fmt.Sprintf(`(?m)^0\s+%s\s+bad: sealed file \S+ is 1024 bytes, want 2048$`, victim))
	for _, args := range [][]string{{"--faulty"}, {"--faulty", "--strict", "--only-bad"}} {
		out, errOut, status, checked, good, bad := provingCheck(t, s.h, append(args, "t01000", dl)...)
		t.Logf("proving check %q t01000 %s after truncating sector %s:\n%s", args, dl, victim, out)
		if status == 0 || checked != inIdx || good != inIdx-1 || bad != 1 {
			t.Errorf("check %q: exit %d, %d checked, %d good, %d bad; want a non-zero exit, 1 bad of %d", args, status, checked, good, bad, inIdx)
		}
		if !badRow.MatchString(out) {
			t.Errorf("check %q does not report sector %s bad for its size", args, victim)
		}
		if !strings.Contains(errOut, "1 of "+strconv.Itoa(inIdx)+" sectors checked in deadline "+dl) {
			t.Errorf("check %q: stderr does not say how many sectors are bad:\n%s", args, errOut)
		}
		if onlyBad := len(args) == 3; onlyBad == strings.Contains(out, "good\n") {
			t.Errorf("check %q: good rows printed: %t", args, !onlyBad)
		}
	}
	// Without --faulty the victim is checked unless the chain has it
	// faulty by now; either way the exit status follows the verdict.
	out, _, status, _, _, bad = provingCheck(t, s.h, "1000", dl)
	if (status != 0) != (bad != 0) || (bad != 0 && !badRow.MatchString(out)) {
		t.Errorf("check without --faulty: exit %d with %d bad:\n%s", status, bad, out)
	}

	if _, errOut, err := runCmd(t, "damocles-manager", "--home", s.h, "util", "sealer", "proving", "info", "t09999"); err == nil || !strings.Contains(errOut, "09999") {
		t.Errorf("proving info of a miner that does not exist: %v, stderr %q; want an error naming it", err, errOut)
	}
	t.Logf("%s: done", time.Since(began).Round(time.Millisecond))
}
