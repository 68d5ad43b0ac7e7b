package config

import (
	"cmp"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/filecoin-project/go-address"
)

// The sector-manager.cfg of venus-sector-manager before v0.5 (seed 003) had
// other sections: [SectorManager], [Commitment.DefaultPolicy] and
// [Commitment.Miners.<id>], [Chain], [Messager], [PersistedStore] and
// [PoSt.Default] / [PoSt.Actors.<id>]. Such a file still loads: it is
// translated in memory into a Manager, and the warnings say where each key
// went, so that the operator can rewrite the file at leisure. Keys the
// file does not write take this implementation's defaults, not the old ones.

// legacyManager is the old file. Unknown keys in it are errors, as in the
// current format.
type legacyManager struct {
	SectorManager struct {
		Miners   []uint64
		PreFetch bool
	}
	Commitment struct {
		DefaultPolicy legacyCommitPolicy
		Miners        map[string]legacyCommitMiner
	}
	Chain          legacyRPC
	Messager       legacyRPC
	PersistedStore struct {
		Includes []string
		Stores   []legacyStore
	}
	PoSt struct {
		Default legacyPoStPolicy
		Actors  map[string]legacyPoStActor
	}
}

type legacyRPC struct {
	Api   string
	Token string
}

type legacyStore struct {
	Name     string
	Path     string
	Strict   bool
	ReadOnly bool
}

// legacyCommitPolicy holds the batching and fee keys of
// [Commitment.DefaultPolicy], also written per miner to override it. A nil
// field is a key the file does not write.
type legacyCommitPolicy struct {
	CommitBatchThreshold            *int
	CommitBatchMaxWait              *Duration
	CommitCheckInterval             *Duration
	EnableBatchProCommit            *bool
	PreCommitBatchThreshold         *int
	PreCommitBatchMaxWait           *Duration
	PreCommitCheckInterval          *Duration
	EnableBatchPreCommit            *bool
	PreCommitGasOverEstimation      *float64
	ProCommitGasOverEstimation      *float64
	BatchPreCommitGasOverEstimation *float64
	BatchProCommitGasOverEstimation *float64
	MaxPreCommitFeeCap              *attoFIL
	MaxProCommitFeeCap              *attoFIL
	MaxBatchPreCommitFeeCap         *attoFIL
	MaxBatchProCommitFeeCap         *attoFIL
	MsgConfidence                   *int64
}

type legacyCommitMiner struct {
	Controls struct {
		PreCommit   Address
		ProveCommit Address
	}
	legacyCommitPolicy
}

// legacyPoStPolicy holds the keys of [PoSt.Default], also written per actor
// to override it.
type legacyPoStPolicy struct {
	StrictCheck       *bool
	GasOverEstimation *float64
	MaxFeeCap         *attoFIL
	MsgCheckInteval   *Duration
	MsgConfidence     *uint64
}

type legacyPoStActor struct {
	Sender Address
	legacyPoStPolicy
}

// attoFIL is a fee cap of the old format, where a bare integer counts
// attoFIL (the current format reads a bare number as FIL).
type attoFIL FIL

func (a *attoFIL) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, ok := new(big.Int).SetString(s, 10); ok {
		if n.Sign() < 0 {
			return fmt.Errorf("bad FIL amount %q: must not be negative", s)
		}
		a.atto = n
		return nil
	}
	return (*FIL)(a).UnmarshalText(b)
}

// legacyMove says where one key of a legacy policy goes in a Miner; an
// empty to means the key has no equivalent and is ignored.
type legacyMove struct {
	from, to string
}

