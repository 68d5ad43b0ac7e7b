package devnet

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	actorstypes "github.com/filecoin-project/go-state-types/actors"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
	logging "github.com/ipfs/go-log/v2"
)

var log = logging.Logger("devnet")

// BuiltinActorsVersion is the builtin-actors version whose miner and power
// parameter, return and state types (go-state-types builtin/v19) the
// devnet's messages and queries use.
const BuiltinActorsVersion = actorstypes.Version19

// NetworkVersion is the network version that runs BuiltinActorsVersion.
const NetworkVersion = network.Version29

// SeedDefault is the seed of a chain whose Config.Seed is empty.
const SeedDefault = "damocles-devnet"

// PreCommitChallengeDelayDefault is the real chain's delay between a
// pre-commit and its interactive seed.
const PreCommitChallengeDelayDefault = abi.ChainEpoch(150)

// Verifier is the proof system the chain calls, as actors call the
// runtime's proof syscalls: internal/proofs.DevEngine implements it. The
// devnet judges every PoRep and WindowPoSt with it. Verify methods return
// (false, nil) for a proof that does not verify and an error for malformed
// input; the devnet rejects both.
type Verifier interface {
	VerifySeal(info proof.SealVerifyInfo) (bool, error)
	VerifyWindowPoSt(info proof.WindowPoStVerifyInfo) (bool, error)
	// GenerateUnsealedCID is comm_d of a sector holding pieces (none: a CC
	// sector), which activation checks against the pre-committed one.
	GenerateUnsealedCID(proofType abi.RegisteredSealProof, pieces []abi.PieceInfo) (cid.Cid, error)
}

// Config configures a chain. Only Verifier is required.
type Config struct {
	// Home is the directory holding the chain's state; "" keeps the chain
	// in memory only. A chain found there is continued.
	Home string
	// Seed drives all randomness and the tipset keys; "" is SeedDefault.
	// A continued chain keeps its seed and refuses a different one.
	Seed string
	// PreCommitChallengeDelay is the number of epochs between a pre-commit
	// and the epoch of its interactive seed; 0 is the real 150.
	PreCommitChallengeDelay abi.ChainEpoch
	// PartitionSectors overrides the WindowPoSt partition size of miners
	// created from now on (scale tests with small sectors); 0 keeps the
	// real size of each proof type.
	PartitionSectors uint64
	// GenesisTime is the timestamp of epoch 0 of a new chain; zero is the
	// Unix epoch. A continued chain keeps its own.
	GenesisTime time.Time
	// Verifier judges every proof.
	Verifier Verifier
}

// TipSet is the chain at one epoch: one block per epoch, so its key is one
// CID.
type TipSet struct {
	Height abi.ChainEpoch
	// Key is the CID of the tipset's only block.
	Key cid.Cid
	// Parent is the key of the tipset at Height-1; undefined at genesis.
	Parent cid.Cid
	// Time is when the tipset was mined, as given to AdvanceEpoch.
	Time time.Time
	// Ticket and Beacon are the bases of ticket and beacon randomness at
	// Height: stand-ins for the block's VRF ticket and drand entry.
	Ticket []byte
	Beacon []byte
}

// Chain is the simulated chain. All methods are safe for concurrent use:
// one mutex guards the state, and proof verification runs under it, so a
// message's verdict and the state it changes are never observed apart.
type Chain struct {
	mu       sync.Mutex
	verifier Verifier
	st       *chainState
	// times[h] is the Unix millisecond timestamp of the tipset at h.
	times []int64
	// keys[h] is the key of the tipset at h, filled in order by key.
	keys []cid.Cid
	// byAddress resolves robust (key and actor) addresses to actor ids;
	// byCid finds pending and executed messages by unsigned or signed CID.
	byAddress map[address.Address]abi.ActorID
	byCid     map[cid.Cid]*msgRecord
	// headChanged is closed, and replaced, whenever the head moves.
	headChanged chan struct{}
	store       *store
	// replaying is set while the chain re-executes its write-ahead log at
	// load: nothing is persisted or logged again.
	replaying bool
	closed    bool
}

