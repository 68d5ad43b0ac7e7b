package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestLoadSeedExtProverConfigs loads every ext-prover.cfg example of the
// seeds, copied verbatim into testdata/extprover.
func TestLoadSeedExtProverConfigs(t *testing.T) {
	eightGPUs := func(t *testing.T, e *ExtProver) {
		if len(e.WdPost) != 8 || len(e.WinPost) != 0 {
			t.Fatalf("%d WdPost, %d WinPost; want 8 and 0", len(e.WdPost), len(e.WinPost))
		}
		for i, p := range e.WdPost {
			want := map[string]string{"CUDA_VISIBLE_DEVICES": fmt.Sprint(i), "TMPDIR": fmt.Sprintf("/tmp/ext-prover%d/", i)}
			if !reflect.DeepEqual(p.Envs, want) {
				t.Errorf("WdPost[%d].Envs = %v; want %v", i, p.Envs, want)
			}
			if p.Bin != "" || p.Concurrent != 1 || p.Weight != 1 || p.ReadyTimeoutSecs != 5 {
				t.Errorf("WdPost[%d] = %+v; want the defaults besides Envs", i, p)
			}
		}
	}
	empty := func(t *testing.T, e *ExtProver) {
		if len(e.WdPost)+len(e.WinPost) != 0 {
			t.Errorf("%+v; want no process (everything is commented out)", e)
		}
	}
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, e *ExtProver)
		err   string // the file is not valid TOML: the error it must give
	}{
		{file: "seed000_default.cfg", check: func(t *testing.T, e *ExtProver) {
			if len(e.WdPost) != 1 || len(e.WinPost) != 0 {
				t.Fatalf("%+v; want one WdPost (its header is not commented out)", e)
			}
			if p := e.WdPost[0]; p.Bin != "" || len(p.Args) != 0 || len(p.Envs) != 0 || p.Concurrent != 1 || p.Weight != 1 || p.ReadyTimeoutSecs != 5 {
				t.Errorf("WdPost[0] = %+v; want the defaults", p)
			}
		}},
		{file: "seed000_8gpu.cfg", check: eightGPUs},
		{file: "seed001_default.cfg", check: empty},
		{file: "seed001_8gpu.cfg", check: eightGPUs},
		{file: "seed002_default.cfg", check: empty},
		{file: "seed002_8gpu.cfg", err: "seed002_8gpu.cfg:1: key WdPost: expected a top-level item to end with a newline"},
		{file: "seed004_wdpost_master.cfg", check: func(t *testing.T, e *ExtProver) {
			if len(e.WdPost) != 1 {
				t.Fatalf("%d WdPost; want 1", len(e.WdPost))
			}
			p := e.WdPost[0]
			if p.Bin != "/root/venus-cluster/dist/bin/wdpost-master-daemon" ||
				!slices.Equal(p.Args, []string{"-c", "/root/venus-cluster/dist/bin/wdpost_master.toml"}) ||
				p.Concurrent != 50 || p.Weight != 1 || p.ReadyTimeoutSecs != 5 || p.Envs["RUST_LOG"] != "info" {
				t.Errorf("WdPost[0] = %+v", p)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			e, err := LoadExtProver(filepath.Join("testdata", "extprover", tc.file))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, e)
		})
	}
	if files, _ := filepath.Glob("testdata/extprover/*.cfg"); len(files) != 7 {
		t.Errorf("testdata/extprover holds %d files; the table covers 7: add the new one", len(files))
	}
}

func TestExtProverTemplate(t *testing.T) {
	seed, err := os.ReadFile("testdata/extprover/seed001_default.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if string(ExtProverTemplate()) != string(seed) {
		t.Errorf("template =\n%s\nwant seed 001's default:\n%s", ExtProverTemplate(), seed)
	}
	e, err := LoadExtProver(writeConfigFile(t, ExtProverFileName, string(ExtProverTemplate())))
	if err != nil || len(e.WdPost)+len(e.WinPost) != 0 {
		t.Fatalf("template loads as %+v, %v; want no process", e, err)
	}

	e, err = LoadExtProver(writeConfigFile(t, ExtProverFileName, uncomment(ExtProverTemplate())))
	if err != nil {
		t.Fatalf("uncommented template: %v", err)
	}
	want := ExtProcessor{
		Bin: "/path/to/custom/bin", Args: []string{"args1", "args2", "args3"},
		Envs: map[string]string{"ENV_KEY": "ENV_VAL"}, Concurrent: 1, Weight: 1, ReadyTimeoutSecs: 5,
	}
	if !reflect.DeepEqual(e.WdPost, []ExtProcessor{want}) || !reflect.DeepEqual(e.WinPost, []ExtProcessor{want}) {
		t.Errorf("uncommented template = %+v; want one example of each", e)
	}
	// The template is written by hand, as damocles writes it: make sure no
	// field of ExtProcessor is missing from it.
	for _, f := range fieldsOf(reflect.TypeFor[ExtProcessor]()) {
		if !strings.Contains(string(ExtProverTemplate()), "#"+f.name+" = ") && f.name != "Envs" {
			t.Errorf("ExtProverTemplate lacks %s", f.name)
		}
	}
}

func TestExtProverDefaultsPerElement(t *testing.T) {
	e, err := LoadExtProver(writeConfigFile(t, ExtProverFileName, `[[WdPost]]
Concurrent = 4

[[WdPost]]
Weight = 3
ReadyTimeoutSecs = 0

[[WinPost]]
Bin = "/usr/local/bin/winning"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := []ExtProcessor{e.WdPost[0], e.WdPost[1], e.WinPost[0]}
	want := []ExtProcessor{
		{Concurrent: 4, Weight: 1, ReadyTimeoutSecs: 5},
		{Concurrent: 1, Weight: 3, ReadyTimeoutSecs: 5}, // 0 means 5
		{Bin: "/usr/local/bin/winning", Concurrent: 1, Weight: 1, ReadyTimeoutSecs: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("processors = %+v; want %+v", got, want)
	}
}

func TestExtProverBadInput(t *testing.T) {
	runBadInput(t, ExtProverFileName, []badInput{
		{"unknown key", "[[WdPost]]\nBin = \"/a\"\nConcurency = 2\n", 3, "WdPost.Concurency", "unknown key"},
		{"unknown section", "[[WindowPoSt]]\nBin = \"/a\"\n", 1, "WindowPoSt", "unknown key"},
		{"wrong type in the second element", "[[WdPost]]\nWeight = 2\n[[WdPost]]\nWeight = \"2\"\n", 4, "WdPost[1].Weight", "incompatible types"},
		{"negative", "[[WinPost]]\nConcurrent = -1\n", 2, "WinPost[0].Concurrent", "must not be negative"},
		{"zero concurrency", "[[WdPost]]\nConcurrent = 0\n", 2, "WdPost[0].Concurrent", "must be at least 1"},
		{"zero weight", "[[WdPost]]\n[[WdPost]]\nWeight = 0\n", 3, "WdPost[1].Weight", "must be at least 1"},
		{"bad env name", "[[WdPost]]\n[WdPost.Envs]\n\"A=B\" = \"1\"\n", 2, "WdPost[0].Envs", `bad environment variable name "A=B"`},
	})
}

func TestLoadExtProverMissingFile(t *testing.T) {
	_, err := LoadExtProver(filepath.Join(t.TempDir(), ExtProverFileName))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v; want fs.ErrNotExist", err)
	}
}
