package main

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/damocles-go/damocles/internal/chain"
)

func TestParseProvingArgs(t *testing.T) {
	tests := []struct {
		args         []string
		withDeadline bool
		miner        abi.ActorID
		idx          uint64
		err          string // a substring of the error; "" means none
	}{
		{args: []string{"t01000"}, miner: 1000},
		{args: []string{"f01000"}, miner: 1000},
		{args: []string{"1000"}, miner: 1000},
		{args: []string{"t01000", "0"}, withDeadline: true, miner: 1000},
		{args: []string{"f01234", "47"}, withDeadline: true, miner: 1234, idx: 47},
		{args: nil, err: "want 1 argument, <miner>; got 0"},
		{args: []string{"t01000", "5"}, err: "want 1 argument, <miner>; got 2"},
		{args: []string{"t01000"}, withDeadline: true, err: "want 2 arguments, <miner> <deadline index>; got 1"},
		{args: []string{"t3abc"}, err: `miner "t3abc"`},
		{args: []string{"t01000", "48"}, withDeadline: true, err: `deadline index "48": want a number from 0 to 47`},
		{args: []string{"t01000", "-1"}, withDeadline: true, err: `deadline index "-1": want a number from 0 to 47`},
		{args: []string{"t01000", "five"}, withDeadline: true, err: `deadline index "five"`},
		{args: []string{"nope", "5"}, withDeadline: true, err: `miner "nope": want an actor ID like t01000 or 1000`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			m, idx, err := parseProvingArgs(tt.args, tt.withDeadline)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseProvingArgs(%q, %t) error = %v; want one containing %q", tt.args, tt.withDeadline, err, tt.err)
				}
				return
			}
			if err != nil || m != tt.miner || idx != tt.idx {
				t.Fatalf("parseProvingArgs(%q, %t) = %d, %d, %v; want %d, %d", tt.args, tt.withDeadline, m, idx, err, tt.miner, tt.idx)
			}
		})
	}
}

func bf(nums ...uint64) bitfield.BitField { return bitfield.NewFromSet(nums) }

func TestSectorsToProve(t *testing.T) {
	p := chain.Partition{
		AllSectors:        bf(1, 2, 3, 4, 5),
		LiveSectors:       bf(1, 2, 3, 4),
		ActiveSectors:     bf(1),
		FaultySectors:     bf(2, 3),
		RecoveringSectors: bf(3),
	}
	for _, tt := range []struct {
		withFaulty bool
		want       string
	}{{false, "1 3 4"}, {true, "1 2 3 4"}} {
		set, err := sectorsToProve(p, tt.withFaulty)
		if err != nil {
			t.Fatal(err)
		}
		nums, err := set.All(100)
		if err != nil {
			t.Fatal(err)
		}
		if got := joinNumbers(nums); got != tt.want {
			t.Errorf("sectorsToProve(withFaulty %t) = %s; want %s", tt.withFaulty, got, tt.want)
		}
	}
}

// testProvingState is miner 1000 (f01000: the manager leaves
// address.CurrentNetwork at mainnet) with deadline 5 open (period start
// 1000, head 1303), two partitions in deadline 5 and one in deadline 7.
func testProvingState(t *testing.T) *provingState {
	t.Helper()
	maddr, _ := address.NewIDAddress(1000)
	di := dline.NewInfo(1000, 5, 1303, 48, 2880, 60, 20, 70)
	st := &provingState{maddr: maddr, di: di}
	for i := range uint64(48) {
		var dl chain.Deadline
		var parts []chain.Partition
		switch i {
		case 5:
			dl.PostSubmissions = bf(1)
			parts = []chain.Partition{
				{AllSectors: bf(1, 2), LiveSectors: bf(1, 2), ActiveSectors: bf(1), FaultySectors: bf(2), RecoveringSectors: bf(2)},
				{AllSectors: bf(3, 4), LiveSectors: bf(3, 4), ActiveSectors: bf(3, 4), FaultySectors: bf(), RecoveringSectors: bf()},
			}
		case 7:
			dl.PostSubmissions = bf()
			parts = []chain.Partition{{AllSectors: bf(10), LiveSectors: bf(10), ActiveSectors: bf(), FaultySectors: bf(10), RecoveringSectors: bf()}}
		default:
			dl.PostSubmissions = bf()
		}
		ds, err := newDeadlineState(i, dl, parts)
		if err != nil {
			t.Fatal(err)
		}
		st.deadlines = append(st.deadlines, ds)
	}
	return st
}

