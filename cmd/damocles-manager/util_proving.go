package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/urfave/cli/v2"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/proofs"
)

// The `util sealer proving` commands read a miner's WindowPoSt state at the
// head of the chain node of [Common.API] Chain, as `lotus-miner proving`
// does; `check` has the manager run its poster's checks
// (Venus.CheckProvable) on the sectors a WindowPoSt of one deadline would
// prove.

var utilProvingCmd = &cli.Command{
	Name:  "proving",
	Usage: "WindowPoSt: a miner's deadlines on chain, and checks of the sectors to prove",
	Subcommands: []*cli.Command{
		utilProvingInfoCmd, utilProvingDeadlinesCmd, utilProvingDeadlineCmd, utilProvingCheckCmd,
	},
}

var utilProvingInfoCmd = &cli.Command{
	Name:      "info",
	Usage:     "print the miner's proving period, the deadline open at the chain head, and its fault totals",
	ArgsUsage: "<miner>",
	Action:    provingStateAction(writeProvingInfo),
}

var utilProvingDeadlinesCmd = &cli.Command{
	Name:      "deadlines",
	Usage:     "print one row per deadline: partitions, live sectors, faults, recoveries, partitions proven in the current window",
	ArgsUsage: "<miner>",
	Action:    provingStateAction(writeDeadlines),
}

// provingStateAction reads the <miner>'s proving state at the chain head
// and prints it with write.
func provingStateAction(write func(io.Writer, *provingState) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		mid, _, err := parseProvingArgs(c.Args().Slice(), false)
		if err != nil {
			return err
		}
		api, closer, err := dialChain(c)
		if err != nil {
			return err
		}
		defer closer()
		st, err := readProvingState(c.Context, api, mid)
		if err != nil {
			return err
		}
		return write(os.Stdout, st)
	}
}

var utilProvingDeadlineCmd = &cli.Command{
	Name:      "deadline",
	Usage:     "print the sector counts of each partition of one deadline",
	ArgsUsage: "<miner> <deadline index>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "sector-nums", Usage: "also print the sector numbers of each partition's sets"},
	},
	Action: func(c *cli.Context) error {
		mid, idx, err := parseProvingArgs(c.Args().Slice(), true)
		if err != nil {
			return err
		}
		api, closer, err := dialChain(c)
		if err != nil {
			return err
		}
		defer closer()
		dl, err := readDeadline(c.Context, api, mid, idx)
		if err != nil {
			return err
		}
		return writeDeadline(os.Stdout, dl, c.Bool("sector-nums"))
	},
}

var utilProvingCheckCmd = &cli.Command{
	Name:      "check",
	Usage:     "check that the sectors to prove in a deadline can be proven; exit status 1 when any is bad",
	ArgsUsage: "<miner> <deadline index>",
	Description: `Reads the deadline's partitions at the chain head and has the manager run
the checks its poster runs before a WindowPoSt (Venus.CheckProvable) on the
sectors to prove of each partition: (live - faulty) + recovering, and with
--faulty the faulty ones too. Prints, per partition, how many sectors were
checked, good and bad, and each bad sector with the reason.

Exit status: 0 when every sector checked is good; 1 when any is bad, or when
the check could not run (the error says why).`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "strict", Usage: "also make and verify a vanilla proof of each sector (reads its files; slower)"},
		&cli.BoolFlag{Name: "only-bad", Usage: "print only the bad sectors, not the good ones"},
		&cli.BoolFlag{Name: "faulty", Usage: "also check the sectors the chain has as faulty"},
	},
	Action: func(c *cli.Context) error {
		mid, idx, err := parseProvingArgs(c.Args().Slice(), true)
		if err != nil {
			return err
		}
		capi, closeChain, err := dialChain(c)
		if err != nil {
			return err
		}
		defer closeChain()
		target, err := readCheckTarget(c.Context, capi, mid, idx, c.Bool("faulty"))
		if err != nil {
			return err
		}
		api, closer, err := dialDaemon(c)
		if err != nil {
			return err
		}
		defer closer()
		strict := c.Bool("strict")
		results, err := checkPartitions(c.Context, api, mid, idx, target, strict)
		if err != nil {
			return err
		}
		postName, err := proofs.PoStProofName(target.postProof)
		if err != nil {
			postName = strconv.Itoa(int(target.postProof))
		}
		fmt.Printf("Deadline %d of %s at epoch %d: %s, strict %t\n", idx, target.maddr, target.height, postName, strict)
		checked, bad, err := writeCheckReport(os.Stdout, results, c.Bool("only-bad"))
		if err != nil {
			return err
		}
		if bad > 0 {
			return fmt.Errorf("%d of %d sectors checked in deadline %d of %s are bad: a WindowPoSt would skip them; "+
				"see the reasons above, restore or re-attach their files (util storage find, util storage attach)",
				bad, checked, idx, target.maddr)
		}
		return nil
	},
}

