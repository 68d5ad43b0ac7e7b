package devnet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/exitcode"
	"golang.org/x/crypto/blake2b"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/builtin/v19/power"
)

// Limits on a miner's peer info, the real actor's.
const (
	maxPeerIDLength   = 128
	maxMultiaddrBytes = 1024
)

// newMiner describes a miner actor to create.
type newMiner struct {
	id         abi.ActorID
	robust     address.Address
	owner      address.Address
	worker     address.Address
	postType   abi.RegisteredPoStProof
	peer       []byte
	multiaddrs []abi.Multiaddrs
	epoch      abi.ChainEpoch
	balance    abi.TokenAmount
}

// windowPoStProofAllowed accepts the V1_1 window PoSt types of every sector
// size, as a devnet build of the actors does (mainnet allows 32GiB and
// 64GiB only).
func windowPoStProofAllowed(p abi.RegisteredPoStProof) bool {
	return p >= abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1 && p <= abi.RegisteredPoStProof_StackedDrgWindow64GiBV1_1
}

// provingPeriodOffset places a miner's proving period. The real actor
// hashes the miner's address and its creation epoch (blake2b, big-endian
// u64, mod WPoStProvingPeriod); the devnet hashes the ID address's bytes
// alone, so a miner's deadlines depend on its id and nothing else: the same
// miner id proves at the same epochs in every run.
func provingPeriodOffset(id abi.ActorID) abi.ChainEpoch {
	digest := blake2b.Sum256(idAddress(id).Bytes())
	return abi.ChainEpoch(binary.BigEndian.Uint64(digest[:8]) % uint64(miner.WPoStProvingPeriod))
}

// actorAddress is the robust address Lotus's init actor gives a new actor:
// an actor address over the origin's CBOR address, the origin message's
// nonce and the number of actors that message created before (big-endian
// u64s).
func actorAddress(origin address.Address, nonce, created uint64) address.Address {
	var buf bytes.Buffer
	buf.Write(AddressEntropy(origin))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], nonce)
	buf.Write(n[:])
	binary.BigEndian.PutUint64(n[:], created)
	buf.Write(n[:])
	a, err := address.NewActorAddress(buf.Bytes())
	if err != nil {
		panic(fmt.Sprintf("devnet: actor address: %v", err))
	}
	return a
}

// createMiner validates and creates a miner actor, as the power actor's
// CreateMiner and the miner constructor do.
func (c *Chain) createMiner(nm newMiner) (*minerState, *actorError) {
	owner, ok := c.resolve(nm.owner)
	if !ok || owner.Kind != ActorAccount {
		return nil, fail(exitcode.ErrIllegalArgument, "unable to resolve owner address %s to an account", nm.owner)
	}
	worker, ok := c.resolve(nm.worker)
	if !ok || worker.Kind != ActorAccount {
		return nil, fail(exitcode.ErrIllegalArgument, "worker address %s must be an account", nm.worker)
	}
	if !windowPoStProofAllowed(nm.postType) {
		return nil, fail(exitcode.ErrIllegalArgument, "proof type %d not allowed for new miner actors", nm.postType)
	}
	if len(nm.peer) > maxPeerIDLength {
		return nil, fail(exitcode.ErrIllegalArgument, "peer ID size of %d exceeds maximum size of %d", len(nm.peer), maxPeerIDLength)
	}
	total := 0
	for _, ma := range nm.multiaddrs {
		if len(ma) == 0 {
			return nil, fail(exitcode.ErrIllegalArgument, "invalid empty multiaddr")
		}
		total += len(ma)
	}
	if total > maxMultiaddrBytes {
		return nil, fail(exitcode.ErrIllegalArgument, "multiaddr size of %d exceeds maximum of %d", total, maxMultiaddrBytes)
	}
	size, err := nm.postType.SectorSize()
	if err != nil {
		return nil, fail(exitcode.ErrIllegalArgument, "proof type %d: %v", nm.postType, err)
	}
	partition := c.st.PartitionSectors
	if partition == 0 {
		if partition, err = builtin.PoStProofWindowPoStPartitionSectors(nm.postType); err != nil {
			return nil, fail(exitcode.ErrIllegalArgument, "proof type %d: %v", nm.postType, err)
		}
	}
	m := &minerState{
		ID:                  nm.id,
		Owner:               owner.ID,
		Worker:              worker.ID,
		Control:             []abi.ActorID{},
		PeerID:              nm.peer,
		Multiaddrs:          nm.multiaddrs,
		WindowPoStProofType: nm.postType,
		SectorSize:          size,
		PartitionSectors:    partition,
		ProvingPeriodOffset: provingPeriodOffset(nm.id),
		CreatedAt:           nm.epoch,
		PreCommits:          map[abi.SectorNumber]*miner.SectorPreCommitOnChainInfo{},
		Allocated:           bitfield.New(),
		Sectors:             map[abi.SectorNumber]*sectorState{},
		Deadlines:           make([]*deadlineState, miner.WPoStPeriodDeadlines),
	}
	for i := range m.Deadlines {
		m.Deadlines[i] = &deadlineState{}
	}
	c.addActor(&actor{ID: nm.id, Kind: ActorMiner, Address: nm.robust, Balance: zeroIfNil(nm.balance)})
	c.st.Miners[nm.id] = m
	if !c.replaying {
		log.Infow("miner created", "miner", idAddress(nm.id), "sectorSize", size, "partitionSectors", partition, "provingPeriodOffset", m.ProvingPeriodOffset)
	}
	return m, nil
}

