package demo

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
)

// The synthetic miner's proving period starts at epoch 0: deadline d's
// windows open at d*60 + k*2880.

// at is an observation at height h with the given partitions per deadline
// ([deadline][partition] sectors) and no records.
func at(h abi.ChainEpoch, parts map[uint64][][]abi.SectorNumber) Observation {
	o := Observation{
		Height:     h,
		Open:       chain.DeadlineAt(0, h),
		Partitions: make([][][]abi.SectorNumber, chain.WPoStPeriodDeadlines),
	}
	for d, p := range parts {
		o.Partitions[d] = p
	}
	return o
}

func post(epoch abi.ChainEpoch, deadline uint64, accepted bool, partitions ...uint64) devnet.PoStRecord {
	return devnet.PoStRecord{Epoch: epoch, Deadline: deadline, Partitions: partitions, Accepted: accepted}
}

func missed(deadline, partition uint64, open abi.ChainEpoch) devnet.MissedPartition {
	return devnet.MissedPartition{Deadline: deadline, Partition: partition, Open: open, Epoch: open + 59, Sectors: 2}
}

func TestNewBoardDeadlineStates(t *testing.T) {
	one := map[uint64][][]abi.SectorNumber{3: {{1, 2}}}
	two := map[uint64][][]abi.SectorNumber{3: {{1, 2}, {3, 4}}}
	for _, tc := range []struct {
		name string
		o    Observation
		// want is deadline 3's state, window and ProvenOnce.
		state  State
		window abi.ChainEpoch
		once   bool
	}{
		{
			name:  "before its first window",
			o:     func() Observation { o := at(70, one); o.LastActivation = 50; return o }(),
			state: StateWaiting, window: 180 - chain.WPoStProvingPeriod,
		},
		{
			name:  "window open, nothing sent",
			o:     func() Observation { o := at(185, one); o.LastActivation = 50; return o }(),
			state: StateProving, window: 180,
		},
		{
			name: "window open, proof in the pool",
			o: func() Observation {
				o := at(185, one)
				o.LastActivation, o.PendingPoSts = 50, []uint64{7, 3}
				return o
			}(),
			state: StateSubmitted, window: 180,
		},
		{
			name: "window open, a proof for another deadline in the pool",
			o: func() Observation {
				o := at(185, one)
				o.LastActivation, o.PendingPoSts = 50, []uint64{7}
				return o
			}(),
			state: StateProving, window: 180,
		},
		{
			name: "window open, proof accepted",
			o: func() Observation {
				o := at(195, one)
				o.LastActivation, o.Stats.PoSts = 50, []devnet.PoStRecord{post(190, 3, true, 0)}
				return o
			}(),
			state: StateProven, window: 180, once: true,
		},
		{
			name: "window open, proof rejected",
			o: func() Observation {
				o := at(195, one)
				o.LastActivation, o.Stats.PoSts = 50, []devnet.PoStRecord{post(190, 3, false, 0)}
				return o
			}(),
			state: StateProving, window: 180,
		},
		{
			name: "window open, one partition of two proven",
			o: func() Observation {
				o := at(195, two)
				o.LastActivation, o.Stats.PoSts = 50, []devnet.PoStRecord{post(190, 3, true, 0)}
				return o
			}(),
			state: StateProving, window: 180,
		},
		{
			name: "window open, two partitions proven by two messages",
			o: func() Observation {
				o := at(200, two)
				o.LastActivation = 50
				o.Stats.PoSts = []devnet.PoStRecord{post(190, 3, true, 0), post(195, 3, true, 1)}
				return o
			}(),
			state: StateProven, window: 180, once: true,
		},
		{
			name: "window closed, proven",
			o: func() Observation {
				o := at(300, one)
				o.LastActivation, o.Stats.PoSts = 50, []devnet.PoStRecord{post(190, 3, true, 0)}
				return o
			}(),
			state: StateProven, window: 180, once: true,
		},
		{
			name: "window closed before the last activation: proven, not once",
			o: func() Observation {
				o := at(300, one)
				o.LastActivation, o.Stats.PoSts = 260, []devnet.PoStRecord{post(190, 3, true, 0)}
				return o
			}(),
			state: StateProven, window: 180,
		},
		{
			name: "window open at the last activation counts",
			o: func() Observation {
				o := at(300, one)
				o.LastActivation, o.Stats.PoSts = 200, []devnet.PoStRecord{post(230, 3, true, 0)}
				return o
			}(),
			state: StateProven, window: 180, once: true,
		},
		{
			name: "window closed, missed",
			o: func() Observation {
				o := at(300, one)
				o.LastActivation = 50
				o.Stats.Missed = []devnet.MissedPartition{missed(3, 0, 180)}
				return o
			}(),
			state: StateMissed, window: 180,
		},
		{
			name: "window closed, skipped as faulty",
			o: func() Observation {
				o := at(300, one)
				o.LastActivation = 50
				o.Stats.FaultySkips = []devnet.MissedPartition{missed(3, 0, 180)}
				return o
			}(),
			state: StateMissed, window: 180,
		},
		{
			name: "one partition proven, the other missed",
			o: func() Observation {
				o := at(300, two)
				o.LastActivation = 50
				o.Stats.PoSts = []devnet.PoStRecord{post(190, 3, true, 0)}
				o.Stats.Missed = []devnet.MissedPartition{missed(3, 1, 180)}
				return o
			}(),
			state: StateMissed, window: 180,
		},
		{
			name: "missed a period ago, proven since",
			o: func() Observation {
				o := at(chain.WPoStProvingPeriod+300, one)
				o.LastActivation = 50
				o.Stats.Missed = []devnet.MissedPartition{missed(3, 0, 180)}
				o.Stats.PoSts = []devnet.PoStRecord{post(chain.WPoStProvingPeriod+200, 3, true, 0)}
				return o
			}(),
			state: StateProven, window: chain.WPoStProvingPeriod + 180, once: true,
		},
		{
			name: "next period, before the window: the last one's verdict",
			o: func() Observation {
				o := at(chain.WPoStProvingPeriod+100, one)
				o.LastActivation, o.Stats.PoSts = 50, []devnet.PoStRecord{post(190, 3, true, 0)}
				return o
			}(),
			state: StateProven, window: 180, once: true,
		},
		{
			name: "next period, window open again",
			o: func() Observation {
				o := at(chain.WPoStProvingPeriod+181, one)
				o.LastActivation, o.Stats.PoSts = 50, []devnet.PoStRecord{post(190, 3, true, 0)}
				return o
			}(),
			state: StateProving, window: chain.WPoStProvingPeriod + 180, once: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBoard(tc.o, 2)
			if len(b.Deadlines) != 1 || b.Deadlines[0].Index != 3 {
				t.Fatalf("deadlines %+v, want deadline 3 only", b.Deadlines)
			}
			d := b.Deadlines[0]
			if d.State != tc.state || d.Window != tc.window || d.ProvenOnce != tc.once {
				t.Errorf("deadline 3: %s window %d once %v; want %s window %d once %v", d.State, d.Window, d.ProvenOnce, tc.state, tc.window, tc.once)
			}
		})
	}
}