func TestWriteDeadlines(t *testing.T) {
	var buf bytes.Buffer
	if err := writeDeadlines(&buf, testProvingState(t)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2+48 {
		t.Fatalf("%d lines; want a title, a header and 48 rows:\n%s", len(lines), buf.String())
	}
	if want := "Miner f01000 at epoch 1303: deadline 5 is open, epochs 1300 to 1359"; lines[0] != want {
		t.Errorf("title %q; want %q", lines[0], want)
	}
	header := lines[1]
	for i, row := range lines[2:] {
		want := map[int]string{5: "5 2 4 1 1 1 (open)", 7: "7 1 1 1 0 0"}[i]
		if want == "" {
			want = strconv.Itoa(i) + " 0 0 0 0 0"
		}
		if got := strings.Join(strings.Fields(row), " "); got != want {
			t.Errorf("row %d = %q; want fields %q", i, row, want)
		}
	}
	// Columns line up: each value starts under its heading.
	row5 := lines[2+5]
	for _, col := range []string{"Partitions", "Sectors", "Faults", "Recovering", "Proven"} {
		at := strings.Index(header, col)
		if at < 0 || at >= len(row5) || row5[at] == ' ' || (at > 0 && row5[at-1] != ' ') {
			t.Errorf("column %s at %d is not aligned:\n%s\n%s", col, at, header, row5)
		}
	}
}

func TestWriteProvingInfo(t *testing.T) {
	var buf bytes.Buffer
	if err := writeProvingInfo(&buf, testProvingState(t)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Miner:                    f01000\n",
		"Current Epoch:            1303\n",
		"Proving Period Boundary:  1000\n",
		"Proving Period Start:     1000 (303 epochs ago)\n",
		"Next Period Start:        3880 (in 2577 epochs)\n",
		"Deadlines:                48 (2 with partitions)\n",
		"Partitions:               3\n",
		"Sectors:                  5 live, 3 active\n",
		"Faults:                   2 (40.00%)\n",
		"Recovering:               1\n",
		"Deadline Index:           5 (open)\n",
		"Deadline Partitions:      2\n",
		"Deadline Sectors:         4 live, 1 faulty, 1 recovering\n",
		"Deadline Open:            1300 (3 epochs ago)\n",
		"Deadline Close:           1360 (in 57 epochs)\n",
		"Deadline Challenge:       1280 (23 epochs ago)\n",
		"Deadline FaultCutoff:     1230 (73 epochs ago)\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("info lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestWriteDeadline(t *testing.T) {
	st := testProvingState(t)
	for _, tt := range []struct {
		idx        uint64
		sectorNums bool
		want       []string
		notWant    []string
	}{
		{idx: 5, want: []string{
			"Deadline 5 of f01000 at epoch 1303: open now, epochs 1300 to 1359; 2 partitions\n",
			"Partition  All  Live  Active  Faulty  Recovering  Proven\n",
			"0          2    2     1       1       1           no\n",
			"1          2    2     2       0       0           yes\n",
		}, notWant: []string{"Set"}},
		{idx: 5, sectorNums: true, want: []string{
			"Partition  Set         Sectors\n",
			"0          all         1 2\n",
			"0          active      1\n",
			"0          faulty      2\n",
			"1          active      3 4\n",
			"1          recovering  -\n",
		}},
		{idx: 7, want: []string{"Deadline 7 of f01000 at epoch 1303: opens at 1420 (in 117 epochs); 1 partitions\n"}},
		{idx: 4, want: []string{"opens at 4120 (in 2817 epochs); 0 partitions\n"}},
	} {
		d := &deadlineDetail{maddr: st.maddr, di: occurrence(st.di, tt.idx), deadlineState: st.deadlines[tt.idx]}
		var buf bytes.Buffer
		if err := writeDeadline(&buf, d, tt.sectorNums); err != nil {
			t.Fatal(err)
		}
		for _, want := range tt.want {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("deadline %d (sector numbers %t) lacks %q:\n%s", tt.idx, tt.sectorNums, want, buf.String())
			}
		}
		for _, no := range tt.notWant {
			if strings.Contains(buf.String(), no) {
				t.Errorf("deadline %d (sector numbers %t) has %q:\n%s", tt.idx, tt.sectorNums, no, buf.String())
			}
		}
	}
}

func TestWriteCheckReport(t *testing.T) {
	results := []partitionCheck{
		{index: 0, numbers: []abi.SectorNumber{1, 2, 3}, bad: map[abi.SectorNumber]string{2: "sealed file /p/sealed/s-t01000-2 is 1024 bytes, want 2048"}},
		{index: 1},
		{index: 2, numbers: []abi.SectorNumber{7}, bad: map[abi.SectorNumber]string{}},
	}
	for _, onlyBad := range []bool{false, true} {
		var buf bytes.Buffer
		checked, bad, err := writeCheckReport(&buf, results, onlyBad)
		if err != nil || checked != 4 || bad != 1 {
			t.Fatalf("writeCheckReport = %d checked, %d bad, %v; want 4, 1", checked, bad, err)
		}
		out := buf.String()
		for _, want := range []string{
			"0          2       bad: sealed file /p/sealed/s-t01000-2 is 1024 bytes, want 2048\n",
			"Partition  Checked  Good  Bad\n0          3        2     1\n1          0        0     0\n2          1        1     0\n",
			"4 sectors checked: 3 good, 1 bad\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("only bad %t: report lacks %q:\n%s", onlyBad, want, out)
			}
		}
		if good := strings.Contains(out, "good\n"); good == onlyBad {
			t.Errorf("only bad %t: good rows printed: %t:\n%s", onlyBad, good, out)
		}
	}
}

func TestEpochRel(t *testing.T) {
	for _, tt := range []struct {
		cur, e abi.ChainEpoch
		want   string
	}{{10, 15, "15 (in 5 epochs)"}, {10, 4, "4 (6 epochs ago)"}, {10, 10, "10 (now)"}, {25, -23, "-23 (48 epochs ago)"}} {
		if got := epochRel(tt.cur, tt.e); got != tt.want {
			t.Errorf("epochRel(%d, %d) = %q; want %q", tt.cur, tt.e, got, tt.want)
		}
	}
}

// Near genesis the proving period starts before epoch 0; the boundary is
// still the offset in [0, WPoStProvingPeriod).
func TestPeriodBoundary(t *testing.T) {
	for _, tt := range []struct {
		start, want abi.ChainEpoch
	}{{-483, 2397}, {1000, 1000}, {2880 + 7, 7}, {0, 0}, {-2880, 0}} {
		di := dline.NewInfo(tt.start, 0, 25, 48, 2880, 60, 20, 70)
		if got := periodBoundary(di); got != tt.want {
			t.Errorf("periodBoundary(period start %d) = %d; want %d", tt.start, got, tt.want)
		}
	}
}

// The exit status of `check` is part of its contract: scripts rely on it.
func TestProvingCheckHelpStatesExitStatus(t *testing.T) {
	app := newApp()
	var buf bytes.Buffer
	app.Writer = &buf
	if err := app.Run([]string{"damocles-manager", "util", "sealer", "proving", "check", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<miner> <deadline index>", "Exit status: 0 when every sector checked is good; 1 when any is bad", "--strict", "--only-bad", "--faulty"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("check --help lacks %q:\n%s", want, buf.String())
		}
	}
}

// A bad argument fails before anything is dialled, naming what was wrong.
func TestProvingCommandsRejectBadArguments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"info"}, "want 1 argument, <miner>; got 0"},
		{[]string{"deadlines", "x1000"}, `miner "x1000"`},
		{[]string{"deadline", "t01000", "48"}, `deadline index "48": want a number from 0 to 47`},
		{[]string{"check", "t01000"}, "want 2 arguments, <miner> <deadline index>; got 1"},
	} {
		app := newApp()
		app.Writer, app.ErrWriter = new(bytes.Buffer), new(bytes.Buffer)
		args := append([]string{"damocles-manager", "--home", t.TempDir(), "util", "sealer", "proving"}, tt.args...)
		if err := app.Run(args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("proving %q: error %v; want one containing %q", tt.args, err, tt.want)
		}
	}
}

