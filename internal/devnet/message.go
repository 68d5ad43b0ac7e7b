package devnet

import (
	"fmt"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/chain"
)

// Message is a Filecoin message: chain.Message, whose CBOR and CID are
// Lotus's. The devnet keeps the gas fields as given and charges nothing.
type Message = chain.Message

// messageCid is the message's CID as Lotus computes it. A message that
// passed validate has both addresses, the only way Cid can fail.
func messageCid(m *Message) cid.Cid {
	c, err := m.Cid()
	if err != nil {
		panic(fmt.Sprintf("devnet: message CID: %v", err))
	}
	return c
}

// signedCid is the CID of the message signed with sig, as Lotus computes
// it (a BLS-signed message keeps its unsigned CID).
func signedCid(m *Message, sig crypto.Signature) cid.Cid {
	c, err := (&chain.SignedMessage{Message: *m, Signature: sig}).Cid()
	if err != nil {
		panic(fmt.Sprintf("devnet: signed message CID: %v", err))
	}
	return c
}

// SignedMessage is a message with the devnet's simulated signature, what
// MpoolPushMessage returns.
type SignedMessage struct {
	Message   Message
	Signature crypto.Signature
	// Cid is the signed message's CID: the one a Lotus client computes
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
func normalized(m Message) Message {
	m.Value = zeroIfNil(m.Value)
	m.GasFeeCap = zeroIfNil(m.GasFeeCap)
	m.GasPremium = zeroIfNil(m.GasPremium)
	if m.Params == nil {
		m.Params = []byte{}
	}
	return m
}

func validateMessage(m *Message) error {
	if m.To == address.Undef || m.From == address.Undef {
		return fmt.Errorf("message needs both To and From addresses")
	}
	// A message Lotus cannot encode (params over the CBOR byte limit)
	// has no CID: refuse it here, as a node's mpool would.
	if _, err := m.Cid(); err != nil {
		return fmt.Errorf("message cannot be encoded: %w", err)
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
