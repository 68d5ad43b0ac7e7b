package devnet

import (
	"bytes"

	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// sectorNumbers reads a bitfield from message parameters, refusing
// malformed or oversized ones.
func sectorNumbers(bf bitfield.BitField, what string) ([]abi.SectorNumber, *actorError) {
	bits, err := bf.All(miner.AddressedSectorsMax)
	if err != nil {
		return nil, fail(exitcode.ErrIllegalArgument, "%s: %v", what, err)
	}
	out := make([]abi.SectorNumber, len(bits))
	for i, b := range bits {
		out[i] = abi.SectorNumber(b)
	}
	return out, nil
}

// partitionAt finds partition pIdx of deadline dlIdx.
func (m *minerState) partitionAt(dlIdx, pIdx uint64) (*partitionState, *actorError) {
	if dlIdx >= miner.WPoStPeriodDeadlines {
		return nil, fail(exitcode.ErrIllegalArgument, "invalid deadline %d of %d", dlIdx, miner.WPoStPeriodDeadlines)
	}
	parts := m.Deadlines[dlIdx].Partitions
	if pIdx >= uint64(len(parts)) {
		return nil, fail(exitcode.ErrNotFound, "no such partition %d in deadline %d", pIdx, dlIdx)
	}
	return parts[pIdx], nil
}

// declaredSectors resolves a declaration's sectors, all of which must
// belong to its partition.
func (m *minerState) declaredSectors(dlIdx, pIdx uint64, bf bitfield.BitField) ([]*sectorState, *actorError) {
	p, err := m.partitionAt(dlIdx, pIdx)
	if err != nil {
		return nil, err
	}
	nums, err := sectorNumbers(bf, "sectors")
	if err != nil {
		return nil, err
	}
	out := make([]*sectorState, len(nums))
	for i, n := range nums {
		if !p.contains(n) {
			return nil, fail(exitcode.ErrIllegalArgument, "sector %d is not in partition %d of deadline %d", n, pIdx, dlIdx)
		}
		out[i] = m.Sectors[n]
	}
	return out, nil
}

// postPartition is a partition of a WindowPoSt message, resolved.
type postPartition struct {
	index      uint64
	part       *partitionState
	skipped    map[abi.SectorNumber]bool
	challenged []abi.SectorNumber
}

// submitWindowedPoSt judges a WindowPoSt, recording the verdict for the
// observer whatever it is.
func (c *Chain) submitWindowedPoSt(m *minerState, cl *call) ([]byte, *actorError) {
	rec := PoStRecord{Message: cl.msg, Epoch: cl.epoch}
	res, err := c.checkWindowPoSt(m, cl, &rec)
	if err != nil {
		rec.ExitCode, rec.Reason = err.code, err.msg
		m.Records.PoSts = append(m.Records.PoSts, rec)
		if !c.replaying {
			log.Warnw("window PoSt rejected", "miner", m.address(), "deadline", rec.Deadline, "partitions", rec.Partitions,
				"epoch", cl.epoch, "exitcode", err.code, "reason", err.msg)
		}
		return nil, err
	}
	for _, pp := range res {
		for n := range pp.skipped {
			s := m.Sectors[n]
			if !s.live() {
				continue
			}
			s.Recovering = false
			if !s.Faulty {
				s.Faulty, s.Unproven = true, false
			}
			rec.Skipped++
		}
		for _, n := range pp.challenged {
			s := m.Sectors[n]
			if s.Recovering {
				s.Faulty, s.Recovering = false, false
				m.Records.Recovered++
			}
			s.Unproven = false
			rec.Proven++
		}
		pp.part.Proven = true
	}
	rec.Accepted = true
	m.Records.PoSts = append(m.Records.PoSts, rec)
	return nil, nil
}

// checkWindowPoSt applies every check of the real actor's
// submit_windowed_post and verifies the proof, changing nothing: it
// returns the partitions to mark proven.
func (c *Chain) checkWindowPoSt(m *minerState, cl *call, rec *PoStRecord) ([]postPartition, *actorError) {
	var p miner.SubmitWindowedPoStParams
	if err := decodeParams(cl.params, &p); err != nil {
		return nil, err
	}
	rec.Deadline = p.Deadline
	for _, pp := range p.Partitions {
		rec.Partitions = append(rec.Partitions, pp.Index)
	}
	if len(p.Proofs) != 1 {
		return nil, fail(exitcode.ErrIllegalArgument, "expected exactly one proof, got %d", len(p.Proofs))
	}
	if !windowPoStProofAllowed(p.Proofs[0].PoStProof) {
		return nil, fail(exitcode.ErrIllegalArgument, "proof type %d not allowed", p.Proofs[0].PoStProof)
	}
	if p.Deadline >= miner.WPoStPeriodDeadlines {
		return nil, fail(exitcode.ErrIllegalArgument, "invalid deadline %d of %d", p.Deadline, miner.WPoStPeriodDeadlines)
	}
	if len(p.ChainCommitRand) > abi.RandomnessLength {
		return nil, fail(exitcode.ErrIllegalArgument, "expected at most %d bytes of randomness, got %d", abi.RandomnessLength, len(p.ChainCommitRand))
	}
	if err := checkCaller(m, cl); err != nil {
		return nil, err
	}
	if p.Proofs[0].PoStProof != m.WindowPoStProofType {
		return nil, fail(exitcode.ErrIllegalArgument, "expected proof of type %d, got %d", m.WindowPoStProofType, p.Proofs[0].PoStProof)
	}
	if limit := partitionsPerPoSt(m.PartitionSectors); uint64(len(p.Partitions)) > limit {
		return nil, fail(exitcode.ErrIllegalArgument, "too many partitions %d, limit %d", len(p.Partitions), limit)
	}
	di := m.deadlineAt(cl.epoch)
	if p.Deadline != di.Index {
		return nil, fail(exitcode.ErrIllegalArgument, "invalid deadline %d at epoch %d, expected %d", p.Deadline, cl.epoch, di.Index)
	}
	if p.ChainCommitEpoch < di.Challenge {
		return nil, fail(exitcode.ErrIllegalArgument, "expected chain commit epoch %d to be after %d", p.ChainCommitEpoch, di.Challenge)
	}
	if p.ChainCommitEpoch >= cl.epoch {
		return nil, fail(exitcode.ErrIllegalArgument, "chain commit epoch %d must be less than the current epoch %d", p.ChainCommitEpoch, cl.epoch)
	}
	commRand, err := c.ticketRandomness(crypto.DomainSeparationTag_PoStChainCommit, p.ChainCommitEpoch, nil)
	if err != nil {
		return nil, fail(exitcode.ErrIllegalState, "chain commit randomness: %v", err)
	}
	if !bytes.Equal(commRand, p.ChainCommitRand) {
		return nil, fail(exitcode.ErrIllegalArgument, "post commit randomness mismatched")
	}

	var res []postPartition
	seen := map[uint64]bool{}
	var challenged []proof.SectorInfo
	for _, post := range p.Partitions {
		if seen[post.Index] {
			return nil, fail(exitcode.ErrIllegalArgument, "duplicate partitions proven")
		}
		seen[post.Index] = true
		part, aerr := m.partitionAt(p.Deadline, post.Index)
		if aerr != nil {
			return nil, aerr
		}
		if part.Proven {
			return nil, fail(exitcode.ErrIllegalArgument, "partition already proven: %d", post.Index)
		}
		skipped, aerr := sectorNumbers(post.Skipped, "skipped faults")
		if aerr != nil {
			return nil, aerr
		}
		pp := postPartition{index: post.Index, part: part, skipped: map[abi.SectorNumber]bool{}}
		for _, n := range skipped {
			if !part.contains(n) {
				return nil, fail(exitcode.ErrIllegalArgument, "skipped faults contains sectors outside partition %d: %d", post.Index, n)
			}
			pp.skipped[n] = true
		}
		// The sectors a proof covers: per partition in message order,
		// each partition's in number order (part.Sectors is sorted).
		for _, n := range part.Sectors {
			s := m.Sectors[n]
			if s.challenged() && !pp.skipped[n] {
				pp.challenged = append(pp.challenged, n)
				challenged = append(challenged, proof.SectorInfo{SealProof: s.Info.SealProof, SectorNumber: n, SealedCID: s.Info.SealedCID})
			}
		}
		res = append(res, pp)
	}
	if len(challenged) == 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "cannot prove partitions with no active sectors")
	}
	rand, err := c.beaconRandomness(crypto.DomainSeparationTag_WindowedPoStChallengeSeed, di.Challenge, AddressEntropy(m.address()))
	if err != nil {
		return nil, fail(exitcode.ErrIllegalState, "window PoSt challenge randomness: %v", err)
	}
	valid, verr := c.verifier.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{
		Randomness:        abi.PoStRandomness(rand),
		Proofs:            p.Proofs,
		ChallengedSectors: challenged,
		Prover:            m.ID,
	})
	if verr != nil {
		return nil, fail(exitcode.ErrIllegalArgument, "invalid post was submitted: %v", verr)
	}
	if !valid {
		return nil, fail(exitcode.ErrIllegalArgument, "invalid post was submitted: the proof of %d sectors does not verify", len(challenged))
	}
	return res, nil
}

