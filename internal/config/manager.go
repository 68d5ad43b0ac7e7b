package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/damocles-go/damocles/internal/netaddr"
)

// ManagerFileName is the name of damocles-manager's main config file, in
// its home or in the directory given by --conf-dir.
const ManagerFileName = "sector-manager.cfg"

// Warnings are things a config file says that load but probably do not do
// what the operator meant. The caller logs them; they never stop a start.
type Warnings []string

// Manager is the content of sector-manager.cfg.
type Manager struct {
	// Common holds the settings shared by every miner: services, stores, database and proving.
	Common Common
	// Miners configures each storage provider (SP) this manager serves, one [[Miners]] block per miner actor.
	Miners []Miner
}

// Common holds the settings shared by every miner.
type Common struct {
	// API says where the chain, messager and market services are.
	API API
	// PieceStores are directories of deal piece files, one [[Common.PieceStores]] block each.
	PieceStores []PieceStore
	// PersistStores are the directories sealed sectors are moved to and proved from, one [[Common.PersistStores]] block each.
	PersistStores []PersistStore
	// MongoKVStore is damocles's MongoDB store, kept so that damocles files load: Enable = true is refused, use [Common.DB].
	MongoKVStore MongoKVStore
	// DB selects the SQL database that holds sector metadata and the job queues.
	DB DB
	// Auth decides what RPC requests that carry no token may do.
	Auth Auth
	// Proving bounds the sector file checks before a WindowPoSt and configures the worker prover.
	Proving Proving
}

// API says where the services the manager talks to are. Each endpoint is a
// multiaddr ("/ip4/10.0.0.1/tcp/1234", "/dns/host/tcp/443/wss") or a URL.
type API struct {
	// Chain is the endpoint of the Lotus or Venus chain node.
	Chain string
	// Messager is the endpoint of venus-messager, which sends the messages; empty sends them through Chain.
	Messager string
	// Market is the endpoint of venus-market, which supplies deals; empty means no deals.
	Market string
	// Gateway lists venus-gateway endpoints, through which a Venus cluster signs and proves.
	Gateway []string
	// Token authenticates to every endpoint above; it is never logged.
	Token string `secret:"true"`
	// ChainEventInterval is how often the chain head is polled for new epochs.
	ChainEventInterval Duration
}

// PieceStore is a directory of deal piece files read when sealing deals.
type PieceStore struct {
	// Name identifies the store in logs and locations; empty means the Path.
	Name string
	// Path is the directory holding the piece files.
	Path string
	// Plugin is damocles's object-store plugin path; plugins need cgo, so it must stay empty here.
	Plugin string
	// Meta is handed to the store implementation as is.
	Meta map[string]string
}

// PersistStore is a directory (often an NFS mount) that sealed sectors are
// moved to and proved from. It is what damocles-worker calls "attached".
type PersistStore struct {
	// Name identifies the store in sector locations; empty means the Path. It must not change once sectors are stored.
	Name string
	// Path is the directory that holds the sealed/ and cache/ folders.
	Path string
	// Strict refuses a Path that is not a plain directory (a symbolic link, for instance).
	Strict bool
	// ReadOnly keeps the sectors already there provable but places no new sector on this store.
	ReadOnly bool
	// Weight is the store's share when a new sector picks a store (weight / sum of weights); 0 counts as 1.
	Weight uint
	// Plugin is damocles's object-store plugin path; plugins need cgo, so it must stay empty here.
	Plugin string
	// AllowMiners, when not empty, lists the only miner actor IDs whose sectors may be placed here.
	AllowMiners []uint64
	// DenyMiners lists miner actor IDs whose sectors are never placed here; it wins over AllowMiners.
	DenyMiners []uint64
	// Meta is handed to the store implementation as is.
	Meta map[string]string
}

