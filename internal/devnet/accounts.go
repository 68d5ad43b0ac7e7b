package devnet

import (
	"encoding/binary"
	"fmt"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"golang.org/x/crypto/blake2b"
)

const (
	powerActorID abi.ActorID = 4
	// Accounts take the first free id from 100 (Lotus's first
	// non-singleton id), miners the first free id from 1000.
	firstAccountID abi.ActorID = 100
	firstMinerID   abi.ActorID = 1000
)

// WalletFunding is what each devnet wallet account holds at creation:
// 1,000,000 FIL. Nothing costs money on the devnet, so this only has to
// cover the value messages carry.
var WalletFunding = big.Mul(big.NewInt(1_000_000), big.NewInt(1_000_000_000_000_000_000))

// The wallet's keys are not secp256k1 keys: key i is a hash of the seed,
// and its "public key" (65 bytes, uncompressed-secp256k1-shaped, so the
// account gets a genuine-looking t1 address) is a hash of that. Signatures
// are simulated the same way. They prove nothing to anyone but the devnet,
// which is why it sends messages only from its own wallet addresses.

func walletPrivateKey(seed string, i int) []byte {
	h, _ := blake2b.New256(nil)
	h.Write([]byte("damocles-devnet/wallet-key\x00"))
	h.Write([]byte(seed))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	h.Write(n[:])
	return h.Sum(nil)
}

func walletPublicKey(priv []byte) []byte {
	x := blake2b.Sum256(append([]byte("x"), priv...))
	y := blake2b.Sum256(append([]byte("y"), priv...))
	return append(append([]byte{0x04}, x[:]...), y[:]...)
}

func walletAddress(seed string, i int) address.Address {
	a, err := address.NewSecp256k1Address(walletPublicKey(walletPrivateKey(seed, i)))
	if err != nil {
		panic(fmt.Sprintf("devnet: wallet address: %v", err))
	}
	return a
}

// simulatedSignature is the devnet's secp256k1-shaped signature of data by
// wallet key i: 64 hash bytes and a zero recovery byte.
func simulatedSignature(seed string, i int, data []byte) crypto.Signature {
	priv := walletPrivateKey(seed, i)
	r := blake2b.Sum256(append(append([]byte("r"), priv...), data...))
	s := blake2b.Sum256(append(append([]byte("s"), priv...), data...))
	sig := append(append(r[:], s[:]...), 0)
	return crypto.Signature{Type: crypto.SigTypeSecp256k1, Data: sig}
}

func (c *Chain) addActor(a *actor) {
	c.st.Actors[a.ID] = a
	if a.Address != address.Undef {
		c.byAddress[a.Address] = a.ID
	}
}

// freeID is the first unused actor id at or after from.
func (c *Chain) freeID(from abi.ActorID) abi.ActorID {
	for id := from; ; id++ {
		if _, ok := c.st.Actors[id]; !ok {
			return id
		}
	}
}

// newWalletAccount derives the next wallet key and gives it a funded
// account (taking over the account if funds were sent to the address
// before).
func (c *Chain) newWalletAccount() *actor {
	i := c.st.WalletKeys
	addr := walletAddress(c.st.Seed, i)
	a, ok := c.resolve(addr)
	if !ok {
		a = &actor{ID: c.freeID(firstAccountID), Kind: ActorAccount, Address: addr, Balance: big.Zero()}
		c.addActor(a)
	}
	a.WalletKey = i + 1
	a.Balance = big.Add(a.Balance, WalletFunding)
	c.st.WalletKeys++
	return a
}

// resolve finds the actor behind an ID, key or actor address.
func (c *Chain) resolve(a address.Address) (*actor, bool) {
	if a.Protocol() == address.ID {
		id, err := address.IDFromAddress(a)
		if err != nil {
			return nil, false
		}
		act, ok := c.st.Actors[abi.ActorID(id)]
		return act, ok
	}
	id, ok := c.byAddress[a]
	if !ok {
		return nil, false
	}
	return c.st.Actors[id], true
}

func idAddress(id abi.ActorID) address.Address {
	a, err := address.NewIDAddress(uint64(id))
	if err != nil {
		panic(fmt.Sprintf("devnet: id address %d: %v", id, err))
	}
	return a
}

// DefaultAddress is the devnet wallet's first address (a t1 address): the
// funded owner and worker of pre-created miners.
func (c *Chain) DefaultAddress() address.Address {
	c.mu.Lock()
	defer c.mu.Unlock()
	return walletAddress(c.st.Seed, 0)
}

// WalletAddresses lists the devnet wallet's addresses, oldest first.
func (c *Chain) WalletAddresses() []address.Address {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]address.Address, c.st.WalletKeys)
	for i := range out {
		out[i] = walletAddress(c.st.Seed, i)
	}
	return out
}

// NewWalletAddress derives another wallet key and gives it a funded
// account (WalletFunding): Lotus's WalletNew on the devnet.
func (c *Chain) NewWalletAddress() (address.Address, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.newWalletAccount()
	return a.Address, c.persistNow()
}

// Controls tells whether the devnet wallet holds the key of a (an ID or
// key address): whether the devnet signs and sends for it.
func (c *Chain) Controls(a address.Address) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	act, ok := c.resolve(a)
	return ok && act.WalletKey > 0
}

// Sign signs data with a wallet key (simulated; see the package doc).
func (c *Chain) Sign(a address.Address, data []byte) (crypto.Signature, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	act, ok := c.resolve(a)
	if !ok || act.WalletKey == 0 {
		return crypto.Signature{}, fmt.Errorf("the devnet wallet holds no key for %s", a)
	}
	return simulatedSignature(c.st.Seed, act.WalletKey-1, data), nil
}

// LookupID is the ID address of the actor behind a (StateLookupID).
func (c *Chain) LookupID(a address.Address) (address.Address, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	act, ok := c.resolve(a)
	if !ok {
		return address.Undef, fmt.Errorf("actor not found: %s", a)
	}
	return idAddress(act.ID), nil
}

// AccountKey is the key address of the account behind a
// (StateAccountKey).
func (c *Chain) AccountKey(a address.Address) (address.Address, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	act, ok := c.resolve(a)
	if !ok {
		return address.Undef, fmt.Errorf("actor not found: %s", a)
	}
	if act.Kind != ActorAccount {
		return address.Undef, fmt.Errorf("%s is a %s actor, not an account", a, act.Kind)
	}
	return act.Address, nil
}

// Balance is the balance of the actor behind a.
func (c *Chain) Balance(a address.Address) (abi.TokenAmount, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	act, ok := c.resolve(a)
	if !ok {
		return abi.TokenAmount{}, fmt.Errorf("actor not found: %s", a)
	}
	return act.Balance, nil
}

// ActorInfo is what StateGetActor reports about an actor.
type ActorInfo struct {
	ID      address.Address
	Kind    ActorKind
	Balance abi.TokenAmount
	Nonce   uint64
	// Robust is the actor's key or actor address; undefined for the power
	// actor.
	Robust address.Address
}

// Actor describes the actor behind a.
func (c *Chain) Actor(a address.Address) (ActorInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	act, ok := c.resolve(a)
	if !ok {
		return ActorInfo{}, fmt.Errorf("actor not found: %s", a)
	}
	return ActorInfo{ID: idAddress(act.ID), Kind: act.Kind, Balance: act.Balance, Nonce: act.Nonce, Robust: act.Address}, nil
}
