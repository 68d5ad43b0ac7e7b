package devnet

import (
	"fmt"
	"strings"

	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/batch"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// minerMethods are the miner actor methods the devnet runs; others exit
// with SysErrInvalidMethod.
var minerMethods = map[abi.MethodNum]func(c *Chain, m *minerState, cl *call) ([]byte, *actorError){
	builtin.MethodsMiner.PreCommitSectorBatch2:  (*Chain).preCommitSectorBatch2,
	builtin.MethodsMiner.ProveCommitSectors3:    (*Chain).proveCommitSectors3,
	builtin.MethodsMiner.SubmitWindowedPoSt:     (*Chain).submitWindowedPoSt,
	builtin.MethodsMiner.DeclareFaultsRecovered: (*Chain).declareFaultsRecovered,
	builtin.MethodsMiner.DeclareFaults:          (*Chain).declareFaults,
	builtin.MethodsMiner.TerminateSectors:       (*Chain).terminateSectors,
}

func checkCaller(m *minerState, cl *call) *actorError {
	if !m.controls(cl.caller) {
		return fail(exitcode.ErrForbidden, "caller %s is not the owner, worker or a control address of miner %s", idAddress(cl.caller), m.address())
	}
	return nil
}

// preCommitSeal accepts the seal proofs a pre-commit may use on current
// networks: V1_1 and its synthetic-PoRep variant.
func preCommitSeal(p abi.RegisteredSealProof) bool {
	return p >= abi.RegisteredSealProof_StackedDrg2KiBV1_1 && p <= abi.RegisteredSealProof_StackedDrg64GiBV1_1_Feat_SyntheticPoRep
}

// preCommitSectorBatch2 records pre-commits after the real actor's checks.
// Anything wrong fails the whole message; nothing costs a deposit.
func (c *Chain) preCommitSectorBatch2(m *minerState, cl *call) ([]byte, *actorError) {
	var p miner.PreCommitSectorBatchParams2
	if err := decodeParams(cl.params, &p); err != nil {
		return nil, err
	}
	if err := checkCaller(m, cl); err != nil {
		return nil, err
	}
	if len(p.Sectors) == 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "batch empty")
	}
	if len(p.Sectors) > miner.PreCommitSectorBatchMaxSize {
		return nil, fail(exitcode.ErrIllegalArgument, "batch of %d too large, max %d", len(p.Sectors), miner.PreCommitSectorBatchMaxSize)
	}
	earliest := cl.epoch - miner.MaxPreCommitRandomnessLookback
	seen := map[abi.SectorNumber]bool{}
	for _, pc := range p.Sectors {
		n := pc.SectorNumber
		if seen[n] {
			return nil, fail(exitcode.ErrIllegalArgument, "duplicate sector number %d", n)
		}
		seen[n] = true
		if !preCommitSeal(pc.SealProof) {
			return nil, fail(exitcode.ErrIllegalArgument, "unsupported seal proof type %d", pc.SealProof)
		}
		if post, err := pc.SealProof.RegisteredWindowPoStProofByNetworkVersion(NetworkVersion); err != nil || post != m.WindowPoStProofType {
			return nil, fail(exitcode.ErrIllegalArgument, "sector %d: seal proof type %d does not match the miner's window PoSt proof type %d", n, pc.SealProof, m.WindowPoStProofType)
		}
		if n > abi.MaxSectorNumber {
			return nil, fail(exitcode.ErrIllegalArgument, "sector number %d out of range 0..(2^63-1)", n)
		}
		if _, err := commcid.CIDToReplicaCommitmentV1(pc.SealedCID); err != nil {
			return nil, fail(exitcode.ErrIllegalArgument, "sector %d: sealed CID had wrong prefix: %v", n, err)
		}
		if pc.SealRandEpoch >= cl.epoch {
			return nil, fail(exitcode.ErrIllegalArgument, "sector %d: seal challenge epoch %d must be before now %d", n, pc.SealRandEpoch, cl.epoch)
		}
		if pc.SealRandEpoch < earliest {
			return nil, fail(exitcode.ErrIllegalArgument, "sector %d: seal challenge epoch %d too old, must be after %d", n, pc.SealRandEpoch, earliest)
		}
		if pc.UnsealedCid != nil {
			if _, err := commcid.CIDToDataCommitmentV1(*pc.UnsealedCid); err != nil {
				return nil, fail(exitcode.ErrIllegalArgument, "sector %d: unsealed CID had wrong prefix: %v", n, err)
			}
		}
		if len(pc.DealIDs) > 0 {
			return nil, fail(exitcode.ErrIllegalArgument, "sector %d: the devnet has no market actor, deal IDs are not supported", n)
		}
		maxActivation := cl.epoch + miner.MaxProveCommitDuration[pc.SealProof]
		if err := validateExpiration(cl.epoch, maxActivation, pc.Expiration, pc.SealProof); err != nil {
			return nil, err
		}
		allocated, err := m.Allocated.IsSet(uint64(n))
		if err != nil {
			return nil, fail(exitcode.ErrIllegalState, "allocated sectors: %v", err)
		}
		if allocated {
			return nil, fail(exitcode.ErrIllegalArgument, "sector number %d already allocated", n)
		}
	}
	nums := make([]uint64, len(p.Sectors))
	for i, pc := range p.Sectors {
		nums[i] = uint64(pc.SectorNumber)
	}
	// Merging keeps the bitfield run-length encoded; Set would grow a side
	// map that every later query walks.
	allocated, err := bitfield.MergeBitFields(m.Allocated, bitfield.NewFromSet(nums))
	if err != nil {
		return nil, fail(exitcode.ErrIllegalState, "allocate sector numbers: %v", err)
	}
	m.Allocated = allocated
	for _, pc := range p.Sectors {
		m.PreCommits[pc.SectorNumber] = &miner.SectorPreCommitOnChainInfo{
			Info:             pc,
			PreCommitDeposit: big.Zero(),
			PreCommitEpoch:   cl.epoch,
		}
	}
	return nil, nil
}