// MongoKVStore is damocles v0.5's MongoDB metadata store. The section is
// accepted so that damocles files load, but only with Enable = false.
type MongoKVStore struct {
	// Enable must stay false: MongoDB is not supported, [Common.DB] replaces it.
	Enable bool
	// DSN is ignored; it is never logged.
	DSN string `secret:"true"`
	// DatabaseName is ignored.
	DatabaseName string
}

// DB selects the SQL database. Several managers may share one PostgreSQL or
// MySQL database; SQLite serves one manager.
type DB struct {
	// Driver is "sqlite" (an embedded file), "postgres" (also YugabyteDB) or "mysql" (also MariaDB, TiDB).
	Driver string
	// DSN is the sqlite file (empty = damocles.db in the home) or the postgres/mysql connection string (required); never logged.
	DSN string `secret:"true"`
}

// Auth decides what RPC requests without a token may do. A request with a
// valid token always gets the token's permissions.
type Auth struct {
	// TrustedNetworks are CIDRs or IP addresses whose requests without a token get write access; others get read only.
	TrustedNetworks []string
}

// Proving bounds the sector file checks that run before each WindowPoSt, so
// that a hung NFS read costs one sector and never the deadline.
type Proving struct {
	// ParallelCheckLimit is the most sector checks run at once; 0 = no limit.
	ParallelCheckLimit int
	// SingleCheckTimeout is the longest one sector's check may take; a sector not checked by then counts as faulty.
	SingleCheckTimeout Duration
	// PartitionCheckTimeout is the longest the checks of one partition may take; sectors not checked by then count as faulty.
	PartitionCheckTimeout Duration
	// WorkerProver configures the WindowPoSt job queue of `daemon run --worker-prover`.
	WorkerProver WorkerProver
}

// WorkerProver configures the WindowPoSt jobs that damocles-workers claim
// when the manager runs with --worker-prover.
type WorkerProver struct {
	// JobMaxTry is how many times a job is tried; after that it waits for `util worker wdpost reset`.
	JobMaxTry uint32
	// HeartbeatTimeout fails, and retries, a job whose worker has sent no heartbeat for this long.
	HeartbeatTimeout Duration
	// JobLifetime deletes jobs created longer ago than this.
	JobLifetime Duration
}

// Miner configures one storage provider (one miner actor).
type Miner struct {
	// Actor is the miner actor ID: 1000 for f01000.
	Actor uint64
	// Sector controls the allocation of new sectors for sealing.
	Sector MinerSector
	// SnapUp controls SnapDeals: CC sectors updated with deal data.
	SnapUp MinerSnapUp
	// Commitment controls the PreCommit, ProveCommit and Terminate messages.
	Commitment MinerCommitment
	// PoSt controls WindowPoSt.
	PoSt MinerPoSt
	// Proof controls WinningPoSt, that is block production.
	Proof MinerProof
	// Sealing holds the sealing policies that depend on the chain.
	Sealing MinerSealing
}

// MinerSector controls the allocation of new sectors.
type MinerSector struct {
	// InitNumber: numbers at or below it are never allocated; deprecated in damocles in favour of MinNumber.
	InitNumber uint64
	// MinNumber: numbers at or below it are never allocated; 0 = no bound beyond InitNumber.
	MinNumber uint64
	// MaxNumber: numbers above it are never allocated; 0 = no upper bound.
	MaxNumber uint64
	// Enabled lets workers get new sectors of this miner to seal.
	Enabled bool
	// EnableDeals lets sectors being sealed take deals from the market.
	EnableDeals bool
	// LifetimeDays is the committed lifetime of new CC sectors, in days.
	LifetimeDays uint64
	// Verbose logs each allocation.
	Verbose bool
}

