package devnet

import (
	"bytes"
	"testing"

	"github.com/filecoin-project/go-state-types/crypto"
)

func TestDeterminism(t *testing.T) {
	a, b := newHarness(t, Config{}), newHarness(t, Config{})
	other := newHarness(t, Config{Seed: "another seed"})
	for _, h := range []*harness{a, b, other} {
		h.advance(20)
	}
	entropy := []byte("entropy")
	for epoch := range a.height() + 1 {
		ta, _ := a.c.TipSetAt(epoch)
		tb, _ := b.c.TipSetAt(epoch)
		to, _ := other.c.TipSetAt(epoch)
		if ta.Key != tb.Key || ta.Key == to.Key {
			t.Errorf("epoch %d: tipset keys %s, %s (same seed), %s (other seed)", epoch, ta.Key, tb.Key, to.Key)
		}
		if epoch > 0 {
			if parent, _ := a.c.TipSetAt(epoch - 1); ta.Parent != parent.Key {
				t.Errorf("epoch %d: parent %s, want %s", epoch, ta.Parent, parent.Key)
			}
		}
		ra, _ := a.c.TicketRandomness(crypto.DomainSeparationTag_SealRandomness, epoch, entropy)
		rb, _ := b.c.TicketRandomness(crypto.DomainSeparationTag_SealRandomness, epoch, entropy)
		ro, _ := other.c.TicketRandomness(crypto.DomainSeparationTag_SealRandomness, epoch, entropy)
		beacon, _ := a.c.BeaconRandomness(crypto.DomainSeparationTag_SealRandomness, epoch, entropy)
		if !bytes.Equal(ra, rb) || bytes.Equal(ra, ro) || bytes.Equal(ra, beacon) || len(ra) != 32 {
			t.Errorf("epoch %d: ticket randomness not deterministic per seed, or equal to the beacon's", epoch)
		}
	}
	// Tag, epoch and entropy each change the value.
	base, _ := a.c.TicketRandomness(crypto.DomainSeparationTag_PoStChainCommit, 10, nil)
	for name, r := range map[string]func() ([]byte, error){
		"tag": func() ([]byte, error) {
			return a.c.TicketRandomness(crypto.DomainSeparationTag_SealRandomness, 10, nil)
		},
		"epoch": func() ([]byte, error) {
			return a.c.TicketRandomness(crypto.DomainSeparationTag_PoStChainCommit, 11, nil)
		},
		"entropy": func() ([]byte, error) {
			return a.c.TicketRandomness(crypto.DomainSeparationTag_PoStChainCommit, 10, []byte{1})
		},
	} {
		if v, err := r(); err != nil || bytes.Equal(v, base) {
			t.Errorf("changing the %s leaves the randomness unchanged (%v)", name, err)
		}
	}
	if _, err := a.c.TicketRandomness(crypto.DomainSeparationTag_PoStChainCommit, a.height()+1, nil); err == nil {
		t.Error("ticket randomness from the future")
	}
	if _, err := a.c.BeaconRandomness(crypto.DomainSeparationTag_PoStChainCommit, a.height()+1, nil); err == nil {
		t.Error("beacon randomness from the future")
	}
	// Before genesis (a first deadline's challenge) draws from genesis.
	if _, err := a.c.BeaconRandomness(crypto.DomainSeparationTag_WindowedPoStChallengeSeed, -20, nil); err != nil {
		t.Errorf("randomness before genesis: %v", err)
	}
	if ts, _ := a.c.TipSetAt(3); !ts.Time.Equal(testGenesis.Add(3 * testBlockGap)) {
		t.Errorf("tipset 3 mined at %s", ts.Time)
	}
	if _, err := a.c.TipSetAt(a.height() + 1); err == nil {
		t.Error("a tipset from the future")
	}
}
