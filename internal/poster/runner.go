package poster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/prover"
	"github.com/damocles-go/damocles/internal/store"
)

// Kinds of the post_messages records.
const (
	kindPoSt    = "post"
	kindRecover = "recover"
)

// maxProofBytes is the most proof bytes a SubmitWindowedPoSt can carry:
// CBOR byte strings are limited to 2MiB, and the params hold a little
// more than the proof.
const maxProofBytes = cbg.ByteArrayMaxLen - 4<<10

// permanentError is a failure that trying again cannot fix: the runner
// gives up the deadline.
type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

// maxVerifyFailures is how many proofs of one batch may fail the local
// verification before the batch gives up until the runner's next attempt.
const maxVerifyFailures = 3

// runner proves one deadline of one miner.
type runner struct {
	p       *Poster
	mi      *minerInfo
	cfg     config.MinerPoSt
	proving config.Proving
	di      *dline.Info
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time

	stateMu sync.Mutex
	state   string
}

func (p *Poster) newRunner(ctx context.Context, mi *minerInfo, cfg config.MinerPoSt, proving config.Proving, di *dline.Info) *runner {
	ctx, cancel := context.WithCancel(ctx)
	return &runner{p: p, mi: mi, cfg: cfg, proving: proving, di: di, ctx: ctx, cancel: cancel, started: time.Now()}
}

func (r *runner) setState(s string) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	r.p.metrics.moveRunner(r.mi.actor, r.state, s)
	r.state = s
}

func (r *runner) logw() []any {
	return []any{"miner", r.mi.addr, "deadline", r.di.Index, "open", r.di.Open, "close", r.di.Close}
}

// run proves the deadline, retrying a failed attempt until it succeeds or
// the runner is stopped (deadline closed, chain reverted, manager
// stopping). Recoveries for the deadline two ahead run beside it.
func (r *runner) run() {
	defer r.setState("")
	defer r.cancel()
	log.Infow("deadline runner started", append(r.logw(), "challenge", r.di.Challenge, "height", r.p.heads.head().Height)...)
	var wg sync.WaitGroup
	wg.Go(r.declareRecoveries)
	defer wg.Wait()
	for {
		err := r.prove()
		if err == nil {
			return
		}
		if r.ctx.Err() != nil {
			r.setState(stateAborted)
			log.Warnw("deadline runner stopped before it finished", append(r.logw(), "err", err)...)
			return
		}
		if perm := (*permanentError)(nil); errors.As(err, &perm) {
			r.setState(stateFailed)
			log.Errorw("window post cannot be sent for this deadline: giving up", append(r.logw(), "err", err)...)
			return
		}
		r.setState(stateFailed)
		log.Errorw("window post attempt failed; trying again", append(r.logw(), "err", err)...)
		if !sleep(r.ctx, r.p.cfg.RetryInterval) {
			return
		}
	}
}

// partitionToProve is one partition of the deadline with what to prove.
type partitionToProve struct {
	index   uint64
	sectors []proofs.PrivateSectorInfo
	// skipped are the sectors left out, with the reason.
	skipped map[abi.SectorNumber]string
}