// Fee sets the gas of one kind of message. It is embedded, so its keys sit
// directly in the section of the message kind.
type Fee struct {
	// GasOverEstimation multiplies the estimated gas limit.
	GasOverEstimation float64
	// GasOverPremium multiplies the estimated gas premium; 0 leaves it as estimated.
	GasOverPremium float64
	// GasFeeCap is the fee cap put on the message; empty leaves it to the estimate.
	GasFeeCap FIL
	// MaxFeeCap is the older name of GasFeeCap, used when GasFeeCap is empty.
	MaxFeeCap FIL
}

// FeeCap returns the fee cap to put on a message: GasFeeCap, or the older
// MaxFeeCap when only that one is set (as damocles does). Unset means "let
// the gas estimate decide".
func (f Fee) FeeCap() FIL {
	if !f.GasFeeCap.IsSet() && f.MaxFeeCap.IsSet() {
		return f.MaxFeeCap
	}
	return f.GasFeeCap
}

// MinerSnapUp controls SnapDeals.
type MinerSnapUp struct {
	// Enabled updates CC sectors with deal data (SnapDeals).
	Enabled bool
	// Sender is the address that sends the replica update messages.
	Sender Address
	// SendFund pays the funds a message needs from Sender rather than from the miner's balance.
	SendFund bool
	Fee
	// CleanupCCData deletes the old CC sector files once the update is on chain.
	CleanupCCData bool
	// MessageConfidence is the number of epochs after which an update message counts as final.
	MessageConfidence int64
	// ReleaseConfidence is the number of epochs before the space of the old files is released.
	ReleaseConfidence int64
	// Retry paces the retries of a failing update.
	Retry SnapUpRetry
}

// SnapUpRetry paces the retries of a failing SnapDeal update.
type SnapUpRetry struct {
	// MaxAttempts bounds the attempts of one update; 0 = no limit.
	MaxAttempts int
	// PollInterval is how often the state of a submitted update is polled.
	PollInterval Duration
	// APIFailureWait is the wait before retrying after a chain or messager API error.
	APIFailureWait Duration
	// LocalFailureWait is the wait before retrying after a local (database, storage) error.
	LocalFailureWait Duration
}

// MinerCommitment controls the messages that put sectors on chain.
type MinerCommitment struct {
	// Confidence is the number of epochs after which a commitment message counts as final.
	Confidence int64
	// Pre controls the PreCommit messages.
	Pre CommitPolicy
	// Prove controls the ProveCommit messages.
	Prove CommitPolicy
	// Terminate controls the TerminateSectors messages.
	Terminate CommitPolicy
}

// CommitPolicy controls one kind of commitment message.
type CommitPolicy struct {
	// Sender is the address that sends these messages (a control address of the miner).
	Sender Address
	// SendFund pays the deposit or collateral from Sender rather than from the miner's balance.
	SendFund bool
	Fee
	// Batch aggregates several sectors into one message.
	Batch CommitBatch
}

// CommitBatch controls the aggregation of several sectors into one message.
type CommitBatch struct {
	// Enabled aggregates sectors into one message instead of one message per sector.
	Enabled bool
	// Threshold is the number of waiting sectors that sends a batch at once.
	Threshold int
	// MaxWait is the longest a sector waits for its batch to fill.
	MaxWait Duration
	// CheckInterval is how often waiting sectors are checked against Threshold and MaxWait.
	CheckInterval Duration
	Fee
}

// MinerPoSt controls WindowPoSt. The epochs it counts are chain epochs.
type MinerPoSt struct {
	// Sender is the address that sends the WindowPoSt, fault and recovery messages (the worker or a control address).
	Sender Address
	// Enabled runs WindowPoSt for this miner when the manager runs with --poster.
	Enabled bool
	// StrictCheck reads part of each sector's files before proving, not only checks that they exist.
	StrictCheck bool
	// Parallel proves the partitions of one deadline at the same time (worth it with several ext-provers).
	Parallel bool
	Fee
	// Confidence is the number of epochs after which a submitted proof counts as final.
	Confidence uint64
	// SubmitConfidence is the number of epochs after a deadline opens before its proofs are submitted; 0 means 4.
	SubmitConfidence uint64
	// ChallengeConfidence is the number of epochs after a deadline's challenge before proving starts; 0 means 10.
	ChallengeConfidence uint64
	// MaxRecoverSectorLimit caps the sectors of one recovery declaration; 0 = no limit.
	MaxRecoverSectorLimit uint64
	// MaxPartitionsPerPoStMessage caps the partitions proved by one message; 0 = the network's maximum.
	MaxPartitionsPerPoStMessage uint64
	// MaxPartitionsPerRecoveryMessage caps the partitions of one recovery message; 0 = no limit.
	MaxPartitionsPerRecoveryMessage uint64
}

