package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	old := DefaultManager()
	old.Common.API.Chain = "/ip4/10.0.0.1/tcp/1234"
	old.Common.API.Token = "old-secret-token"
	old.Common.API.Gateway = []string{"/ip4/10.0.0.2/tcp/45132", "/ip4/10.0.0.3/tcp/45132"}
	old.Common.PersistStores = []PersistStore{{Name: "s1", Path: "/mnt/s1", Weight: 1, Meta: map[string]string{"k": "v"}}}
	old.Miners = []Miner{DefaultMiner(1000)}

	next := DefaultManager()
	next.Common.API.Chain = "/ip4/10.0.0.9/tcp/1234"
	next.Common.API.Token = "new-secret-token"
	next.Common.API.Gateway = []string{"/ip4/10.0.0.2/tcp/45132"}
	next.Common.API.ChainEventInterval = Duration(30 * time.Second)
	next.Common.DB = DB{Driver: "postgres", DSN: "postgres://user:hunter2@db/damocles"}
	next.Common.PersistStores = []PersistStore{{Name: "s1", Path: "/mnt/s1", Weight: 2, Meta: map[string]string{"k": "w", "CUDA.X": "1"}}}
	next.Miners = []Miner{DefaultMiner(1000), DefaultMiner(1001)}
	next.Miners[0].PoSt.Enabled = false
	next.Miners[0].PoSt.GasFeeCap = NewFIL(2_000_000_000)
	next.Miners[0].PoSt.Sender = Address{}
	if err := next.Miners[0].PoSt.Sender.UnmarshalText([]byte("f01234")); err != nil {
		t.Fatal(err)
	}

	got := Diff(old, next)
	want := []Change{
		{Key: "Common.API.Chain", Old: `"/ip4/10.0.0.1/tcp/1234"`, New: `"/ip4/10.0.0.9/tcp/1234"`},
		{Key: "Common.API.Gateway[1]", Old: `"/ip4/10.0.0.3/tcp/45132"`},
		{Key: "Common.API.Token", Old: "<redacted>", New: "<redacted>"},
		{Key: "Common.API.ChainEventInterval", Old: `"1m0s"`, New: `"30s"`},
		{Key: "Common.PersistStores[0].Weight", Old: "1", New: "2"},
		{Key: `Common.PersistStores[0].Meta."CUDA.X"`, New: `"1"`},
		{Key: "Common.PersistStores[0].Meta.k", Old: `"v"`, New: `"w"`},
		{Key: "Common.DB.Driver", Old: `"sqlite"`, New: `"postgres"`},
		{Key: "Common.DB.DSN", Old: "<redacted>", New: "<redacted>"},
		{Key: "Miners[0].PoSt.Sender", Old: `""`, New: `"f01234"`},
		{Key: "Miners[0].PoSt.Enabled", Old: "true", New: "false"},
		{Key: "Miners[0].PoSt.GasFeeCap", Old: `"5 nanoFIL"`, New: `"2 nanoFIL"`},
		{Key: "Miners[1]", New: "{...}"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff =\n%s\nwant\n%s", changesText(got), changesText(want))
	}
	for _, c := range got {
		if strings.Contains(c.Old+c.New, "secret") || strings.Contains(c.Old+c.New, "hunter2") {
			t.Errorf("change %+v leaks a secret", c)
		}
	}
	if back := Diff(next, old); len(back) != len(want) || back[len(back)-1] != (Change{Key: "Miners[1]", Old: "{...}"}) {
		t.Errorf("reverse Diff = %s; want the same keys, Miners[1] removed", changesText(back))
	}
}

func TestDiffEqual(t *testing.T) {
	a, b := DefaultManager(), DefaultManager()
	b.Common.API.Gateway = []string{} // empty and nil read the same in a file
	if d := Diff(a, b); len(d) != 0 {
		t.Errorf("Diff of equal configs = %+v", d)
	}
	// Equal FIL amounts written differently are equal.
	var x, y FIL
	if err := x.UnmarshalText([]byte("5 nanoFIL")); err != nil {
		t.Fatal(err)
	}
	if err := y.UnmarshalText([]byte("5000 picoFIL")); err != nil {
		t.Fatal(err)
	}
	if d := Diff(Fee{GasFeeCap: x}, Fee{GasFeeCap: y}); len(d) != 0 {
		t.Errorf("Diff of equal amounts = %+v", d)
	}
}

func TestDiffExtProverFromNothing(t *testing.T) {
	var old *ExtProver // ext-prover.cfg did not exist at start
	next := &ExtProver{WdPost: []ExtProcessor{DefaultExtProcessor()}}
	got := Diff(old, next)
	if want := []Change{{Key: "WdPost[0]", New: "{...}"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Diff = %s; want %s", changesText(got), changesText(want))
	}
	next2 := &ExtProver{WdPost: []ExtProcessor{DefaultExtProcessor()}}
	next2.WdPost[0].Envs = map[string]string{"CUDA_VISIBLE_DEVICES": "1"}
	next2.WdPost[0].Args = []string{"wdpost"}
	got = Diff(next, next2)
	want := []Change{
		{Key: "WdPost[0].Args[0]", New: `"wdpost"`},
		{Key: "WdPost[0].Envs.CUDA_VISIBLE_DEVICES", New: `"1"`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff = %s; want %s", changesText(got), changesText(want))
	}
}

func TestDiffRedactsWholeSecretArrays(t *testing.T) {
	type withSecrets struct {
		Headers map[string]string `secret:"true"`
		Keys    []string          `secret:"true"`
		Plain   string
	}
	got := Diff(withSecrets{Headers: map[string]string{"Authorization": "Bearer abc"}},
		withSecrets{Keys: []string{"k1"}, Plain: "p"})
	want := []Change{
		{Key: "Headers.Authorization", Old: "<redacted>"},
		{Key: "Keys[0]", New: "<redacted>"},
		{Key: "Plain", Old: `""`, New: `"p"`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff = %s; want %s", changesText(got), changesText(want))
	}
}

func TestRenderValue(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{1.2, "1.2"},
		{0.0, "0.0"},
		{float64(3), "3.0"},
		{1e21, "1e+21"},
		{"a \"b\"\n\\", `"a \"b\"\n\\"`},
		{"\x01", `"\u0001"`},
		{[]uint64{1, 2}, "[1, 2]"},
		{[]string{}, "[]"},
		{Duration(90 * time.Second), `"1m30s"`},
		{FIL{}, `""`},
		{true, "true"},
	} {
		if got := renderValue(reflect.ValueOf(tc.v)); got != tc.want {
			t.Errorf("renderValue(%#v) = %s; want %s", tc.v, got, tc.want)
		}
	}
}

func changesText(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString("  " + c.Key + ": " + c.Old + " -> " + c.New + "\n")
	}
	return b.String()
}
