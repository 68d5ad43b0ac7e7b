package devnet

import (
	"slices"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/ipfs/go-cid"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// chainState is everything the chain knows, in the form it is persisted
// (persist.go): one value, so a snapshot is one JSON document and a restart
// continues exactly where it stopped. Derived indexes live in Chain.
type chainState struct {
	Format int `json:"format"`
	// Seed, PreCommitChallengeDelay and PartitionSectors are the chain's
	// configuration as it was created; a restart keeps them.
	Seed                    string         `json:"seed"`
	PreCommitChallengeDelay abi.ChainEpoch `json:"precommitChallengeDelay"`
	PartitionSectors        uint64         `json:"partitionSectors,omitempty"`

	Height abi.ChainEpoch `json:"height"`
	// WalletKeys is how many wallet keys have been derived from the seed.
	WalletKeys int                         `json:"walletKeys"`
	Actors     map[abi.ActorID]*actor      `json:"actors"`
	Miners     map[abi.ActorID]*minerState `json:"miners"`

	// Pending holds pushed messages in push order; Executed every message
	// the chain has run, in execution order.
	Pending  []*msgRecord `json:"pending"`
	Executed []*msgRecord `json:"executed"`

	// Missed is the chain-wide list of missed partitions, in the order the
	// deadline cron found them.
	Missed []MissedPartition `json:"missed"`
}

// ActorKind says which builtin actor code an actor runs, by its builtin
// actor name.
type ActorKind string

const (
	ActorAccount ActorKind = "account"
	ActorPower   ActorKind = "storagepower"
	ActorMiner   ActorKind = "storageminer"
)

type actor struct {
	ID   abi.ActorID `json:"id"`
	Kind ActorKind   `json:"kind"`
	// Address is the robust address: the key address of an account, the
	// actor address of a miner; undefined for singletons.
	Address address.Address `json:"address"`
	Balance abi.TokenAmount `json:"balance"`
	// Nonce is the next nonce a message from this account must carry.
	Nonce uint64 `json:"nonce"`
	// WalletKey is 1 + the index of the wallet key behind this account, or 0
	// for an account the devnet holds no key for.
	WalletKey int `json:"walletKey,omitempty"`
}

// minerState is a miner actor's state. Sector membership of partitions is
// kept as per-sector flags rather than bitfields: every rule is a loop over
// at most one partition's sectors, a rejected message changes nothing by
// construction (rules validate first, then flip flags), and bitfields are
// built only for queries.
type minerState struct {
	ID                  abi.ActorID             `json:"id"`
	Owner               abi.ActorID             `json:"owner"`
	Worker              abi.ActorID             `json:"worker"`
	Control             []abi.ActorID           `json:"control"`
	PeerID              []byte                  `json:"peerId"`
	Multiaddrs          []abi.Multiaddrs        `json:"multiaddrs"`
	WindowPoStProofType abi.RegisteredPoStProof `json:"windowPoStProofType"`
	SectorSize          abi.SectorSize          `json:"sectorSize"`
	PartitionSectors    uint64                  `json:"partitionSectors"`
	// ProvingPeriodOffset places the miner's proving period: periods start
	// at epochs ≡ offset (mod WPoStProvingPeriod). See provingPeriodOffset.
	ProvingPeriodOffset abi.ChainEpoch `json:"provingPeriodOffset"`
	CreatedAt           abi.ChainEpoch `json:"createdAt"`

	PreCommits map[abi.SectorNumber]*miner.SectorPreCommitOnChainInfo `json:"preCommits"`
	// Allocated holds every sector number ever pre-committed: numbers are
	// never reused.
	Allocated bitfield.BitField                 `json:"allocated"`
	Sectors   map[abi.SectorNumber]*sectorState `json:"sectors"`
	Deadlines []*deadlineState                  `json:"deadlines"`

	Records minerRecords `json:"records"`
}

// sectorState is an activated sector: its on-chain info, where it is
// proven, and its health. Faulty includes Recovering (a recovering sector
// stays faulty until a PoSt proves it); Unproven marks a new sector whose
// first WindowPoSt is still to come.
type sectorState struct {
	Info       *miner.SectorOnChainInfo `json:"info"`
	Deadline   uint64                   `json:"deadline"`
	Partition  uint64                   `json:"partition"`
	Faulty     bool                     `json:"faulty,omitempty"`
	Recovering bool                     `json:"recovering,omitempty"`
	Unproven   bool                     `json:"unproven,omitempty"`
	Terminated bool                     `json:"terminated,omitempty"`
}

func (s *sectorState) live() bool { return !s.Terminated }

// challenged tells whether a WindowPoSt of the sector's partition must
// prove it: live and not faulty, or declared recovering.
func (s *sectorState) challenged() bool { return s.live() && (!s.Faulty || s.Recovering) }

type deadlineState struct {
	Partitions []*partitionState `json:"partitions"`
}

type partitionState struct {
	// Sectors is every sector ever assigned, terminated ones included (the
	// real actor keeps them until compaction), in number order.
	Sectors []abi.SectorNumber `json:"sectors"`
	// Proven is set by an accepted WindowPoSt and cleared at the
	// deadline's close: the deadline's PostSubmissions bit.
	Proven bool `json:"proven,omitempty"`
}

func (p *partitionState) add(n abi.SectorNumber) {
	i, _ := slices.BinarySearch(p.Sectors, n)
	p.Sectors = slices.Insert(p.Sectors, i, n)
}

func (p *partitionState) contains(n abi.SectorNumber) bool {
	_, ok := slices.BinarySearch(p.Sectors, n)
	return ok
}

// msgRecord is a pushed message, and once executed its outcome.
type msgRecord struct {
	Message Message `json:"message"`
	// Signature is the devnet's simulated signature, nil when the sender
	// is not a devnet wallet address.
	Signature *crypto.Signature `json:"signature,omitempty"`
	Cid       cid.Cid           `json:"cid"`
	// SignedCid is the CID of the signed message, as a Lotus client
	// computes it from what MpoolPushMessage returned; undefined when
	// unsigned.
	SignedCid cid.Cid        `json:"signedCid"`
	PushedAt  abi.ChainEpoch `json:"pushedAt"`
	Executed  bool           `json:"executed,omitempty"`
	Epoch     abi.ChainEpoch `json:"epoch,omitempty"`
	Receipt   Receipt        `json:"receipt"`
	Error     string         `json:"error,omitempty"`
}

func newChainState(seed string, delay abi.ChainEpoch, partitionSectors uint64) *chainState {
	return &chainState{
		Format:                  formatVersion,
		Seed:                    seed,
		PreCommitChallengeDelay: delay,
		PartitionSectors:        partitionSectors,
		Actors:                  map[abi.ActorID]*actor{},
		Miners:                  map[abi.ActorID]*minerState{},
	}
}

func zeroIfNil(v abi.TokenAmount) abi.TokenAmount {
	if v.Int == nil {
		return big.Zero()
	}
	return v
}