// MinerProof controls WinningPoSt.
type MinerProof struct {
	// Enabled produces blocks for this miner when the manager runs with --miner.
	Enabled bool
}

// MinerSealing holds the sealing policies that depend on the chain.
type MinerSealing struct {
	// SealingEpochDuration is how many epochs sealing takes: deals starting sooner are not packed; 0 = not considered.
	SealingEpochDuration int64
	// UseSyntheticPoRep seals new sectors with Synthetic PoRep, which keeps a much smaller cache until ProveCommit.
	UseSyntheticPoRep bool
}

// Supported values of [Common.DB] Driver.
const (
	dbSQLite   = "sqlite"
	dbPostgres = "postgres"
	dbMySQL    = "mysql"
)

// DefaultManager returns the settings of an empty sector-manager.cfg: no
// miner, no store, SQLite in the home, loopback trusted.
func DefaultManager() *Manager {
	return &Manager{
		Common: Common{
			API: API{ChainEventInterval: Duration(time.Minute)},
			DB:  DB{Driver: dbSQLite},
			Auth: Auth{
				TrustedNetworks: []string{"127.0.0.0/8", "::1/128"},
			},
			Proving: Proving{
				ParallelCheckLimit:    128,
				SingleCheckTimeout:    Duration(10 * time.Minute),
				PartitionCheckTimeout: Duration(20 * time.Minute),
				WorkerProver: WorkerProver{
					JobMaxTry:        2,
					HeartbeatTimeout: Duration(15 * time.Second),
					JobLifetime:      Duration(25 * time.Hour),
				},
			},
		},
	}
}

// DefaultMiner returns the settings of a [[Miners]] block that sets only
// Actor.
func DefaultMiner(actor uint64) Miner {
	fee := Fee{GasOverEstimation: 1.2, GasFeeCap: NewFIL(5_000_000_000)}
	commit := func(threshold int) CommitPolicy {
		return CommitPolicy{
			SendFund: true,
			Fee:      fee,
			Batch: CommitBatch{
				Threshold:     threshold,
				MaxWait:       Duration(time.Hour),
				CheckInterval: Duration(time.Minute),
				Fee:           fee,
			},
		}
	}
	return Miner{
		Actor: actor,
		Sector: MinerSector{
			Enabled:      true,
			LifetimeDays: 540,
		},
		SnapUp: MinerSnapUp{
			SendFund:          true,
			Fee:               fee,
			CleanupCCData:     true,
			MessageConfidence: 15,
			ReleaseConfidence: 30,
			Retry: SnapUpRetry{
				PollInterval:     Duration(3 * time.Minute),
				APIFailureWait:   Duration(3 * time.Minute),
				LocalFailureWait: Duration(3 * time.Minute),
			},
		},
		Commitment: MinerCommitment{
			Confidence: 10,
			Pre:        commit(16),
			Prove:      commit(16),
			// Terminations are rare: a smaller batch gets them on chain in time.
			Terminate: commit(5),
		},
		PoSt: MinerPoSt{
			Enabled:     true,
			StrictCheck: true,
			Fee:         fee,
			Confidence:  10,
		},
	}
}