func TestNewBoardProgressAndSummary(t *testing.T) {
	// Sealing: nothing on chain yet.
	o := at(40, nil)
	o.Stats.PreCommitted = 2
	b := NewBoard(o, 4)
	if b.AllActive || b.Done() || b.OnChain != 0 || len(b.Deadlines) != 0 {
		t.Fatalf("sealing board: %+v", b)
	}
	if w := b.WaitingFor(); !strings.Contains(w, "0 of 4 on chain, 2 pre-committed") {
		t.Errorf("WaitingFor while sealing = %q", w)
	}

	// Two deadlines hold the four sectors; one is proven, the other's
	// window is open.
	o = at(250, map[uint64][][]abi.SectorNumber{3: {{1, 2}}, 4: {{3, 4}}})
	o.LastActivation = 100
	o.Stats.Unproven, o.Stats.Active = 2, 2
	o.Stats.PoSts = []devnet.PoStRecord{post(190, 3, true, 0), post(245, 4, false, 0)}
	b = NewBoard(o, 4)
	if !b.AllActive || b.OnChain != 4 || b.Done() {
		t.Fatalf("half proven: AllActive %v OnChain %d Done %v", b.AllActive, b.OnChain, b.Done())
	}
	if u := b.Unfinished(); len(u) != 1 || u[0].Index != 4 || u[0].State != StateProving {
		t.Errorf("unfinished = %+v, want deadline 4 proving", u)
	}
	if w := b.WaitingFor(); !strings.Contains(w, "deadline 4 proving (window at epoch 240)") || strings.Contains(w, "deadline 3") {
		t.Errorf("WaitingFor = %q", w)
	}
	if b.Rejected != 1 || b.Summary != (Summary{Proven: 1}) {
		t.Errorf("rejected %d, summary %s; want 1 and proven=1 missed=0 faulty=0", b.Rejected, b.Summary)
	}

	// Both proven: done, and the summary counts partitions, not messages.
	o.Stats.PoSts = append(o.Stats.PoSts, post(255, 4, true, 0))
	o.Height, o.Open = 270, chain.DeadlineAt(0, 270)
	b = NewBoard(o, 4)
	if !b.Done() {
		t.Fatalf("not done: %+v", b.Deadlines)
	}
	if got := b.Summary.String(); got != "proven=2 missed=0 faulty=0" || !b.Summary.OK() {
		t.Errorf("summary %q (OK %v)", got, b.Summary.OK())
	}

	// A miss earlier and a faulty sector now: done, but not OK.
	o.Stats.Missed = []devnet.MissedPartition{missed(4, 0, 240-chain.WPoStProvingPeriod)}
	o.Stats.Faulty = 1
	b = NewBoard(o, 4)
	if got := b.Summary.String(); got != "proven=2 missed=1 faulty=1" || b.Summary.OK() {
		t.Errorf("summary %q (OK %v), want proven=2 missed=1 faulty=1, not OK", got, b.Summary.OK())
	}

	// A sector still to come: not done, even with every deadline proven.
	b = NewBoard(o, 5)
	if b.Done() || b.AllActive {
		t.Errorf("done with 4 of 5 sectors on chain")
	}
}

