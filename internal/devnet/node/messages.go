package node

import (
	"context"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
)

// Message lookups follow Lotus's StateManager.WaitForMessage and
// SearchForMessage:
//
//   - a CID the devnet never saw pushed is an error ("failed to load
//     message"), not something to wait for;
//   - the reported tipset is the one whose state includes the message (see
//     FullNode), and confidence counts epochs on top of it;
//   - limit bounds the look back: a message is found when it was executed
//     at the starting tipset or less than limit epochs before it
//     (LookbackNoLimit: anywhere). StateWaitMsg also finds messages
//     executed after it was called; one executed before its look-back
//     window is never found, so it waits until its context ends, as
//     Lotus's does;
//   - the devnet neither replaces messages nor reverts tipsets, so
//     allowReplaced changes nothing.

// StateWaitMsg waits until msg is executed and confidence epochs deep.
func (n *FullNode) StateWaitMsg(ctx context.Context, msg cid.Cid, confidence uint64, limit abi.ChainEpoch, _ bool) (*chain.MsgLookup, error) {
	if _, known := n.chain.GetMessage(msg); !known {
		return nil, unknownMessage(msg)
	}
	start := n.chain.Head().Height
	for {
		// Taken before reading the state, so a head change between the
		// two still wakes the wait.
		changed := n.chain.HeadChanged()
		if l, executed := n.chain.Lookup(msg); executed {
			if l.Height <= start && !withinLookback(l.Height, start, limit) {
				log.Warnw("StateWaitMsg: the message was executed before the look-back limit; waiting, as Lotus does, until the caller gives up",
					"message", msg, "executed", l.Height, "head", start, "limit", limit)
				return nil, n.waitEnd(ctx)
			}
			if n.chain.Head().Height >= l.Height+abi.ChainEpoch(confidence) {
				return lotusLookup(l), nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.done:
			return nil, errShuttingDown
		}
	}
}

// waitEnd blocks until ctx ends or the node shuts down.
func (n *FullNode) waitEnd(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return errShuttingDown
	}
}

// StateSearchMsg looks back from tsk (the head for EmptyTSK) at most limit
// epochs for msg's execution; nil when it is pending or outside the
// window.
func (n *FullNode) StateSearchMsg(_ context.Context, tsk chain.TipSetKey, msg cid.Cid, limit abi.ChainEpoch, _ bool) (*chain.MsgLookup, error) {
	from, err := n.at(tsk)
	if err != nil {
		return nil, err
	}
	if _, known := n.chain.GetMessage(msg); !known {
		return nil, unknownMessage(msg)
	}
	l, executed := n.chain.Lookup(msg)
	if !executed || l.Height > from || !withinLookback(l.Height, from, limit) {
		return nil, nil
	}
	return lotusLookup(l), nil
}

// withinLookback tells whether a receipt at height is found looking back
// limit epochs from the tipset at from: from itself always is.
func withinLookback(height, from, limit abi.ChainEpoch) bool {
	return limit == chain.LookbackNoLimit || height == from || height > from-limit
}

func unknownMessage(msg cid.Cid) error {
	return fmt.Errorf("failed to load message %s: the devnet knows only the messages pushed to it (MpoolPushMessage)", msg)
}

func lotusLookup(l devnet.MsgLookup) *chain.MsgLookup {
	return &chain.MsgLookup{
		Message: l.Message,
		Receipt: chain.MessageReceipt{ExitCode: l.Receipt.ExitCode, Return: l.Receipt.Return, GasUsed: l.Receipt.GasUsed},
		TipSet:  chain.NewTipSetKey(l.TipSet),
		Height:  l.Height,
	}
}