// prove is one attempt at the whole deadline.
func (r *runner) prove() error {
	ts := r.p.heads.head()
	rand, err := r.challengeRandomness(ts)
	if err != nil {
		return err
	}
	parts, err := r.partitionsToProve(ts, rand)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		r.setState(stateNoSectors)
		log.Infow("nothing to prove in this deadline", r.logw()...)
		return nil
	}
	batches := slices.Collect(slices.Chunk(parts, r.mi.maxPartitionsPerMessage(r.cfg)))
	errs := make([]error, len(batches))
	if r.cfg.Parallel && len(batches) > 1 {
		var wg sync.WaitGroup
		for i, b := range batches {
			wg.Go(func() { errs[i] = r.submitBatch(b, rand) })
		}
		wg.Wait()
	} else {
		for i, b := range batches {
			errs[i] = r.submitBatch(b, rand)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.setState(stateProven)
	return nil
}

func (r *runner) challengeRandomness(ts *chain.TipSet) (abi.PoStRandomness, error) {
	rand, err := r.p.cfg.Chain.StateGetRandomnessFromBeacon(r.ctx, crypto.DomainSeparationTag_WindowedPoStChallengeSeed, r.di.Challenge, r.mi.entropy, ts.Key())
	if err != nil {
		return nil, fmt.Errorf("challenge randomness at %d: %w", r.di.Challenge, err)
	}
	return abi.PoStRandomness(rand), nil
}

// partitionsToProve reads the deadline's partitions at ts and checks the
// sectors to prove in each: (live − faulty) ∪ recovering. Partitions
// already proven in this window (by an earlier run or another manager)
// are left out, as are partitions with nothing to prove.
func (r *runner) partitionsToProve(ts *chain.TipSet, rand abi.PoStRandomness) ([]partitionToProve, error) {
	r.setState(stateChecking)
	dls, err := r.p.cfg.Chain.StateMinerDeadlines(r.ctx, r.mi.addr, ts.Key())
	if err != nil {
		return nil, fmt.Errorf("read deadlines: %w", err)
	}
	if r.di.Index >= uint64(len(dls)) {
		return nil, fmt.Errorf("chain lists %d deadlines, want deadline %d", len(dls), r.di.Index)
	}
	proven := dls[r.di.Index].PostSubmissions
	chainParts, err := r.p.cfg.Chain.StateMinerPartitions(r.ctx, r.mi.addr, r.di.Index, ts.Key())
	if err != nil {
		return nil, fmt.Errorf("read partitions: %w", err)
	}
	opts := r.checkOptions(rand)
	var out []partitionToProve
	for i, cp := range chainParts {
		idx := uint64(i)
		if done, err := proven.IsSet(idx); err != nil {
			return nil, fmt.Errorf("read proven partitions: %w", err)
		} else if done {
			log.Infow("partition already proven in this window", append(r.logw(), "partition", idx)...)
			continue
		}
		toProve, err := bitfield.SubtractBitField(cp.LiveSectors, cp.FaultySectors)
		if err == nil {
			toProve, err = bitfield.MergeBitFields(toProve, cp.RecoveringSectors)
		}
		if err != nil {
			return nil, fmt.Errorf("partition %d: sectors to prove: %w", idx, err)
		}
		if n, err := toProve.Count(); err != nil || n == 0 {
			continue
		}
		infos, err := r.p.cfg.Chain.StateMinerSectors(r.ctx, r.mi.addr, &toProve, ts.Key())
		if err != nil {
			return nil, fmt.Errorf("partition %d: read sectors: %w", idx, err)
		}
		slices.SortFunc(infos, func(a, b *chain.SectorOnChainInfo) int { return int(a.SectorNumber) - int(b.SectorNumber) })
		start := time.Now()
		res := r.p.checker.Check(r.ctx, r.mi.actor, r.mi.postProof, infos, opts)
		if r.ctx.Err() != nil {
			return nil, r.ctx.Err()
		}
		r.p.metrics.phaseSeconds.WithLabelValues(minerLabel(r.mi.actor), "check").Observe(time.Since(start).Seconds())
		r.p.metrics.sectorsChecked.WithLabelValues(minerLabel(r.mi.actor)).Add(float64(len(infos)))
		r.p.metrics.sectorsSkipped.WithLabelValues(minerLabel(r.mi.actor)).Add(float64(len(res.Bad)))
		log.Infow("Checked sectors", append(r.logw(), "partition", idx, "checked", len(infos), "good", len(res.Good),
			"bad", len(res.Bad), "took", time.Since(start).Round(time.Millisecond))...)
		for n, why := range res.Bad {
			log.Warnw("sector skipped: it fails the check", append(r.logw(), "partition", idx, "sector", n, "reason", why)...)
		}
		out = append(out, partitionToProve{index: idx, sectors: res.Good, skipped: res.Bad})
	}
	return out, nil
}

func (r *runner) checkOptions(rand abi.PoStRandomness) CheckOptions {
	return CheckOptions{
		Strict:           r.cfg.StrictCheck,
		Limit:            r.proving.ParallelCheckLimit,
		SingleTimeout:    time.Duration(r.proving.SingleCheckTimeout),
		PartitionTimeout: time.Duration(r.proving.PartitionCheckTimeout),
		Randomness:       rand,
	}
}

func partitionIndexes(batch []partitionToProve) []uint64 {
	idx := make([]uint64, len(batch))
	for i, p := range batch {
		idx[i] = p.index
	}
	return idx
}

func batchKey(batch []partitionToProve) string {
	idx := make([]string, len(batch))
	for i, p := range batch {
		idx[i] = strconv.FormatUint(p.index, 10)
	}
	return strings.Join(idx, ",")
}

// submitBatch proves the partitions of batch, verifies the proof, and
// submits it once the window is SubmitConfidence epochs open, unless this
// batch's message was already pushed: then it waits for that one.
func (r *runner) submitBatch(batch []partitionToProve, rand abi.PoStRandomness) error {
	key := store.PoStMessageKey{Miner: r.mi.actor, DeadlineOpen: r.di.Open, Kind: kindPoSt, Batch: batchKey(batch)}
	msgs := r.p.cfg.DB.PoStMessages()
	if prev, ok, err := r.pushedBefore(key); err != nil {
		return err
	} else if ok {
		log.Infow("window post of this batch was already pushed: waiting for it", append(r.logw(), "partitions", key.Batch, "message", prev)...)
		r.setState(stateSubmitted)
		return r.waitPoSt(key, prev)
	}

	r.setState(stateProving)
	params, err := r.proveBatch(batch, rand)
	if err != nil {
		return err
	}
	if params == nil {
		return nil
	}

	r.setState(stateWaiting)
	ts, err := r.p.heads.wait(r.ctx, r.di.Open+submitConfidence(r.cfg))
	if err != nil {
		return err
	}
	// The proof answers the challenge randomness read at start; if a
	// reorg changed it, the proof is worthless.
	now, err := r.challengeRandomness(ts)
	if err != nil {
		return err
	}
	if !bytes.Equal(now, rand) {
		return fmt.Errorf("challenge randomness changed since the proof was made (chain reorg): proving again")
	}
	params.ChainCommitEpoch = r.di.Open
	commRand, err := r.p.cfg.Chain.StateGetRandomnessFromTickets(r.ctx, crypto.DomainSeparationTag_PoStChainCommit, params.ChainCommitEpoch, nil, ts.Key())
	if err != nil {
		return fmt.Errorf("chain commit randomness: %w", err)
	}
	params.ChainCommitRand = abi.Randomness(commRand)

	if !r.p.leader.confirm(r.ctx, r.mi.actor) {
		return &permanentError{fmt.Errorf("partitions %s: another manager leads this miner now: leaving the deadline to it", key.Batch)}
	}
	rec, created, err := msgs.Claim(r.ctx, key, time.Now())
	if err != nil {
		return fmt.Errorf("record window post intent: %w", err)
	}
	if !created {
		if rec.Message != "" {
			c, err := cid.Parse(rec.Message)
			if err != nil {
				return fmt.Errorf("recorded window post message %q: %w", rec.Message, err)
			}
			r.setState(stateSubmitted)
			return r.waitPoSt(key, c)
		}
		// A push was about to happen when an earlier run stopped: give
		// it two epochs to land before pushing again.
		if done, err := r.batchProvenAfter(ts.Height+2, batch); err != nil || done {
			return err
		}
	}
	// The message lands at the next epoch at the earliest: pushing it
	// when that is past the window only wastes gas. Ask the node, whose
	// head may be ahead of the one this runner saw.
	if head, err := r.p.cfg.Chain.ChainHead(r.ctx); err != nil {
		return fmt.Errorf("read chain head: %w", err)
	} else if head.Height+1 >= r.di.Close {
		_ = msgs.Delete(context.WithoutCancel(r.ctx), key)
		r.p.metrics.proofsFailed.WithLabelValues(minerLabel(r.mi.actor), "push").Inc()
		return fmt.Errorf("partitions %s: the window closes at %d and the chain is at %d: too late to submit", key.Batch, r.di.Close, head.Height)
	}
	c, err := r.push(builtin.MethodsMiner.SubmitWindowedPoSt, params)
	if err != nil {
		r.p.metrics.proofsFailed.WithLabelValues(minerLabel(r.mi.actor), "push").Inc()
		_ = msgs.Delete(context.WithoutCancel(r.ctx), key)
		return err
	}
	if err := msgs.SetMessage(context.WithoutCancel(r.ctx), key, c.String(), time.Now()); err != nil {
		log.Errorw("cannot record the pushed window post message; a restart may send it again", append(r.logw(), "message", c, "err", err)...)
	}
	r.setState(stateSubmitted)
	r.p.metrics.proofsSent.WithLabelValues(minerLabel(r.mi.actor)).Inc()
	r.p.metrics.submitLatency.WithLabelValues(minerLabel(r.mi.actor)).Observe(time.Since(r.started).Seconds())
	log.Infow("Submitted window post: "+c.String(), append(r.logw(), "partitions", key.Batch, "height", ts.Height,
		"since-start", time.Since(r.started).Round(time.Millisecond))...)
	return r.waitPoSt(key, c)
}

// pushedBefore tells whether a message was recorded as pushed for key.
func (r *runner) pushedBefore(key store.PoStMessageKey) (cid.Cid, bool, error) {
	rows, err := r.p.cfg.DB.PoStMessages().List(r.ctx, key.Miner, key.DeadlineOpen)
	if err != nil {
		return cid.Undef, false, fmt.Errorf("read window post records: %w", err)
	}
	for _, row := range rows {
		if row.Kind == key.Kind && row.Batch == key.Batch && row.Message != "" {
			c, err := cid.Parse(row.Message)
			if err != nil {
				return cid.Undef, false, fmt.Errorf("recorded window post message %q: %w", row.Message, err)
			}
			return c, true, nil
		}
	}
	return cid.Undef, false, nil
}

// batchProvenAfter waits for height h and tells whether the chain then
// counts every partition of batch proven in this window.
func (r *runner) batchProvenAfter(h abi.ChainEpoch, batch []partitionToProve) (bool, error) {
	ts, err := r.p.heads.wait(r.ctx, h)
	if err != nil {
		return false, err
	}
	dls, err := r.p.cfg.Chain.StateMinerDeadlines(r.ctx, r.mi.addr, ts.Key())
	if err != nil {
		return false, fmt.Errorf("read deadlines: %w", err)
	}
	for _, p := range batch {
		if set, err := dls[r.di.Index].PostSubmissions.IsSet(p.index); err != nil || !set {
			return false, err
		}
	}
	log.Infow("the batch's window post landed from an earlier run", append(r.logw(), "partitions", batchKey(batch))...)
	return true, nil
}

// proveBatch proves batch, leaving out sectors the prover reports faulty
// and retrying a failed prover until the runner stops. It returns nil
// params when no sector of the batch can be proven.
func (r *runner) proveBatch(batch []partitionToProve, rand abi.PoStRandomness) (*miner.SubmitWindowedPoStParams, error) {
	label := minerLabel(r.mi.actor)
	verifyFailures := 0
	for {
		var privs []proofs.PrivateSectorInfo
		for _, p := range batch {
			privs = append(privs, p.sectors...)
		}
		if len(privs) == 0 {
			log.Errorw("no sector of these partitions can be proven: they will be faulty", append(r.logw(), "partitions", batchKey(batch))...)
			r.p.metrics.proofsFailed.WithLabelValues(label, "prove").Inc()
			return nil, nil
		}
		start := time.Now()
		attempt, cancel := context.WithTimeout(r.ctx, r.attemptTimeout())
		postProofs, faulty, err := r.p.cfg.Prover.GenerateWindowPoSt(attempt, prover.WindowPoStTask{
			Miner: r.mi.actor, ProofType: r.mi.postProof, Sectors: privs, Randomness: rand,
			DeadlineIndex: r.di.Index, DeadlineOpen: r.di.Open, Partitions: partitionIndexes(batch),
		})
		cancel()
		proveTook := time.Since(start)
		r.p.metrics.phaseSeconds.WithLabelValues(label, "prove").Observe(proveTook.Seconds())
		if err != nil {
			if r.ctx.Err() != nil {
				return nil, r.ctx.Err()
			}
			r.p.metrics.proofsFailed.WithLabelValues(label, "prove").Inc()
			if errors.Is(err, context.DeadlineExceeded) {
				// A prover that ran out of time may be stuck on a file
				// that hung after its check: check the sectors again.
				return nil, fmt.Errorf("partitions %s: proving took longer than %s: checking the sectors again: %w", batchKey(batch), r.attemptTimeout(), err)
			}
			log.Warnw("prover failed; trying again", append(r.logw(), "partitions", batchKey(batch), "sectors", len(privs), "err", err)...)
			if !sleep(r.ctx, r.p.cfg.RetryInterval) {
				return nil, r.ctx.Err()
			}
			continue
		}
		if len(faulty) > 0 {
			r.p.metrics.sectorsSkipped.WithLabelValues(label).Add(float64(len(faulty)))
			log.Warnw("prover found faulty sectors; proving the batch again without them", append(r.logw(), "partitions", batchKey(batch), "faulty", faulty)...)
			skipFaulty(batch, faulty)
			continue
		}
		start = time.Now()
		public := make([]proof.SectorInfo, len(privs))
		for i, s := range privs {
			public[i] = proof.SectorInfo{SealProof: s.SealProof, SectorNumber: s.SectorNumber, SealedCID: s.SealedCID}
		}
		ok, err := r.p.cfg.Engine.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{Randomness: rand, Proofs: postProofs, ChallengedSectors: public, Prover: r.mi.actor})
		verifyTook := time.Since(start)
		r.p.metrics.phaseSeconds.WithLabelValues(label, "verify").Observe(verifyTook.Seconds())
		if err != nil || !ok {
			r.p.metrics.proofsFailed.WithLabelValues(label, "verify").Inc()
			verifyFailures++
			log.Errorw("window post does not verify locally; not sending it", append(r.logw(), "partitions", batchKey(batch), "err", err, "failures", verifyFailures)...)
			if verifyFailures >= maxVerifyFailures {
				return nil, fmt.Errorf("partitions %s: %d proofs in a row do not verify", batchKey(batch), verifyFailures)
			}
			continue
		}
		r.p.metrics.phaseSeconds.WithLabelValues(label, "start_to_verified").Observe(time.Since(r.started).Seconds())
		size := 0
		for _, p := range postProofs {
			size += len(p.ProofBytes)
		}
		log.Infow("window post computed", append(r.logw(), "partitions", batchKey(batch), "sectors", len(privs), "proof-bytes", size,
			"prove", proveTook.Round(time.Microsecond), "verify", verifyTook.Round(time.Microsecond), "prover", r.p.cfg.Prover.Name())...)
		if size > maxProofBytes {
			r.p.metrics.proofsFailed.WithLabelValues(label, "prove").Inc()
			return nil, &permanentError{fmt.Errorf("partitions %s: the proof of %d sectors is %d bytes, more than the %d a message can carry "+
				"(devproof's proofs grow with the sectors proven; lower the partition size or MaxPartitionsPerPoStMessage)", batchKey(batch), len(privs), size, maxProofBytes)}
		}
		params := &miner.SubmitWindowedPoStParams{Deadline: r.di.Index, Proofs: postProofs}
		for _, p := range batch {
			skipped := make([]uint64, 0, len(p.skipped))
			for n := range p.skipped {
				skipped = append(skipped, uint64(n))
			}
			params.Partitions = append(params.Partitions, miner.PoStPartition{Index: p.index, Skipped: bitfield.NewFromSet(skipped)})
		}
		return params, nil
	}
}