// partitionsPerPoSt is the real limit on partitions in one WindowPoSt
// message for a partition size: the sectors one message may address,
// capped at PoStedPartitionsMax.
func partitionsPerPoSt(partitionSectors uint64) uint64 {
	return min(miner.AddressedSectorsMax/partitionSectors, miner.AddressedPartitionsMax, miner.PoStedPartitionsMax)
}

// checkDeclaration applies the rules every fault or recovery declaration
// shares: a known deadline whose fault cutoff, for its next window, has
// not passed.
func (m *minerState) checkDeclaration(dlIdx uint64, epoch abi.ChainEpoch, kind string) *actorError {
	if dlIdx >= miner.WPoStPeriodDeadlines {
		return fail(exitcode.ErrIllegalArgument, "invalid deadline %d of %d", dlIdx, miner.WPoStPeriodDeadlines)
	}
	if target := m.nextOccurrence(dlIdx, epoch); target.FaultCutoffPassed() {
		return fail(exitcode.ErrIllegalArgument, "late %s declaration at deadline %d: its fault cutoff %d has passed at epoch %d",
			kind, dlIdx, target.FaultCutoff, epoch)
	}
	return nil
}

// declared applies the rules fault and recovery declarations share and
// resolves their sectors: a bounded number of declarations, each for a
// known partition whose deadline's fault cutoff has not passed.
func (m *minerState) declared(decls []miner.FaultDeclaration, epoch abi.ChainEpoch, kind string) ([]*sectorState, *actorError) {
	if uint64(len(decls)) > miner.DeclarationsMax {
		return nil, fail(exitcode.ErrIllegalArgument, "too many %s declarations %d, max %d", kind, len(decls), miner.DeclarationsMax)
	}
	var out []*sectorState
	for _, d := range decls {
		if err := m.checkDeclaration(d.Deadline, epoch, kind); err != nil {
			return nil, err
		}
		sectors, err := m.declaredSectors(d.Deadline, d.Partition, d.Sectors)
		if err != nil {
			return nil, err
		}
		out = append(out, sectors...)
	}
	return out, nil
}