// parseProvingArgs reads <miner> and, when withDeadline, <deadline index>.
func parseProvingArgs(args []string, withDeadline bool) (abi.ActorID, uint64, error) {
	want := "1 argument, <miner>"
	if withDeadline {
		want = "2 arguments, <miner> <deadline index>"
	}
	if (withDeadline && len(args) != 2) || (!withDeadline && len(args) != 1) {
		return 0, 0, fmt.Errorf("want %s; got %d", want, len(args))
	}
	mid, err := parseActor(args[0])
	if err != nil {
		return 0, 0, err
	}
	if !withDeadline {
		return mid, 0, nil
	}
	idx, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil || idx >= miner.WPoStPeriodDeadlines {
		return 0, 0, fmt.Errorf("deadline index %q: want a number from 0 to %d", args[1], miner.WPoStPeriodDeadlines-1)
	}
	return mid, idx, nil
}

// partitionCounts are the sizes of a partition's sector sets, or their
// sums over partitions.
type partitionCounts struct {
	all, live, active, faulty, recovering uint64
}

func (a partitionCounts) add(b partitionCounts) partitionCounts {
	return partitionCounts{a.all + b.all, a.live + b.live, a.active + b.active, a.faulty + b.faulty, a.recovering + b.recovering}
}

func countPartition(p chain.Partition) (partitionCounts, error) {
	var pc partitionCounts
	for _, s := range []struct {
		name string
		bf   bitfield.BitField
		to   *uint64
	}{
		{"all", p.AllSectors, &pc.all}, {"live", p.LiveSectors, &pc.live}, {"active", p.ActiveSectors, &pc.active},
		{"faulty", p.FaultySectors, &pc.faulty}, {"recovering", p.RecoveringSectors, &pc.recovering},
	} {
		n, err := s.bf.Count()
		if err != nil {
			return pc, fmt.Errorf("count %s sectors: %w", s.name, err)
		}
		*s.to = n
	}
	return pc, nil
}

// deadlineState is one deadline of a miner as the chain has it.
type deadlineState struct {
	index      uint64
	partitions []chain.Partition
	counts     []partitionCounts // one per partition
	// proven has a bit per partition proven in the current window.
	proven bitfield.BitField
}

func (d deadlineState) total() partitionCounts {
	var t partitionCounts
	for _, c := range d.counts {
		t = t.add(c)
	}
	return t
}

func (d deadlineState) provenCount() (uint64, error) {
	n, err := d.proven.Count()
	if err != nil {
		return 0, fmt.Errorf("deadline %d: count proven partitions: %w", d.index, err)
	}
	return n, nil
}

// provingState is a miner's WindowPoSt state at the chain head.
type provingState struct {
	maddr address.Address
	// di is the deadline open at the head; di.CurrentEpoch is the head.
	di        *dline.Info
	deadlines []deadlineState
}

func newDeadlineState(index uint64, dl chain.Deadline, parts []chain.Partition) (deadlineState, error) {
	ds := deadlineState{index: index, partitions: parts, proven: dl.PostSubmissions}
	for i, p := range parts {
		pc, err := countPartition(p)
		if err != nil {
			return ds, fmt.Errorf("deadline %d partition %d: %w", index, i, err)
		}
		ds.counts = append(ds.counts, pc)
	}
	return ds, nil
}

// readProvingState reads the miner's open deadline and every deadline's
// partitions, all at one head.
func readProvingState(ctx context.Context, api chain.API, mid abi.ActorID) (*provingState, error) {
	maddr, tsk, di, err := readOpenDeadline(ctx, api, mid)
	if err != nil {
		return nil, err
	}
	dls, err := api.StateMinerDeadlines(ctx, maddr, tsk)
	if err != nil {
		return nil, fmt.Errorf("read the deadlines of miner %s: %w", maddr, err)
	}
	st := &provingState{maddr: maddr, di: di}
	for i, dl := range dls {
		parts, err := api.StateMinerPartitions(ctx, maddr, uint64(i), tsk)
		if err != nil {
			return nil, fmt.Errorf("read the partitions of deadline %d of miner %s: %w", i, maddr, err)
		}
		ds, err := newDeadlineState(uint64(i), dl, parts)
		if err != nil {
			return nil, fmt.Errorf("miner %s: %w", maddr, err)
		}
		st.deadlines = append(st.deadlines, ds)
	}
	return st, nil
}