// DefaultPersistStore returns the settings of a [[Common.PersistStores]]
// block that sets nothing.
func DefaultPersistStore() PersistStore {
	return PersistStore{Weight: 1}
}

// rawManager is Manager with each array of tables kept undecoded, so that
// every element can be decoded onto its own defaults (the decoder would
// start it from zero values) and its errors located in the right element.
// The embedded Common takes every other key: the decoder, like
// encoding/json, prefers the shallower field of a name.
type rawManager struct {
	Common struct {
		Common
		PieceStores   []toml.Primitive
		PersistStores []toml.Primitive
	}
	Miners []toml.Primitive
}

// LoadManager reads sector-manager.cfg. Every problem is reported at once in
// a *LoadError naming file, line and key; things that load but look wrong
// come back as Warnings. A file in the old venus-sector-manager format is
// translated (see manager_legacy.go).
func LoadManager(path string) (*Manager, Warnings, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	return parseManager(path, data)
}

func parseManager(file string, data []byte) (*Manager, Warnings, error) {
	if isLegacyManager(data) {
		return parseLegacyManager(file, data)
	}
	var raw rawManager
	raw.Common.Common = DefaultManager().Common
	arrays := []string{"Common.PieceStores", "Common.PersistStores", "Miners"}
	md, err := decodeStrict(file, data, &raw, arrays...)
	if err != nil {
		return nil, nil, err
	}
	lerr := &LoadError{File: file}
	cfg := &Manager{Common: raw.Common.Common}
	cfg.Common.PieceStores = decodeElements(lerr, data, md, "Common.PieceStores", raw.Common.PieceStores,
		func() PieceStore { return PieceStore{} })
	cfg.Common.PersistStores = decodeElements(lerr, data, md, "Common.PersistStores", raw.Common.PersistStores,
		DefaultPersistStore)
	cfg.Miners = decodeElements(lerr, data, md, "Miners", raw.Miners,
		func() Miner { return DefaultMiner(0) })
	addUnknownKeys(lerr, data, md, arrays)
	if len(lerr.Problems) > 0 {
		return nil, nil, lerr.orNil()
	}
	warnings := validateManager(lerr, data, cfg)
	if err := lerr.orNil(); err != nil {
		return nil, nil, err
	}
	return cfg, warnings, nil
}

// decodeElements decodes each element of the array of tables key onto a
// fresh default, so that a key an element leaves out keeps its default and
// one written as zero stays zero. A bad value is reported with the line of
// its own element.
func decodeElements[T any](lerr *LoadError, data []byte, md toml.MetaData, key string, prims []toml.Primitive, def func() T) []T {
	if len(prims) == 0 {
		return nil
	}
	out := make([]T, len(prims))
	for i, p := range prims {
		out[i] = def()
		if err := md.PrimitiveDecode(p, &out[i]); err != nil {
			var last, msg string
			var perr toml.ParseError
			if errors.As(err, &perr) {
				last, msg = perr.LastKey, perr.Message
			} else {
				_, last, msg = splitDecodeError(err.Error())
			}
			k := fmt.Sprintf("%s[%d]%s", key, i, strings.TrimPrefix(last, key))
			lerr.add(data, elementKeyLine(data, k), k, "%s", msg)
		}
	}
	return out
}

// addUnknownKeys reports the undecoded keys under the arrays that
// decodeStrict was told to leave alone, once they have been decoded.
func addUnknownKeys(lerr *LoadError, data []byte, md toml.MetaData, arrays []string) {
	for _, k := range unknownKeys(md, nil) {
		for _, a := range arrays {
			if strings.HasPrefix(k, a+".") {
				lerr.add(data, 0, k, "unknown key (misspelt, or not a key of this file; see the template written by init)")
			}
		}
	}
}