// declareFaultsRecovered marks faulty sectors as recovering; the next
// accepted WindowPoSt of their partition proves them healthy again.
// Sectors that are not faulty, or already recovering, are ignored, as by
// the real actor.
func (c *Chain) declareFaultsRecovered(m *minerState, cl *call) ([]byte, *actorError) {
	var p miner.DeclareFaultsRecoveredParams
	if err := decodeParams(cl.params, &p); err != nil {
		return nil, err
	}
	if err := checkCaller(m, cl); err != nil {
		return nil, err
	}
	decls := make([]miner.FaultDeclaration, len(p.Recoveries))
	for i, r := range p.Recoveries {
		decls[i] = miner.FaultDeclaration(r)
	}
	recovering, err := m.declared(decls, cl.epoch, "recovery")
	if err != nil {
		return nil, err
	}
	for _, s := range recovering {
		if s.live() && s.Faulty {
			s.Recovering = true
		}
	}
	return nil, nil
}

// declareFaults marks sectors faulty ahead of their deadline, retracting
// any recovery declared for them.
func (c *Chain) declareFaults(m *minerState, cl *call) ([]byte, *actorError) {
	var p miner.DeclareFaultsParams
	if err := decodeParams(cl.params, &p); err != nil {
		return nil, err
	}
	if err := checkCaller(m, cl); err != nil {
		return nil, err
	}
	faulty, err := m.declared(p.Faults, cl.epoch, "fault")
	if err != nil {
		return nil, err
	}
	for _, s := range faulty {
		if s.live() {
			s.Faulty, s.Recovering, s.Unproven = true, false, false
		}
	}
	return nil, nil
}

// terminateSectors ends live sectors early. As in the real actor, the open
// deadline and the next one are immutable, and only live sectors can be
// terminated.
func (c *Chain) terminateSectors(m *minerState, cl *call) ([]byte, *actorError) {
	var p miner.TerminateSectorsParams
	if err := decodeParams(cl.params, &p); err != nil {
		return nil, err
	}
	if err := checkCaller(m, cl); err != nil {
		return nil, err
	}
	if uint64(len(p.Terminations)) > miner.DeclarationsMax {
		return nil, fail(exitcode.ErrIllegalArgument, "too many declarations when terminating sectors: %d > %d", len(p.Terminations), miner.DeclarationsMax)
	}
	var terminate []*sectorState
	seen := map[*sectorState]bool{}
	for _, d := range p.Terminations {
		if d.Deadline >= miner.WPoStPeriodDeadlines {
			return nil, fail(exitcode.ErrIllegalArgument, "invalid deadline %d of %d", d.Deadline, miner.WPoStPeriodDeadlines)
		}
		if !m.deadlineMutable(d.Deadline, cl.epoch) {
			return nil, fail(exitcode.ErrIllegalArgument, "cannot terminate sectors in immutable deadline %d", d.Deadline)
		}
		sectors, err := m.declaredSectors(d.Deadline, d.Partition, d.Sectors)
		if err != nil {
			return nil, err
		}
		for _, s := range sectors {
			if !s.live() || seen[s] {
				return nil, fail(exitcode.ErrIllegalArgument, "can only terminate live sectors: sector %d", s.Info.SectorNumber)
			}
			seen[s] = true
		}
		terminate = append(terminate, sectors...)
	}
	for _, s := range terminate {
		s.Terminated = true
		s.Faulty, s.Recovering, s.Unproven = false, false, false
	}
	return encodeReturn(&miner.TerminateSectorsReturn{Done: true}), nil
}
