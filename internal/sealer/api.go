package sealer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/filecoin-project/go-address"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/crypto"
	logging "github.com/ipfs/go-log/v2"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/commit"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/sectors"
	"github.com/damocles-go/damocles/internal/store"
)

var log = logging.Logger("sealer")

// SealRandomnessLookback is how far behind the head a ticket is drawn:
// the chain finality of mainnet (policy.SealRandomnessLookback), so that
// no reorg can change a ticket a sector was sealed with.
const SealRandomnessLookback = abi.ChainEpoch(900)

// ErrNoChain answers the sealing calls that need a chain node when the
// manager runs without one.
var ErrNoChain = errors.New("no chain node configured: set [Common.API] Chain")

// Config configures NewAPI.
type Config struct {
	// Miners returns the [[Miners]] of the running config (called on each
	// allocation, so a reload applies).
	Miners func() []config.Miner
	// DB holds the sector rows.
	DB *store.DB
	// Stores are the persist stores. Required.
	Stores *sectors.PersistStores
	// Chain is the chain node; nil makes every call that needs it answer
	// ErrNoChain.
	Chain chain.API
	// Commit sends the commitment messages; required with Chain.
	Commit *commit.Manager
	// Indexer is the sector index that SectorIndexerFind reads and
	// SubmitPersistedEx and StorageAttachIndex write: a proxy node's
	// reads its source's and refuses writes. Nil means the index in DB,
	// with Stores.
	Indexer *sectors.Indexer
	// Space measures the stores' free space for StorageList; nil means
	// sectors.StatFS.
	Space sectors.DiskSpace
	// Now stamps changes; nil means time.Now.
	Now func() time.Time
}

// API implements the sealing calls of the Venus API (a worker's, §2.2 of
// PROTOCOLS-damocles.md) and the CLI's sector and storage calls over the
// sectors, commit and chain packages. A sector the manager does not know
// is answered with the 11001 error, which makes the worker abort it.
type API struct {
	miners func() []config.Miner
	chain  chain.API
	commit *commit.Manager
	alloc  *sectors.Allocator
	states *sectors.States
	stores *sectors.PersistStores
	index  *sectors.Indexer
	db     *store.DB
	space  sectors.DiskSpace
	now    func() time.Time
}

// NewAPI returns the API of cfg.
func NewAPI(cfg Config) (*API, error) {
	if cfg.DB == nil || cfg.Stores == nil {
		return nil, errors.New("sealer API: DB and Stores are required")
	}
	if cfg.Chain != nil && cfg.Commit == nil {
		return nil, errors.New("sealer API: a commit manager is required with a chain node")
	}
	a := &API{
		miners: cfg.Miners, chain: cfg.Chain, commit: cfg.Commit,
		states: sectors.NewStates(cfg.DB, cfg.Now), stores: cfg.Stores,
		index: cfg.Indexer,
		db:    cfg.DB, space: cfg.Space, now: cfg.Now,
	}
	if a.index == nil {
		a.index = sectors.NewIndexer(cfg.DB, cfg.Stores, cfg.Now)
	}
	if a.miners == nil {
		a.miners = func() []config.Miner { return nil }
	}
	if a.space == nil {
		a.space = sectors.StatFS{}
	}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.Chain != nil {
		info := ChainInfo{Chain: cfg.Chain}
		a.alloc = sectors.NewAllocator(cfg.DB, info, info, sectors.AllocatorOptions{Now: cfg.Now})
	}
	return a, nil
}

// notFound is the 11001 error for a call on an unknown sector.
func notFound(call string, id abi.SectorID) error {
	return rpc.ErrSectorStateNotFound(fmt.Sprintf("%s: sector %s", call, proofs.SectorName(id)))
}

// answer returns err as the wire sees it: the 11001 error, unwrapped as
// go-jsonrpc needs it, when err says the sector is unknown.
func answer(call string, id abi.SectorID, err error) error {
	if errors.Is(err, sectors.ErrSectorNotFound) {
		return notFound(call, id)
	}
	if err != nil {
		return fmt.Errorf("%s of %s: %w", call, proofs.SectorName(id), err)
	}
	return nil
}

// sector returns the record of an online or offline sector, or the 11001
// error.
func (a *API) sector(ctx context.Context, call string, id abi.SectorID) (sectors.Sector, error) {
	rec, err := a.states.Get(ctx, id)
	return rec, answer(call, id, err)
}