var legacyCommitMoves = []legacyMove{
	{"CommitBatchThreshold", "Commitment.Prove.Batch.Threshold"},
	{"CommitBatchMaxWait", "Commitment.Prove.Batch.MaxWait"},
	{"CommitCheckInterval", "Commitment.Prove.Batch.CheckInterval"},
	{"EnableBatchProCommit", "Commitment.Prove.Batch.Enabled"},
	{"PreCommitBatchThreshold", "Commitment.Pre.Batch.Threshold"},
	{"PreCommitBatchMaxWait", "Commitment.Pre.Batch.MaxWait"},
	{"PreCommitCheckInterval", "Commitment.Pre.Batch.CheckInterval"},
	{"EnableBatchPreCommit", "Commitment.Pre.Batch.Enabled"},
	{"PreCommitGasOverEstimation", "Commitment.Pre.GasOverEstimation"},
	{"ProCommitGasOverEstimation", "Commitment.Prove.GasOverEstimation"},
	{"BatchPreCommitGasOverEstimation", "Commitment.Pre.Batch.GasOverEstimation"},
	{"BatchProCommitGasOverEstimation", "Commitment.Prove.Batch.GasOverEstimation"},
	{"MaxPreCommitFeeCap", "Commitment.Pre.GasFeeCap"},
	{"MaxProCommitFeeCap", "Commitment.Prove.GasFeeCap"},
	{"MaxBatchPreCommitFeeCap", "Commitment.Pre.Batch.GasFeeCap"},
	{"MaxBatchProCommitFeeCap", "Commitment.Prove.Batch.GasFeeCap"},
	{"MsgConfidence", "Commitment.Confidence"},
}

var legacyPoStMoves = []legacyMove{
	{"StrictCheck", "PoSt.StrictCheck"},
	{"GasOverEstimation", "PoSt.GasOverEstimation"},
	{"MaxFeeCap", "PoSt.GasFeeCap"},
	{"MsgConfidence", "PoSt.Confidence"},
	{"MsgCheckInteval", ""},
}

// isLegacyManager reports whether data is in the old format: it has old
// top-level sections and none of the current ones. A file that does not
// parse is not legacy; the current loader reports its syntax error.
func isLegacyManager(data []byte) bool {
	var top map[string]any
	if _, err := toml.Decode(string(data), &top); err != nil {
		return false
	}
	if _, ok := top["Common"]; ok {
		return false
	}
	if _, ok := top["Miners"]; ok {
		return false
	}
	for _, k := range []string{"SectorManager", "Chain", "Messager", "PersistedStore"} {
		if _, ok := top[k]; ok {
			return true
		}
	}
	return false
}

func parseLegacyManager(file string, data []byte) (*Manager, Warnings, error) {
	var old legacyManager
	md, err := decodeStrict(file, data, &old)
	if err != nil {
		return nil, nil, err
	}
	tr := legacyTranslation{
		validator: validator{lerr: &LoadError{File: file}, data: data},
		md:        md,
		cfg:       DefaultManager(),
		index:     map[uint64]int{},
	}
	checkNumbers(tr.fail, &old)
	tr.translate(&old)
	if err := tr.lerr.orNil(); err != nil {
		// Checking the translation would report the same values again,
		// under keys the file does not have.
		return nil, nil, err
	}
	warnings := validateManager(tr.lerr, data, tr.cfg)
	if err := tr.lerr.orNil(); err != nil {
		return nil, nil, err
	}
	moved := strings.Join(tr.moved, "; ")
	if moved == "" {
		moved = "nothing (the file sets no key)"
	}
	head := fmt.Sprintf("%s is in the legacy venus-sector-manager format: it was translated in memory (the file is unchanged; rewrite it from the template of `daemon init`); keys it does not set take this implementation's defaults; translated: %s",
		file, moved)
	return tr.cfg, append(append(Warnings{head}, tr.warnings...), warnings...), nil
}

// legacyTranslation carries the state of one translation.
type legacyTranslation struct {
	validator
	md    toml.MetaData
	cfg   *Manager
	index map[uint64]int // actor -> element of cfg.Miners
	moved []string       // "old -> new", for the warning
}

func (tr *legacyTranslation) move(from, to string) {
	tr.moved = append(tr.moved, from+" -> "+to)
}

func (tr *legacyTranslation) ignore(key, why string) {
	tr.warnings = append(tr.warnings, fmt.Sprintf("%s:%d: legacy key %s has no equivalent and is ignored: %s",
		tr.lerr.File, keyLine(tr.data, key), key, why))
}