// powerCreateMiner is the power actor's CreateMiner: the message's value
// moves on to the new miner.
func (c *Chain) powerCreateMiner(cl *call) ([]byte, *actorError) {
	var p power.CreateMinerParams
	if err := decodeParams(cl.params, &p); err != nil {
		return nil, err
	}
	robust := actorAddress(cl.origin, cl.nonce, 0)
	m, err := c.createMiner(newMiner{
		id: c.freeID(firstMinerID), robust: robust, owner: p.Owner, worker: p.Worker,
		postType: p.WindowPoStProofType, peer: p.Peer, multiaddrs: p.Multiaddrs,
		epoch: cl.epoch, balance: cl.value,
	})
	if err != nil {
		return nil, err
	}
	pw := c.st.Actors[powerActorID]
	pw.Balance = big.Sub(pw.Balance, cl.value)
	return encodeReturn(&power.CreateMinerReturn{IDAddress: idAddress(m.ID), RobustAddress: robust}), nil
}

// CreateMiner pre-creates a miner actor owned and worked by the devnet
// wallet's default address (damocles-devnet's --miner ID:SIZE), with the
// V1_1 window PoSt type of the sector size. id 0 takes the first free id
// from 1000. Creating a miner that exists with the same size and owner
// returns it, so a restarted devnet can be given the same flags.
func (c *Chain) CreateMiner(id abi.ActorID, size abi.SectorSize) (address.Address, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	postType, err := windowPoStProofForSize(size)
	if err != nil {
		return address.Undef, err
	}
	owner := c.st.Actors[c.byAddress[walletAddress(c.st.Seed, 0)]]
	if id == 0 {
		id = c.freeID(firstMinerID)
	}
	if id < firstMinerID {
		return address.Undef, fmt.Errorf("miner id %d: miner ids start at %d", id, firstMinerID)
	}
	if existing, ok := c.st.Actors[id]; ok {
		m := c.st.Miners[id]
		if existing.Kind == ActorMiner && m.SectorSize == size && m.Owner == owner.ID {
			return idAddress(id), nil
		}
		return address.Undef, fmt.Errorf("actor %s already exists and is not a %s miner of the devnet wallet", idAddress(id), size.ShortString())
	}
	_, aerr := c.createMiner(newMiner{
		id: id, robust: actorAddress(owner.Address, math.MaxUint64, uint64(id)),
		owner: idAddress(owner.ID), worker: idAddress(owner.ID), postType: postType,
		epoch: c.st.Height, balance: big.Zero(),
	})
	if aerr != nil {
		return address.Undef, fmt.Errorf("create miner %s: %s", idAddress(id), aerr.msg)
	}
	return idAddress(id), c.persistNow()
}

func windowPoStProofForSize(size abi.SectorSize) (abi.RegisteredPoStProof, error) {
	for p := abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1; p <= abi.RegisteredPoStProof_StackedDrgWindow64GiBV1_1; p++ {
		if s, err := p.SectorSize(); err == nil && s == size {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no window PoSt proof for sector size %d: use 2KiB, 8MiB, 512MiB, 32GiB or 64GiB", size)
}

// MinerPower is a miner's power and the network's (StateMinerPower). Power
// is raw bytes of proven, non-faulty sectors; the devnet's sectors hold no
// verified deals, so quality-adjusted power equals raw power.
type MinerPower struct {
	MinerRaw, MinerQA abi.StoragePower
	TotalRaw, TotalQA abi.StoragePower
	// HasMinPower is true for any miner with power: the devnet has no
	// consensus minimum.
	HasMinPower bool
}

// Power reports a miner's power.
func (c *Chain) Power(maddr address.Address) (MinerPower, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.miner(maddr)
	if err != nil {
		return MinerPower{}, err
	}
	total := big.Zero()
	for _, other := range c.st.Miners {
		total = big.Add(total, other.power())
	}
	mine := m.power()
	return MinerPower{MinerRaw: mine, MinerQA: mine, TotalRaw: total, TotalQA: total, HasMinPower: mine.GreaterThan(big.Zero())}, nil
}

func (m *minerState) power() abi.StoragePower {
	var n uint64
	for _, s := range m.Sectors {
		if s.live() && !s.Faulty && !s.Unproven {
			n++
		}
	}
	return big.Mul(big.NewIntUnsigned(n), big.NewIntUnsigned(uint64(m.SectorSize)))
}
