package devnet

import (
	"bytes"
	"fmt"
	"io"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	cbg "github.com/whyrusleeping/cbor-gen"
	"golang.org/x/crypto/blake2b"
)

// Message is a Filecoin message as Lotus defines it (chain/types.Message),
// with the same field names, so the server maps it one to one. The devnet
// keeps the gas fields as given and charges nothing.
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

// MarshalCBOR writes the message as Lotus does: a CBOR tuple of its ten
// fields in declaration order.
func (m *Message) MarshalCBOR(w io.Writer) error {
	cw := cbg.NewCborWriter(w)
	if err := cw.WriteMajorTypeHeader(cbg.MajArray, 10); err != nil {
		return err
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajUnsignedInt, m.Version); err != nil {
		return err
	}
	if err := m.To.MarshalCBOR(cw); err != nil {
		return err
	}
	if err := m.From.MarshalCBOR(cw); err != nil {
		return err
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajUnsignedInt, m.Nonce); err != nil {
		return err
	}
	value := zeroIfNil(m.Value)
	if err := value.MarshalCBOR(cw); err != nil {
		return err
	}
	if err := writeInt64(cw, m.GasLimit); err != nil {
		return err
	}
	feeCap, premium := zeroIfNil(m.GasFeeCap), zeroIfNil(m.GasPremium)
	if err := feeCap.MarshalCBOR(cw); err != nil {
		return err
	}
	if err := premium.MarshalCBOR(cw); err != nil {
		return err
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajUnsignedInt, uint64(m.Method)); err != nil {
		return err
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajByteString, uint64(len(m.Params))); err != nil {
		return err
	}
	_, err := cw.Write(m.Params)
	return err
}

func writeInt64(cw *cbg.CborWriter, v int64) error {
	if v >= 0 {
		return cw.WriteMajorTypeHeader(cbg.MajUnsignedInt, uint64(v))
	}
	return cw.WriteMajorTypeHeader(cbg.MajNegativeInt, uint64(-v-1))
}

// Cid is the message's CID as Lotus computes it: CIDv1, dag-cbor,
// blake2b-256 of MarshalCBOR's bytes. For a BLS-signed message it is also
// the signed message's CID.
func (m *Message) Cid() cid.Cid {
	var buf bytes.Buffer
	if err := m.MarshalCBOR(&buf); err != nil {
		// Writing to a bytes.Buffer fails only on a broken address, which
		// Push refuses before computing a CID.
		panic(fmt.Sprintf("devnet: encode message: %v", err))
	}
	return cborCid(buf.Bytes())
}

// SignedCid is the CID of the message signed with sig as Lotus computes
// SignedMessage.Cid: the unsigned CID for BLS, otherwise the CID of the
// CBOR tuple (message, signature).
func (m *Message) SignedCid(sig crypto.Signature) cid.Cid {
	if sig.Type == crypto.SigTypeBLS {
		return m.Cid()
	}
	var buf bytes.Buffer
	cw := cbg.NewCborWriter(&buf)
	err := cw.WriteMajorTypeHeader(cbg.MajArray, 2)
	if err == nil {
		err = m.MarshalCBOR(cw)
	}
	if err == nil {
		err = sig.MarshalCBOR(cw)
	}
	if err != nil {
		panic(fmt.Sprintf("devnet: encode signed message: %v", err))
	}
	return cborCid(buf.Bytes())
}

// cborCid is Filecoin's CID of a dag-cbor block (abi.CidBuilder).
func cborCid(data []byte) cid.Cid {
	digest := blake2b.Sum256(data)
	mh, err := multihash.Encode(digest[:], multihash.BLAKE2B_MIN+31)
	if err != nil {
		panic(fmt.Sprintf("devnet: encode multihash: %v", err))
	}
	return cid.NewCidV1(cid.DagCBOR, mh)
}

// SignedMessage is a message with the devnet's simulated signature, what
// MpoolPushMessage returns.
type SignedMessage struct {
	Message   Message
	Signature crypto.Signature
	// Cid is Message.SignedCid(Signature): the CID a Lotus client computes
	// and then waits for.
	Cid cid.Cid
}

// Receipt is a message's receipt as Lotus reports it.
type Receipt struct {
	ExitCode exitcode.ExitCode
	Return   []byte
	// GasUsed is always 0: the devnet charges no gas.
	GasUsed int64
}

// MsgLookup is where and how a message was executed (Lotus's MsgLookup).
type MsgLookup struct {
	// Message is the CID looked up: the unsigned or the signed one.
	Message cid.Cid
	Receipt Receipt
	// Height is the epoch whose tipset included and executed the message.
	Height abi.ChainEpoch
	// TipSet is the key (block CID) of the tipset at Height.
	TipSet cid.Cid
	// Error explains a non-zero exit code, or the rejected items of a
	// batch that succeeded overall, for logs and tests; Lotus receipts
	// carry no such text.
	Error string
}

// normalized fills nil token amounts with zero, so that a message's CID and
// its persisted form agree.
func (m Message) normalized() Message {
	m.Value = zeroIfNil(m.Value)
	m.GasFeeCap = zeroIfNil(m.GasFeeCap)
	m.GasPremium = zeroIfNil(m.GasPremium)
	if m.Params == nil {
		m.Params = []byte{}
	}
	return m
}

func (m *Message) validate() error {
	if m.To == address.Undef || m.From == address.Undef {
		return fmt.Errorf("message needs both To and From addresses")
	}
	if m.Version != 0 {
		return fmt.Errorf("message version %d is not supported, use 0", m.Version)
	}
	for name, v := range map[string]abi.TokenAmount{"Value": m.Value, "GasFeeCap": m.GasFeeCap, "GasPremium": m.GasPremium} {
		if v.Int != nil && v.Sign() < 0 {
			return fmt.Errorf("message %s is negative: %s", name, v)
		}
	}
	if m.Value.Int != nil && m.Value.GreaterThan(big.Mul(big.NewInt(2_000_000_000), big.NewInt(1e18))) {
		return fmt.Errorf("message value %s exceeds the total FIL supply", m.Value)
	}
	return nil
}