// validateExpiration is the real actor's validate_expiration.
func validateExpiration(epoch, activation, expiration abi.ChainEpoch, seal abi.RegisteredSealProof) *actorError {
	if expiration <= activation {
		return fail(exitcode.ErrIllegalArgument, "sector expiration %d must be after activation %d", expiration, activation)
	}
	if expiration-activation < miner.MinSectorExpiration {
		return fail(exitcode.ErrIllegalArgument, "invalid expiration %d, total sector lifetime (%d) must exceed %d after activating at %d",
			expiration, expiration-activation, miner.MinSectorExpiration, activation)
	}
	if expiration > epoch+miner.MaxSectorExpirationExtension {
		return fail(exitcode.ErrIllegalArgument, "invalid expiration %d, cannot be more than %d past current epoch %d",
			expiration, miner.MaxSectorExpirationExtension, epoch)
	}
	if lifetime, err := builtin.SealProofSectorMaximumLifetime(seal); err == nil && expiration-activation > lifetime {
		return fail(exitcode.ErrIllegalArgument, "invalid expiration %d, total sector lifetime (%d) cannot exceed %d after activating at %d",
			expiration, expiration-activation, lifetime, activation)
	}
	return nil
}

// activationBatch tracks the per-sector outcome of ProveCommitSectors3, as
// the real actor's stacked BatchReturn does.
type activationBatch struct {
	codes   []exitcode.ExitCode
	reasons []string
	require bool
}

// reject fails activation i; when every activation must succeed, it fails
// the whole message instead.
func (b *activationBatch) reject(i int, code exitcode.ExitCode, format string, args ...any) *actorError {
	reason := fmt.Sprintf(format, args...)
	if b.require {
		return fail(code, "%s (while requiring activation success)", reason)
	}
	b.codes[i] = code
	b.reasons = append(b.reasons, reason)
	return nil
}

func (b *activationBatch) ok(i int) bool { return b.codes[i] == exitcode.Ok }

func (b *activationBatch) successes() int {
	n := 0
	for i := range b.codes {
		if b.ok(i) {
			n++
		}
	}
	return n
}

func (b *activationBatch) result() *batch.BatchReturn {
	ret := &batch.BatchReturn{FailCodes: []batch.FailCode{}}
	for i, code := range b.codes {
		if code == exitcode.Ok {
			ret.SuccessCount++
		} else {
			ret.FailCodes = append(ret.FailCodes, batch.FailCode{Idx: uint64(i), Code: code})
		}
	}
	return ret
}

