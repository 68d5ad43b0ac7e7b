package devnet

import (
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/dline"
)

// runCron runs, at the end of epoch, the deadline cron of every miner
// whose current deadline window ends with this epoch (the real actor's
// cron event at the deadline's last epoch). Every other epoch costs one
// deadline computation per miner.
func (c *Chain) runCron(epoch abi.ChainEpoch) {
	for _, id := range c.minerIDs() {
		m := c.st.Miners[id]
		if di := m.deadlineAt(epoch); di.Last() == epoch {
			c.processDeadlineEnd(m, di)
		}
	}
}

// processDeadlineEnd closes a deadline window as the real actor's
// process_deadline_end does: a partition with live sectors and no accepted
// proof has its non-faulty sectors (new ones included) marked faulty and
// its recoveries cancelled; the proven marks are reset for the next window.
// A miss is recorded only when it made sectors faulty; an unproven
// partition whose sectors were all faulty already is a faulty skip.
func (c *Chain) processDeadlineEnd(m *minerState, di *dline.Info) {
	for pIdx, p := range m.Deadlines[di.Index].Partitions {
		if p.Proven {
			p.Proven = false
			continue
		}
		var live, newFaults uint64
		for _, n := range p.Sectors {
			s := m.Sectors[n]
			if !s.live() {
				continue
			}
			live++
			s.Recovering = false
			if !s.Faulty {
				s.Faulty, s.Unproven = true, false
				newFaults++
			}
		}
		if live == 0 {
			continue
		}
		rec := MissedPartition{
			Miner: m.address(), Deadline: di.Index, Partition: uint64(pIdx),
			Open: di.Open, Epoch: di.Last(), Sectors: newFaults,
		}
		if newFaults == 0 {
			rec.Sectors = live
			m.Records.FaultySkips = append(m.Records.FaultySkips, rec)
			continue
		}
		m.Records.Missed = append(m.Records.Missed, rec)
		c.st.Missed = append(c.st.Missed, rec)
		if !c.replaying {
			log.Warnw("missed WindowPoSt partition: sectors marked faulty", "miner", rec.Miner, "deadline", rec.Deadline,
				"partition", rec.Partition, "open", rec.Open, "epoch", rec.Epoch, "sectors", rec.Sectors)
		}
	}
}
