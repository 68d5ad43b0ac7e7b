package node

import (
	"context"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
)

func TestChainNotifyAppliesEveryTipSetInOrder(t *testing.T) {
	tn := newTestNode(t)
	tn.advance(3)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := tn.node.ChainNotify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := <-ch
	if len(first) != 1 || first[0].Type != chain.HCCurrent || first[0].Val.Height != 3 || first[0].Val.Key() != tn.keyAt(3) {
		t.Fatalf("first change %+v, want current at 3", first[0])
	}
	// Several epochs at once still come one apply each, in order.
	tn.advance(5)
	for want := abi.ChainEpoch(4); want <= 8; want++ {
		changes := <-ch
		if len(changes) != 1 || changes[0].Type != chain.HCApply || changes[0].Val.Height != want || changes[0].Val.Key() != tn.keyAt(want) {
			t.Fatalf("change %+v, want apply at %d", changes[0], want)
		}
	}
	cancel()
	for range ch {
		t.Fatal("a change after the subscriber's context ended")
	}
}

func TestChainNotifyClosesASlowSubscriber(t *testing.T) {
	tn := newTestNode(t)
	tn.node.backlog = 3
	ch, err := tn.node.ChainNotify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The subscriber reads nothing: two tipsets fill its backlog (with the
	// current head), and the next ones must end the stream rather than
	// skip tipsets. The test drains the backlog only once the stream has
	// given up: reading earlier would make room for it to go on.
	tn.advance(2)
	waitFor(t, "the backlog to fill", func() bool { return len(ch) == cap(ch) })
	tn.advance(8)
	waitFor(t, "the stream to close", func() bool { return tn.node.slowClosed.Load() == 1 })
	var heights []abi.ChainEpoch
	for changes := range ch {
		heights = append(heights, changes[0].Val.Height)
	}
	if len(heights) != 3 || heights[0] != 0 || heights[1] != 1 || heights[2] != 2 {
		t.Fatalf("heights before the stream closed: %v, want [0 1 2]", heights)
	}
	// A new subscription starts from the head.
	again, err := tn.node.ChainNotify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first := <-again; first[0].Type != chain.HCCurrent || first[0].Val.Height != 10 {
		t.Fatalf("resubscription starts with %+v", first[0])
	}
}

func TestChainNotifyEndsWithTheNode(t *testing.T) {
	tn := newTestNode(t)
	ch, err := tn.node.ChainNotify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	tn.node.Close()
	if _, open := <-ch; open {
		t.Fatal("the stream is still open after Close")
	}
	if _, err := tn.node.ChainNotify(context.Background()); err == nil {
		t.Fatal("ChainNotify after Close succeeded")
	}
}
