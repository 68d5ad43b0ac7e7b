package demo

import (
	"fmt"
	"slices"
	"strings"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/dline"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
)

// State is where a deadline that holds sectors stands, as the demo shows
// it.
type State string

const (
	// StateWaiting: no window of the deadline has been judged since it got
	// its sectors; the next one is to come.
	StateWaiting State = "waiting"
	// StateProving: the deadline's window is open and no proof of it is
	// on chain or in the message pool yet.
	StateProving State = "proving"
	// StateSubmitted: the window is open and a SubmitWindowedPoSt for the
	// deadline waits in the message pool.
	StateSubmitted State = "submitted"
	// StateProven: accepted proofs cover the window (the open one, or the
	// last one closed).
	StateProven State = "proven"
	// StateMissed: the last window closed with a partition unproven; the
	// devnet recorded it as missed (or skipped, its sectors being faulty
	// already).
	StateMissed State = "missed"
)

// Observation is what the demo reads from the devnet about its miner at
// one moment: the chain's state and the observer's records.
type Observation struct {
	// Height is the chain's head.
	Height abi.ChainEpoch
	// Open is the miner's deadline open at Height
	// (StateMinerProvingDeadline).
	Open *dline.Info
	// Partitions holds the live sectors of each partition, indexed
	// [deadline][partition] (StateMinerPartitions); a deadline without
	// partitions may be empty or missing.
	Partitions [][][]abi.SectorNumber
	// LastActivation is the latest activation epoch of the miner's live
	// sectors (StateMinerSectors).
	LastActivation abi.ChainEpoch
	// Stats is the devnet's record of the miner (Devnet.Stats).
	Stats devnet.MinerStats
	// PendingPoSts lists the deadline of each SubmitWindowedPoSt message
	// of the miner waiting in the message pool.
	PendingPoSts []uint64
}

// DeadlineView is one deadline that holds sectors.
type DeadlineView struct {
	Index      uint64
	Partitions int
	// Sectors are its live sectors in number order.
	Sectors []abi.SectorNumber
	State   State
	// Window is the first epoch of the window State is about: the open
	// one, or the last one closed.
	Window abi.ChainEpoch
	// ProvenOnce: accepted proofs covered all its partitions in a window
	// that closed after the last sector was activated.
	ProvenOnce bool
}

// Summary is the demo's verdict, printed as its last line.
type Summary struct {
	// Proven counts partitions proven: the partitions of every accepted
	// WindowPoSt.
	Proven uint64
	// Missed counts the partitions the devnet recorded as missed.
	Missed uint64
	// Faulty counts the miner's faulty sectors now.
	Faulty uint64
}

// String is the summary line: proven=P missed=M faulty=F.
func (s Summary) String() string {
	return fmt.Sprintf("proven=%d missed=%d faulty=%d", s.Proven, s.Missed, s.Faulty)
}

// OK tells whether nothing was missed and nothing is faulty.
func (s Summary) OK() bool { return s.Missed == 0 && s.Faulty == 0 }

// Board is everything the demo shows at one moment, computed from one
// Observation.
type Board struct {
	Height abi.ChainEpoch
	Open   *dline.Info
	// Want is the number of sectors the demo seals; OnChain the number
	// live on chain, of which Active are proven and healthy, Unproven
	// await their first WindowPoSt and Faulty are faulty.
	Want                     int
	OnChain                  int
	PreCommitted             uint64
	Active, Unproven, Faulty uint64
	// AllActive: all Want sectors are on chain, the last activated at
	// LastActivation.
	AllActive      bool
	LastActivation abi.ChainEpoch
	// Deadlines are the deadlines holding sectors, by index.
	Deadlines []DeadlineView
	// Rejected counts WindowPoSt messages the chain refused.
	Rejected uint64
	Summary  Summary
}

// NewBoard judges an observation for a demo sealing want sectors.
func NewBoard(o Observation, want int) Board {
	b := Board{
		Height:         o.Height,
		Open:           o.Open,
		Want:           want,
		PreCommitted:   o.Stats.PreCommitted,
		Active:         o.Stats.Active,
		Unproven:       o.Stats.Unproven,
		Faulty:         o.Stats.Faulty,
		LastActivation: o.LastActivation,
		Summary:        Summary{Missed: uint64(len(o.Stats.Missed)), Faulty: o.Stats.Faulty},
	}
	for _, p := range o.Stats.PoSts {
		if p.Accepted {
			b.Summary.Proven += uint64(len(p.Partitions))
		} else {
			b.Rejected++
		}
	}
	for d, parts := range o.Partitions {
		var sectors []abi.SectorNumber
		for _, p := range parts {
			sectors = append(sectors, p...)
		}
		if len(sectors) == 0 {
			continue
		}
		slices.Sort(sectors)
		b.OnChain += len(sectors)
		b.Deadlines = append(b.Deadlines, judgeDeadline(o, uint64(d), len(parts), sectors))
	}
	b.AllActive = b.OnChain >= want
	return b
}