// New opens the chain in cfg.Home, or creates its genesis: the devnet
// wallet's first account (funded), and the power actor.
func New(cfg Config) (*Chain, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("devnet: Config.Verifier is required: the devnet verifies every proof")
	}
	if cfg.PreCommitChallengeDelay < 0 {
		return nil, fmt.Errorf("devnet: PreCommitChallengeDelay %d is negative", cfg.PreCommitChallengeDelay)
	}
	c := &Chain{
		verifier:    cfg.Verifier,
		byAddress:   map[address.Address]abi.ActorID{},
		byCid:       map[cid.Cid]*msgRecord{},
		headChanged: make(chan struct{}),
	}
	if cfg.Home != "" {
		s, err := openStore(cfg.Home)
		if err != nil {
			return nil, err
		}
		c.store = s
		loaded, err := c.load(cfg)
		if err != nil {
			s.close()
			return nil, err
		}
		if loaded {
			return c, nil
		}
	}
	if err := c.genesis(cfg); err != nil {
		if c.store != nil {
			c.store.close()
		}
		return nil, err
	}
	return c, nil
}

func (c *Chain) genesis(cfg Config) error {
	seed := cfg.Seed
	if seed == "" {
		seed = SeedDefault
	}
	delay := cfg.PreCommitChallengeDelay
	if delay == 0 {
		delay = PreCommitChallengeDelayDefault
	}
	c.st = newChainState(seed, delay, cfg.PartitionSectors)
	genesisTime := cfg.GenesisTime
	if genesisTime.IsZero() {
		genesisTime = time.Unix(0, 0)
	}
	c.times = []int64{genesisTime.UnixMilli()}
	c.addActor(&actor{ID: powerActorID, Kind: ActorPower, Balance: big.Zero()})
	c.newWalletAccount()
	if c.store != nil {
		if err := c.store.appendEpoch(c.times[0]); err != nil {
			return err
		}
		return c.snapshot()
	}
	return nil
}

// Close writes a final snapshot and releases the home. The chain must not
// be used afterwards.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.store == nil {
		return nil
	}
	err := c.snapshot()
	if cerr := c.store.close(); err == nil {
		err = cerr
	}
	return err
}

// NetworkVersion is the chain's network version, NetworkVersion.
func (c *Chain) NetworkVersion() network.Version { return NetworkVersion }

// PreCommitChallengeDelay is the chain's delay between pre-commit and
// interactive seed.
func (c *Chain) PreCommitChallengeDelay() abi.ChainEpoch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.PreCommitChallengeDelay
}

// Head is the tipset at the current height.
func (c *Chain) Head() TipSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tipset(c.st.Height)
}

// TipSetAt is the tipset at height h, which must not be after the head.
func (c *Chain) TipSetAt(h abi.ChainEpoch) (TipSet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h < 0 || h > c.st.Height {
		return TipSet{}, fmt.Errorf("no tipset at height %d: the chain is at %d", h, c.st.Height)
	}
	return c.tipset(h), nil
}

func (c *Chain) tipset(h abi.ChainEpoch) TipSet {
	ts := TipSet{
		Height: h,
		Key:    c.key(h),
		Time:   time.UnixMilli(c.times[h]),
		Ticket: ticketBase(c.st.Seed, h),
		Beacon: beaconBase(c.st.Seed, h),
	}
	if h > 0 {
		ts.Parent = c.key(h - 1)
	}
	return ts
}

// HeadChanged returns a channel that is closed when the head moves past
// the one current at the call: a server's StateWaitMsg and ChainNotify wait
// on it instead of polling.
func (c *Chain) HeadChanged() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headChanged
}

// AdvanceEpoch mines the next tipset at time now: it executes every message
// pushed before the call (a message executes in the epoch after the one it
// was pushed at), runs the deadline cron for the deadlines whose window
// ends with this epoch, and persists. An error means the new tipset could
// not be persisted; the chain in memory has moved on regardless, and the
// caller should stop it.
func (c *Chain) AdvanceEpoch(now time.Time) (TipSet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return TipSet{}, errors.New("devnet: chain is closed")
	}
	c.advance(now.UnixMilli())
	var err error
	if c.store != nil && !c.replaying {
		err = c.persistEpoch()
	}
	close(c.headChanged)
	c.headChanged = make(chan struct{})
	return c.tipset(c.st.Height), err
}

// advance is AdvanceEpoch's state transition, also run when replaying the
// write-ahead log: it depends only on the state, the pending messages and
// the timestamp.
func (c *Chain) advance(unixMilli int64) {
	epoch := c.st.Height + 1
	pending := c.st.Pending
	c.st.Pending = nil
	// The height moves first: actors running in this epoch may draw
	// randomness up to it, as on a real chain.
	c.st.Height = epoch
	c.times = append(c.times, unixMilli)
	for _, rec := range pending {
		c.execute(rec, epoch)
		c.st.Executed = append(c.st.Executed, rec)
	}
	c.runCron(epoch)
}
