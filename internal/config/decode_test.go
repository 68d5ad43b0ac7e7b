package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyLine(t *testing.T) {
	const doc = `# a comment with Chain = "x"
top = 1
[Common]
[Common.API]
Chain = "/ip4/127.0.0.1/tcp/1234" # Token = "not here"
Token = "a#b"

[[Miners]]
Actor = 1000
[Miners.PoSt]
Sender = "f01"

[[processors. window_post]]
bin = "~/my_algorithm"
envs = { CUDA_VISIBLE_DEVICES = "0" }

[sector_manager]
rpc_client.addr = "/ip4/127.0.0.1/tcp/1789"
"quoted key" = 1
`
	for _, tc := range []struct {
		key  string
		want int
	}{
		{"top", 2},
		{"Common", 3},
		{"Common.API", 4},
		{"Common.API.Chain", 5},
		{"Common.API.Token", 6},
		{"Miners", 8},
		{"Miners.Actor", 9},
		{"Miners.PoSt.Sender", 11},
		// TOML allows spaces around the dots of a header, as seed 001 writes.
		{"processors.window_post", 13},
		{"processors.window_post.bin", 14},
		{"processors.window_post.envs", 15},
		{"sector_manager.rpc_client.addr", 18},
		{"sector_manager.quoted key", 19},
		// A key that is not written gives the line of its deepest written table.
		{"Common.API.Market", 4},
		{"Miners.PoSt.Confidence", 10},
		{"Nowhere.At.All", 0},
	} {
		if got := keyLine([]byte(doc), tc.key); got != tc.want {
			t.Errorf("keyLine(%q) = %d; want %d", tc.key, got, tc.want)
		}
	}
}

func TestElementKeyLine(t *testing.T) {
	const doc = `[Common.API]
Chain = "x"

[[Miners]]
Actor = 1000
[Miners.PoSt]
Sender = "f01"

[[Miners]]
Actor = 1001

[[Miners]]
Actor = 1002
[Miners.PoSt]
Sender = "f02"
`
	for _, tc := range []struct {
		key  string
		want int
	}{
		{"Common.API.Chain", 2},
		{"Miners[0].Actor", 5},
		{"Miners[0].PoSt.Sender", 7},
		{"Miners[1]", 9},
		{"Miners[1].Actor", 10},
		// Not written in element 1: its header, not element 2's key.
		{"Miners[1].PoSt.Sender", 9},
		{"Miners[2].Actor", 13},
		{"Miners[2].PoSt.Sender", 15},
		{"Miners[2].PoSt", 14},
		{"Miners[7].Actor", 0},
	} {
		if got := elementKeyLine([]byte(doc), tc.key); got != tc.want {
			t.Errorf("elementKeyLine(%q) = %d; want %d", tc.key, got, tc.want)
		}
	}
}

type decodeTarget struct {
	Name    string
	Count   int
	Wait    Duration
	Section struct {
		Flag bool
	}
}

func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct {
		name     string
		doc      string
		ignore   []string
		wantLine int
		wantKey  string
		wantMsg  string
	}{
		{"unknown key", "Name = \"a\"\nCuont = 3\n", nil, 2, "Cuont", "unknown key"},
		{"unknown table reported once", "Name = \"a\"\n[Other]\nx = 1\ny = 2\n", nil, 2, "Other", "unknown key"},
		{"unknown nested key", "[Section]\nFlag = true\nFlga = false\n", nil, 3, "Section.Flga", "unknown key"},
		{"wrong type", "Count = \"three\"\n", nil, 1, "Count", "incompatible types"},
		{"bad text value", "Name = \"a\"\nWait = \"soon\"\n", nil, 2, "Wait", `bad duration "soon"`},
		{"syntax error", "Name = \"a\"\nCount = 3 4\n[Section]\n", nil, 2, "", "expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v decodeTarget
			_, err := decodeStrict("test.cfg", []byte(tc.doc), &v, tc.ignore...)
			var lerr *LoadError
			if !errors.As(err, &lerr) {
				t.Fatalf("err = %v; want a *LoadError", err)
			}
			if len(lerr.Problems) != 1 {
				t.Fatalf("problems = %+v; want exactly one", lerr.Problems)
			}
			p := lerr.Problems[0]
			if p.Line != tc.wantLine || (tc.wantKey != "" && p.Key != tc.wantKey) || !strings.Contains(p.Msg, tc.wantMsg) {
				t.Errorf("problem = %+v; want line %d, key %q, message with %q", p, tc.wantLine, tc.wantKey, tc.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "test.cfg:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestDecodeStrictKeepsDefaultsAndIgnores(t *testing.T) {
	v := decodeTarget{Name: "default", Count: 7}
	md, err := decodeStrict("test.cfg", []byte("Count = 0\n[Ignored.Section]\nanything = 1\n"), &v, "Ignored")
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "default" || v.Count != 0 {
		t.Errorf("decoded %+v; want the default Name kept and the written zero Count", v)
	}
	if !md.IsDefined("Count") || md.IsDefined("Name") {
		t.Error("MetaData does not tell written keys from defaults")
	}
}

func TestLoadErrorListsProblemsInLineOrder(t *testing.T) {
	e := &LoadError{File: "f.cfg"}
	data := []byte("a = 1\nb = 2\n")
	e.add(data, 0, "b", "second")
	e.add(data, 0, "a", "first")
	e.add(data, 0, "", "nowhere")
	got := e.orNil().Error()
	want := "f.cfg: nowhere\nf.cfg:1: key a: first\nf.cfg:2: key b: second"
	if got != want {
		t.Errorf("error =\n%s\nwant\n%s", got, want)
	}
	if (&LoadError{}).orNil() != nil {
		t.Error("a LoadError without problems must be no error")
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := readFile(filepath.Join(t.TempDir(), "missing.cfg"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.cfg") {
		t.Errorf("err = %v; want fs.ErrNotExist naming the file", err)
	}
}
