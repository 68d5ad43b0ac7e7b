package node

import (
	"context"
	"testing"
	"time"
)

func TestClockMinesOneEpochPerTick(t *testing.T) {
	tn := newTestNode(t)
	ticks := make(chan time.Time)
	clock := &Clock{Chain: tn.chain, ticks: ticks}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- clock.Run(ctx) }()
	for want := 1; want <= 3; want++ {
		changed := tn.chain.HeadChanged()
		ticks <- time.Now()
		<-changed
		if h := tn.height(); int(h) != want {
			t.Fatalf("height %d after %d ticks", h, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v when its context ended", err)
	}
}

func TestClockStopsWhenTheChainCannotGoOn(t *testing.T) {
	tn := newTestNode(t)
	ticks := make(chan time.Time, 1)
	clock := &Clock{Chain: tn.chain, ticks: ticks}
	if err := tn.chain.Close(); err != nil {
		t.Fatal(err)
	}
	ticks <- time.Now()
	if err := clock.Run(t.Context()); err == nil {
		t.Fatal("Run went on mining a closed chain")
	}
}

func TestClockRefusesANonPositiveBlockTime(t *testing.T) {
	tn := newTestNode(t)
	if err := (&Clock{Chain: tn.chain}).Run(t.Context()); err == nil {
		t.Fatal("Run accepted a zero block time")
	}
}
