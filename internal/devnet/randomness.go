package devnet

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"
	"golang.org/x/crypto/blake2b"
)

// Randomness follows Lotus: a value is drawn from a per-epoch base (the
// ticket's VRF proof, or the beacon entry's data) exactly as Lotus's
// DrawRandomnessFromBase does:
//
//	blake2b-256( int64 BE tag || blake2b-256(base) || int64 BE epoch || entropy )
//
// The bases stand in for the VRF and drand outputs of a real chain: they
// are blake2b-256 of a stream label, the seed and the epoch, two separate
// streams, so the same seed always gives the same chain.

// ticketBase is the "VRF proof" of the block at epoch: the base of ticket
// (chain) randomness.
func ticketBase(seed string, epoch abi.ChainEpoch) []byte {
	return streamValue("damocles-devnet/ticket", seed, epoch)
}

// beaconBase is the "beacon entry" of epoch: the base of beacon randomness.
func beaconBase(seed string, epoch abi.ChainEpoch) []byte {
	return streamValue("damocles-devnet/beacon", seed, epoch)
}

func streamValue(label, seed string, epoch abi.ChainEpoch) []byte {
	h, _ := blake2b.New256(nil)
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write([]byte(seed))
	h.Write([]byte{0})
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(epoch))
	h.Write(e[:])
	return h.Sum(nil)
}

func drawRandomness(base []byte, tag crypto.DomainSeparationTag, epoch abi.ChainEpoch, entropy []byte) abi.Randomness {
	h, _ := blake2b.New256(nil)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(int64(tag)))
	h.Write(n[:])
	digest := blake2b.Sum256(base)
	h.Write(digest[:])
	binary.BigEndian.PutUint64(n[:], uint64(epoch))
	h.Write(n[:])
	h.Write(entropy)
	return h.Sum(nil)
}

// ticketRandomness is chain randomness at epoch. Like Lotus, an epoch
// before genesis draws from genesis's base (the epoch still enters the
// hash), and an epoch after the head is refused.
func (c *Chain) ticketRandomness(tag crypto.DomainSeparationTag, epoch abi.ChainEpoch, entropy []byte) (abi.Randomness, error) {
	if epoch > c.st.Height {
		return nil, fmt.Errorf("cannot draw randomness from the future: epoch %d is after the head %d", epoch, c.st.Height)
	}
	return drawRandomness(ticketBase(c.st.Seed, max(epoch, 0)), tag, epoch, entropy), nil
}

// beaconRandomness is beacon randomness at epoch, under the same rules.
func (c *Chain) beaconRandomness(tag crypto.DomainSeparationTag, epoch abi.ChainEpoch, entropy []byte) (abi.Randomness, error) {
	if epoch > c.st.Height {
		return nil, fmt.Errorf("cannot draw randomness from the future: epoch %d is after the head %d", epoch, c.st.Height)
	}
	return drawRandomness(beaconBase(c.st.Seed, max(epoch, 0)), tag, epoch, entropy), nil
}

// TicketRandomness is Lotus's StateGetRandomnessFromTickets at the head.
func (c *Chain) TicketRandomness(tag crypto.DomainSeparationTag, epoch abi.ChainEpoch, entropy []byte) (abi.Randomness, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ticketRandomness(tag, epoch, entropy)
}

// BeaconRandomness is Lotus's StateGetRandomnessFromBeacon at the head.
func (c *Chain) BeaconRandomness(tag crypto.DomainSeparationTag, epoch abi.ChainEpoch, entropy []byte) (abi.Randomness, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beaconRandomness(tag, epoch, entropy)
}

// AddressEntropy is the entropy actors mix into a miner's randomness: the
// CBOR encoding of its address (as the miner actor serializes its
// receiver). Managers pass the same bytes to the randomness calls.
func AddressEntropy(a address.Address) []byte {
	var buf bytes.Buffer
	if err := a.MarshalCBOR(&buf); err != nil {
		panic(fmt.Sprintf("devnet: encode address %s: %v", a, err))
	}
	return buf.Bytes()
}

// tipsetCid is a CID standing for the state at epoch (the state, receipt
// and message roots of its block): a dag-cbor block holding the label, the
// seed and the epoch.
func tipsetCid(seed string, epoch abi.ChainEpoch) cid.Cid {
	var buf bytes.Buffer
	cw := cbg.NewCborWriter(&buf)
	const label = "damocles-devnet/tipset"
	err := cw.WriteMajorTypeHeader(cbg.MajArray, 3)
	if err == nil {
		err = cw.WriteMajorTypeHeader(cbg.MajTextString, uint64(len(label)))
	}
	if err == nil {
		_, err = cw.WriteString(label)
	}
	if err == nil {
		err = cw.WriteMajorTypeHeader(cbg.MajTextString, uint64(len(seed)))
	}
	if err == nil {
		_, err = cw.WriteString(seed)
	}
	if err == nil {
		err = writeInt64(cw, int64(epoch))
	}
	if err != nil {
		panic(fmt.Sprintf("devnet: encode tipset: %v", err))
	}
	c, err := abi.CidBuilder.Sum(buf.Bytes())
	if err != nil {
		panic(fmt.Sprintf("devnet: tipset root CID: %v", err))
	}
	return c
}

// writeInt64 writes a CBOR integer, major type 0 or 1 by sign.
func writeInt64(cw *cbg.CborWriter, v int64) error {
	if v >= 0 {
		return cw.WriteMajorTypeHeader(cbg.MajUnsignedInt, uint64(v))
	}
	return cw.WriteMajorTypeHeader(cbg.MajNegativeInt, uint64(-v-1))
}
