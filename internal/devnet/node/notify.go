package node

import (
	"context"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
)

// ChainNotify streams head changes as Lotus does: first one HCCurrent
// change with the head, then one HCApply per new tipset, in height order,
// never skipping one (the devnet never reverts). The channel's buffer is
// the subscriber's backlog: the RPC server drains it as fast as the
// websocket takes the changes, and a subscriber that falls
// NotifyBacklogDefault tipsets behind has its channel closed rather than
// being sent a gap; its client sees the stream end and subscribes again
// (chain.HeadEvents does), starting from a fresh HCCurrent. The channel is
// also closed when ctx ends (the connection closed or the call was
// cancelled) and when the node closes.
func (n *FullNode) ChainNotify(ctx context.Context) (<-chan []*chain.HeadChange, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errShuttingDown
	}
	// Taken before the head is read, so that no head change is missed.
	changed := n.chain.HeadChanged()
	head := n.chain.Head().Height
	cur, err := n.tipset(head)
	if err != nil {
		return nil, err
	}
	out := make(chan []*chain.HeadChange, n.backlog)
	out <- []*chain.HeadChange{{Type: chain.HCCurrent, Val: cur}}
	n.streams.Add(1)
	go n.stream(ctx, out, head, changed)
	return out, nil
}

// stream sends an HCApply for each tipset after last, waking on head
// changes.
func (n *FullNode) stream(ctx context.Context, out chan<- []*chain.HeadChange, last abi.ChainEpoch, changed <-chan struct{}) {
	defer n.streams.Done()
	defer close(out)
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-n.done:
			return
		}
		changed = n.chain.HeadChanged()
		head := n.chain.Head().Height
		for h := last + 1; h <= head; h++ {
			ts, err := n.tipset(h)
			if err != nil {
				log.Errorw("ChainNotify: cannot build a tipset; ending the stream", "height", h, "error", err)
				return
			}
			select {
			case out <- []*chain.HeadChange{{Type: chain.HCApply, Val: ts}}:
			default:
				log.Warnw("ChainNotify subscriber is too slow: closing its stream so that it subscribes again",
					"backlog", cap(out), "height", h)
				n.slowClosed.Add(1)
				return
			}
			last = h
		}
	}
}