// readOpenDeadline reads the head and the miner's deadline open there.
func readOpenDeadline(ctx context.Context, api chain.API, mid abi.ActorID) (address.Address, chain.TipSetKey, *dline.Info, error) {
	maddr, err := address.NewIDAddress(uint64(mid))
	if err != nil {
		return address.Undef, chain.EmptyTSK, nil, err
	}
	head, err := api.ChainHead(ctx)
	if err != nil {
		return maddr, chain.EmptyTSK, nil, fmt.Errorf("get the chain head: %w", err)
	}
	di, err := api.StateMinerProvingDeadline(ctx, maddr, head.Key())
	if err != nil {
		return maddr, chain.EmptyTSK, nil, fmt.Errorf("read the proving deadline of miner %s at height %d: %w", maddr, head.Height, err)
	}
	return maddr, head.Key(), di, nil
}

// deadlineDetail is one deadline at the head, with when it opens.
type deadlineDetail struct {
	maddr address.Address
	// di is the deadline's current or next occurrence.
	di *dline.Info
	deadlineState
}

func readDeadline(ctx context.Context, api chain.API, mid abi.ActorID, idx uint64) (*deadlineDetail, error) {
	maddr, tsk, open, err := readOpenDeadline(ctx, api, mid)
	if err != nil {
		return nil, err
	}
	dls, err := api.StateMinerDeadlines(ctx, maddr, tsk)
	if err != nil {
		return nil, fmt.Errorf("read the deadlines of miner %s: %w", maddr, err)
	}
	if idx >= uint64(len(dls)) {
		return nil, fmt.Errorf("deadline index %d: miner %s has deadlines 0 to %d", idx, maddr, len(dls)-1)
	}
	parts, err := api.StateMinerPartitions(ctx, maddr, idx, tsk)
	if err != nil {
		return nil, fmt.Errorf("read the partitions of deadline %d of miner %s: %w", idx, maddr, err)
	}
	ds, err := newDeadlineState(idx, dls[idx], parts)
	if err != nil {
		return nil, fmt.Errorf("miner %s: %w", maddr, err)
	}
	return &deadlineDetail{maddr: maddr, di: occurrence(open, idx), deadlineState: ds}, nil
}

// occurrence is deadline idx's occurrence that has not closed at
// open.CurrentEpoch (the open deadline's own when idx is open).
func occurrence(open *dline.Info, idx uint64) *dline.Info {
	return dline.NewInfo(open.PeriodStart, idx, open.CurrentEpoch, open.WPoStPeriodDeadlines, open.WPoStProvingPeriod,
		open.WPoStChallengeWindow, open.WPoStChallengeLookback, open.FaultDeclarationCutoff).NextNotElapsed()
}

// epochRel writes epoch e with its distance from the current epoch cur.
func epochRel(cur, e abi.ChainEpoch) string {
	switch {
	case e > cur:
		return fmt.Sprintf("%d (in %d epochs)", e, e-cur)
	case e < cur:
		return fmt.Sprintf("%d (%d epochs ago)", e, cur-e)
	default:
		return fmt.Sprintf("%d (now)", e)
	}
}

func percent(n, of uint64) string {
	if of == 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", float64(n)*100/float64(of))
}

// periodBoundary is where in every WPoStProvingPeriod epochs the miner's
// periods start, in [0, WPoStProvingPeriod): the period start is negative
// near genesis.
func periodBoundary(di *dline.Info) abi.ChainEpoch {
	if di.WPoStProvingPeriod <= 0 {
		return di.PeriodStart
	}
	return (di.PeriodStart%di.WPoStProvingPeriod + di.WPoStProvingPeriod) % di.WPoStProvingPeriod
}

