package devnet

import (
	"slices"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/ipfs/go-cid"
)

// The observer records are what tests and the demo judge the system by
// (the server's Devnet namespace): per miner, its sectors' health, every
// WindowPoSt message's verdict, and every partition the deadline cron
// found unproven. They are part of the persisted state, so a restart keeps
// them.

// MissedPartition is a partition that reached its deadline's close
// without an accepted WindowPoSt.
type MissedPartition struct {
	Miner     address.Address
	Deadline  uint64
	Partition uint64
	// Open is the first epoch of the deadline window that was missed.
	Open abi.ChainEpoch
	// Epoch is the window's last epoch, at whose end the cron ran.
	Epoch abi.ChainEpoch
	// Sectors is how many sectors turned faulty; for a faulty skip, how
	// many live sectors the partition had, all faulty already.
	Sectors uint64
}

// PoStRecord is the verdict on one SubmitWindowedPoSt message.
type PoStRecord struct {
	Message    cid.Cid
	Epoch      abi.ChainEpoch
	Deadline   uint64
	Partitions []uint64
	Accepted   bool
	// Proven and Skipped count the sectors of an accepted proof.
	Proven  uint64
	Skipped uint64
	// ExitCode and Reason say why a proof was rejected.
	ExitCode exitcode.ExitCode
	Reason   string
}

type minerRecords struct {
	PoSts []PoStRecord `json:"posts"`
	// Missed partitions made sectors faulty; FaultySkips were unproven
	// partitions whose sectors were all faulty already: no new miss.
	Missed      []MissedPartition `json:"missed"`
	FaultySkips []MissedPartition `json:"faultySkips"`
	// Recovered counts sectors a PoSt brought back from faulty.
	Recovered uint64 `json:"recovered"`
}

// MinerStats is one miner's record. Sector counts partition the live
// sectors: Active (proven and healthy), Unproven (activated, first
// WindowPoSt to come) and Faulty (of which Recovering are declared
// recovered); Terminated sectors are counted apart.
type MinerStats struct {
	Miner        address.Address
	PreCommitted uint64
	Active       uint64
	Unproven     uint64
	Faulty       uint64
	Recovering   uint64
	Terminated   uint64
	// ProofsAccepted and ProofsRejected count SubmitWindowedPoSt messages
	// by verdict; a rejected one changed nothing.
	ProofsAccepted uint64
	ProofsRejected uint64
	Recovered      uint64
	PoSts          []PoStRecord
	Missed         []MissedPartition
	FaultySkips    []MissedPartition
}

// Records is the whole chain's record.
type Records struct {
	Height abi.ChainEpoch
	// Miners are in id order.
	Miners []MinerStats
	// Missed lists every missed partition of every miner, in the order the
	// cron found them.
	Missed []MissedPartition
}

// Stats is one miner's record.
func (c *Chain) Stats(maddr address.Address) (MinerStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return MinerStats{}, err
	}
	return m.stats(), nil
}

// Records is every miner's record and the chain-wide list of misses.
func (c *Chain) Records() Records {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Records{Height: c.st.Height, Missed: slices.Clone(c.st.Missed)}
	for _, id := range c.minerIDs() {
		r.Miners = append(r.Miners, c.st.Miners[id].stats())
	}
	return r
}

func (m *minerState) stats() MinerStats {
	s := MinerStats{
		Miner:        m.address(),
		PreCommitted: uint64(len(m.PreCommits)),
		Recovered:    m.Records.Recovered,
		Missed:       slices.Clone(m.Records.Missed),
		FaultySkips:  slices.Clone(m.Records.FaultySkips),
	}
	for _, sec := range m.Sectors {
		switch {
		case sec.Terminated:
			s.Terminated++
		case sec.Faulty:
			s.Faulty++
			if sec.Recovering {
				s.Recovering++
			}
		case sec.Unproven:
			s.Unproven++
		default:
			s.Active++
		}
	}
	for _, p := range m.Records.PoSts {
		p.Partitions = slices.Clone(p.Partitions)
		s.PoSts = append(s.PoSts, p)
		if p.Accepted {
			s.ProofsAccepted++
		} else {
			s.ProofsRejected++
		}
	}
	return s
}

// minerIDs lists the miners in id order: the cron and the records visit
// them in that order, so a replayed chain records the same history.
func (c *Chain) minerIDs() []abi.ActorID {
	ids := make([]abi.ActorID, 0, len(c.st.Miners))
	for id := range c.st.Miners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
