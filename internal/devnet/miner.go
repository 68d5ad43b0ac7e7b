package devnet

import (
	"fmt"
	"slices"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/dline"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// The miner actor: deadline arithmetic and the state queries a manager
// makes. Its methods live in miner_commit.go (sealing) and miner_post.go
// (proving, faults, terminations); its deadline cron in cron.go.

// deadlineAt is the deadline open at epoch, computed from the proving
// period offset as the real actor's new_deadline_info_from_offset_and_epoch
// does: a deadline is always open, so the result is never elapsed.
func (m *minerState) deadlineAt(epoch abi.ChainEpoch) *dline.Info {
	start := quantizeDown(epoch, miner.WPoStProvingPeriod, m.ProvingPeriodOffset)
	idx := uint64((epoch - start) / miner.WPoStChallengeWindow)
	return miner.NewDeadlineInfo(start, idx, epoch)
}

func quantizeDown(e, unit, offset abi.ChainEpoch) abi.ChainEpoch {
	up := builtin.QuantizeUp(e, unit, offset)
	if up == e {
		return up
	}
	return up - unit
}

// nextOccurrence is deadline idx's next occurrence that has not closed at
// epoch: the current one while it is open.
func (m *minerState) nextOccurrence(idx uint64, epoch abi.ChainEpoch) *dline.Info {
	return miner.NewDeadlineInfo(m.deadlineAt(epoch).PeriodStart, idx, epoch).NextNotElapsed()
}

// deadlineMutable is the real actor's deadline_is_mutable: at least one
// challenge window before the deadline's next opening, so neither the open
// deadline nor the next one takes new sectors or terminations.
func (m *minerState) deadlineMutable(idx uint64, epoch abi.ChainEpoch) bool {
	return epoch < m.nextOccurrence(idx, epoch).Open-miner.WPoStChallengeWindow
}

// controls tells whether caller may call the miner's methods: the owner,
// the worker or a control address, as the real actor requires.
func (m *minerState) controls(caller abi.ActorID) bool {
	return caller == m.Owner || caller == m.Worker || slices.Contains(m.Control, caller)
}

func (m *minerState) address() address.Address { return idAddress(m.ID) }

func (c *Chain) miner(maddr address.Address) (*minerState, error) {
	act, ok := c.resolve(maddr)
	if !ok || act.Kind != ActorMiner {
		return nil, fmt.Errorf("miner %s not found", maddr)
	}
	return c.st.Miners[act.ID], nil
}

// Miners lists the miner actors' ID addresses in id order.
func (c *Chain) Miners() []address.Address {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]abi.ActorID, 0, len(c.st.Miners))
	for id := range c.st.Miners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]address.Address, len(ids))
	for i, id := range ids {
		out[i] = idAddress(id)
	}
	return out
}

// MinerInfo is the miner's info as the actor stores it (StateMinerInfo).
func (c *Chain) MinerInfo(maddr address.Address) (miner.MinerInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return miner.MinerInfo{}, err
	}
	control := make([]address.Address, len(m.Control))
	for i, id := range m.Control {
		control[i] = idAddress(id)
	}
	return miner.MinerInfo{
		Owner:                      idAddress(m.Owner),
		Worker:                     idAddress(m.Worker),
		ControlAddresses:           control,
		PeerId:                     slices.Clone(m.PeerID),
		Multiaddrs:                 slices.Clone(m.Multiaddrs),
		WindowPoStProofType:        m.WindowPoStProofType,
		SectorSize:                 m.SectorSize,
		WindowPoStPartitionSectors: m.PartitionSectors,
		ConsensusFaultElapsed:      -1,
		Beneficiary:                idAddress(m.Owner),
		BeneficiaryTerm:            miner.BeneficiaryTerm{Quota: big.Zero(), UsedQuota: big.Zero()},
	}, nil
}

// ProvingDeadline is the miner's deadline open at epoch
// (StateMinerProvingDeadline at a tipset of that height).
func (c *Chain) ProvingDeadline(maddr address.Address, epoch abi.ChainEpoch) (*dline.Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return nil, err
	}
	return m.deadlineAt(epoch), nil
}

// Deadline is one of a miner's deadlines (Lotus's api.Deadline).
type Deadline struct {
	// PostSubmissions has a bit per partition proven in the deadline's
	// current window.
	PostSubmissions bitfield.BitField
	// DisputableProofCount is always 0: the devnet verifies every proof
	// on submission, so there is nothing to dispute.
	DisputableProofCount uint64
	DailyFee             abi.TokenAmount
}

// Deadlines lists the miner's 48 deadlines (StateMinerDeadlines).
func (c *Chain) Deadlines(maddr address.Address) ([]Deadline, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return nil, err
	}
	out := make([]Deadline, len(m.Deadlines))
	for i, dl := range m.Deadlines {
		var proven []uint64
		for p, part := range dl.Partitions {
			if part.Proven {
				proven = append(proven, uint64(p))
			}
		}
		out[i] = Deadline{PostSubmissions: bitfield.NewFromSet(proven), DailyFee: big.Zero()}
	}
	return out, nil
}

