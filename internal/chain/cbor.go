package chain

import (
	"bytes"
	"fmt"
	"io"
	"math"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"
)

// The CBOR encodings below are those of Lotus's cbor-gen generated code
// (chain/types/cbor_gen.go): structs are tuples (arrays of their fields in
// order), nil pointers are null, nil slices are empty, signed integers use
// the negative major type below zero, and addresses, big ints, signatures
// and PoSt proofs use their go-state-types CBOR forms. They matter because
// a message's or a block's CID is the hash of its CBOR: the CID that
// StateWaitMsg is given must be the one the node computes.

// messageFields is the length of Message's CBOR tuple.
const messageFields = 10

// MarshalCBOR writes the message as Lotus does.
func (m *Message) MarshalCBOR(w io.Writer) error {
	cw := cbg.NewCborWriter(w)
	if err := cw.WriteMajorTypeHeader(cbg.MajArray, messageFields); err != nil {
		return err
	}
	if err := writeUint(cw, m.Version); err != nil {
		return err
	}
	if err := m.To.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("message To: %w", err)
	}
	if err := m.From.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("message From: %w", err)
	}
	if err := writeUint(cw, m.Nonce); err != nil {
		return err
	}
	if err := m.Value.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("message Value: %w", err)
	}
	if err := writeInt(cw, m.GasLimit); err != nil {
		return err
	}
	if err := m.GasFeeCap.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("message GasFeeCap: %w", err)
	}
	if err := m.GasPremium.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("message GasPremium: %w", err)
	}
	if err := writeUint(cw, uint64(m.Method)); err != nil {
		return err
	}
	return writeBytes(cw, m.Params)
}

// UnmarshalCBOR reads a message written by MarshalCBOR (or by Lotus).
func (m *Message) UnmarshalCBOR(r io.Reader) error {
	cr := cbg.NewCborReader(r)
	if err := readTupleHeader(cr, messageFields, "message"); err != nil {
		return err
	}
	var out Message
	var err error
	if out.Version, err = readUint(cr); err != nil {
		return fmt.Errorf("message Version: %w", err)
	}
	if err := out.To.UnmarshalCBOR(cr); err != nil {
		return fmt.Errorf("message To: %w", err)
	}
	if err := out.From.UnmarshalCBOR(cr); err != nil {
		return fmt.Errorf("message From: %w", err)
	}
	if out.Nonce, err = readUint(cr); err != nil {
		return fmt.Errorf("message Nonce: %w", err)
	}
	if err := out.Value.UnmarshalCBOR(cr); err != nil {
		return fmt.Errorf("message Value: %w", err)
	}
	if out.GasLimit, err = readInt(cr); err != nil {
		return fmt.Errorf("message GasLimit: %w", err)
	}
	if err := out.GasFeeCap.UnmarshalCBOR(cr); err != nil {
		return fmt.Errorf("message GasFeeCap: %w", err)
	}
	if err := out.GasPremium.UnmarshalCBOR(cr); err != nil {
		return fmt.Errorf("message GasPremium: %w", err)
	}
	method, err := readUint(cr)
	if err != nil {
		return fmt.Errorf("message Method: %w", err)
	}
	out.Method = abi.MethodNum(method)
	if out.Params, err = readBytes(cr); err != nil {
		return fmt.Errorf("message Params: %w", err)
	}
	*m = out
	return nil
}

// Cid is the message's CID as Lotus computes it: a CIDv1 dag-cbor
// blake2b-256 of its CBOR. It fails only for a message that cannot be
// encoded (an undefined address).
func (m *Message) Cid() (cid.Cid, error) {
	var buf bytes.Buffer
	if err := m.MarshalCBOR(&buf); err != nil {
		return cid.Undef, fmt.Errorf("message CID: %w", err)
	}
	return abi.CidBuilder.Sum(buf.Bytes())
}

// MarshalCBOR writes the signed message as Lotus does: [Message, Signature].
func (sm *SignedMessage) MarshalCBOR(w io.Writer) error {
	cw := cbg.NewCborWriter(w)
	if err := cw.WriteMajorTypeHeader(cbg.MajArray, 2); err != nil {
		return err
	}
	if err := sm.Message.MarshalCBOR(cw); err != nil {
		return err
	}
	return sm.Signature.MarshalCBOR(cw)
}

// UnmarshalCBOR reads a signed message written by MarshalCBOR (or Lotus).
func (sm *SignedMessage) UnmarshalCBOR(r io.Reader) error {
	cr := cbg.NewCborReader(r)
	if err := readTupleHeader(cr, 2, "signed message"); err != nil {
		return err
	}
	var out SignedMessage
	if err := out.Message.UnmarshalCBOR(cr); err != nil {
		return err
	}
	if err := out.Signature.UnmarshalCBOR(cr); err != nil {
		return fmt.Errorf("signed message Signature: %w", err)
	}
	*sm = out
	return nil
}

// Cid is the signed message's CID as Lotus computes it: the CID of the
// unsigned message for a BLS signature (BLS signatures are aggregated per
// block, so the chain keeps the unsigned message), else the hash of the
// signed message's CBOR. StateWaitMsg and StateSearchMsg take this CID.
func (sm *SignedMessage) Cid() (cid.Cid, error) {
	if sm.Signature.Type == crypto.SigTypeBLS {
		return sm.Message.Cid()
	}
	var buf bytes.Buffer
	if err := sm.MarshalCBOR(&buf); err != nil {
		return cid.Undef, fmt.Errorf("signed message CID: %w", err)
	}
	return abi.CidBuilder.Sum(buf.Bytes())
}

// blockHeaderFields is the length of BlockHeader's CBOR tuple.
const blockHeaderFields = 16

