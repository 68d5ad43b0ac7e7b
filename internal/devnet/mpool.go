package devnet

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/filecoin-project/go-address"
	"github.com/ipfs/go-cid"
)

// NextNonce is the nonce the next message from a must carry: its account's
// nonce plus its pending messages (MpoolGetNonce).
func (c *Chain) NextNonce(a address.Address) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextNonce(a)
}

func (c *Chain) nextNonce(a address.Address) uint64 {
	var n uint64
	sender, known := c.resolve(a)
	if known {
		n = sender.Nonce
	}
	for _, rec := range c.st.Pending {
		if c.sameSender(rec.Message.From, a, sender, known) {
			n++
		}
	}
	return n
}

// sameSender tells whether from designates the sender a (resolved to
// sender when known).
func (c *Chain) sameSender(from, a address.Address, sender *actor, known bool) bool {
	if !known {
		return from == a
	}
	other, ok := c.resolve(from)
	return ok && other.ID == sender.ID
}

// Push adds msg, whose nonce must be NextNonce(msg.From), to the pool: it
// executes in the next tipset. It returns the unsigned CID; a message from
// a devnet wallet address is also found by the CID of its signed form.
// Pushing fails only for a malformed message or a wrong nonce: a message
// the chain will refuse (unknown sender or receiver, bad parameters) is
// accepted and gets its exit code when executed.
func (c *Chain) Push(msg Message) (cid.Cid, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.push(msg, false)
	if err != nil {
		return cid.Undef, err
	}
	return rec.Cid, nil
}

// PushMessage assigns msg the sender's next nonce, signs it with the devnet
// wallet and pushes it (MpoolPushMessage). The sender must be a devnet
// wallet address.
func (c *Chain) PushMessage(msg Message) (SignedMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.push(msg, true)
	if err != nil {
		return SignedMessage{}, err
	}
	return SignedMessage{Message: rec.Message, Signature: *rec.Signature, Cid: rec.SignedCid}, nil
}

func (c *Chain) push(msg Message, assignNonce bool) (*msgRecord, error) {
	if c.closed {
		return nil, errors.New("devnet: chain is closed")
	}
	if err := validateMessage(&msg); err != nil {
		return nil, err
	}
	msg = normalized(msg)
	sender, known := c.resolve(msg.From)
	signer := known && sender.WalletKey > 0
	if assignNonce {
		if !signer {
			return nil, fmt.Errorf("the devnet wallet holds no key for %s: it sends messages only for its own addresses", msg.From)
		}
		msg.Nonce = c.nextNonce(msg.From)
	} else if want := c.nextNonce(msg.From); msg.Nonce != want {
		return nil, fmt.Errorf("message from %s has nonce %d, the next nonce is %d", msg.From, msg.Nonce, want)
	}
	rec := &msgRecord{Message: msg, Cid: messageCid(&msg), PushedAt: c.st.Height}
	if signer {
		sig := simulatedSignature(c.st.Seed, sender.WalletKey-1, rec.Cid.Bytes())
		rec.Signature = &sig
		rec.SignedCid = signedCid(&msg, sig)
	}
	if _, dup := c.byCid[rec.Cid]; dup {
		return nil, fmt.Errorf("message %s was already pushed", rec.Cid)
	}
	if c.store != nil && !c.replaying {
		if err := c.store.appendPush(rec); err != nil {
			return nil, fmt.Errorf("persist pushed message: %w", err)
		}
	}
	c.addPending(rec)
	return rec, nil
}

func (c *Chain) addPending(rec *msgRecord) {
	c.st.Pending = append(c.st.Pending, rec)
	c.indexMessage(rec)
}

func (c *Chain) indexMessage(rec *msgRecord) {
	c.byCid[rec.Cid] = rec
	if rec.SignedCid.Defined() {
		c.byCid[rec.SignedCid] = rec
	}
}

// Pending lists the pushed messages not executed yet, in push order, signed
// where the devnet signed them (MpoolPending).
func (c *Chain) Pending() []SignedMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]SignedMessage, 0, len(c.st.Pending))
	for _, rec := range c.st.Pending {
		sm := SignedMessage{Message: rec.Message, Cid: rec.Cid}
		if rec.Signature != nil {
			sm.Signature, sm.Cid = *rec.Signature, rec.SignedCid
		}
		out = append(out, sm)
	}
	return out
}

// GetMessage finds a pushed message by its unsigned or signed CID
// (ChainGetMessage).
func (c *Chain) GetMessage(id cid.Cid) (Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.byCid[id]
	if !ok {
		return Message{}, false
	}
	return rec.Message, true
}

// Lookup reports how an executed message ended (StateSearchMsg): found is
// false while the message is unknown or still pending.
func (c *Chain) Lookup(id cid.Cid) (l MsgLookup, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.byCid[id]
	if !ok || !rec.Executed {
		return MsgLookup{}, false
	}
	return MsgLookup{
		Message: id,
		Receipt: Receipt{ExitCode: rec.Receipt.ExitCode, Return: bytes.Clone(rec.Receipt.Return)},
		Height:  rec.Epoch,
		TipSet:  c.key(rec.Epoch),
		Error:   rec.Error,
	}, true
}