// attemptTimeout is how long one proving attempt may take: half the time
// left before the window's last epoch, so that a hung prover leaves time
// for another try (on another processor, or on the one restarted).
func (r *runner) attemptTimeout() time.Duration {
	left := r.di.Close - 1 - r.p.heads.head().Height
	return time.Duration(max(left/2, 1)) * r.p.cfg.BlockDelay
}

// skipFaulty moves the sectors the prover found faulty out of batch.
func skipFaulty(batch []partitionToProve, faulty []abi.SectorNumber) {
	for i := range batch {
		p := &batch[i]
		p.sectors = slices.DeleteFunc(p.sectors, func(s proofs.PrivateSectorInfo) bool {
			if slices.Contains(faulty, s.SectorNumber) {
				p.skipped[s.SectorNumber] = "faulty at proving"
				return true
			}
			return false
		})
	}
}

// push sends a message from [Miners.PoSt] Sender to the miner.
func (r *runner) push(method abi.MethodNum, params cbg.CBORMarshaler) (cid.Cid, error) {
	if !r.cfg.Sender.IsSet() {
		return cid.Undef, fmt.Errorf("miner %s: [Miners.PoSt] Sender is not set: no WindowPoSt message can be sent", r.mi.addr)
	}
	var buf bytes.Buffer
	if err := params.MarshalCBOR(&buf); err != nil {
		return cid.Undef, fmt.Errorf("encode params: %w", err)
	}
	msg := &chain.Message{
		To:         r.mi.addr,
		From:       r.cfg.Sender.Address,
		Value:      big.Zero(),
		Method:     method,
		Params:     buf.Bytes(),
		GasFeeCap:  r.cfg.FeeCap().Atto(),
		GasPremium: big.Zero(),
	}
	sm, err := r.p.cfg.Chain.MpoolPushMessage(r.ctx, msg, &chain.MessageSendSpec{MaxFee: big.Zero()})
	if err != nil {
		return cid.Undef, fmt.Errorf("push message from %s: %w", r.cfg.Sender, err)
	}
	return sm.Cid()
}

// waitPoSt waits Confidence epochs on a pushed WindowPoSt. A message that
// failed on chain loses its record, so the next attempt sends a new one.
func (r *runner) waitPoSt(key store.PoStMessageKey, c cid.Cid) error {
	lookup, err := r.p.cfg.Chain.StateWaitMsg(r.ctx, c, r.cfg.Confidence, chain.LookbackNoLimit, true)
	if err != nil {
		return fmt.Errorf("wait for window post %s: %w", c, err)
	}
	if lookup.Receipt.ExitCode.IsError() {
		r.p.metrics.proofsFailed.WithLabelValues(minerLabel(r.mi.actor), "message").Inc()
		_ = r.p.cfg.DB.PoStMessages().Delete(context.WithoutCancel(r.ctx), key)
		return fmt.Errorf("window post %s of partitions %s failed on chain: exit code %d", c, key.Batch, lookup.Receipt.ExitCode)
	}
	log.Infow("window post message succeeded", append(r.logw(), "message", c, "partitions", key.Batch, "height", lookup.Height)...)
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
