package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	actorstypes "github.com/filecoin-project/go-state-types/actors"
	"github.com/filecoin-project/go-state-types/big"
	miner "github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/google/uuid"
	"github.com/ipfs/go-cid"
	"golang.org/x/crypto/blake2b"
)

// ActorsVersion is the builtin-actors version whose go-state-types types
// this package uses (builtin/v19: miner sector infos, power.CreateMiner).
// It is the newest one in go-state-types v0.19.0, so these types decode
// what the newest nodes return; their CBOR and JSON shapes are the same
// since v16 (network version 25), so older nodes decode as well.
const ActorsVersion = actorstypes.Version19

// NetworkVersion is the network version that runs ActorsVersion (Solstice).
// The devnet reports it; the manager asks the node (StateNetworkVersion)
// rather than assuming it.
const NetworkVersion = network.Version29

// The miner actor types of ActorsVersion that the API returns, named here
// so that callers need not import a versioned go-state-types package.
type (
	SectorOnChainInfo          = miner.SectorOnChainInfo
	SectorPreCommitOnChainInfo = miner.SectorPreCommitOnChainInfo
	SectorPreCommitInfo        = miner.SectorPreCommitInfo
	BeneficiaryTerm            = miner.BeneficiaryTerm
	PendingBeneficiaryChange   = miner.PendingBeneficiaryChange
)

// TipSetKey identifies a tipset by the CIDs of its blocks, in the tipset's
// order. It is comparable, so it can key a map. Its JSON is Lotus's: an
// array of CID objects ([] for the empty key, which API methods read as
// "the current head").
type TipSetKey struct {
	// value is the concatenated binary CIDs, as Lotus keeps it.
	value string
}

// EmptyTSK is the empty key: API methods given it use the current head.
var EmptyTSK = TipSetKey{}

// NewTipSetKey makes the key of the blocks with these CIDs.
func NewTipSetKey(cids ...cid.Cid) TipSetKey {
	var b strings.Builder
	for _, c := range cids {
		b.Write(c.Bytes())
	}
	return TipSetKey{value: b.String()}
}

// Cids returns the block CIDs of the key.
func (k TipSetKey) Cids() []cid.Cid {
	data := []byte(k.value)
	cids := []cid.Cid{}
	for len(data) > 0 {
		n, c, err := cid.CidFromBytes(data)
		if err != nil {
			// value only ever holds c.Bytes() of valid CIDs.
			panic(fmt.Sprintf("chain: corrupt TipSetKey: %v", err))
		}
		cids = append(cids, c)
		data = data[n:]
	}
	return cids
}

// IsEmpty tells whether k is EmptyTSK.
func (k TipSetKey) IsEmpty() bool { return k.value == "" }

// Bytes returns the concatenated binary CIDs (Lotus's TipSetKey.Bytes).
func (k TipSetKey) Bytes() []byte { return []byte(k.value) }

// String formats the key as Lotus does: {cid1,cid2}.
func (k TipSetKey) String() string {
	cids := k.Cids()
	s := make([]string, len(cids))
	for i, c := range cids {
		s[i] = c.String()
	}
	return "{" + strings.Join(s, ",") + "}"
}

func (k TipSetKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(k.Cids())
}

func (k *TipSetKey) UnmarshalJSON(b []byte) error {
	var cids []cid.Cid
	if err := json.Unmarshal(b, &cids); err != nil {
		return fmt.Errorf("tipset key: %w", err)
	}
	*k = NewTipSetKey(cids...)
	return nil
}

// TipSet is a set of blocks at one height with the same parents. Its JSON
// is Lotus's: {"Cids":[...],"Blocks":[...],"Height":N}.
type TipSet struct {
	Cids   []cid.Cid
	Blocks []*BlockHeader
	Height abi.ChainEpoch
}

// NewTipSet makes a tipset of blocks, ordered and keyed as Lotus does: by
// the blake2b-256 of each block's ticket, ties broken by block CID. The
// blocks must share height and parents.
func NewTipSet(blocks []*BlockHeader) (*TipSet, error) {
	if len(blocks) == 0 {
		return nil, fmt.Errorf("new tipset: no blocks")
	}
	type keyed struct {
		blk    *BlockHeader
		cid    cid.Cid
		ticket [32]byte
	}
	ks := make([]keyed, len(blocks))
	parents := NewTipSetKey(blocks[0].Parents...)
	for i, b := range blocks {
		if b.Height != blocks[0].Height {
			return nil, fmt.Errorf("new tipset: block %d is at height %d, block 0 at %d", i, b.Height, blocks[0].Height)
		}
		if NewTipSetKey(b.Parents...) != parents {
			return nil, fmt.Errorf("new tipset: block %d has other parents than block 0", i)
		}
		c, err := b.Cid()
		if err != nil {
			return nil, fmt.Errorf("new tipset: block %d: %w", i, err)
		}
		ks[i] = keyed{blk: b, cid: c}
		if b.Ticket != nil {
			ks[i].ticket = blake2b.Sum256(b.Ticket.VRFProof)
		}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if c := bytes.Compare(ks[i].ticket[:], ks[j].ticket[:]); c != 0 {
			return c < 0
		}
		return bytes.Compare(ks[i].cid.Bytes(), ks[j].cid.Bytes()) < 0
	})
	ts := &TipSet{Height: blocks[0].Height}
	for _, k := range ks {
		ts.Blocks = append(ts.Blocks, k.blk)
		ts.Cids = append(ts.Cids, k.cid)
	}
	return ts, nil
}

