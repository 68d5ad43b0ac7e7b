package chain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// runEvents runs events until the test ends and fails the test if Run
// does not return, with nil, once its context ends.
func runEvents(t *testing.T, events *HeadEvents) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- events.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// eventString formats a head change as "apply@3:salt".
func eventString(hc HeadChange) string {
	return fmt.Sprintf("%s@%d:%s", hc.Type, hc.Val.Height, hc.Val.Blocks[0].Ticket.VRFProof)
}

// expectEvents reads len(want) events from sub, advancing clk whenever the
// code waits on it (nil clk: never), and fails unless they are want. It
// returns every wait the code asked for meanwhile.
func expectEvents(t *testing.T, sub <-chan HeadChange, clk *fakeClock, want ...string) []time.Duration {
	t.Helper()
	var got []string
	var waits []time.Duration
	var clockWaits chan time.Duration
	if clk != nil {
		clockWaits = clk.waits
	}
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case hc, ok := <-sub:
			if !ok {
				t.Fatalf("subscription closed after %v, want %v", got, want)
			}
			got = append(got, eventString(hc))
		case d := <-clockWaits:
			waits = append(waits, d)
			clk.Advance(d)
		case <-timeout:
			t.Fatalf("got events %v, then nothing; want %v", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v\n  want %v", got, want)
	}
	return waits
}

func TestHeadEventsStreaming(t *testing.T) {
	node := newFakeNode()
	g := node.addTipSet(t, nil, 0, "g")
	c := node.chainOf(t, g, "a", 1, 2) // g <- a1 <- a2
	b2 := node.addTipSet(t, c[0], 2, "b-2")
	b4 := node.addTipSet(t, b2, 4, "b-4") // height 3 is a null round
	later := node.chainOf(t, b4, "b", 5, 6)
	node.setHead(c[0])

	clk := newFakeClock()
	api := dial(t, "ws://"+serveFakeNode(t, node), "")
	events := NewHeadEvents(api, HeadEventsConfig{Clock: clk})
	sub, cancel := events.Subscribe()
	defer cancel()
	runEvents(t, events)

	stream := <-node.streams
	stream <- []*HeadChange{{Type: HCCurrent, Val: c[0]}}
	expectEvents(t, sub, nil, "current@1:a-1")
	stream <- []*HeadChange{{Type: HCApply, Val: c[1]}}
	expectEvents(t, sub, nil, "apply@2:a-2")
	stream <- []*HeadChange{{Type: HCRevert, Val: c[1]}, {Type: HCApply, Val: b2}}
	expectEvents(t, sub, nil, "revert@2:a-2", "apply@2:b-2")
	stream <- []*HeadChange{{Type: HCApply, Val: b4}}
	expectEvents(t, sub, nil, "apply@4:b-4")
	if h := events.Head(); h == nil || h.Key() != b4.Key() {
		t.Errorf("Head = %v, want the tipset at 4", h)
	}

	// The stream ends (the node restarted): HeadEvents waits, subscribes
	// again and replays what it missed, up to the new stream's current.
	close(stream)
	node.setHead(later[1])
	go func() {
		s := <-node.streams
		s <- []*HeadChange{{Type: HCCurrent, Val: later[1]}}
	}()
	waits := expectEvents(t, sub, clk, "apply@5:b-5", "apply@6:b-6")
	if len(waits) == 0 || waits[0] != ResubscribeMinDefault {
		t.Errorf("waits before subscribing again = %v, want %v first", waits, ResubscribeMinDefault)
	}

	// A late subscriber starts from the head.
	late, cancelLate := events.Subscribe()
	defer cancelLate()
	expectEvents(t, late, nil, "current@6:b-6")
}

