package devnet

import (
	"testing"

	"github.com/damocles-go/damocles/internal/chain"
)

// A Lotus client recomputes tipset keys from the blocks it decodes, so the
// devnet's keys must be the CIDs of the blocks it serves.
func TestTipSetKeysAreBlockCids(t *testing.T) {
	h := newHarness(t, Config{})
	h.advance(5)
	for height := range h.height() + 1 {
		ts, err := h.c.TipSetAt(height)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := h.c.Block(height)
		if err != nil {
			t.Fatal(err)
		}
		lotus, err := chain.NewTipSet([]*chain.BlockHeader{blk})
		if err != nil {
			t.Fatal(err)
		}
		if lotus.Key() != chain.NewTipSetKey(ts.Key) {
			t.Fatalf("height %d: key %s, but the block hashes to %s", height, ts.Key, lotus.Key())
		}
		if height > 0 && lotus.Parents() != chain.NewTipSetKey(ts.Parent) {
			t.Fatalf("height %d: parents %s, want %s", height, lotus.Parents(), ts.Parent)
		}
	}
}