// Key returns the tipset's key.
func (ts *TipSet) Key() TipSetKey { return NewTipSetKey(ts.Cids...) }

// Parents returns the key of the parent tipset (EmptyTSK for a tipset
// without blocks, which no real node returns).
func (ts *TipSet) Parents() TipSetKey {
	if len(ts.Blocks) == 0 {
		return EmptyTSK
	}
	return NewTipSetKey(ts.Blocks[0].Parents...)
}

// MinTimestamp is the tipset's timestamp (Unix seconds): the smallest of
// its blocks', which are all equal on a valid chain.
func (ts *TipSet) MinTimestamp() uint64 {
	var least uint64
	for i, b := range ts.Blocks {
		if i == 0 || b.Timestamp < least {
			least = b.Timestamp
		}
	}
	return least
}

// Ticket is a block's VRF ticket.
type Ticket struct {
	VRFProof []byte
}

// ElectionProof proves a block's miner won the election, WinCount times.
type ElectionProof struct {
	WinCount int64
	VRFProof []byte
}

// BeaconEntry is a drand beacon round carried by a block.
type BeaconEntry struct {
	Round uint64
	Data  []byte
}

// BlockHeader is Lotus's block header, fields in Lotus's (CBOR tuple)
// order; Cid hashes them as Lotus does.
type BlockHeader struct {
	Miner                 address.Address
	Ticket                *Ticket
	ElectionProof         *ElectionProof
	BeaconEntries         []BeaconEntry
	WinPoStProof          []proof.PoStProof
	Parents               []cid.Cid
	ParentWeight          big.Int
	Height                abi.ChainEpoch
	ParentStateRoot       cid.Cid
	ParentMessageReceipts cid.Cid
	Messages              cid.Cid
	BLSAggregate          *crypto.Signature
	Timestamp             uint64
	BlockSig              *crypto.Signature
	ForkSignaling         uint64
	ParentBaseFee         abi.TokenAmount
}

// Message is an unsigned Filecoin message. Its JSON is Lotus's, which adds
// a "CID" key on output (ignored on input).
type Message struct {
	Version    uint64
	To         address.Address
	From       address.Address
	Nonce      uint64
	Value      abi.TokenAmount
	GasLimit   int64
	GasFeeCap  abi.TokenAmount
	GasPremium abi.TokenAmount
	Method     abi.MethodNum
	Params     []byte
}

// rawMessage has Message's fields without its MarshalJSON.
type rawMessage Message

func (m Message) MarshalJSON() ([]byte, error) {
	c, err := m.Cid()
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		*rawMessage
		CID cid.Cid
	}{(*rawMessage)(&m), c})
}

// SignedMessage is a message with its sender's signature. Its JSON, like
// Lotus's, adds a "CID" key on output.
type SignedMessage struct {
	Message   Message
	Signature crypto.Signature
}

// rawSignedMessage has SignedMessage's fields without its MarshalJSON.
type rawSignedMessage SignedMessage

func (sm SignedMessage) MarshalJSON() ([]byte, error) {
	c, err := sm.Cid()
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		*rawSignedMessage
		CID cid.Cid
	}{(*rawSignedMessage)(&sm), c})
}

// MessageSendSpec modifies how MpoolPushMessage sends a message.
type MessageSendSpec struct {
	// MaxFee caps the fee the node may set; zero lets it choose.
	MaxFee abi.TokenAmount
	// MsgUuid, when not nil, lets the node refuse a second push of the
	// same message.
	MsgUuid uuid.UUID
	// MaximizeFeeCap sets the fee cap from MaxFee alone.
	MaximizeFeeCap bool
}

// MessageReceipt is the result of executing a message.
type MessageReceipt struct {
	ExitCode   exitcode.ExitCode
	Return     []byte
	GasUsed    int64
	EventsRoot *cid.Cid
}