// Partition is one partition of a deadline (Lotus's api.Partition). Live is
// All minus terminated; Active is Live minus faulty minus sectors not yet
// proven by a first WindowPoSt; Recovering is a subset of Faulty.
type Partition struct {
	AllSectors        bitfield.BitField
	FaultySectors     bitfield.BitField
	RecoveringSectors bitfield.BitField
	LiveSectors       bitfield.BitField
	ActiveSectors     bitfield.BitField
}

// Partitions lists the partitions of deadline dlIdx
// (StateMinerPartitions).
func (c *Chain) Partitions(maddr address.Address, dlIdx uint64) ([]Partition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return nil, err
	}
	if dlIdx >= miner.WPoStPeriodDeadlines {
		return nil, fmt.Errorf("deadline %d does not exist: there are %d", dlIdx, miner.WPoStPeriodDeadlines)
	}
	out := make([]Partition, 0, len(m.Deadlines[dlIdx].Partitions))
	for _, p := range m.Deadlines[dlIdx].Partitions {
		var all, faulty, recovering, live, active []uint64
		for _, n := range p.Sectors {
			s := m.Sectors[n]
			all = append(all, uint64(n))
			if !s.live() {
				continue
			}
			live = append(live, uint64(n))
			switch {
			case s.Faulty:
				faulty = append(faulty, uint64(n))
				if s.Recovering {
					recovering = append(recovering, uint64(n))
				}
			case !s.Unproven:
				active = append(active, uint64(n))
			}
		}
		out = append(out, Partition{
			AllSectors:        bitfield.NewFromSet(all),
			FaultySectors:     bitfield.NewFromSet(faulty),
			RecoveringSectors: bitfield.NewFromSet(recovering),
			LiveSectors:       bitfield.NewFromSet(live),
			ActiveSectors:     bitfield.NewFromSet(active),
		})
	}
	return out, nil
}

// Faults is every faulty live sector of the miner (StateMinerFaults).
func (c *Chain) Faults(maddr address.Address) (bitfield.BitField, error) {
	return c.sectorSet(maddr, func(s *sectorState) bool { return s.live() && s.Faulty })
}

// Recoveries is every sector declared recovering (StateMinerRecoveries).
func (c *Chain) Recoveries(maddr address.Address) (bitfield.BitField, error) {
	return c.sectorSet(maddr, func(s *sectorState) bool { return s.live() && s.Recovering })
}

func (c *Chain) sectorSet(maddr address.Address, keep func(*sectorState) bool) (bitfield.BitField, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return bitfield.BitField{}, err
	}
	var set []uint64
	for n, s := range m.Sectors {
		if keep(s) {
			set = append(set, uint64(n))
		}
	}
	return bitfield.NewFromSet(set), nil
}

// Sectors lists the miner's live sectors in number order, only those in
// filter when it is not nil (StateMinerSectors).
func (c *Chain) Sectors(maddr address.Address, filter *bitfield.BitField) ([]*miner.SectorOnChainInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return nil, err
	}
	nums := make([]abi.SectorNumber, 0, len(m.Sectors))
	for n, s := range m.Sectors {
		if !s.live() {
			continue
		}
		if filter != nil {
			in, err := filter.IsSet(uint64(n))
			if err != nil {
				return nil, fmt.Errorf("sector filter: %w", err)
			}
			if !in {
				continue
			}
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	out := make([]*miner.SectorOnChainInfo, len(nums))
	for i, n := range nums {
		info := *m.Sectors[n].Info
		out[i] = &info
	}
	return out, nil
}

// SectorInfo is a live sector's on-chain info, nil when the miner has no
// such live sector (StateSectorGetInfo).
func (c *Chain) SectorInfo(maddr address.Address, n abi.SectorNumber) (*miner.SectorOnChainInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return nil, err
	}
	s, ok := m.Sectors[n]
	if !ok || !s.live() {
		return nil, nil
	}
	info := *s.Info
	return &info, nil
}

// SectorLocation is where a sector is proven.
type SectorLocation struct {
	Deadline  uint64
	Partition uint64
}

// SectorPartition finds a live sector's deadline and partition
// (StateSectorPartition); found is false for an unknown or terminated
// sector.
func (c *Chain) SectorPartition(maddr address.Address, n abi.SectorNumber) (loc SectorLocation, found bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return SectorLocation{}, false, err
	}
	s, ok := m.Sectors[n]
	if !ok || !s.live() {
		return SectorLocation{}, false, nil
	}
	return SectorLocation{Deadline: s.Deadline, Partition: s.Partition}, true, nil
}

// PreCommitInfo is a sector's pre-commit, nil when the sector is not
// pre-committed (StateSectorPreCommitInfo).
func (c *Chain) PreCommitInfo(maddr address.Address, n abi.SectorNumber) (*miner.SectorPreCommitOnChainInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return nil, err
	}
	pc, ok := m.PreCommits[n]
	if !ok {
		return nil, nil
	}
	out := *pc
	return &out, nil
}

// SectorAllocated tells whether a sector number was ever pre-committed by
// the miner (StateMinerSectorAllocated).
func (c *Chain) SectorAllocated(maddr address.Address, n abi.SectorNumber) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return false, err
	}
	return m.Allocated.IsSet(uint64(n))
}