// fakeChecker stands in for the manager's Venus.CheckProvable: it records
// each call and finds bad the sectors in bad.
type fakeChecker struct {
	calls []fakeCheckCall
	bad   map[abi.SectorNumber]string
	err   error
}

type fakeCheckCall struct {
	mid     abi.ActorID
	post    abi.RegisteredPoStProof
	sectors []abi.SectorNumber
	strict  bool
}

func (f *fakeChecker) CheckProvable(_ context.Context, mid abi.ActorID, post abi.RegisteredPoStProof, sectors []proof.ExtendedSectorInfo, strict, _ bool) (map[abi.SectorNumber]string, error) {
	call := fakeCheckCall{mid: mid, post: post, strict: strict}
	out := map[abi.SectorNumber]string{}
	for _, s := range sectors {
		call.sectors = append(call.sectors, s.SectorNumber)
		if why, ok := f.bad[s.SectorNumber]; ok {
			out[s.SectorNumber] = why
		}
	}
	f.calls = append(f.calls, call)
	return out, f.err
}

func TestCheckPartitions(t *testing.T) {
	maddr, _ := address.NewIDAddress(1000)
	target := &checkTarget{maddr: maddr, postProof: abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1, partitions: []partitionSectors{
		{index: 0, sectors: []proof.ExtendedSectorInfo{{SectorNumber: 1}, {SectorNumber: 2}}},
		{index: 1},
		{index: 2, sectors: []proof.ExtendedSectorInfo{{SectorNumber: 9}}},
	}}
	f := &fakeChecker{bad: map[abi.SectorNumber]string{2: "gone"}}
	results, err := checkPartitions(context.Background(), f, 1000, 3, target, true)
	if err != nil {
		t.Fatal(err)
	}
	// One call per partition with sectors to prove, none for an empty one.
	want := []fakeCheckCall{
		{mid: 1000, post: target.postProof, sectors: []abi.SectorNumber{1, 2}, strict: true},
		{mid: 1000, post: target.postProof, sectors: []abi.SectorNumber{9}, strict: true},
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("CheckProvable calls %+v; want %+v", f.calls, want)
	}
	if len(results) != 3 || len(results[1].numbers) != 0 || results[0].bad[2] != "gone" || len(results[2].bad) != 0 {
		t.Errorf("results %+v", results)
	}

	f = &fakeChecker{err: errors.New("connection refused")}
	_, err = checkPartitions(context.Background(), f, 1000, 3, target, false)
	if err == nil || !strings.Contains(err.Error(), "check partition 0 of deadline 3 of f01000: connection refused") {
		t.Errorf("error %v; want it to name the partition, deadline and miner", err)
	}
}
