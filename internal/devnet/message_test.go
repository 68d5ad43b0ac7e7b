package devnet

import (
	"encoding/hex"
	"testing"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"
	"golang.org/x/crypto/blake2b"

	"github.com/filecoin-project/go-state-types/builtin/v19/power"
)

// vectorMessage is a mainnet-style transfer whose signing digest (blake2b
// of the CID bytes) an independent Filecoin implementation, OKX's
// go-wallet-sdk coins/filecoin test, pins at e496300a…b960.
func vectorMessage(t *testing.T) Message {
	a, err := address.NewFromString("f1bh3d2y6xxugpg3ygzxnjhcrs5ffxh5nvqmanbia")
	if err != nil {
		t.Fatal(err)
	}
	return Message{
		To: a, From: a, Nonce: 1, Value: big.NewInt(100), GasLimit: 608335,
		GasFeeCap: big.NewInt(1643831112), GasPremium: big.NewInt(99707), Method: 0,
	}
}

// messageCidVector is the CID of vectorMessage.
const messageCidVector = "bafy2bzacecbvx6miklnrd6zxhon3xin7nsr76b3jbxwzcsnyvbpgfcsamqomc"

func TestMessageCidVector(t *testing.T) {
	m := vectorMessage(t)
	c := messageCid(&m)
	digest := blake2b.Sum256(c.Bytes())
	if got := hex.EncodeToString(digest[:]); got != "e496300a898281703d377eaebe15b362571e813dc924d5a846815bda07c4b960" {
		t.Errorf("signing digest %s: the message CID %s is not Lotus's", got, c)
	}
	if c.String() != messageCidVector {
		t.Errorf("CID %s, want %s", c, messageCidVector)
	}
	// Params nil and empty encode the same, as in Lotus.
	m.Params = []byte{}
	if messageCid(&m) != c {
		t.Error("empty params change the CID")
	}
	// A secp256k1 signed message has its own CID; a BLS one shares the
	// unsigned CID.
	if signedCid(&m, crypto.Signature{Type: crypto.SigTypeBLS, Data: make([]byte, 96)}) != c {
		t.Error("BLS signed CID differs from the unsigned CID")
	}
	if signedCid(&m, crypto.Signature{Type: crypto.SigTypeSecp256k1, Data: make([]byte, 65)}) == c {
		t.Error("secp256k1 signed CID equals the unsigned CID")
	}
}

