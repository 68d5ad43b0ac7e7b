package commit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// maxBatch is the most sectors one message carries: the actor's limit for
// a pre-commit batch, kept for prove-commits too so that a message's gas
// stays well inside a block.
const maxBatch = miner.PreCommitSectorBatchMaxSize

// send sends the pending messages of kind k that are due: each alone at
// once without batching, else all of them in one message when Threshold
// sectors wait or the oldest has waited MaxWait.
func (m *Manager) send(ctx context.Context, mi *minerCfg, k kind, sectors []store.Sector, head abi.ChainEpoch) error {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	var pending []store.Sector
	for _, s := range sectors {
		msg := k.message(&s)
		if msg == nil || (state(msg) != rpc.OnChainPending && state(msg) != 0) {
			m.forget(s.ID, k)
			continue
		}
		if k == proveCommit && state(&s.PreCommit.Message) != rpc.OnChainLanded {
			continue
		}
		pending = append(pending, s)
	}
	if len(pending) == 0 {
		return nil
	}
	policy := k.policy(mi)
	if !policy.Sender.IsSet() {
		return fmt.Errorf("%d sectors wait for a %s: %w: set %s.Commitment.%s.Sender", len(pending), k, ErrNoSender, mi.key, k.policyName())
	}
	if policy.Batch.Enabled && !m.batchDue(k, policy.Batch, pending) {
		return nil
	}
	ready, err := m.checkOnChain(ctx, mi, k, pending, head)
	if err != nil || len(ready) == 0 {
		return err
	}
	fee := policy.Fee
	var groups [][]store.Sector
	if policy.Batch.Enabled {
		fee = policy.Batch.Fee
		groups = batches(k, ready)
	} else {
		for _, s := range ready {
			groups = append(groups, []store.Sector{s})
		}
	}
	var errs []error
	for _, g := range groups {
		if err := m.push(ctx, mi, k, policy.Sender, fee, g, head); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maxParamsBytes bounds the params of one message below the CBOR
// byte-string limit (2MiB) that a node enforces on them.
const maxParamsBytes = 1 << 20

// batches splits sectors into messages of at most maxBatch sectors whose
// proofs (prove-commits) stay under maxParamsBytes: devproof's PoRep
// proofs are tens of KiB each.
func batches(k kind, sectors []store.Sector) [][]store.Sector {
	var out [][]store.Sector
	for chunk := range slices.Chunk(sectors, maxBatch) {
		start, size := 0, 0
		for i, s := range chunk {
			n := 0
			if k == proveCommit && s.Commit != nil {
				n = len(s.Commit.Proof)
			}
			if i > start && size+n > maxParamsBytes {
				out = append(out, chunk[start:i])
				start, size = i, 0
			}
			size += n
		}
		out = append(out, chunk[start:])
	}
	return out
}

// batchDue tells whether the pending sectors of a batch policy go now,
// starting the MaxWait of the sectors seen for the first time.
func (m *Manager) batchDue(k kind, b config.CommitBatch, pending []store.Sector) bool {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	oldest := now
	for _, s := range pending {
		key := pendingKey{s.ID, k}
		since, ok := m.waitingSince[key]
		if !ok {
			// A sector submitted before a restart: its row changed last
			// when it was submitted or later, so it waits no longer than
			// MaxWait from the restart.
			since = s.UpdatedAt
			if since.After(now) {
				since = now
			}
			m.waitingSince[key] = since
		}
		if since.Before(oldest) {
			oldest = since
		}
	}
	return len(pending) >= b.Threshold || now.Sub(oldest) >= b.MaxWait.Std()
}

func (m *Manager) forget(id abi.SectorID, k kind) {
	m.mu.Lock()
	delete(m.waitingSince, pendingKey{id, k})
	m.mu.Unlock()
}

// push sends one message for sectors and records it on their rows, in one
// transaction so a restart sees all of them packed or none.
func (m *Manager) push(ctx context.Context, mi *minerCfg, k kind, sender config.Address, fee config.Fee, sectors []store.Sector, head abi.ChainEpoch) error {
	slices.SortFunc(sectors, func(a, b store.Sector) int { return cmp.Compare(a.ID.Number, b.ID.Number) })
	var (
		params cbg.CBORMarshaler
		method abi.MethodNum
	)
	switch k {
	case preCommit:
		p := &miner.PreCommitSectorBatchParams2{}
		for _, s := range sectors {
			info, err := preCommitInfo(s, head, mi.cfg.Sector.LifetimeDays)
			if err != nil {
				return err
			}
			p.Sectors = append(p.Sectors, info)
		}
		params, method = p, builtin.MethodsMiner.PreCommitSectorBatch2
	case proveCommit:
		// Without RequireActivationSuccess one bad proof fails its own
		// sector only (a FailCode in the BatchReturn), not the batch.
		p := &miner.ProveCommitSectors3Params{}
		for _, s := range sectors {
			p.SectorActivations = append(p.SectorActivations, miner.SectorActivationManifest{SectorNumber: s.ID.Number})
			p.SectorProofs = append(p.SectorProofs, s.Commit.Proof)
		}
		params, method = p, builtin.MethodsMiner.ProveCommitSectors3
	}
	var buf bytes.Buffer
	if err := params.MarshalCBOR(&buf); err != nil {
		return fmt.Errorf("encode %s params: %w", k, err)
	}
	msg := &chain.Message{
		To:        mi.maddr,
		From:      sender.Address,
		Value:     big.Zero(),
		Method:    method,
		Params:    buf.Bytes(),
		GasFeeCap: fee.FeeCap().Atto(),
		// Zero gas limit and premium are estimated by the node.
		GasPremium: big.Zero(),
	}
	ids := make([]abi.SectorID, len(sectors))
	names := make([]abi.SectorNumber, len(sectors))
	for i, s := range sectors {
		ids[i], names[i] = s.ID, s.ID.Number
	}
	sm, err := m.chain.MpoolPushMessage(ctx, msg, &chain.MessageSendSpec{MaxFee: big.Zero()})
	if err != nil {
		return fmt.Errorf("push %s of miner %d sectors %v from %s: %w", k, mi.cfg.Actor, names, sender, err)
	}
	c, err := sm.Cid()
	if err != nil {
		return fmt.Errorf("%s message of sectors %v: %w", k, names, err)
	}
	_, err = m.sectors.UpdateMany(ctx, ids, func(s *store.Sector) error {
		msg := k.message(s)
		if msg == nil {
			return fmt.Errorf("%s of %s vanished while its message was sent", k, proofs.SectorName(s.ID))
		}
		*msg = store.SectorMessage{CID: c.String(), State: uint64(rpc.OnChainPacked)}
		s.UpdatedAt = m.now()
		return nil
	})
	if err != nil {
		// The message is out but not recorded: a later pass would send the
		// sectors again, and the duplicate would fail on chain.
		log.Errorw("commitment message pushed but not recorded", "kind", k.String(), "miner", mi.cfg.Actor, "sectors", names, "cid", c, "err", err)
		return fmt.Errorf("record %s message %s of sectors %v: %w", k, c, names, err)
	}
	for _, id := range ids {
		m.forget(id, k)
	}
	log.Infow(k.String()+" message published", "miner", mi.cfg.Actor, "sectors", names, "cid", c, "from", sender)
	return nil
}

func preCommitInfo(s store.Sector, head abi.ChainEpoch, lifetimeDays uint64) (miner.SectorPreCommitInfo, error) {
	pc := s.PreCommit
	sealed, err := commcid.ReplicaCommitmentV1ToCID(pc.CommR[:])
	if err != nil {
		return miner.SectorPreCommitInfo{}, fmt.Errorf("%s: comm_r: %w", proofs.SectorName(s.ID), err)
	}
	unsealed, err := commcid.DataCommitmentV1ToCID(pc.CommD[:])
	if err != nil {
		return miner.SectorPreCommitInfo{}, fmt.Errorf("%s: comm_d: %w", proofs.SectorName(s.ID), err)
	}
	exp, err := expiration(head, s.ProofType, lifetimeDays)
	if err != nil {
		return miner.SectorPreCommitInfo{}, fmt.Errorf("%s: expiration: %w", proofs.SectorName(s.ID), err)
	}
	return miner.SectorPreCommitInfo{
		SealProof:     s.ProofType,
		SectorNumber:  s.ID.Number,
		SealedCID:     sealed,
		SealRandEpoch: pc.Ticket.Epoch,
		Expiration:    exp,
		UnsealedCid:   &unsealed,
	}, nil
}

// checkOnChain settles, from chain state, the pending sectors that need no
// message (already there) or can never get one on chain, and returns the
// others. It is what keeps a message from being sent twice when its
// recording was lost.
func (m *Manager) checkOnChain(ctx context.Context, mi *minerCfg, k kind, pending []store.Sector, head abi.ChainEpoch) ([]store.Sector, error) {
	var ready []store.Sector
	for _, s := range pending {
		st, desc, err := m.settled(ctx, mi, k, s, head)
		if err != nil {
			return nil, err
		}
		if st == 0 {
			ready = append(ready, s)
			continue
		}
		if err := m.settle(ctx, k, s.ID, "", st, desc); err != nil {
			return nil, err
		}
		log.Infow(k.String()+" settled without a message", "sector", proofs.SectorName(s.ID), "state", stateName(st), "desc", desc)
	}
	return ready, nil
}

// settled returns the final state of a pending sector read from the chain,
// or 0 when it still needs its message.
func (m *Manager) settled(ctx context.Context, mi *minerCfg, k kind, s store.Sector, head abi.ChainEpoch) (rpc.OnChainState, string, error) {
	n := s.ID.Number
	info, err := m.chain.StateSectorGetInfo(ctx, mi.maddr, n, chain.EmptyTSK)
	if err != nil {
		return 0, "", fmt.Errorf("sector %d on chain: %w", n, err)
	}
	pc, err := m.chain.StateSectorPreCommitInfo(ctx, mi.maddr, n, chain.EmptyTSK)
	if err != nil {
		return 0, "", fmt.Errorf("pre-commit of sector %d on chain: %w", n, err)
	}
	if k == proveCommit {
		switch {
		case info != nil:
			return rpc.OnChainLanded, "sector already active on chain", nil
		case pc == nil:
			return rpc.OnChainPermFailed, fmt.Sprintf("the pre-commit of sector %d is no longer on chain (expired?)", n), nil
		case head+1 > pc.PreCommitEpoch+miner.MaxProveCommitDuration[pc.Info.SealProof]:
			return rpc.OnChainPermFailed, fmt.Sprintf("the pre-commit of sector %d at epoch %d expired before it could be proven", n, pc.PreCommitEpoch), nil
		}
		return 0, "", nil
	}
	var sealed []byte
	switch {
	case info != nil:
		sealed, err = commcid.CIDToReplicaCommitmentV1(info.SealedCID)
	case pc != nil:
		sealed, err = commcid.CIDToReplicaCommitmentV1(pc.Info.SealedCID)
	default:
		allocated, err := m.chain.StateMinerSectorAllocated(ctx, mi.maddr, n, chain.EmptyTSK)
		if err != nil {
			return 0, "", fmt.Errorf("sector %d allocated: %w", n, err)
		}
		if allocated {
			return rpc.OnChainShouldAbort, fmt.Sprintf("sector number %d is already allocated on chain by another pre-commit", n), nil
		}
		return 0, "", nil
	}
	if err != nil || !bytes.Equal(sealed, s.PreCommit.CommR[:]) {
		return rpc.OnChainShouldAbort, fmt.Sprintf("sector %d is on chain with another sealed CID", n), nil
	}
	return rpc.OnChainLanded, "already on chain", nil
}

// settle moves the message of kind k of sector from Pending or (with cid)
// from Packed in that message to st. A row that moved on meanwhile is left
// as it is.
func (m *Manager) settle(ctx context.Context, k kind, id abi.SectorID, cid string, st rpc.OnChainState, desc string) error {
	return m.settleMany(ctx, k, []abi.SectorID{id}, cid, func(abi.SectorID) (rpc.OnChainState, string) { return st, desc })
}

func (m *Manager) settleMany(ctx context.Context, k kind, ids []abi.SectorID, cid string, verdict func(abi.SectorID) (rpc.OnChainState, string)) error {
	from := rpc.OnChainPending
	if cid != "" {
		from = rpc.OnChainPacked
	}
	now := m.now()
	_, err := m.sectors.UpdateMany(ctx, ids, func(s *store.Sector) error {
		msg := k.message(s)
		if msg == nil || state(msg) != from || msg.CID != cid {
			return nil
		}
		st, desc := verdict(s.ID)
		msg.State, msg.Desc = uint64(st), desc
		s.UpdatedAt = now
		return nil
	})
	return err
}