// judgeDeadline computes one deadline's state from the proofs and misses
// the devnet recorded for it.
func judgeDeadline(o Observation, d uint64, partitions int, sectors []abi.SectorNumber) DeadlineView {
	v := DeadlineView{Index: d, Partitions: partitions, Sectors: sectors}
	// covered[w] is the set of partitions accepted proofs covered in the
	// window opening at w.
	covered := map[abi.ChainEpoch]map[uint64]bool{}
	for _, p := range o.Stats.PoSts {
		if !p.Accepted || p.Deadline != d {
			continue
		}
		w := windowOf(o.Open, d, p.Epoch)
		if covered[w] == nil {
			covered[w] = map[uint64]bool{}
		}
		for _, idx := range p.Partitions {
			covered[w][idx] = true
		}
	}
	for w, parts := range covered {
		if len(parts) >= partitions && w+chain.WPoStChallengeWindow > o.LastActivation {
			v.ProvenOnce = true
		}
	}

	if d == o.Open.Index {
		v.Window = o.Open.Open
		switch {
		case len(covered[v.Window]) >= partitions:
			v.State = StateProven
		case slices.Contains(o.PendingPoSts, d):
			v.State = StateSubmitted
		default:
			v.State = StateProving
		}
		return v
	}
	v.Window = lastClosedWindow(o.Open, d)
	switch {
	case missedIn(o.Stats.Missed, d, v.Window) || missedIn(o.Stats.FaultySkips, d, v.Window):
		v.State = StateMissed
	case len(covered[v.Window]) > 0:
		// A partition left unproven would have been recorded at the
		// window's close: proofs and no miss mean every partition that
		// existed then was proven.
		v.State = StateProven
	default:
		v.State = StateWaiting
	}
	return v
}

// windowOf is the first epoch of deadline d's window that contains epoch,
// a proof of d having been accepted at epoch.
func windowOf(open *dline.Info, d uint64, epoch abi.ChainEpoch) abi.ChainEpoch {
	first := open.PeriodStart + abi.ChainEpoch(d)*chain.WPoStChallengeWindow
	return chain.ProvingPeriodStart(first, epoch)
}

// lastClosedWindow is the first epoch of deadline d's last window that has
// closed, d not being open.
func lastClosedWindow(open *dline.Info, d uint64) abi.ChainEpoch {
	w := open.PeriodStart + abi.ChainEpoch(d)*chain.WPoStChallengeWindow
	if d > open.Index {
		w -= chain.WPoStProvingPeriod
	}
	return w
}

func missedIn(list []devnet.MissedPartition, d uint64, window abi.ChainEpoch) bool {
	return slices.ContainsFunc(list, func(m devnet.MissedPartition) bool { return m.Deadline == d && m.Open == window })
}

// Done tells whether the demo reached its end: all sectors on chain, and
// every deadline holding sectors proven once since.
func (b Board) Done() bool {
	return b.AllActive && len(b.Deadlines) > 0 && len(b.Unfinished()) == 0
}

// Unfinished lists the deadlines holding sectors not proven once since the
// last activation.
func (b Board) Unfinished() []DeadlineView {
	var out []DeadlineView
	for _, d := range b.Deadlines {
		if !d.ProvenOnce {
			out = append(out, d)
		}
	}
	return out
}

// WaitingFor says what the demo still waits for, for a timeout's message.
func (b Board) WaitingFor() string {
	if !b.AllActive {
		return fmt.Sprintf("the sectors to be sealed and activated on chain: %d of %d on chain, %d pre-committed",
			b.OnChain, b.Want, b.PreCommitted)
	}
	var parts []string
	for _, d := range b.Unfinished() {
		parts = append(parts, fmt.Sprintf("deadline %d %s", d.Index, stateText(d)))
	}
	return fmt.Sprintf("proofs of the deadlines holding sectors since all %s were on chain (epoch %d): %s",
		plural(b.Want, "sector"), b.LastActivation, strings.Join(parts, ", "))
}

// formatSectors writes sector numbers as ranges: 1-3,5.
func formatSectors(nums []abi.SectorNumber) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j == i {
			fmt.Fprintf(&b, "%d", nums[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", nums[i], nums[j])
		}
		i = j + 1
	}
	return b.String()
}

// FastForwardMargin is how many epochs before the next challenge of a
// deadline holding sectors the demo stops mining ahead: the manager then
// follows the chain in real time again before anything is due.
const FastForwardMargin = 100

// FastForwardTo returns the epoch the chain may be mined ahead to with
// nothing due on the way: all sectors are on chain, no window of a
// deadline holding sectors is open, and the earliest next challenge of
// one is more than FastForwardMargin epochs (plus as many again, so a
// jump is worth it) ahead.
func (b Board) FastForwardTo() (abi.ChainEpoch, bool) {
	if !b.AllActive || len(b.Deadlines) == 0 || b.Done() {
		return 0, false
	}
	holds := map[uint64]bool{}
	for _, d := range b.Deadlines {
		holds[d.Index] = true
	}
	if holds[b.Open.Index] {
		return 0, false
	}
	// The next deadline's challenge is already past while the open one
	// runs: walk from the open deadline to the first that holds sectors.
	di := b.Open
	for range chain.WPoStPeriodDeadlines {
		di = chain.NextDeadline(di)
		if holds[di.Index] {
			break
		}
	}
	target := di.Challenge - FastForwardMargin
	if target-b.Height <= FastForwardMargin {
		return 0, false
	}
	return target, true
}