// miner returns the element of actor, adding it when new.
func (tr *legacyTranslation) miner(actor uint64) (int, *Miner) {
	i, ok := tr.index[actor]
	if !ok {
		i = len(tr.cfg.Miners)
		tr.index[actor] = i
		tr.cfg.Miners = append(tr.cfg.Miners, DefaultMiner(actor))
	}
	return i, &tr.cfg.Miners[i]
}

// actorOf reads the <id> of [Commitment.Miners.<id>] and [PoSt.Actors.<id>]:
// "12345", or an ID address such as "f012345".
func (tr *legacyTranslation) actorOf(section, key string) (uint64, bool) {
	if n, err := strconv.ParseUint(key, 10, 64); err == nil && n > 0 {
		return n, true
	}
	if a, err := address.NewFromString(key); err == nil && a.Protocol() == address.ID {
		if n, err := address.IDFromAddress(a); err == nil && n > 0 {
			return n, true
		}
	}
	tr.fail(section+"."+joinKey("", key), "%q is not a miner actor ID (such as 12345 or f012345)", key)
	return 0, false
}

func (tr *legacyTranslation) translate(old *legacyManager) {
	api := &tr.cfg.Common.API
	if tr.md.IsDefined("Chain", "Api") {
		api.Chain = old.Chain.Api
		tr.move("Chain.Api", "Common.API.Chain")
	}
	if tr.md.IsDefined("Chain", "Token") {
		api.Token = old.Chain.Token
		tr.move("Chain.Token", "Common.API.Token")
	}
	if tr.md.IsDefined("Messager", "Api") {
		api.Messager = old.Messager.Api
		tr.move("Messager.Api", "Common.API.Messager")
	}
	if tr.md.IsDefined("Messager", "Token") {
		switch {
		case old.Messager.Token == api.Token:
			tr.move("Messager.Token", "Common.API.Token (the same as Chain.Token)")
		case api.Token == "":
			api.Token = old.Messager.Token
			tr.move("Messager.Token", "Common.API.Token")
		default:
			tr.ignore("Messager.Token", "it differs from Chain.Token and the current format has one Common.API.Token for every service")
		}
	}

	for i, s := range old.PersistedStore.Stores {
		ps := DefaultPersistStore()
		ps.Name, ps.Path, ps.Strict, ps.ReadOnly = s.Name, s.Path, s.Strict, s.ReadOnly
		tr.cfg.Common.PersistStores = append(tr.cfg.Common.PersistStores, ps)
		tr.move(fmt.Sprintf("PersistedStore.Stores[%d]", i), fmt.Sprintf("Common.PersistStores[%d]", i))
	}
	if len(old.PersistedStore.Includes) > 0 {
		tr.ignore("PersistedStore.Includes", "list each store as a [[Common.PersistStores]] block instead")
	}
	if tr.md.IsDefined("SectorManager", "PreFetch") {
		tr.ignore("SectorManager.PreFetch", "miner information is always fetched when needed")
	}

	for _, actor := range old.SectorManager.Miners {
		if _, dup := tr.index[actor]; dup {
			tr.fail("SectorManager.Miners", "miner %d is listed twice", actor)
			continue
		}
		if actor == 0 {
			tr.fail("SectorManager.Miners", "0 is not a miner actor ID")
			continue
		}
		tr.miner(actor)
	}
	if len(old.SectorManager.Miners) > 0 {
		tr.move("SectorManager.Miners", "Miners[*].Actor")
	}
	// Every miner must exist before the default policies are applied.
	sealing := len(tr.cfg.Miners)
	commitActors := tr.actors("Commitment.Miners", slices.Sorted(maps.Keys(old.Commitment.Miners)))
	postActors := tr.actors("PoSt.Actors", slices.Sorted(maps.Keys(old.PoSt.Actors)))
	for i := sealing; i < len(tr.cfg.Miners); i++ {
		m := &tr.cfg.Miners[i]
		m.Sector.Enabled = false
		tr.warnings = append(tr.warnings, fmt.Sprintf("%s: miner %d is not in SectorManager.Miners: Miners[%d].Sector.Enabled = false, so that it gets no new sectors, as with the old manager",
			tr.lerr.File, m.Actor, i))
	}

	tr.applyPolicy("Commitment.DefaultPolicy", -1, reflect.ValueOf(old.Commitment.DefaultPolicy), legacyCommitMoves)
	for _, a := range commitActors {
		i, m := tr.miner(a.actor)
		cm := old.Commitment.Miners[a.key]
		prefix := "Commitment.Miners." + joinKey("", a.key)
		if cm.Controls.PreCommit.IsSet() {
			m.Commitment.Pre.Sender = cm.Controls.PreCommit
			tr.move(prefix+".Controls.PreCommit", fmt.Sprintf("Miners[%d].Commitment.Pre.Sender", i))
		}
		if cm.Controls.ProveCommit.IsSet() {
			m.Commitment.Prove.Sender = cm.Controls.ProveCommit
			tr.move(prefix+".Controls.ProveCommit", fmt.Sprintf("Miners[%d].Commitment.Prove.Sender", i))
		}
		tr.applyPolicy(prefix, i, reflect.ValueOf(cm.legacyCommitPolicy), legacyCommitMoves)
	}

	// The old poster proved for the actors of [PoSt.Actors] only.
	for i := range tr.cfg.Miners {
		tr.cfg.Miners[i].PoSt.Enabled = false
	}
	tr.applyPolicy("PoSt.Default", -1, reflect.ValueOf(old.PoSt.Default), legacyPoStMoves)
	for _, a := range postActors {
		i, m := tr.miner(a.actor)
		pa := old.PoSt.Actors[a.key]
		prefix := "PoSt.Actors." + joinKey("", a.key)
		m.PoSt.Enabled = true
		m.PoSt.Sender = pa.Sender
		tr.move(prefix+".Sender", fmt.Sprintf("Miners[%d].PoSt.Sender (and PoSt.Enabled = true)", i))
		tr.applyPolicy(prefix, i, reflect.ValueOf(pa.legacyPoStPolicy), legacyPoStMoves)
	}
}