// proveCommitSectors3 verifies each sector's PoRep against the chain's
// randomness and activates the sectors that pass, as the real actor does:
// pre-commit checks, then proofs, then data (comm_d), each failure
// recorded per sector unless RequireActivationSuccess.
func (c *Chain) proveCommitSectors3(m *minerState, cl *call) ([]byte, *actorError) {
	var p miner.ProveCommitSectors3Params
	if err := decodeParams(cl.params, &p); err != nil {
		return nil, err
	}
	if err := checkCaller(m, cl); err != nil {
		return nil, err
	}
	if len(p.SectorActivations) == 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "no sectors to prove")
	}
	precommits := make([]*miner.SectorPreCommitOnChainInfo, len(p.SectorActivations))
	seen := map[abi.SectorNumber]bool{}
	for i, a := range p.SectorActivations {
		pc, ok := m.PreCommits[a.SectorNumber]
		if !ok {
			return nil, fail(exitcode.ErrNotFound, "sector %d is not pre-committed", a.SectorNumber)
		}
		if seen[a.SectorNumber] {
			return nil, fail(exitcode.ErrIllegalArgument, "sector %d activated twice", a.SectorNumber)
		}
		seen[a.SectorNumber] = true
		precommits[i] = pc
	}
	if len(p.AggregateProof) > 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "aggregate proofs are not supported by the devnet: send one proof per sector")
	}
	if len(p.SectorProofs) == 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "exactly one of sector proofs or aggregate proof must be non-empty")
	}
	if p.AggregateProofType != nil {
		return nil, fail(exitcode.ErrIllegalArgument, "aggregate proof type must be null with batched proofs")
	}
	if len(p.SectorProofs) != len(p.SectorActivations) {
		return nil, fail(exitcode.ErrIllegalArgument, "mismatched lengths: %d sector activations, %d proofs", len(p.SectorActivations), len(p.SectorProofs))
	}

	b := &activationBatch{codes: make([]exitcode.ExitCode, len(precommits)), require: p.RequireActivationSuccess}
	delay := c.st.PreCommitChallengeDelay
	for i, pc := range precommits {
		n := pc.Info.SectorNumber
		due := pc.PreCommitEpoch + miner.MaxProveCommitDuration[pc.Info.SealProof]
		seedEpoch := pc.PreCommitEpoch + delay
		var err *actorError
		switch {
		case cl.epoch > due:
			err = b.reject(i, exitcode.ErrIllegalArgument, "commitment proof for %d too late at %d, due %d", n, cl.epoch, due)
		case cl.epoch <= seedEpoch:
			err = b.reject(i, exitcode.ErrForbidden, "too early to prove sector %d: epoch %d is not after its interactive seed epoch %d", n, cl.epoch, seedEpoch)
		}
		if err != nil {
			return nil, err
		}
	}
	if b.successes() == 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "no valid precommits specified: %s", strings.Join(b.reasons, "; "))
	}

	entropy := AddressEntropy(m.address())
	for i, pc := range precommits {
		if !b.ok(i) {
			continue
		}
		info, err := c.sealVerifyInfo(m, pc, p.SectorProofs[i], entropy)
		if err != nil {
			return nil, err
		}
		valid, verr := c.verifier.VerifySeal(info)
		if verr != nil || !valid {
			reason := "proof does not verify"
			if verr != nil {
				reason = verr.Error()
			}
			if err := b.reject(i, exitcode.ErrIllegalArgument, "invalid proof for sector %d: %s", pc.Info.SectorNumber, reason); err != nil {
				return nil, err
			}
		}
	}
	if b.successes() == 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "no valid proofs specified: %s", strings.Join(b.reasons, "; "))
	}

	for i, pc := range precommits {
		if !b.ok(i) {
			continue
		}
		if reason := c.checkPieces(pc, p.SectorActivations[i]); reason != "" {
			if err := b.reject(i, exitcode.ErrIllegalArgument, "sector %d: %s", pc.Info.SectorNumber, reason); err != nil {
				return nil, err
			}
		}
	}
	if b.successes() == 0 {
		return nil, fail(exitcode.ErrIllegalArgument, "all data activations failed: %s", strings.Join(b.reasons, "; "))
	}

	var activate []*miner.SectorPreCommitOnChainInfo
	for i, pc := range precommits {
		if b.ok(i) {
			activate = append(activate, pc)
		}
	}
	if err := c.activateSectors(m, activate, cl.epoch); err != nil {
		return nil, err
	}
	cl.note = strings.Join(b.reasons, "; ")
	return encodeReturn(b.result()), nil
}