// validateManager checks what the types cannot: values out of range,
// references between sections, and settings this implementation refuses.
// Errors go to lerr; the returned warnings are for things that load.
func validateManager(lerr *LoadError, data []byte, cfg *Manager) Warnings {
	v := validator{lerr: lerr, data: data}
	checkNumbers(v.fail, cfg)
	c := &cfg.Common

	v.endpoint("Common.API.Chain", c.API.Chain)
	v.endpoint("Common.API.Messager", c.API.Messager)
	v.endpoint("Common.API.Market", c.API.Market)
	for i, ep := range c.API.Gateway {
		v.endpoint(fmt.Sprintf("Common.API.Gateway[%d]", i), ep)
	}
	v.positive("Common.API.ChainEventInterval", c.API.ChainEventInterval)

	names := map[string]string{}
	for i, s := range c.PieceStores {
		v.store(fmt.Sprintf("Common.PieceStores[%d]", i), s.Name, s.Path, s.Plugin, names)
	}
	names = map[string]string{}
	for i, s := range c.PersistStores {
		v.store(fmt.Sprintf("Common.PersistStores[%d]", i), s.Name, s.Path, s.Plugin, names)
	}

	if c.MongoKVStore.Enable {
		v.fail("Common.MongoKVStore.Enable", `MongoDB is not supported by this implementation: set Enable = false (or remove [Common.MongoKVStore]) and choose a SQL database with [Common.DB] Driver = "sqlite" | "postgres" | "mysql"`)
	}
	switch c.DB.Driver {
	case dbSQLite:
	case dbPostgres, dbMySQL:
		if strings.TrimSpace(c.DB.DSN) == "" {
			v.fail("Common.DB.DSN", "the %s driver needs a DSN (the connection string of the database)", c.DB.Driver)
		}
	case "badger", "mongo", "plugin":
		v.fail("Common.DB.Driver", "unknown driver %q (want sqlite, postgres or mysql): damocles's %s key-value store is replaced by a SQL database here", c.DB.Driver, c.DB.Driver)
	default:
		v.fail("Common.DB.Driver", "unknown driver %q (want sqlite, postgres or mysql)", c.DB.Driver)
	}
	for i, n := range c.Auth.TrustedNetworks {
		if err := checkNetwork(n); err != nil {
			v.fail(fmt.Sprintf("Common.Auth.TrustedNetworks[%d]", i), "%v", err)
		}
	}
	wp := c.Proving.WorkerProver
	if wp.JobMaxTry == 0 {
		v.fail("Common.Proving.WorkerProver.JobMaxTry", "must be at least 1: a job that may not be tried never runs")
	}
	v.positive("Common.Proving.WorkerProver.HeartbeatTimeout", wp.HeartbeatTimeout)
	v.positive("Common.Proving.WorkerProver.JobLifetime", wp.JobLifetime)

	actors := map[uint64]int{}
	for i := range cfg.Miners {
		v.miner(i, &cfg.Miners[i], actors)
	}
	return v.warnings
}

// validator collects the problems and warnings of one file.
type validator struct {
	lerr     *LoadError
	data     []byte
	warnings Warnings
}

// fail records an error at key, which may name array elements
// ("Miners[1].Actor").
func (v *validator) fail(key, format string, args ...any) {
	v.lerr.add(v.data, elementKeyLine(v.data, key), key, format, args...)
}

// warn records a warning about the element or key named by key.
func (v *validator) warn(key, format string, args ...any) {
	w := fmt.Sprintf("%s: %s", key, fmt.Sprintf(format, args...))
	if line := elementKeyLine(v.data, key); line > 0 {
		w = fmt.Sprintf("%s:%d: %s", v.lerr.File, line, w)
	} else {
		w = v.lerr.File + ": " + w
	}
	v.warnings = append(v.warnings, w)
}

func (v *validator) endpoint(key, ep string) {
	if ep == "" {
		return
	}
	if _, err := netaddr.Parse(ep); err != nil {
		v.fail(key, "%v", err)
	}
}

// positive refuses a zero duration where it would spin a loop or expire
// everything at once.
func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.fail(key, "must be longer than 0s")
	}
}