func TestBoardChanges(t *testing.T) {
	o := at(185, map[uint64][][]abi.SectorNumber{3: {{1, 2}}})
	o.LastActivation = 50
	first := NewBoard(o, 2)
	got := boardChanges(nil, first)
	want := []string{
		"sectors: 2/2 on chain (0 proven, 0 unproven, 0 faulty), 0 pre-committed",
		"deadline 3 holds 2 sectors 1-2 in 1 partition",
		"deadline 3: proving (window at epoch 180)",
		"all 2 sectors on chain (last activated at epoch 50): waiting for 1 deadline to be proven",
	}
	if !slices.Equal(got, want) {
		t.Errorf("first board:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	o.Height = 186
	if got := boardChanges(&first, NewBoard(o, 2)); len(got) != 0 {
		t.Errorf("a new height alone printed %q", got)
	}
	o.Height = 195
	o.PendingPoSts = []uint64{3}
	second := NewBoard(o, 2)
	if got := boardChanges(&first, second); !slices.Equal(got, []string{"deadline 3: submitted (window at epoch 180)"}) {
		t.Errorf("submitted: %q", got)
	}
	o.Height = 196
	o.PendingPoSts = nil
	o.Stats.PoSts = []devnet.PoStRecord{post(196, 3, true, 0)}
	got = boardChanges(&second, NewBoard(o, 2))
	want = []string{"deadline 3: proven (window at epoch 180)", "deadline 3 proven once since the last activation"}
	if !slices.Equal(got, want) {
		t.Errorf("proven: %q, want %q", got, want)
	}
}

func TestBoardLines(t *testing.T) {
	o := at(185, map[uint64][][]abi.SectorNumber{3: {{1, 2}}, 10: {{3}}})
	o.LastActivation = 50
	lines := boardLines(NewBoard(o, 3), 0)
	text := strings.Join(lines, "\n")
	for _, want := range []string{"height 185, deadline 3 open (epochs 180..239), 0s", "3/3 on chain", "1-2", "proving (window at epoch 180)", "waiting (window opens at epoch 600)", "0/2 deadlines"} {
		if !strings.Contains(text, want) {
			t.Errorf("view lacks %q:\n%s", want, text)
		}
	}
	if len(lines) != 6 {
		t.Errorf("%d lines, want header, sectors, column names, 2 deadlines, progress:\n%s", len(lines), text)
	}
}

func TestFormatSectors(t *testing.T) {
	for _, tc := range []struct {
		in   []abi.SectorNumber
		want string
	}{
		{nil, ""},
		{[]abi.SectorNumber{4}, "4"},
		{[]abi.SectorNumber{1, 2, 3, 5, 7, 8}, "1-3,5,7-8"},
	} {
		if got := formatSectors(tc.in); got != tc.want {
			t.Errorf("formatSectors(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestViews(t *testing.T) {
	o := at(185, map[uint64][][]abi.SectorNumber{3: {{1, 2}}})
	first := NewBoard(o, 2)
	o.PendingPoSts = []uint64{3}
	second := NewBoard(o, 2)

	var lines strings.Builder
	lv := &lineView{w: &lines}
	lv.show(first, time.Second)
	lv.show(second, 2*time.Second)
	lv.close()
	if strings.Contains(lines.String(), "\x1b") {
		t.Errorf("the line view wrote an escape sequence:\n%q", lines.String())
	}
	if !strings.HasSuffix(lines.String(), "[2s] height 185: deadline 3: submitted (window at epoch 180)\n") {
		t.Errorf("line view:\n%s", lines.String())
	}

	var screen strings.Builder
	rv := &redrawView{w: &screen}
	rv.show(first, time.Second)
	drawn := screen.String()
	if !strings.HasPrefix(drawn, "\x1b[?7l") || strings.Contains(drawn, "\x1b[J") {
		t.Errorf("first draw: %q", drawn)
	}
	rv.show(first, time.Second)
	if screen.String() != drawn {
		t.Error("an unchanged board was drawn again")
	}
	rv.show(second, time.Second)
	redrawn := strings.TrimPrefix(screen.String(), drawn)
	if !strings.HasPrefix(redrawn, "\x1b[5A\r\x1b[J") || !strings.Contains(redrawn, "submitted") {
		t.Errorf("redraw over 5 lines: %q", redrawn)
	}
	rv.close()
	if !strings.HasSuffix(screen.String(), "\x1b[?7h") {
		t.Error("line wrapping was not turned back on")
	}
}

func TestFastForwardTo(t *testing.T) {
	// The miner's period starts at 0: deadline d opens at 60d.
	board := func(height abi.ChainEpoch, holding ...uint64) Board {
		b := Board{Height: height, Open: chain.DeadlineAt(0, height), AllActive: true}
		for _, d := range holding {
			b.Deadlines = append(b.Deadlines, DeadlineView{Index: d})
		}
		return b
	}
	tests := []struct {
		name string
		b    Board
		want abi.ChainEpoch
		ok   bool
	}{
		{"far deadline", board(30, 10), 600 - 20 - FastForwardMargin, true},
		{"open deadline holds sectors", board(30, 0, 10), 0, false},
		{"next challenge too close", board(30, 3), 0, false},
		{"earliest of several", board(30, 40, 10), 600 - 20 - FastForwardMargin, true},
		{"wraps to the next period", board(2000, 2), 2880 + 120 - 20 - FastForwardMargin, true},
	}
	for _, tt := range tests {
		got, ok := tt.b.FastForwardTo()
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: FastForwardTo = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	notSealed := board(30, 10)
	notSealed.AllActive = false
	if _, ok := notSealed.FastForwardTo(); ok {
		t.Error("fast-forward while sectors are still being sealed")
	}
}