func TestHeadEventsPollsWhenTheNodeCannotStream(t *testing.T) {
	node := newFakeNode()
	g := node.addTipSet(t, nil, 0, "g")
	a := node.chainOf(t, g, "a", 1, 2, 3)
	a1b := node.addTipSet(t, g, 1, "b-1")
	a2b := node.addTipSet(t, a1b, 2, "b-2")
	a3b := node.addTipSet(t, a2b, 3, "c-3")
	far := node.chainOf(t, a1b, "far", 5, 6, 7, 8, 9, 10, 11, 12)
	node.setHead(a[0])

	// Over plain HTTP, ChainNotify fails: HeadEvents must poll ChainHead.
	clk := newFakeClock()
	api := dial(t, "http://"+serveFakeNode(t, node), "")
	const poll = 7 * time.Second
	events := NewHeadEvents(api, HeadEventsConfig{PollInterval: poll, MaxCatchUp: 5, Clock: clk})
	sub, cancel := events.Subscribe()
	defer cancel()
	runEvents(t, events)

	expectEvents(t, sub, nil, "current@1:a-1")

	steps := []struct {
		head *TipSet
		want []string
	}{
		// The tipset at the head's height changes, right after the first
		// poll: its parent is fetched to revert it.
		{a1b, []string{"revert@1:a-1", "apply@1:b-1"}},
		// The head moves up two tipsets between polls.
		{a3b, []string{"apply@2:b-2", "apply@3:c-3"}},
		// The head goes down.
		{a2b, []string{"revert@3:c-3"}},
		// A fork from further down, with null rounds.
		{far[0], []string{"revert@2:b-2", "apply@5:far-5"}},
		// Further than MaxCatchUp: start again from the head.
		{far[7], []string{"current@12:far-12"}},
	}
	var waits []time.Duration
	for _, s := range steps {
		node.setHead(s.head)
		waits = append(waits, expectEvents(t, sub, clk, s.want...)...)
	}
	// Between polls it waits PollInterval (and, while it also retries
	// ChainNotify, the retry's backoff).
	if !slices.Contains(waits, poll) {
		t.Errorf("waits %v, want some of the poll interval %v", waits, poll)
	}
	if h := events.Head(); h.Key() != far[7].Key() {
		t.Errorf("Head is at %d, want 12", h.Height)
	}
}

func TestHeadEventsBackToStreaming(t *testing.T) {
	node := newFakeNode()
	g := node.addTipSet(t, nil, 0, "g")
	a := node.chainOf(t, g, "a", 1, 2)
	node.setHead(a[0])
	node.setNoStream(true)

	clk := newFakeClock()
	events := NewHeadEvents(node, HeadEventsConfig{Clock: clk})
	sub, cancel := events.Subscribe()
	defer cancel()
	runEvents(t, events)
	expectEvents(t, sub, nil, "current@1:a-1")

	// The node streams again: HeadEvents retries ChainNotify while it
	// polls, and the new stream's events flow.
	node.setNoStream(false)
	var stream chan []*HeadChange
	timeout := time.After(10 * time.Second)
	for stream == nil {
		select {
		case d := <-clk.waits:
			clk.Advance(d)
		case stream = <-node.streams:
		case <-timeout:
			t.Fatal("ChainNotify was not tried again")
		}
	}
	stream <- []*HeadChange{{Type: HCCurrent, Val: a[0]}, {Type: HCApply, Val: a[1]}}
	expectEvents(t, sub, nil, "apply@2:a-2")
}

func TestHeadEventsSlowSubscriberIsCoalesced(t *testing.T) {
	node := newFakeNode()
	g := node.addTipSet(t, nil, 0, "g")
	c := node.chainOf(t, g, "a", 1, 2, 3, 4, 5)
	events := NewHeadEvents(node, HeadEventsConfig{SubscriberBuffer: 2, Clock: newFakeClock()})
	slow, cancelSlow := events.Subscribe()
	defer cancelSlow()
	fast, cancelFast := events.Subscribe()
	defer cancelFast()
	runEvents(t, events)

	stream := <-node.streams
	stream <- []*HeadChange{{Type: HCCurrent, Val: c[0]}}
	expectEvents(t, fast, nil, "current@1:a-1")
	for _, ts := range c[1:] {
		stream <- []*HeadChange{{Type: HCApply, Val: ts}}
		expectEvents(t, fast, nil, "apply@"+fmt.Sprint(ts.Height)+":a-"+fmt.Sprint(ts.Height))
	}
	// The slow one never read: its backlog became one current, the head.
	expectEvents(t, slow, nil, "current@5:a-5")
	select {
	case hc := <-slow:
		t.Errorf("slow subscriber got %s after its coalesced current", eventString(hc))
	default:
	}
}

func TestHeadEventsLifecycle(t *testing.T) {
	node := newFakeNode()
	g := node.addTipSet(t, nil, 0, "g")
	events := NewHeadEvents(node, HeadEventsConfig{Clock: newFakeClock()})
	sub, cancel := events.Subscribe()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- events.Run(ctx) }()
	stream := <-node.streams
	stream <- []*HeadChange{{Type: HCCurrent, Val: g}}
	expectEvents(t, sub, nil, "current@0:g")

	// cancel closes that subscription only.
	other, cancelOther := events.Subscribe()
	defer cancelOther()
	cancel()
	cancel()
	if _, ok := <-sub; ok {
		t.Error("cancelled subscription still open")
	}
	expectEvents(t, other, nil, "current@0:g")

	if err := events.Run(ctx); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run = %v, want an error", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if _, ok := <-other; ok {
		t.Error("subscription still open after Run returned")
	}
	late, _ := events.Subscribe()
	if _, ok := <-late; ok {
		t.Error("subscribing after Run returned gave an open channel")
	}
}