// store checks one piece or persist store; names maps the names seen so far
// to the element that used them.
func (v *validator) store(elem, name, path, plugin string, names map[string]string) {
	if plugin != "" {
		v.fail(elem+".Plugin", "object-store plugins are not supported by this implementation (it is built without cgo): remove Plugin and mount the storage as a directory")
	}
	if path == "" {
		v.warn(elem, "Path is not set; this entry names no store")
		return
	}
	if name == "" {
		name = path
	}
	if prev, ok := names[name]; ok {
		v.fail(elem+".Name", "store name %q is used twice (%s and %s): sector locations would be ambiguous; give each store its own Name", name, prev, elem)
		return
	}
	names[name] = elem
}

// miner checks one [[Miners]] element; actors maps the actor IDs seen so far
// to their element index.
func (v *validator) miner(i int, m *Miner, actors map[uint64]int) {
	elem := fmt.Sprintf("Miners[%d]", i)
	if m.Actor == 0 {
		v.warn(elem, "Actor is not set; this entry names no miner")
	} else if j, dup := actors[m.Actor]; dup {
		v.fail(elem+".Actor", "miner %d is configured twice (Miners[%d] and Miners[%d]): merge the two [[Miners]] blocks", m.Actor, j, i)
	} else {
		actors[m.Actor] = i
	}
	if m.Sector.MinNumber != 0 && m.Sector.MaxNumber != 0 && m.Sector.MinNumber > m.Sector.MaxNumber {
		v.fail(elem+".Sector.MinNumber", "MinNumber %d is above MaxNumber %d: no sector number could be allocated", m.Sector.MinNumber, m.Sector.MaxNumber)
	}
	for _, p := range []struct {
		name   string
		policy *CommitPolicy
	}{{"Pre", &m.Commitment.Pre}, {"Prove", &m.Commitment.Prove}, {"Terminate", &m.Commitment.Terminate}} {
		if p.policy.Batch.Enabled {
			v.positive(elem+".Commitment."+p.name+".Batch.CheckInterval", p.policy.Batch.CheckInterval)
		}
	}
	if m.Actor != 0 && m.PoSt.Enabled && !m.PoSt.Sender.IsSet() {
		v.warn(elem+".PoSt", "WindowPoSt is enabled for miner %d but PoSt.Sender is not set; its proofs cannot be submitted", m.Actor)
	}
}

// checkNetwork checks a TrustedNetworks entry: a CIDR or a bare IP address
// (that host only), as the RPC server reads them.
func checkNetwork(s string) error {
	s = strings.TrimSpace(s)
	var err error
	if strings.Contains(s, "/") {
		_, err = netip.ParsePrefix(s)
	} else {
		_, err = netip.ParseAddr(s)
	}
	if err != nil {
		return fmt.Errorf("bad network %q: want a CIDR such as \"10.0.0.0/8\" or an IP address", s)
	}
	return nil
}

// checkNumbers reports the numbers a decoded config may hold but no setting
// means: negative counts and epochs, and NaN, infinite or negative gas
// multipliers. TOML integers are signed, and the decoder stores a negative
// one written for an unsigned field as a huge positive value; values above
// math.MaxInt64 can only come from such a negative number.
func checkNumbers(fail func(key, format string, args ...any), cfg any) {
	walkLeaves(cfg, func(l leaf) {
		switch v := l.value; {
		case v.CanInt() && !l.text:
			if v.Int() < 0 {
				fail(l.key, "must not be negative (got %d)", v.Int())
			}
		case v.CanUint() && !l.text:
			if v.Uint() > math.MaxInt64 {
				fail(l.key, "must not be negative (got %d)", int64(v.Uint()))
			}
		case v.CanFloat():
			f := v.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
				fail(l.key, "must be a non-negative number (got %v)", f)
			}
		}
	})
}
