package demo

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/damocles-go/damocles/internal/chain"
)

// A view shows the boards one after the other: redrawn in place on a
// terminal, or as one line per change elsewhere (a log, a pipe, --quiet).
type view interface {
	show(b Board, elapsed time.Duration)
	// note prints a one-off message, above the board when it is redrawn.
	note(msg string, elapsed time.Duration)
	// close ends the view; nothing is shown after.
	close()
}

// IsTerminal tells whether f is a character device, a terminal: only then
// does the demo redraw its view with ANSI escapes.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// redrawView rewrites the board in place: it moves the cursor up over the
// lines it wrote last and clears them. Line wrapping is off meanwhile, so
// that a line wider than the terminal stays one line and the count holds.
type redrawView struct {
	w     io.Writer
	lines int
	last  string
}

func (v *redrawView) show(b Board, elapsed time.Duration) {
	text := strings.Join(boardLines(b, elapsed), "\n") + "\n"
	if text == v.last {
		return
	}
	if v.lines > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA\r\x1b[J", v.lines)
	} else {
		io.WriteString(v.w, "\x1b[?7l")
	}
	io.WriteString(v.w, text)
	v.last, v.lines = text, strings.Count(text, "\n")
}

func (v *redrawView) note(msg string, elapsed time.Duration) {
	if v.lines > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA\r\x1b[J", v.lines)
	}
	fmt.Fprintf(v.w, "[%s] %s\n", elapsed.Round(100*time.Millisecond), msg)
	// The board is drawn again, whole, below the message.
	if v.lines > 0 {
		io.WriteString(v.w, v.last)
	}
}

func (v *redrawView) close() {
	if v.lines > 0 {
		io.WriteString(v.w, "\x1b[?7h")
	}
}

// boardLines is the redrawn view: a status header and a row per deadline
// that holds sectors.
func boardLines(b Board, elapsed time.Duration) []string {
	lines := []string{
		fmt.Sprintf("height %d, deadline %d open (epochs %d..%d), %s",
			b.Height, b.Open.Index, b.Open.Open, b.Open.Close-1, elapsed.Round(time.Second)),
		"sectors: " + sectorLine(b),
	}
	if len(b.Deadlines) == 0 {
		return append(lines, "no deadline holds sectors yet")
	}
	lines = append(lines, fmt.Sprintf("%8s  %10s  %-10s  %s", "deadline", "partitions", "sectors", "state"))
	for _, d := range b.Deadlines {
		once := ""
		if d.ProvenOnce {
			once = "  ✓"
		}
		lines = append(lines, fmt.Sprintf("%8d  %10d  %-10s  %s%s", d.Index, d.Partitions, formatSectors(d.Sectors), stateText(d), once))
	}
	lines = append(lines, progressLine(b))
	return lines
}

// sectorLine counts the sectors: Unproven ones await their first
// WindowPoSt.
func sectorLine(b Board) string {
	s := fmt.Sprintf("%d/%d on chain (%d proven, %d unproven, %d faulty), %d pre-committed",
		b.OnChain, b.Want, b.Active, b.Unproven, b.Faulty, b.PreCommitted)
	if b.Rejected > 0 {
		s += fmt.Sprintf(", %d PoSt rejected", b.Rejected)
	}
	return s
}

func stateText(d DeadlineView) string {
	if d.State == StateWaiting {
		return fmt.Sprintf("%s (window opens at epoch %d)", d.State, d.Window+chain.WPoStProvingPeriod)
	}
	return fmt.Sprintf("%s (window at epoch %d)", d.State, d.Window)
}

func progressLine(b Board) string {
	if !b.AllActive {
		return fmt.Sprintf("sealing: %d more to come; %s", b.Want-b.OnChain, b.Summary)
	}
	proven := len(b.Deadlines) - len(b.Unfinished())
	return fmt.Sprintf("proven once since epoch %d: %d/%d deadlines; %s", b.LastActivation, proven, len(b.Deadlines), b.Summary)
}

// lineView prints one line per change between two boards.
type lineView struct {
	w    io.Writer
	prev *Board
}

func (v *lineView) show(b Board, elapsed time.Duration) {
	for _, c := range boardChanges(v.prev, b) {
		fmt.Fprintf(v.w, "[%s] height %d: %s\n", elapsed.Round(100*time.Millisecond), b.Height, c)
	}
	v.prev = &b
}

func (v *lineView) note(msg string, elapsed time.Duration) {
	fmt.Fprintf(v.w, "[%s] %s\n", elapsed.Round(100*time.Millisecond), msg)
}

func (v *lineView) close() {}

// boardChanges describes what changed from prev (nil: nothing shown yet)
// to next, one line per change: the sector counts, a deadline getting
// sectors, a deadline's state, everything on chain, a deadline proven
// once.
func boardChanges(prev *Board, next Board) []string {
	var out []string
	if prev == nil || sectorLine(*prev) != sectorLine(next) {
		out = append(out, "sectors: "+sectorLine(next))
	}
	before := map[uint64]DeadlineView{}
	if prev != nil {
		for _, d := range prev.Deadlines {
			before[d.Index] = d
		}
	}
	for _, d := range next.Deadlines {
		old, seen := before[d.Index]
		if !seen || old.Partitions != d.Partitions || formatSectors(old.Sectors) != formatSectors(d.Sectors) {
			out = append(out, fmt.Sprintf("deadline %d holds %s %s in %s", d.Index, plural(len(d.Sectors), "sector"), formatSectors(d.Sectors), plural(d.Partitions, "partition")))
		}
		if !seen || old.State != d.State || old.Window != d.Window {
			out = append(out, fmt.Sprintf("deadline %d: %s", d.Index, stateText(d)))
		}
		wasOnce := seen && old.ProvenOnce && prev.AllActive
		if d.ProvenOnce && next.AllActive && !wasOnce {
			out = append(out, fmt.Sprintf("deadline %d proven once since the last activation", d.Index))
		}
	}
	if next.AllActive && (prev == nil || !prev.AllActive) {
		out = append(out, fmt.Sprintf("all %s on chain (last activated at epoch %d): waiting for %s to be proven",
			plural(next.Want, "sector"), next.LastActivation, plural(len(next.Unfinished()), "deadline")))
	}
	return out
}

// plural writes a count and its noun: 1 sector, 2 sectors.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