func TestPushRules(t *testing.T) {
	h := newHarness(t, Config{})
	wallet := h.wallet
	msg := Message{To: wallet, From: wallet, Value: big.NewInt(1)}
	if _, err := h.c.Push(Message{From: wallet}); err == nil {
		t.Error("pushed a message without To")
	}
	msg.Nonce = 3
	if _, err := h.c.Push(msg); err == nil {
		t.Error("pushed a message with a nonce gap")
	}
	msg.Nonce = 0
	id, err := h.c.Push(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Push(msg); err == nil {
		t.Error("pushed the same nonce twice")
	}
	if n := h.c.NextNonce(wallet); n != 1 {
		t.Errorf("next nonce %d, want 1", n)
	}
	sm, err := h.c.PushMessage(Message{To: wallet, From: wallet})
	if err != nil {
		t.Fatal(err)
	}
	if sm.Message.Nonce != 1 || sm.Cid == messageCid(&sm.Message) {
		t.Errorf("PushMessage: nonce %d, signed CID %s", sm.Message.Nonce, sm.Cid)
	}
	if len(h.c.Pending()) != 2 {
		t.Errorf("%d pending, want 2", len(h.c.Pending()))
	}
	if _, ok := h.c.Lookup(id); ok {
		t.Error("a pending message has a receipt")
	}
	h.advance(1)
	if l := h.lookup(id); l.Height != 1 || l.TipSet != h.c.Head().Key || l.Receipt.ExitCode != exitcode.Ok {
		t.Errorf("lookup %+v", l)
	}
	// The signed and the unsigned CID find the same message.
	if a, b := h.lookup(sm.Cid), h.lookup(messageCid(&sm.Message)); a.Message != sm.Cid || b.Message != messageCid(&sm.Message) || a.Height != b.Height {
		t.Errorf("signed lookup %+v, unsigned %+v", a, b)
	}
	if n := h.c.NextNonce(wallet); n != 2 {
		t.Errorf("next nonce after execution %d, want 2", n)
	}
	other, _ := address.NewSecp256k1Address(make([]byte, 65))
	if _, err := h.c.PushMessage(Message{To: wallet, From: other}); err == nil {
		t.Error("PushMessage signed for an address the devnet holds no key for")
	}
}

func TestMessageExitCodes(t *testing.T) {
	h := newHarness(t, Config{})
	maddr := h.createMiner()
	stranger, _ := address.NewSecp256k1Address(append([]byte{4}, make([]byte, 64)...))
	unknownID, _ := address.NewIDAddress(99)

	// A transfer to a new key address creates its account.
	l := h.send(stranger, builtin.MethodSend, nil)
	wantExit(t, l, exitcode.Ok, "send to a new key address")
	if _, err := h.c.LookupID(stranger); err != nil {
		t.Errorf("no account for %s: %v", stranger, err)
	}
	// The devnet sends only for its own wallet.
	id, err := h.c.Push(Message{To: h.wallet, From: stranger, Value: big.Zero()})
	if err != nil {
		t.Fatal(err)
	}
	h.advance(1)
	wantExit(t, h.lookup(id), exitcode.SysErrSenderInvalid, "message from a foreign account")

	cases := []struct {
		name   string
		to     address.Address
		method abi.MethodNum
		params []byte
		want   exitcode.ExitCode
	}{
		{"unknown receiver", unknownID, 2, nil, exitcode.SysErrInvalidReceiver},
		{"unknown power method", builtin.StoragePowerActorAddr, 99, nil, exitcode.SysErrInvalidMethod},
		{"unknown miner method", maddr, builtin.MethodsMiner.ChangePeerID, nil, exitcode.SysErrInvalidMethod},
		{"account method", h.wallet, 2, nil, exitcode.SysErrInvalidMethod},
		{"garbage params", builtin.StoragePowerActorAddr, builtin.MethodsPower.CreateMiner, []byte{0xff, 0x00}, exitcode.ErrSerialization},
		{"V1 proof type", builtin.StoragePowerActorAddr, builtin.MethodsPower.CreateMiner, encode(t, &power.CreateMinerParams{
			Owner: h.wallet, Worker: h.wallet, WindowPoStProofType: abi.RegisteredPoStProof_StackedDrgWindow2KiBV1,
		}), exitcode.ErrIllegalArgument},
	}
	for _, tc := range cases {
		sm, err := h.c.PushMessage(Message{To: tc.to, From: h.wallet, Method: tc.method, Params: tc.params})
		if err != nil {
			t.Fatal(err)
		}
		h.advance(1)
		if l := h.lookup(sm.Cid); l.Receipt.ExitCode != tc.want {
			t.Errorf("%s: exit code %d (%s), want %d", tc.name, l.Receipt.ExitCode, l.Error, tc.want)
		}
	}
	// Value moves; a failed message moves nothing.
	before, _ := h.c.Balance(h.wallet)
	sm, err := h.c.PushMessage(Message{To: maddr, From: h.wallet, Value: big.NewInt(7), Method: builtin.MethodsMiner.ChangePeerID})
	if err != nil {
		t.Fatal(err)
	}
	h.advance(1)
	wantExit(t, h.lookup(sm.Cid), exitcode.SysErrInvalidMethod, "value to an unknown method")
	if after, _ := h.c.Balance(h.wallet); !after.Equals(before) {
		t.Errorf("failed message moved funds: %s -> %s", before, after)
	}
	h.send(maddr, builtin.MethodSend, nil)
	sm, _ = h.c.PushMessage(Message{To: maddr, From: h.wallet, Value: big.NewInt(7)})
	h.advance(1)
	if bal, _ := h.c.Balance(maddr); !bal.Equals(big.NewInt(7)) {
		t.Errorf("miner balance %s, want 7", bal)
	}
}
