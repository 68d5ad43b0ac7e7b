package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLegacyManagerTranslation(t *testing.T) {
	path := writeManagerFile(t, `[SectorManager]
Miners = [1000, 1001]
PreFetch = false

[Commitment]
[Commitment.DefaultPolicy]
EnableBatchPreCommit = true
PreCommitBatchThreshold = 8
PreCommitBatchMaxWait = "30m0s"
CommitCheckInterval = "2m0s"
ProCommitGasOverEstimation = 1.5
MaxPreCommitFeeCap = "2000000000"
MaxBatchProCommitFeeCap = "3 nanoFIL"
MsgConfidence = 20

[Commitment.Miners]
[Commitment.Miners.1001]
PreCommitBatchThreshold = 4
[Commitment.Miners.1001.Controls]
PreCommit = "f01"

[Chain]
Api = "/ip4/127.0.0.1/tcp/3453"
Token = "chain-token"

[Messager]
Api = "/ip4/127.0.0.1/tcp/39812"
Token = "messager-token"

[PersistedStore]
Includes = ["unavailable"]
[[PersistedStore.Stores]]
Name = "100.100.10.1"
Path = "/mnt/store1"
ReadOnly = true

[PoSt]
[PoSt.Default]
StrictCheck = false
MsgCheckInteval = "1m0s"
MsgConfidence = 5
[PoSt.Actors.1000]
Sender = "f02"
[PoSt.Actors.f01002]
Sender = "f03"
MaxFeeCap = "1 nanoFIL"
`)
	m, ws, err := LoadManager(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Common.API.Chain != "/ip4/127.0.0.1/tcp/3453" || m.Common.API.Messager != "/ip4/127.0.0.1/tcp/39812" || m.Common.API.Token != "chain-token" {
		t.Errorf("API = %+v", m.Common.API)
	}
	if len(m.Common.PersistStores) != 1 || len(Diff(m.Common.PersistStores[0], PersistStore{Name: "100.100.10.1", Path: "/mnt/store1", ReadOnly: true, Weight: 1})) != 0 {
		t.Errorf("persist stores = %+v", m.Common.PersistStores)
	}
	if len(m.Miners) != 3 {
		t.Fatalf("miners = %+v; want 1000, 1001 and 1002", m.Miners)
	}
	for i, actor := range []uint64{1000, 1001, 1002} {
		mi := m.Miners[i]
		if mi.Actor != actor {
			t.Fatalf("Miners[%d].Actor = %d; want %d", i, mi.Actor, actor)
		}
		// The default policy reaches every miner, 1002 included.
		pre, prove := mi.Commitment.Pre, mi.Commitment.Prove
		if !pre.Batch.Enabled || pre.Batch.MaxWait.Std() != 30*time.Minute || prove.Batch.CheckInterval.Std() != 2*time.Minute ||
			prove.GasOverEstimation != 1.5 || pre.GasFeeCap.String() != "2 nanoFIL" || prove.Batch.GasFeeCap.String() != "3 nanoFIL" ||
			mi.Commitment.Confidence != 20 || mi.PoSt.StrictCheck || mi.PoSt.Confidence != 5 {
			t.Errorf("Miners[%d] = %+v; want the default policies applied", i, mi)
		}
	}
	if got := []int{m.Miners[0].Commitment.Pre.Batch.Threshold, m.Miners[1].Commitment.Pre.Batch.Threshold}; got[0] != 8 || got[1] != 4 {
		t.Errorf("PreCommit thresholds = %v; want 8 (default policy) and 4 (miner 1001's own)", got)
	}
	if s := m.Miners[1].Commitment.Pre.Sender.String(); s != "f01" {
		t.Errorf("Miners[1].Commitment.Pre.Sender = %q; want f01", s)
	}
	if !m.Miners[0].PoSt.Enabled || m.Miners[0].PoSt.Sender.String() != "f02" || m.Miners[1].PoSt.Enabled ||
		!m.Miners[2].PoSt.Enabled || m.Miners[2].PoSt.GasFeeCap.String() != "1 nanoFIL" {
		t.Errorf("PoSt = %+v, %+v, %+v; want it enabled for the actors of [PoSt.Actors] only", m.Miners[0].PoSt, m.Miners[1].PoSt, m.Miners[2].PoSt)
	}
	if !m.Miners[0].Sector.Enabled || m.Miners[2].Sector.Enabled {
		t.Error("only the miners of SectorManager.Miners may get new sectors")
	}

	for _, w := range [][]string{
		{"legacy venus-sector-manager format",
			"Commitment.DefaultPolicy.EnableBatchPreCommit -> Miners[*].Commitment.Pre.Batch.Enabled",
			"Commitment.Miners.1001.PreCommitBatchThreshold -> Miners[1].Commitment.Pre.Batch.Threshold",
			"PoSt.Actors.f01002.MaxFeeCap -> Miners[2].PoSt.GasFeeCap",
			"PersistedStore.Stores[0] -> Common.PersistStores[0]"},
		{fmt.Sprintf("%s:3: legacy key SectorManager.PreFetch has no equivalent and is ignored", path)},
		{"legacy key Messager.Token has no equivalent", "differs from Chain.Token"},
		{"legacy key PersistedStore.Includes"},
		{":40: legacy key PoSt.Default.MsgCheckInteval"},
		{"miner 1002 is not in SectorManager.Miners", "Miners[2].Sector.Enabled = false"},
	} {
		if !hasWarning(ws, w...) {
			t.Errorf("no warning with %q in:\n%s", w, strings.Join(ws, "\n"))
		}
	}
}

func TestLegacyManagerBadInput(t *testing.T) {
	runBadInput(t, ManagerFileName, []badInput{
		{"unknown key", "[SectorManager]\nMiners = [1000]\nMinrs = [1]\n", 3, "SectorManager.Minrs", "unknown key"},
		{"new section name in a legacy file", "[SectorManager]\nMiners = [1000]\n[Proving]\nx = 1\n", 3, "Proving", "unknown key"},
		{"bad actor key", "[Chain]\nApi = \"/ip4/127.0.0.1/tcp/1\"\n[Commitment.Miners.example.Controls]\nPreCommit = \"f01\"\n", 3, "Commitment.Miners.example", `"example" is not a miner actor ID`},
		{"duplicate miner", "[SectorManager]\nMiners = [1000, 1000]\n", 2, "SectorManager.Miners", "miner 1000 is listed twice"},
		{"negative", "[SectorManager]\nMiners = [-1]\n", 2, "SectorManager.Miners[0]", "must not be negative"},
		{"bad fee", "[Chain]\n[PoSt.Default]\nMaxFeeCap = \"-5\"\n", 3, "PoSt.Default.MaxFeeCap", "must not be negative"},
	})
}

func TestLegacyDetection(t *testing.T) {
	for _, tc := range []struct {
		text   string
		legacy bool
	}{
		{"[SectorManager]\n", true},
		{"[Chain]\nApi = \"x\"\n", true},
		{"[PersistedStore]\n", true},
		{"[Common]\n[Chain]\n", false}, // mixed: the current loader reports [Chain] as unknown
		{"[[Miners]]\nActor = 1\n", false},
		{"", false},
		{"[SectorManager\n", false},
	} {
		if got := isLegacyManager([]byte(tc.text)); got != tc.legacy {
			t.Errorf("isLegacyManager(%q) = %v; want %v", tc.text, got, tc.legacy)
		}
	}
}

// TestLegacyMovesResolve checks every row of the translation tables: the
// old key exists, the new one too, and the value converts.
func TestLegacyMovesResolve(t *testing.T) {
	for _, table := range []struct {
		policy reflect.Type
		moves  []legacyMove
	}{
		{reflect.TypeFor[legacyCommitPolicy](), legacyCommitMoves},
		{reflect.TypeFor[legacyPoStPolicy](), legacyPoStMoves},
	} {
		if len(table.moves) != table.policy.NumField() {
			t.Errorf("%s has %d keys but %d rows", table.policy, table.policy.NumField(), len(table.moves))
		}
		for _, mv := range table.moves {
			f, ok := table.policy.FieldByName(mv.from)
			if !ok || f.Type.Kind() != reflect.Pointer {
				t.Errorf("%s has no optional key %s", table.policy, mv.from)
				continue
			}
			if mv.to == "" {
				continue
			}
			var m Miner
			dst := fieldByPath(reflect.ValueOf(&m).Elem(), mv.to)
			if !f.Type.Elem().ConvertibleTo(dst.Type()) {
				t.Errorf("%s (%s) cannot go to %s (%s)", mv.from, f.Type.Elem(), mv.to, dst.Type())
			}
		}
	}
}
