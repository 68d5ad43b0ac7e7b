package devnet

import (
	"fmt"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/chain"
)

// blockMiner is the address written as the miner of every devnet block:
// the devnet elects nobody, so its blocks name the system actor.
var blockMiner, _ = address.NewIDAddress(0)

// parentBaseFee is the base fee every block reports; the devnet charges
// no gas, but Lotus clients read the field.
var parentBaseFee = big.NewInt(100)

// header is the one block of the tipset at h, as Lotus's API shows it. Its
// CID is the tipset key, so a Lotus client, which recomputes keys from the
// blocks it decodes, agrees with the devnet on every key.
func (c *Chain) header(h abi.ChainEpoch) *chain.BlockHeader {
	var parents []cid.Cid
	if h > 0 {
		parents = []cid.Cid{c.key(h - 1)}
	}
	// State and message roots are stand-ins: the devnet keeps no IPLD
	// state tree, but the fields must hold CIDs.
	root := tipsetCid(c.st.Seed, h)
	ticket := ticketBase(c.st.Seed, h)
	beacon := beaconBase(c.st.Seed, h)
	return &chain.BlockHeader{
		Miner:                 blockMiner,
		Ticket:                &chain.Ticket{VRFProof: ticket},
		ElectionProof:         &chain.ElectionProof{WinCount: 1, VRFProof: beacon},
		BeaconEntries:         []chain.BeaconEntry{{Round: uint64(h), Data: beacon}},
		Parents:               parents,
		ParentWeight:          big.NewInt(int64(h)),
		Height:                h,
		ParentStateRoot:       root,
		ParentMessageReceipts: root,
		Messages:              root,
		BLSAggregate:          &crypto.Signature{Type: crypto.SigTypeBLS, Data: []byte{}},
		Timestamp:             uint64(time.UnixMilli(c.times[h]).Unix()),
		BlockSig:              &crypto.Signature{Type: crypto.SigTypeBLS, Data: ticket},
		ParentBaseFee:         parentBaseFee,
	}
}

// key is the key of the tipset at h (h ≤ height): the CID of its block.
// Keys chain through parents, so they are computed in order and cached;
// load clears the cache when it rewrites the timestamps.
func (c *Chain) key(h abi.ChainEpoch) cid.Cid {
	for abi.ChainEpoch(len(c.keys)) <= h {
		k, err := c.header(abi.ChainEpoch(len(c.keys))).Cid()
		if err != nil {
			panic(fmt.Sprintf("devnet: block CID at height %d: %v", len(c.keys), err))
		}
		c.keys = append(c.keys, k)
	}
	return c.keys[h]
}

// Block is the tipset at h as a Lotus block header (ChainHead,
// ChainGetTipSetByHeight and ChainNotify serve it).
func (c *Chain) Block(h abi.ChainEpoch) (*chain.BlockHeader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h < 0 || h > c.st.Height {
		return nil, fmt.Errorf("no tipset at height %d: the chain is at %d", h, c.st.Height)
	}
	return c.header(h), nil
}
