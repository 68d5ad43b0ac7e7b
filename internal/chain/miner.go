package chain

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	power "github.com/filecoin-project/go-state-types/builtin/v19/power"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/ipfs/go-cid"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

// The power actor's CreateMiner types at ActorsVersion.
type (
	CreateMinerParams = power.CreateMinerParams
	CreateMinerReturn = power.CreateMinerReturn
)

// CreateMinerRequest says which miner actor `util miner create` creates.
type CreateMinerRequest struct {
	// From is the wallet address (in the node's wallet) that signs and pays for the message.
	From address.Address
	// Owner is the miner's owner; address.Undef means From's ID address.
	Owner address.Address
	// Worker is the miner's worker; address.Undef means From's ID address.
	Worker address.Address
	// SectorSize is the size of the miner's sectors, which fixes its window PoSt proof type.
	SectorSize abi.SectorSize
	// PeerID is the miner's libp2p peer ID ("12D3KooW...", "Qm..." or its CID form); empty for none.
	PeerID string
	// Multiaddrs are the miner's libp2p addresses ("/ip4/1.2.3.4/tcp/24001").
	Multiaddrs []string
}

// v1_1SealProofs are the seal proof types of current networks, one per
// sector size; a new miner's window PoSt type derives from them.
var v1_1SealProofs = []abi.RegisteredSealProof{
	abi.RegisteredSealProof_StackedDrg2KiBV1_1,
	abi.RegisteredSealProof_StackedDrg8MiBV1_1,
	abi.RegisteredSealProof_StackedDrg512MiBV1_1,
	abi.RegisteredSealProof_StackedDrg32GiBV1_1,
	abi.RegisteredSealProof_StackedDrg64GiBV1_1,
}

// WindowPoStProofForSectorSize returns the window PoSt proof type of a new
// miner with sectors of size at network version nv, as Lotus picks it:
// that of the size's V1_1 seal proof, which is a V1_1 window type from
// network version 19 on.
func WindowPoStProofForSectorSize(size abi.SectorSize, nv network.Version) (abi.RegisteredPoStProof, error) {
	var sizes []string
	for _, sp := range v1_1SealProofs {
		s, err := sp.SectorSize()
		if err != nil {
			return 0, err
		}
		if s == size {
			return sp.RegisteredWindowPoStProofByNetworkVersion(nv)
		}
		sizes = append(sizes, s.ShortString())
	}
	return 0, fmt.Errorf("no proof type for sector size %s: use one of %s", size.ShortString(), strings.Join(sizes, ", "))
}

// NewCreateMinerParams builds the power actor's CreateMiner parameters.
// owner and worker must be set; peerID and multiaddrs may be empty.
func NewCreateMinerParams(owner, worker address.Address, size abi.SectorSize, nv network.Version, peerID string, multiaddrs []string) (*CreateMinerParams, error) {
	if owner == address.Undef || worker == address.Undef {
		return nil, fmt.Errorf("create miner: owner and worker must be set")
	}
	proof, err := WindowPoStProofForSectorSize(size, nv)
	if err != nil {
		return nil, fmt.Errorf("create miner: %w", err)
	}
	params := &CreateMinerParams{Owner: owner, Worker: worker, WindowPoStProofType: proof}
	if peerID != "" {
		if params.Peer, err = ParsePeerID(peerID); err != nil {
			return nil, fmt.Errorf("create miner: %w", err)
		}
	}
	for _, s := range multiaddrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("create miner: bad multiaddr %q: %v", s, err)
		}
		params.Multiaddrs = append(params.Multiaddrs, m.Bytes())
	}
	return params, nil
}

// ParsePeerID reads a libp2p peer ID as libp2p writes it (base58
// "12D3KooW..." or "Qm...", or a CIDv1 with the libp2p-key codec) and
// returns its bytes, the multihash that CreateMinerParams.Peer holds.
func ParsePeerID(s string) (abi.PeerID, error) {
	var hash mh.Multihash
	if strings.HasPrefix(s, "Qm") || strings.HasPrefix(s, "1") {
		h, err := mh.FromB58String(s)
		if err != nil {
			return nil, fmt.Errorf("bad peer ID %q: %v", s, err)
		}
		hash = h
	} else {
		c, err := cid.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("bad peer ID %q: not base58 nor a CID: %v", s, err)
		}
		if c.Type() != cid.Libp2pKey {
			return nil, fmt.Errorf("bad peer ID %q: a CID of codec %#x, not libp2p-key", s, c.Type())
		}
		hash = c.Hash()
	}
	return abi.PeerID(hash), nil
}

// PushCreateMiner sends the message that creates the miner actor: owner
// and worker default to From's ID address, the proof type follows the
// node's network version. It returns the signed message, whose Cid
// WaitCreateMiner waits for.
func PushCreateMiner(ctx context.Context, node API, req CreateMinerRequest) (*SignedMessage, error) {
	if req.From == address.Undef {
		return nil, fmt.Errorf("create miner: no sender address (--from)")
	}
	nv, err := node.StateNetworkVersion(ctx, EmptyTSK)
	if err != nil {
		return nil, fmt.Errorf("create miner: get network version: %w", err)
	}
	owner, worker := req.Owner, req.Worker
	if owner == address.Undef || worker == address.Undef {
		id, err := node.StateLookupID(ctx, req.From, EmptyTSK)
		if err != nil {
			return nil, fmt.Errorf("create miner: look up the ID of sender %s (it needs funds on chain first): %w", req.From, err)
		}
		if owner == address.Undef {
			owner = id
		}
		if worker == address.Undef {
			worker = id
		}
	}
	params, err := NewCreateMinerParams(owner, worker, req.SectorSize, nv, req.PeerID, req.Multiaddrs)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := params.MarshalCBOR(&buf); err != nil {
		return nil, fmt.Errorf("create miner: encode params: %w", err)
	}
	msg := &Message{
		To:     builtin.StoragePowerActorAddr,
		From:   req.From,
		Value:  big.Zero(),
		Method: builtin.MethodsPower.CreateMiner,
		Params: buf.Bytes(),
	}
	// Zero gas fields and MaxFee let the node estimate them.
	smsg, err := node.MpoolPushMessage(ctx, msg, &MessageSendSpec{MaxFee: big.Zero()})
	if err != nil {
		return nil, fmt.Errorf("create miner: push message from %s: %w", req.From, err)
	}
	return smsg, nil
}

// WaitCreateMiner waits until the CreateMiner message msg is executed and
// confidence epochs deep, and returns the new miner's addresses. A message
// that failed on chain is an error naming its exit code.
func WaitCreateMiner(ctx context.Context, node API, msg cid.Cid, confidence uint64) (*CreateMinerReturn, error) {
	lookup, err := node.StateWaitMsg(ctx, msg, confidence, LookbackNoLimit, true)
	if err != nil {
		return nil, fmt.Errorf("create miner: wait for message %s: %w", msg, err)
	}
	if lookup == nil {
		return nil, fmt.Errorf("create miner: message %s not found", msg)
	}
	if code := lookup.Receipt.ExitCode; code != 0 {
		return nil, fmt.Errorf("create miner: message %s failed on chain at height %d with exit code %d (%s)",
			lookup.Message, lookup.Height, int64(code), code)
	}
	var ret CreateMinerReturn
	if err := ret.UnmarshalCBOR(bytes.NewReader(lookup.Receipt.Return)); err != nil {
		return nil, fmt.Errorf("create miner: decode the return of message %s: %w", lookup.Message, err)
	}
	return &ret, nil
}