// actorKey is one <id> of a per-miner section and the actor it names.
type actorKey struct {
	key   string
	actor uint64
}

// actors reads the <id> keys of a per-miner section and adds their miners,
// in actor order so that the miners are numbered the same way at every
// load.
func (tr *legacyTranslation) actors(section string, keys []string) []actorKey {
	var out []actorKey
	for _, k := range keys {
		if actor, ok := tr.actorOf(section, k); ok {
			out = append(out, actorKey{k, actor})
		}
	}
	slices.SortFunc(out, func(a, b actorKey) int { return cmp.Compare(a.actor, b.actor) })
	for _, a := range out {
		tr.miner(a.actor)
	}
	return out
}

// applyPolicy copies the keys a policy section writes into the miner
// element only, or into every miner when only is -1 (a default policy; it is
// applied before the per-miner sections, which override it).
func (tr *legacyTranslation) applyPolicy(section string, only int, policy reflect.Value, moves []legacyMove) {
	for _, mv := range moves {
		src := policy.FieldByName(mv.from)
		if src.IsNil() {
			continue
		}
		from := section + "." + mv.from
		if mv.to == "" {
			tr.ignore(from, "the current format has no such setting")
			continue
		}
		for i := range tr.cfg.Miners {
			if only >= 0 && i != only {
				continue
			}
			dst := fieldByPath(reflect.ValueOf(&tr.cfg.Miners[i]).Elem(), mv.to)
			dst.Set(src.Elem().Convert(dst.Type()))
		}
		if only >= 0 {
			tr.move(from, fmt.Sprintf("Miners[%d].%s", only, mv.to))
		} else {
			tr.move(from, "Miners[*]."+mv.to)
		}
	}
}

// fieldByPath finds the field of a dotted key in struct v.
func fieldByPath(v reflect.Value, key string) reflect.Value {
	for name := range strings.SplitSeq(key, ".") {
		fields := fieldsOf(v.Type())
		i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
		if i < 0 {
			panic(fmt.Sprintf("config: %s has no key %s", v.Type(), name))
		}
		v = v.FieldByIndex(fields[i].index)
	}
	return v
}