func descOf(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// entropy is what the miner actor mixes into its randomness: the CBOR of
// the miner's ID address.
func entropy(miner abi.ActorID) ([]byte, error) {
	maddr, err := address.NewIDAddress(uint64(miner))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := maddr.MarshalCBOR(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AllocateSector allocates the next sector of a miner the worker may seal
// for; nil when there is none, the reason logged.
func (a *API) AllocateSector(ctx context.Context, spec rpc.AllocateSectorSpec) (*rpc.AllocatedSector, error) {
	if a.alloc == nil {
		return nil, ErrNoChain
	}
	sector, why, err := a.alloc.Allocate(ctx, spec, a.miners())
	if err != nil {
		return nil, err
	}
	if sector == nil {
		log.Debugw("no sector allocated", "reason", why)
	}
	return sector, nil
}

// AcquireDeals gives no deals: this manager seals committed-capacity
// sectors only.
func (a *API) AcquireDeals(ctx context.Context, id abi.SectorID, _ rpc.AcquireDealsSpec) ([]rpc.SectorPiece, error) {
	if _, err := a.sector(ctx, "acquire deals", id); err != nil {
		return nil, err
	}
	return nil, nil
}

// TicketEpoch is the epoch a ticket is drawn at when the head is at head:
// SealRandomnessLookback behind it, or genesis on a chain younger than
// that. The pre-commit is executed after head, so the epoch is before the
// pre-commit's, as the miner actor requires, and it stays within the
// actor's MaxPreCommitRandomnessLookback (a day plus finality) when the
// pre-commit lands within a day of the ticket.
func TicketEpoch(head abi.ChainEpoch) abi.ChainEpoch {
	return max(head-SealRandomnessLookback, 0)
}

// AssignTicket draws the sector's seal randomness at TicketEpoch of the
// head and records it. Each call draws anew (the worker seals with the
// latest) until a pre-commit is recorded; then the pre-commit's ticket is
// the answer.
func (a *API) AssignTicket(ctx context.Context, id abi.SectorID) (rpc.Ticket, error) {
	const call = "assign ticket"
	if a.chain == nil {
		return rpc.Ticket{}, ErrNoChain
	}
	rec, err := a.sector(ctx, call, id)
	if err != nil {
		return rpc.Ticket{}, err
	}
	if rec.PreCommit != nil {
		t := rec.PreCommit.Ticket
		return rpc.Ticket{Ticket: t.Value, Epoch: t.Epoch}, nil
	}
	head, err := a.chain.ChainHead(ctx)
	if err != nil {
		return rpc.Ticket{}, fmt.Errorf("%s of %s: chain head: %w", call, proofs.SectorName(id), err)
	}
	ent, err := entropy(id.Miner)
	if err != nil {
		return rpc.Ticket{}, err
	}
	epoch := TicketEpoch(head.Height)
	rand, err := a.chain.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, epoch, ent, head.Key())
	if err != nil {
		return rpc.Ticket{}, fmt.Errorf("%s of %s: ticket randomness at %d: %w", call, proofs.SectorName(id), epoch, err)
	}
	ticket := rpc.Ticket{Ticket: rand, Epoch: epoch}
	_, err = a.db.Sectors().Update(ctx, id, func(s *store.Sector) error {
		if s.PreCommit != nil {
			// A pre-commit arrived meanwhile: its ticket stands.
			ticket = rpc.Ticket{Ticket: s.PreCommit.Ticket.Value, Epoch: s.PreCommit.Ticket.Epoch}
			return nil
		}
		s.Ticket = &store.SectorRandomness{Value: rand, Epoch: epoch}
		s.UpdatedAt = a.now()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return rpc.Ticket{}, notFound(call, id)
	}
	if err != nil {
		return rpc.Ticket{}, fmt.Errorf("%s of %s: %w", call, proofs.SectorName(id), err)
	}
	return ticket, nil
}

// SubmitPreCommit checks the pre-commit against the ticket assigned and
// hands it to the commit manager, which sends it.
func (a *API) SubmitPreCommit(ctx context.Context, sector rpc.AllocatedSector, info rpc.PreCommitOnChainInfo, reset bool) (rpc.SubmitResp, error) {
	const call = "submit pre-commit"
	if a.commit == nil {
		return rpc.SubmitResp{}, ErrNoChain
	}
	id := sector.ID
	rec, err := a.sector(ctx, call, id)
	if err != nil {
		return rpc.SubmitResp{}, err
	}
	reject := func(res rpc.SubmitResult, format string, args ...any) (rpc.SubmitResp, error) {
		desc := fmt.Sprintf(format, args...)
		log.Warnw("pre-commit refused", "sector", proofs.SectorName(id), "result", res, "reason", desc)
		return rpc.SubmitResp{Res: res, Desc: &desc}, nil
	}
	if rec.Ticket == nil {
		return reject(rpc.SubmitRejected, "no ticket was assigned to %s", proofs.SectorName(id))
	}
	if info.Ticket.Epoch != rec.Ticket.Epoch || !bytes.Equal(info.Ticket.Ticket, rec.Ticket.Value) {
		return reject(rpc.SubmitMismatchedSubmission, "ticket of epoch %d differs from the one assigned to %s (epoch %d)",
			info.Ticket.Epoch, proofs.SectorName(id), rec.Ticket.Epoch)
	}
	sealed, err := commcid.ReplicaCommitmentV1ToCID(info.CommR[:])
	if err != nil {
		return reject(rpc.SubmitRejected, "comm_r: %v", err)
	}
	unsealed, err := commcid.DataCommitmentV1ToCID(info.CommD[:])
	if err != nil {
		return reject(rpc.SubmitMismatchedSubmission, "comm_d: %v", err)
	}
	res, desc, err := a.commit.SubmitPreCommit(ctx, id, commit.PreCommitInfo{
		SealProof: sector.ProofType, SectorNumber: id.Number,
		SealedCID: sealed, UnsealedCID: unsealed,
		Ticket: abi.SealRandomness(rec.Ticket.Value), SealRandEpoch: rec.Ticket.Epoch,
	}, reset)
	if err != nil {
		return rpc.SubmitResp{}, answer(call, id, err)
	}
	return rpc.SubmitResp{Res: res, Desc: descOf(desc)}, nil
}

// PollPreCommitState says where the sector's pre-commit message stands.
func (a *API) PollPreCommitState(ctx context.Context, id abi.SectorID) (rpc.PollResp, error) {
	if a.commit == nil {
		return rpc.PollResp{}, ErrNoChain
	}
	st, desc, err := a.commit.PollPreCommitState(ctx, id)
	if err != nil {
		return rpc.PollResp{}, answer("poll pre-commit", id, err)
	}
	return rpc.PollResp{State: st, Desc: descOf(desc)}, nil
}

// SubmitPersisted is SubmitPersistedEx for a sealed (not upgraded) sector.
func (a *API) SubmitPersisted(ctx context.Context, id abi.SectorID, instance string) (bool, error) {
	return a.SubmitPersistedEx(ctx, id, instance, false)
}

// SubmitPersistedEx records that the worker copied the sector's files into
// the persist store instance, after checking they are there: the sealed
// (or update) file and the cache files a proof reads. False, logged, when
// some are missing; the worker then fails the sector permanently.
func (a *API) SubmitPersistedEx(ctx context.Context, id abi.SectorID, instance string, isUpgrade bool) (bool, error) {
	const call = "submit persisted"
	// A proxy node refuses before it looks the sector up: it has no
	// state of the source's sectors, and a "not found" would make the
	// worker abort a sector that is fine.
	if err := a.index.Writable(); err != nil {
		return false, fmt.Errorf("%s of %s: %w", call, proofs.SectorName(id), err)
	}
	rec, err := a.sector(ctx, call, id)
	if err != nil {
		return false, err
	}
	kind, sealedDir, cacheDir := sectors.IndexNormal, proofs.SealedDirName, proofs.CacheDirName
	if isUpgrade {
		kind, sealedDir, cacheDir = sectors.IndexUpgrade, proofs.UpdateDirName, proofs.UpdateCacheDirName
	}
	name := proofs.SectorName(id)
	sealedPath, err := a.stores.Resolve(instance, filepath.Join(sealedDir, name))
	if err != nil {
		return false, fmt.Errorf("%s of %s: %w", call, name, err)
	}
	cachePath, err := a.stores.Resolve(instance, filepath.Join(cacheDir, name))
	if err != nil {
		return false, fmt.Errorf("%s of %s: %w", call, name, err)
	}
	want := []string{sealedPath}
	if !isUpgrade {
		files, err := proofs.CacheFilesFor(rec.ProofType)
		if err != nil {
			return false, fmt.Errorf("%s of %s: %w", call, name, err)
		}
		for _, f := range files.Persisted() {
			want = append(want, filepath.Join(cachePath, f))
		}
	} else {
		want = append(want, cachePath)
	}
	var missing []string
	for _, p := range want {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		log.Warnw("persisted sector files missing; the sector is not indexed", "sector", name, "store", instance, "missing", missing)
		return false, nil
	}
	if err := a.index.Update(ctx, kind, id, rpc.SectorAccessStores{SealedFile: instance, CacheDir: instance}); err != nil {
		return false, fmt.Errorf("%s of %s: index: %w", call, name, err)
	}
	log.Infow("sector persisted", "sector", name, "store", instance, "kind", kind)
	return true, nil
}

// isNiPoRep tells a non-interactive PoRep proof type, whose seed needs no
// pre-commit.
func isNiPoRep(p abi.RegisteredSealProof) bool {
	return p >= abi.RegisteredSealProof_StackedDrg2KiBV1_2_Feat_NiPoRep && p <= abi.RegisteredSealProof_StackedDrg64GiBV1_2_Feat_NiPoRep
}

// WaitSeed answers the interactive seed of the sector once the chain has
// passed its epoch, the on-chain PreCommitEpoch + the node's
// PreCommitChallengeDelay (plus the miner's Commitment.Confidence), and
// records it; before that, how long to wait. NI-PoRep proof types get the
// seed at head − 1 at once.
func (a *API) WaitSeed(ctx context.Context, id abi.SectorID, proofType abi.RegisteredSealProof) (rpc.WaitSeedResp, error) {
	const call = "wait seed"
	if a.chain == nil {
		return rpc.WaitSeedResp{}, ErrNoChain
	}
	rec, err := a.sector(ctx, call, id)
	if err != nil {
		return rpc.WaitSeedResp{}, err
	}
	if s := rec.Seed; s != nil {
		return rpc.WaitSeedResp{Seed: &rpc.Seed{Seed: s.Value, Epoch: s.Epoch}}, nil
	}
	name := proofs.SectorName(id)
	head, err := a.chain.ChainHead(ctx)
	if err != nil {
		return rpc.WaitSeedResp{}, fmt.Errorf("%s of %s: chain head: %w", call, name, err)
	}
	var seedEpoch, ready abi.ChainEpoch
	if isNiPoRep(proofType) {
		seedEpoch = max(head.Height-1, 0)
		ready = seedEpoch
	} else {
		maddr, err := address.NewIDAddress(uint64(id.Miner))
		if err != nil {
			return rpc.WaitSeedResp{}, err
		}
		pc, err := a.chain.StateSectorPreCommitInfo(ctx, maddr, id.Number, chain.EmptyTSK)
		if err != nil {
			return rpc.WaitSeedResp{}, fmt.Errorf("%s of %s: pre-commit on chain: %w", call, name, err)
		}
		if pc == nil {
			return rpc.WaitSeedResp{}, fmt.Errorf("%s of %s: the sector is not pre-committed on chain (yet); poll the pre-commit until it lands", call, name)
		}
		params, err := a.chain.StateGetNetworkParams(ctx)
		if err != nil {
			return rpc.WaitSeedResp{}, fmt.Errorf("%s of %s: network params: %w", call, name, err)
		}
		seedEpoch = pc.PreCommitEpoch + params.PreCommitChallengeDelay
		ready = seedEpoch + a.confidence(id.Miner)
		if head.Height < ready {
			delay := int(ready-head.Height) * int(max(params.BlockDelaySecs, 1))
			return rpc.WaitSeedResp{ShouldWait: true, Delay: delay}, nil
		}
	}
	ent, err := entropy(id.Miner)
	if err != nil {
		return rpc.WaitSeedResp{}, err
	}
	rand, err := a.chain.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_InteractiveSealChallengeSeed, seedEpoch, ent, head.Key())
	if err != nil {
		return rpc.WaitSeedResp{}, fmt.Errorf("%s of %s: seed randomness at %d: %w", call, name, seedEpoch, err)
	}
	_, err = a.db.Sectors().Update(ctx, id, func(s *store.Sector) error {
		s.Seed = &store.SectorRandomness{Value: rand, Epoch: seedEpoch}
		s.UpdatedAt = a.now()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return rpc.WaitSeedResp{}, notFound(call, id)
	}
	if err != nil {
		return rpc.WaitSeedResp{}, fmt.Errorf("%s of %s: %w", call, name, err)
	}
	return rpc.WaitSeedResp{Seed: &rpc.Seed{Seed: rand, Epoch: seedEpoch}}, nil
}

// confidence is the miner's Commitment.Confidence, 0 for a miner not
// configured.
func (a *API) confidence(miner abi.ActorID) abi.ChainEpoch {
	for _, m := range a.miners() {
		if abi.ActorID(m.Actor) == miner {
			return abi.ChainEpoch(max(m.Commitment.Confidence, 0))
		}
	}
	return 0
}

// SubmitProof hands the PoRep proof to the commit manager.
func (a *API) SubmitProof(ctx context.Context, id abi.SectorID, info rpc.ProofOnChainInfo, reset bool) (rpc.SubmitResp, error) {
	if a.commit == nil {
		return rpc.SubmitResp{}, ErrNoChain
	}
	res, desc, err := a.commit.SubmitProof(ctx, id, info.Proof, reset)
	if err != nil {
		return rpc.SubmitResp{}, answer("submit proof", id, err)
	}
	return rpc.SubmitResp{Res: res, Desc: descOf(desc)}, nil
}

// PollProofState says where the sector's prove-commit message stands.
func (a *API) PollProofState(ctx context.Context, id abi.SectorID) (rpc.PollResp, error) {
	if a.commit == nil {
		return rpc.PollResp{}, ErrNoChain
	}
	st, desc, err := a.commit.PollProofState(ctx, id)
	if err != nil {
		return rpc.PollResp{}, answer("poll proof", id, err)
	}
	return rpc.PollResp{State: st, Desc: descOf(desc)}, nil
}

// ReportState stores the worker's report on the sector.
func (a *API) ReportState(ctx context.Context, id abi.SectorID, req rpc.ReportStateReq) (rpc.SectorStateResp, error) {
	resp, err := a.states.ReportState(ctx, id, req)
	return resp, answer("report state", id, err)
}

// ReportFinalized takes the sector offline as finalized, releasing its
// store reservation.
func (a *API) ReportFinalized(ctx context.Context, id abi.SectorID) (rpc.Meta, error) {
	_, err := a.states.Finalize(ctx, id)
	return nil, answer("report finalized", id, err)
}

// ReportAborted takes the sector offline as aborted, releasing its store
// reservation.
func (a *API) ReportAborted(ctx context.Context, id abi.SectorID, reason string) (rpc.Meta, error) {
	_, err := a.states.Abort(ctx, id, reason)
	return nil, answer("report aborted", id, err)
}

// StoreReserveSpace reserves size bytes for the sector in one of the
// candidate stores; nil, with the reason logged, when none can take it.
func (a *API) StoreReserveSpace(ctx context.Context, id abi.SectorID, size uint64, candidates []string) (*rpc.StoreBasicInfo, error) {
	const call = "reserve space"
	if _, err := a.sector(ctx, call, id); err != nil {
		return nil, err
	}
	info, why, err := a.stores.Reserve(ctx, id, size, candidates)
	if err != nil {
		return nil, answer(call, id, err)
	}
	if info == nil {
		log.Warnw("no persist store space reserved; the worker will ask again", "sector", proofs.SectorName(id), "reason", why)
	}
	return info, nil
}

// StoreBasicInfo describes the persist store called instanceName; nil
// when it is not configured.
func (a *API) StoreBasicInfo(_ context.Context, instanceName string) (*rpc.StoreBasicInfo, error) {
	info := a.stores.Info(instanceName)
	if info == nil {
		log.Warnw("a worker asked for a persist store that is not in [[Common.PersistStores]]", "store", instanceName)
	}
	return info, nil
}

// SectorIndexerFind locates a sector's files of indexType.
func (a *API) SectorIndexerFind(ctx context.Context, indexType string, id abi.SectorID) (rpc.SectorIndexLocation, error) {
	return a.index.Find(ctx, sectors.IndexKind(indexType), id)
}
