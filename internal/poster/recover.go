package poster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/store"
)

// declareRecoveries declares recovered the faulty sectors of the deadline
// two ahead whose files check good again, before that deadline's fault
// cutoff: then its next window proves them and they are active again.
// [Miners.PoSt] MaxRecoverSectorLimit caps the sectors, and
// MaxPartitionsPerRecoveryMessage the partitions of one message.
func (r *runner) declareRecoveries() {
	target := chain.NextDeadline(chain.NextDeadline(r.di))
	ts := r.p.heads.head()
	if ts.Height >= target.FaultCutoff {
		log.Warnw("too late to declare recoveries for the deadline two ahead", append(r.logw(), "target", target.Index, "cutoff", target.FaultCutoff)...)
		return
	}
	parts, err := r.p.cfg.Chain.StateMinerPartitions(r.ctx, r.mi.addr, target.Index, ts.Key())
	if err != nil {
		log.Warnw("cannot read the partitions to recover", append(r.logw(), "target", target.Index, "err", err)...)
		return
	}
	var decls []miner.RecoveryDeclaration
	total := uint64(0)
	limit := r.cfg.MaxRecoverSectorLimit
	for i, p := range parts {
		if limit > 0 && total >= limit {
			log.Warnw("MaxRecoverSectorLimit reached: the other faulty sectors are declared recovered later", append(r.logw(), "limit", limit)...)
			break
		}
		candidates, err := bitfield.SubtractBitField(p.FaultySectors, p.RecoveringSectors)
		if err != nil {
			log.Warnw("cannot compute the sectors to recover", append(r.logw(), "target", target.Index, "partition", i, "err", err)...)
			continue
		}
		if n, err := candidates.Count(); err != nil || n == 0 {
			continue
		}
		infos, err := r.p.cfg.Chain.StateMinerSectors(r.ctx, r.mi.addr, &candidates, ts.Key())
		if err != nil {
			log.Warnw("cannot read the sectors to recover", append(r.logw(), "target", target.Index, "partition", i, "err", err)...)
			continue
		}
		slices.SortFunc(infos, func(a, b *chain.SectorOnChainInfo) int { return int(a.SectorNumber) - int(b.SectorNumber) })
		res := r.p.checker.Check(r.ctx, r.mi.actor, r.mi.postProof, infos, r.checkOptions(nil))
		log.Infow("Checked sectors", append(r.logw(), "target", target.Index, "partition", i, "faulty", len(infos), "recoverable", len(res.Good))...)
		var good []uint64
		for _, s := range res.Good {
			if limit > 0 && total >= limit {
				break
			}
			good = append(good, uint64(s.SectorNumber))
			total++
		}
		if len(good) == 0 {
			continue
		}
		decls = append(decls, miner.RecoveryDeclaration{Deadline: target.Index, Partition: uint64(i), Sectors: bitfield.NewFromSet(good)})
	}
	if len(decls) == 0 || r.ctx.Err() != nil {
		return
	}
	per := len(decls)
	if m := r.cfg.MaxPartitionsPerRecoveryMessage; m > 0 {
		per = int(min(m, uint64(per)))
	}
	for chunk := range slices.Chunk(decls, per) {
		if err := r.declareRecovered(target.Open, chunk); err != nil {
			log.Errorw("declare faults recovered failed", append(r.logw(), "target", target.Index, "err", err)...)
		}
	}
}

func (r *runner) declareRecovered(targetOpen abi.ChainEpoch, decls []miner.RecoveryDeclaration) error {
	parts := make([]string, len(decls))
	for i, d := range decls {
		parts[i] = strconv.FormatUint(d.Partition, 10)
	}
	key := store.PoStMessageKey{Miner: r.mi.actor, DeadlineOpen: targetOpen, Kind: kindRecover, Batch: strings.Join(parts, ",")}
	msgs := r.p.cfg.DB.PoStMessages()
	if !r.p.leader.confirm(r.ctx, r.mi.actor) {
		return fmt.Errorf("recoveries of partitions %s: another manager leads this miner now", key.Batch)
	}
	rec, created, err := msgs.Claim(r.ctx, key, time.Now())
	if err != nil {
		return fmt.Errorf("record recovery intent: %w", err)
	}
	if !created && rec.Message != "" {
		log.Infow("recovery already declared for these partitions", append(r.logw(), "target-open", targetOpen, "partitions", key.Batch, "message", rec.Message)...)
		return nil
	}
	c, err := r.push(builtin.MethodsMiner.DeclareFaultsRecovered, &miner.DeclareFaultsRecoveredParams{Recoveries: decls})
	if err != nil {
		_ = msgs.Delete(context.WithoutCancel(r.ctx), key)
		return err
	}
	if err := msgs.SetMessage(context.WithoutCancel(r.ctx), key, c.String(), time.Now()); err != nil {
		log.Errorw("cannot record the recovery message", append(r.logw(), "message", c, "err", err)...)
	}
	log.Infow("declare faults recovered message published", append(r.logw(), "message", c, "partitions", key.Batch)...)
	return r.waitRecovery(key, c)
}

func (r *runner) waitRecovery(key store.PoStMessageKey, c cid.Cid) error {
	lookup, err := r.p.cfg.Chain.StateWaitMsg(r.ctx, c, r.cfg.Confidence, chain.LookbackNoLimit, true)
	if err != nil {
		return fmt.Errorf("wait for recovery declaration %s: %w", c, err)
	}
	if lookup.Receipt.ExitCode.IsError() {
		_ = r.p.cfg.DB.PoStMessages().Delete(context.WithoutCancel(r.ctx), key)
		return fmt.Errorf("recovery declaration %s failed on chain: exit code %d", c, lookup.Receipt.ExitCode)
	}
	log.Infow("declare faults recovered message succeeded", append(r.logw(), "message", c, "height", lookup.Height)...)
	return nil
}
