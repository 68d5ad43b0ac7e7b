package devnet

import (
	"errors"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// Deadline assignment follows the real actor (deadline_assignment.rs): a
// new sector goes to a mutable deadline (never the open one or the next),
// chosen by, in order:
//
//  1. fewest partitions after assignment counting live sectors only;
//  2. fewest partitions after assignment counting all sectors;
//  3. a deadline whose last partition has room, and of two such, the
//     fuller one (runs of sectors stay together);
//  4. fewest live sectors;
//  5. lowest index.
//
// So a deadline's last partition fills before another opens, and new
// partitions spread over the deadlines.

type deadlineLoad struct {
	index uint64
	live  uint64
	total uint64
}

func divCeil(a, b uint64) uint64 { return (a + b - 1) / b }

// assignBefore tells whether deadline a is a better home for the next
// sector than deadline b.
func assignBefore(a, b deadlineLoad, partitionSize uint64) bool {
	if ac, bc := divCeil(a.live+1, partitionSize), divCeil(b.live+1, partitionSize); ac != bc {
		return ac < bc
	}
	if ap, bp := divCeil(a.total+1, partitionSize), divCeil(b.total+1, partitionSize); ap != bp {
		return ap < bp
	}
	aFull, bFull := a.total%partitionSize == 0, b.total%partitionSize == 0
	if aFull != bFull {
		return !aFull
	}
	if !aFull && a.total != b.total {
		return a.total > b.total
	}
	if a.live != b.live {
		return a.live < b.live
	}
	return a.index < b.index
}

func (m *minerState) deadlineLoad(idx uint64) deadlineLoad {
	l := deadlineLoad{index: idx}
	for _, p := range m.Deadlines[idx].Partitions {
		l.total += uint64(len(p.Sectors))
		for _, n := range p.Sectors {
			if m.Sectors[n].live() {
				l.live++
			}
		}
	}
	return l
}

var errDeadlinesFull = errors.New("max partitions limit reached for all deadlines")

// capacity is how many more sectors the mutable deadlines take before
// reaching MaxPartitionsPerDeadline, checked before activating anything so
// that a full miner fails the message without changing state.
func (m *minerState) capacity(epoch abi.ChainEpoch) uint64 {
	limit := m.PartitionSectors * miner.MaxPartitionsPerDeadline
	var free uint64
	for idx := range m.Deadlines {
		if !m.deadlineMutable(uint64(idx), epoch) {
			continue
		}
		if total := m.deadlineLoad(uint64(idx)).total; total < limit {
			free += limit - total
		}
	}
	return free
}

// assignDeadline picks the deadline for one new sector at epoch.
func (m *minerState) assignDeadline(epoch abi.ChainEpoch) (uint64, error) {
	var best deadlineLoad
	found := false
	for idx := range m.Deadlines {
		if !m.deadlineMutable(uint64(idx), epoch) {
			continue
		}
		l := m.deadlineLoad(uint64(idx))
		if !found || assignBefore(l, best, m.PartitionSectors) {
			best, found = l, true
		}
	}
	if !found || best.total >= m.PartitionSectors*miner.MaxPartitionsPerDeadline {
		return 0, errDeadlinesFull
	}
	return best.index, nil
}

// addSector puts a sector in the deadline's last partition, or a new one
// when that is full, and returns the partition's index.
func (d *deadlineState) addSector(n abi.SectorNumber, partitionSize uint64) uint64 {
	last := len(d.Partitions) - 1
	if last < 0 || uint64(len(d.Partitions[last].Sectors)) >= partitionSize {
		d.Partitions = append(d.Partitions, &partitionState{})
		last++
	}
	d.Partitions[last].add(n)
	return uint64(last)
}