func writeProvingInfo(w io.Writer, st *provingState) error {
	di, cur := st.di, st.di.CurrentEpoch
	var total partitionCounts
	var parts, withParts uint64
	for _, d := range st.deadlines {
		total = total.add(d.total())
		parts += uint64(len(d.partitions))
		if len(d.partitions) > 0 {
			withParts++
		}
	}
	var open deadlineState
	if di.Index < uint64(len(st.deadlines)) {
		open = st.deadlines[di.Index]
	}
	openTotal := open.total()
	state := "open"
	if !di.IsOpen() {
		state = "not open"
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"Miner", st.maddr.String()},
		{"Current Epoch", fmt.Sprint(cur)},
		{"Proving Period Boundary", fmt.Sprint(periodBoundary(di))},
		{"Proving Period Start", epochRel(cur, di.PeriodStart)},
		{"Next Period Start", epochRel(cur, di.NextPeriodStart())},
		{"Deadlines", fmt.Sprintf("%d (%d with partitions)", len(st.deadlines), withParts)},
		{"Partitions", fmt.Sprint(parts)},
		{"Sectors", fmt.Sprintf("%d live, %d active", total.live, total.active)},
		{"Faults", fmt.Sprintf("%d (%s)", total.faulty, percent(total.faulty, total.live))},
		{"Recovering", fmt.Sprint(total.recovering)},
		{"Deadline Index", fmt.Sprintf("%d (%s)", di.Index, state)},
		{"Deadline Partitions", fmt.Sprint(len(open.partitions))},
		{"Deadline Sectors", fmt.Sprintf("%d live, %d faulty, %d recovering", openTotal.live, openTotal.faulty, openTotal.recovering)},
		{"Deadline Open", epochRel(cur, di.Open)},
		{"Deadline Close", epochRel(cur, di.Close)},
		{"Deadline Challenge", epochRel(cur, di.Challenge)},
		{"Deadline FaultCutoff", epochRel(cur, di.FaultCutoff)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// openMarker ends the row of the deadline open at the head.
const openMarker = "(open)"

func writeDeadlines(w io.Writer, st *provingState) error {
	di := st.di
	fmt.Fprintf(w, "Miner %s at epoch %d: deadline %d is open, epochs %d to %d\n", st.maddr, di.CurrentEpoch, di.Index, di.Open, di.Last())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Deadline\tPartitions\tSectors\tFaults\tRecovering\tProven")
	for _, d := range st.deadlines {
		t := d.total()
		proven, err := d.provenCount()
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d", d.index, len(d.partitions), t.live, t.faulty, t.recovering, proven)
		if d.index == di.Index && di.IsOpen() {
			fmt.Fprint(tw, "\t"+openMarker)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func writeDeadline(w io.Writer, d *deadlineDetail, sectorNums bool) error {
	di := d.di
	when := fmt.Sprintf("opens at %s", epochRel(di.CurrentEpoch, di.Open))
	if di.IsOpen() {
		when = fmt.Sprintf("open now, epochs %d to %d", di.Open, di.Last())
	}
	fmt.Fprintf(w, "Deadline %d of %s at epoch %d: %s; %d partitions\n", d.index, d.maddr, di.CurrentEpoch, when, len(d.partitions))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Partition\tAll\tLive\tActive\tFaulty\tRecovering\tProven")
	for i, pc := range d.counts {
		proven, err := d.proven.IsSet(uint64(i))
		if err != nil {
			return fmt.Errorf("deadline %d: read proven partitions: %w", d.index, err)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\n", i, pc.all, pc.live, pc.active, pc.faulty, pc.recovering, yesNo(proven))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !sectorNums || len(d.partitions) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Partition\tSet\tSectors")
	for i, p := range d.partitions {
		for _, s := range []struct {
			name string
			bf   bitfield.BitField
		}{{"all", p.AllSectors}, {"live", p.LiveSectors}, {"active", p.ActiveSectors}, {"faulty", p.FaultySectors}, {"recovering", p.RecoveringSectors}} {
			nums, err := s.bf.All(miner.AddressedSectorsMax)
			if err != nil {
				return fmt.Errorf("deadline %d partition %d: read %s sectors: %w", d.index, i, s.name, err)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\n", i, s.name, joinNumbers(nums))
		}
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// joinNumbers lists sector numbers, or "-" for none.
func joinNumbers(nums []uint64) string {
	if len(nums) == 0 {
		return "-"
	}
	s := make([]string, len(nums))
	for i, n := range nums {
		s[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(s, " ")
}

// sectorsToProve is what a WindowPoSt of the partition proves: (live −
// faulty) ∪ recovering, as the poster reads it; withFaulty adds the
// faulty sectors, so all live ones.
func sectorsToProve(p chain.Partition, withFaulty bool) (bitfield.BitField, error) {
	if withFaulty {
		return bitfield.MergeBitFields(p.LiveSectors, p.RecoveringSectors)
	}
	s, err := bitfield.SubtractBitField(p.LiveSectors, p.FaultySectors)
	if err != nil {
		return s, err
	}
	return bitfield.MergeBitFields(s, p.RecoveringSectors)
}

// checkTarget is what `proving check` sends the manager: the sectors to
// prove of each partition of a deadline, read at one head.
type checkTarget struct {
	maddr      address.Address
	height     abi.ChainEpoch
	postProof  abi.RegisteredPoStProof
	partitions []partitionSectors
}

type partitionSectors struct {
	index   uint64
	sectors []proof.ExtendedSectorInfo // in number order
}

func readCheckTarget(ctx context.Context, api chain.API, mid abi.ActorID, idx uint64, withFaulty bool) (*checkTarget, error) {
	maddr, err := address.NewIDAddress(uint64(mid))
	if err != nil {
		return nil, err
	}
	head, err := api.ChainHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("get the chain head: %w", err)
	}
	tsk := head.Key()
	mi, err := api.StateMinerInfo(ctx, maddr, tsk)
	if err != nil {
		return nil, fmt.Errorf("read the info of miner %s at height %d: %w", maddr, head.Height, err)
	}
	parts, err := api.StateMinerPartitions(ctx, maddr, idx, tsk)
	if err != nil {
		return nil, fmt.Errorf("read the partitions of deadline %d of miner %s: %w", idx, maddr, err)
	}
	t := &checkTarget{maddr: maddr, height: head.Height, postProof: mi.WindowPoStProofType}
	for i, p := range parts {
		ps := partitionSectors{index: uint64(i)}
		set, err := sectorsToProve(p, withFaulty)
		if err != nil {
			return nil, fmt.Errorf("deadline %d partition %d: sectors to prove: %w", idx, i, err)
		}
		if n, err := set.Count(); err != nil {
			return nil, fmt.Errorf("deadline %d partition %d: count sectors to prove: %w", idx, i, err)
		} else if n == 0 {
			t.partitions = append(t.partitions, ps)
			continue
		}
		infos, err := api.StateMinerSectors(ctx, maddr, &set, tsk)
		if err != nil {
			return nil, fmt.Errorf("read the sectors of deadline %d partition %d of miner %s: %w", idx, i, maddr, err)
		}
		for _, info := range infos {
			ps.sectors = append(ps.sectors, proof.ExtendedSectorInfo{
				SealProof: info.SealProof, SectorNumber: info.SectorNumber, SectorKey: info.SectorKeyCID, SealedCID: info.SealedCID,
			})
		}
		slices.SortFunc(ps.sectors, func(a, b proof.ExtendedSectorInfo) int { return cmp.Compare(a.SectorNumber, b.SectorNumber) })
		t.partitions = append(t.partitions, ps)
	}
	return t, nil
}

// provableChecker is the manager's method that `proving check` calls.
type provableChecker interface {
	CheckProvable(ctx context.Context, mid abi.ActorID, postProofType abi.RegisteredPoStProof, sectors []proof.ExtendedSectorInfo, strict, stateCheck bool) (map[abi.SectorNumber]string, error)
}

// checkPartitions has the manager check each partition's sectors to prove
// of deadline idx, one call per partition as the poster checks them.
func checkPartitions(ctx context.Context, api provableChecker, mid abi.ActorID, idx uint64, target *checkTarget, strict bool) ([]partitionCheck, error) {
	var results []partitionCheck
	for _, p := range target.partitions {
		res := partitionCheck{index: p.index}
		if len(p.sectors) > 0 {
			bad, err := api.CheckProvable(ctx, mid, target.postProof, p.sectors, strict, false)
			if err != nil {
				return nil, fmt.Errorf("check partition %d of deadline %d of %s: %w", p.index, idx, target.maddr, err)
			}
			res.bad = bad
		}
		for _, s := range p.sectors {
			res.numbers = append(res.numbers, s.SectorNumber)
		}
		results = append(results, res)
	}
	return results, nil
}

// partitionCheck is the manager's verdict on one partition's sectors.
type partitionCheck struct {
	index   uint64
	numbers []abi.SectorNumber // checked, in order
	bad     map[abi.SectorNumber]string
}

// writeCheckReport writes a row per sector checked (only the bad ones with
// onlyBad), then the counts per partition, and returns the totals.
func writeCheckReport(w io.Writer, results []partitionCheck, onlyBad bool) (checked, bad int, err error) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Partition\tSector\tResult")
	for _, r := range results {
		for _, n := range r.numbers {
			why, isBad := r.bad[n]
			switch {
			case isBad:
				fmt.Fprintf(tw, "%d\t%d\tbad: %s\n", r.index, n, why)
			case !onlyBad:
				fmt.Fprintf(tw, "%d\t%d\tgood\n", r.index, n)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return 0, 0, err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Partition\tChecked\tGood\tBad")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\n", r.index, len(r.numbers), len(r.numbers)-len(r.bad), len(r.bad))
		checked += len(r.numbers)
		bad += len(r.bad)
	}
	if err := tw.Flush(); err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(w, "%d sectors checked: %d good, %d bad\n", checked, checked-bad, bad)
	return checked, bad, nil
}