// MsgLookup says where a message was executed and what it returned.
type MsgLookup struct {
	// Message is the executed message's CID: another one than the one
	// waited for when a replacing message (same nonce, other gas) was
	// executed and replacement was allowed.
	Message cid.Cid
	Receipt MessageReceipt
	// ReturnDec is Receipt.Return decoded by the node, as JSON it chose.
	ReturnDec any
	// TipSet is the tipset the message was included in; Height is its height.
	TipSet TipSetKey
	Height abi.ChainEpoch
}

// The kinds of HeadChange.
const (
	// HCCurrent gives the head at the start of a stream, or after the
	// receiver lost events: forget what was known and start from Val.
	HCCurrent = "current"
	// HCApply adds Val to the chain, as the new head.
	HCApply = "apply"
	// HCRevert removes Val, the head, from the chain.
	HCRevert = "revert"
)

// HeadChange is one change of the chain head, as ChainNotify sends it.
type HeadChange struct {
	Type string
	Val  *TipSet
}

// MinerInfo is a miner actor's static information (Lotus api.MinerInfo).
type MinerInfo struct {
	Owner                      address.Address
	Worker                     address.Address
	NewWorker                  address.Address
	ControlAddresses           []address.Address
	WorkerChangeEpoch          abi.ChainEpoch
	PeerId                     *string // Lotus's spelling, which is the JSON key
	Multiaddrs                 []abi.Multiaddrs
	WindowPoStProofType        abi.RegisteredPoStProof
	SectorSize                 abi.SectorSize
	WindowPoStPartitionSectors uint64
	ConsensusFaultElapsed      abi.ChainEpoch
	PendingOwnerAddress        *address.Address
	Beneficiary                address.Address
	BeneficiaryTerm            *BeneficiaryTerm
	PendingBeneficiaryTerm     *PendingBeneficiaryChange
}

// Partition is the sector sets of one partition of a deadline.
type Partition struct {
	AllSectors        bitfield.BitField
	FaultySectors     bitfield.BitField
	RecoveringSectors bitfield.BitField
	LiveSectors       bitfield.BitField
	ActiveSectors     bitfield.BitField
}

// Deadline is what StateMinerDeadlines tells of one deadline.
type Deadline struct {
	// PostSubmissions has a bit set for each partition proven in the
	// current challenge window.
	PostSubmissions      bitfield.BitField
	DisputableProofCount uint64
	DailyFee             abi.TokenAmount
}

// NetworkParams are the network's constants (Lotus api.NetworkParams,
// StateGetNetworkParams).
type NetworkParams struct {
	NetworkName             string
	BlockDelaySecs          uint64
	ConsensusMinerMinPower  abi.StoragePower
	SupportedProofTypes     []abi.RegisteredSealProof
	PreCommitChallengeDelay abi.ChainEpoch
	ForkUpgradeParams       ForkUpgradeParams
	Eip155ChainID           int
}

// ForkUpgradeParams are the heights of the network upgrades (Lotus
// api.ForkUpgradeParams). Lotus adds a field per upgrade; the ones after
// Watermelon are left out here and ignored when decoding, as damocles
// needs none of them.
type ForkUpgradeParams struct {
	UpgradeSmokeHeight       abi.ChainEpoch
	UpgradeBreezeHeight      abi.ChainEpoch
	UpgradeIgnitionHeight    abi.ChainEpoch
	UpgradeLiftoffHeight     abi.ChainEpoch
	UpgradeAssemblyHeight    abi.ChainEpoch
	UpgradeRefuelHeight      abi.ChainEpoch
	UpgradeTapeHeight        abi.ChainEpoch
	UpgradeKumquatHeight     abi.ChainEpoch
	BreezeGasTampingDuration abi.ChainEpoch
	UpgradeCalicoHeight      abi.ChainEpoch
	UpgradePersianHeight     abi.ChainEpoch
	UpgradeOrangeHeight      abi.ChainEpoch
	UpgradeClausHeight       abi.ChainEpoch
	UpgradeTrustHeight       abi.ChainEpoch
	UpgradeNorwegianHeight   abi.ChainEpoch
	UpgradeTurboHeight       abi.ChainEpoch
	UpgradeHyperdriveHeight  abi.ChainEpoch
	UpgradeChocolateHeight   abi.ChainEpoch
	UpgradeOhSnapHeight      abi.ChainEpoch
	UpgradeSkyrHeight        abi.ChainEpoch
	UpgradeSharkHeight       abi.ChainEpoch
	UpgradeHyggeHeight       abi.ChainEpoch
	UpgradeLightningHeight   abi.ChainEpoch
	UpgradeThunderHeight     abi.ChainEpoch
	UpgradeWatermelonHeight  abi.ChainEpoch
}
