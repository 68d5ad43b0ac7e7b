package commit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/batch"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// track follows the packed messages of kind k: each is looked up by its
// stored CID (never pushed again) and, once executed Confidence epochs
// deep, its sectors become Landed when chain state shows them, Failed
// otherwise.
func (m *Manager) track(ctx context.Context, mi *minerCfg, k kind, sectors []store.Sector, head abi.ChainEpoch) error {
	byMsg := map[string][]abi.SectorID{}
	for _, s := range sectors {
		if msg := k.message(&s); msg != nil && state(msg) == rpc.OnChainPacked {
			byMsg[msg.CID] = append(byMsg[msg.CID], s.ID)
		}
	}
	var errs []error
	for _, c := range slices.Sorted(maps.Keys(byMsg)) {
		if err := m.trackMessage(ctx, mi, k, c, byMsg[c], head); err != nil {
			errs = append(errs, fmt.Errorf("%s message %s: %w", k, c, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) trackMessage(ctx context.Context, mi *minerCfg, k kind, msgCID string, ids []abi.SectorID, head abi.ChainEpoch) error {
	c, err := cid.Decode(msgCID)
	if err != nil {
		return m.settleMany(ctx, k, ids, msgCID, func(abi.SectorID) (rpc.OnChainState, string) {
			return rpc.OnChainFailed, fmt.Sprintf("stored message CID %q is unreadable: %v", msgCID, err)
		})
	}
	lookup, err := m.chain.StateSearchMsg(ctx, chain.EmptyTSK, c, chain.LookbackNoLimit, true)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if lookup == nil {
		return nil
	}
	if code := lookup.Receipt.ExitCode; code != exitcode.Ok {
		desc := fmt.Sprintf("%s message %s failed at epoch %d with exit code %d (%s)", k, lookup.Message, lookup.Height, int64(code), code)
		log.Warnw(k.String()+" message failed", "miner", mi.cfg.Actor, "cid", msgCID, "exit", code, "sectors", len(ids))
		return m.settleMany(ctx, k, ids, msgCID, func(abi.SectorID) (rpc.OnChainState, string) { return rpc.OnChainFailed, desc })
	}
	if head < lookup.Height+abi.ChainEpoch(max(mi.cfg.Commitment.Confidence, 0)) {
		return nil
	}
	failCodes := map[abi.SectorNumber]exitcode.ExitCode{}
	if k == proveCommit {
		// The message carried its sectors in number order (see push).
		var ret batch.BatchReturn
		if err := ret.UnmarshalCBOR(bytes.NewReader(lookup.Receipt.Return)); err == nil {
			sorted := slices.SortedFunc(slices.Values(ids), func(a, b abi.SectorID) int { return cmp.Compare(a.Number, b.Number) })
			for _, f := range ret.FailCodes {
				if f.Idx < uint64(len(sorted)) {
					failCodes[sorted[f.Idx].Number] = f.Code
				}
			}
		}
	}
	verdicts := map[abi.SectorID]verdict{}
	for _, id := range ids {
		v, err := m.onChain(ctx, mi, k, id.Number, lookup, failCodes)
		if err != nil {
			return err
		}
		verdicts[id] = v
	}
	err = m.settleMany(ctx, k, ids, msgCID, func(id abi.SectorID) (rpc.OnChainState, string) {
		v := verdicts[id]
		return v.state, v.desc
	})
	if err == nil {
		log.Infow(k.String()+" message landed", "miner", mi.cfg.Actor, "cid", msgCID, "epoch", lookup.Height, "sectors", len(ids))
	}
	return err
}

type verdict struct {
	state rpc.OnChainState
	desc  string
}

// onChain judges one sector of a message that succeeded: Landed when chain
// state shows what the message was for, Failed when the actor left it out.
func (m *Manager) onChain(ctx context.Context, mi *minerCfg, k kind, n abi.SectorNumber, lookup *chain.MsgLookup, failCodes map[abi.SectorNumber]exitcode.ExitCode) (verdict, error) {
	info, err := m.chain.StateSectorGetInfo(ctx, mi.maddr, n, chain.EmptyTSK)
	if err != nil {
		return verdict{}, fmt.Errorf("sector %d on chain: %w", n, err)
	}
	if info != nil {
		return verdict{state: rpc.OnChainLanded}, nil
	}
	if k == proveCommit {
		if code, ok := failCodes[n]; ok {
			return verdict{rpc.OnChainFailed, fmt.Sprintf("activation of sector %d failed in message %s with exit code %d (%s)", n, lookup.Message, int64(code), code)}, nil
		}
		return verdict{rpc.OnChainFailed, fmt.Sprintf("sector %d is not active after message %s succeeded", n, lookup.Message)}, nil
	}
	pc, err := m.chain.StateSectorPreCommitInfo(ctx, mi.maddr, n, chain.EmptyTSK)
	if err != nil {
		return verdict{}, fmt.Errorf("pre-commit of sector %d on chain: %w", n, err)
	}
	if pc == nil {
		return verdict{rpc.OnChainFailed, fmt.Sprintf("sector %d is not pre-committed after message %s succeeded", n, lookup.Message)}, nil
	}
	return verdict{state: rpc.OnChainLanded}, nil
}