// sealVerifyInfo assembles what a PoRep proves, with the randomness the
// real actor draws: the ticket at SealRandEpoch and the interactive seed
// from the beacon at PreCommitEpoch + PreCommitChallengeDelay, both with the
// miner's address as entropy.
func (c *Chain) sealVerifyInfo(m *minerState, pc *miner.SectorPreCommitOnChainInfo, porep []byte, entropy []byte) (proof.SealVerifyInfo, *actorError) {
	ticket, err := c.ticketRandomness(crypto.DomainSeparationTag_SealRandomness, pc.Info.SealRandEpoch, entropy)
	if err != nil {
		return proof.SealVerifyInfo{}, fail(exitcode.ErrIllegalState, "seal randomness: %v", err)
	}
	seed, err := c.beaconRandomness(crypto.DomainSeparationTag_InteractiveSealChallengeSeed, pc.PreCommitEpoch+c.st.PreCommitChallengeDelay, entropy)
	if err != nil {
		return proof.SealVerifyInfo{}, fail(exitcode.ErrIllegalState, "interactive randomness: %v", err)
	}
	unsealed, aerr := c.declaredUnsealedCID(pc)
	if aerr != nil {
		return proof.SealVerifyInfo{}, aerr
	}
	return proof.SealVerifyInfo{
		SealProof:             pc.Info.SealProof,
		SectorID:              abi.SectorID{Miner: m.ID, Number: pc.Info.SectorNumber},
		Randomness:            abi.SealRandomness(ticket),
		InteractiveRandomness: abi.InteractiveSealRandomness(seed),
		Proof:                 porep,
		SealedCID:             pc.Info.SealedCID,
		UnsealedCID:           unsealed,
	}, nil
}

// declaredUnsealedCID is the pre-committed comm_d; none declared means a
// CC sector, whose comm_d is that of zeros.
func (c *Chain) declaredUnsealedCID(pc *miner.SectorPreCommitOnChainInfo) (cid.Cid, *actorError) {
	if pc.Info.UnsealedCid != nil {
		return *pc.Info.UnsealedCid, nil
	}
	cc, err := c.verifier.GenerateUnsealedCID(pc.Info.SealProof, nil)
	if err != nil {
		return cid.Undef, fail(exitcode.ErrIllegalState, "comm_d of a CC sector: %v", err)
	}
	return cc, nil
}

// checkPieces is the data activation check: the activated pieces must make
// up the pre-committed comm_d. It returns why not, or "".
func (c *Chain) checkPieces(pc *miner.SectorPreCommitOnChainInfo, a miner.SectorActivationManifest) string {
	pieces := make([]abi.PieceInfo, len(a.Pieces))
	for i, piece := range a.Pieces {
		pieces[i] = abi.PieceInfo{Size: piece.Size, PieceCID: piece.CID}
	}
	computed, err := c.verifier.GenerateUnsealedCID(pc.Info.SealProof, pieces)
	if err != nil {
		return fmt.Sprintf("pieces: %v", err)
	}
	declared, aerr := c.declaredUnsealedCID(pc)
	if aerr != nil {
		return aerr.msg
	}
	if computed != declared {
		return fmt.Sprintf("pieces give unsealed CID %s, pre-committed %s", computed, declared)
	}
	return ""
}

// activateSectors turns proven pre-commits into sectors and assigns each
// to a deadline and partition.
func (c *Chain) activateSectors(m *minerState, pcs []*miner.SectorPreCommitOnChainInfo, epoch abi.ChainEpoch) *actorError {
	if free := m.capacity(epoch); free < uint64(len(pcs)) {
		return fail(exitcode.ErrIllegalState, "cannot activate %d sectors: %v (room for %d)", len(pcs), errDeadlinesFull, free)
	}
	for _, pc := range pcs {
		dl, err := m.assignDeadline(epoch)
		if err != nil {
			return fail(exitcode.ErrIllegalState, "assign sector %d to a deadline: %v", pc.Info.SectorNumber, err)
		}
		n := pc.Info.SectorNumber
		part := m.Deadlines[dl].addSector(n, m.PartitionSectors)
		m.Sectors[n] = &sectorState{
			Info: &miner.SectorOnChainInfo{
				SectorNumber:       n,
				SealProof:          pc.Info.SealProof,
				SealedCID:          pc.Info.SealedCID,
				Activation:         epoch,
				Expiration:         pc.Info.Expiration,
				DealWeight:         big.Zero(),
				VerifiedDealWeight: big.Zero(),
				InitialPledge:      big.Zero(),
				PowerBaseEpoch:     epoch,
				DailyFee:           big.Zero(),
			},
			Deadline:  dl,
			Partition: part,
			Unproven:  true,
		}
		delete(m.PreCommits, n)
	}
	return nil
}