// MarshalCBOR writes the block header as Lotus does.
func (b *BlockHeader) MarshalCBOR(w io.Writer) error {
	cw := cbg.NewCborWriter(w)
	if err := cw.WriteMajorTypeHeader(cbg.MajArray, blockHeaderFields); err != nil {
		return err
	}
	if err := b.Miner.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("block Miner: %w", err)
	}
	if b.Ticket == nil {
		if _, err := cw.Write(cbg.CborNull); err != nil {
			return err
		}
	} else {
		if err := cw.WriteMajorTypeHeader(cbg.MajArray, 1); err != nil {
			return err
		}
		if err := writeBytes(cw, b.Ticket.VRFProof); err != nil {
			return err
		}
	}
	if b.ElectionProof == nil {
		if _, err := cw.Write(cbg.CborNull); err != nil {
			return err
		}
	} else {
		if err := cw.WriteMajorTypeHeader(cbg.MajArray, 2); err != nil {
			return err
		}
		if err := writeInt(cw, b.ElectionProof.WinCount); err != nil {
			return err
		}
		if err := writeBytes(cw, b.ElectionProof.VRFProof); err != nil {
			return err
		}
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajArray, uint64(len(b.BeaconEntries))); err != nil {
		return err
	}
	for _, e := range b.BeaconEntries {
		if err := cw.WriteMajorTypeHeader(cbg.MajArray, 2); err != nil {
			return err
		}
		if err := writeUint(cw, e.Round); err != nil {
			return err
		}
		if err := writeBytes(cw, e.Data); err != nil {
			return err
		}
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajArray, uint64(len(b.WinPoStProof))); err != nil {
		return err
	}
	for i := range b.WinPoStProof {
		if err := b.WinPoStProof[i].MarshalCBOR(cw); err != nil {
			return fmt.Errorf("block WinPoStProof: %w", err)
		}
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajArray, uint64(len(b.Parents))); err != nil {
		return err
	}
	for _, p := range b.Parents {
		if err := cbg.WriteCid(cw, p); err != nil {
			return fmt.Errorf("block Parents: %w", err)
		}
	}
	if err := b.ParentWeight.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("block ParentWeight: %w", err)
	}
	if err := writeInt(cw, int64(b.Height)); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		c    cid.Cid
	}{{"ParentStateRoot", b.ParentStateRoot}, {"ParentMessageReceipts", b.ParentMessageReceipts}, {"Messages", b.Messages}} {
		if err := cbg.WriteCid(cw, f.c); err != nil {
			return fmt.Errorf("block %s: %w", f.name, err)
		}
	}
	// A nil *crypto.Signature writes CBOR null.
	if err := b.BLSAggregate.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("block BLSAggregate: %w", err)
	}
	if err := writeUint(cw, b.Timestamp); err != nil {
		return err
	}
	if err := b.BlockSig.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("block BlockSig: %w", err)
	}
	if err := writeUint(cw, b.ForkSignaling); err != nil {
		return err
	}
	if err := b.ParentBaseFee.MarshalCBOR(cw); err != nil {
		return fmt.Errorf("block ParentBaseFee: %w", err)
	}
	return nil
}

// Cid is the block's CID as Lotus computes it, which is what a tipset's
// Cids hold.
func (b *BlockHeader) Cid() (cid.Cid, error) {
	var buf bytes.Buffer
	if err := b.MarshalCBOR(&buf); err != nil {
		return cid.Undef, fmt.Errorf("block CID: %w", err)
	}
	return abi.CidBuilder.Sum(buf.Bytes())
}

func writeUint(cw *cbg.CborWriter, v uint64) error {
	return cw.WriteMajorTypeHeader(cbg.MajUnsignedInt, v)
}

func writeInt(cw *cbg.CborWriter, v int64) error {
	if v >= 0 {
		return cw.WriteMajorTypeHeader(cbg.MajUnsignedInt, uint64(v))
	}
	return cw.WriteMajorTypeHeader(cbg.MajNegativeInt, uint64(-v-1))
}

func writeBytes(cw *cbg.CborWriter, b []byte) error {
	if len(b) > cbg.ByteArrayMaxLen {
		return fmt.Errorf("byte array of %d bytes is over the CBOR limit of %d", len(b), cbg.ByteArrayMaxLen)
	}
	if err := cw.WriteMajorTypeHeader(cbg.MajByteString, uint64(len(b))); err != nil {
		return err
	}
	_, err := cw.Write(b)
	return err
}

func readTupleHeader(cr *cbg.CborReader, fields uint64, what string) error {
	maj, n, err := cr.ReadHeader()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if maj != cbg.MajArray || n != fields {
		return fmt.Errorf("%s: want a CBOR array of %d fields, got major type %d of length %d", what, fields, maj, n)
	}
	return nil
}

func readUint(cr *cbg.CborReader) (uint64, error) {
	maj, n, err := cr.ReadHeader()
	if err != nil {
		return 0, err
	}
	if maj != cbg.MajUnsignedInt {
		return 0, fmt.Errorf("want an unsigned integer, got CBOR major type %d", maj)
	}
	return n, nil
}

func readInt(cr *cbg.CborReader) (int64, error) {
	maj, n, err := cr.ReadHeader()
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("integer overflows int64")
	}
	switch maj {
	case cbg.MajUnsignedInt:
		return int64(n), nil
	case cbg.MajNegativeInt:
		return -1 - int64(n), nil
	default:
		return 0, fmt.Errorf("want an integer, got CBOR major type %d", maj)
	}
}

// readBytes reads a byte string; an empty one is nil, as cbor-gen reads it.
func readBytes(cr *cbg.CborReader) ([]byte, error) {
	b, err := cbg.ReadByteArray(cr, cbg.ByteArrayMaxLen)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	return b, nil
}
