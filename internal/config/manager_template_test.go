package config

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// uncomment removes the '#' of every commented-out key and header of a
// template, keeping the "# " explanations.
func uncomment(template []byte) string {
	return regexp.MustCompile(`(?m)^#([A-Za-z"\[])`).ReplaceAllString(string(template), "$1")
}

// leafKeys lists the dotted keys of every leaf that a value of type t can
// hold, without array indexes (one element stands for all).
func leafKeys(t reflect.Type, prefix string) []string {
	var out []string
	for _, f := range fieldsOf(t) {
		key := joinKey(prefix, f.name)
		ft := f.sf.Type
		switch {
		case isLeaf(ft) || isLeafSlice(ft):
			out = append(out, key)
		case ft.Kind() == reflect.Struct:
			out = append(out, leafKeys(ft, key)...)
		case ft.Kind() == reflect.Slice:
			out = append(out, leafKeys(ft.Elem(), key)...)
		case ft.Kind() == reflect.Map:
			out = append(out, key)
		}
	}
	return out
}

func TestManagerTemplateLoadsAsDefaults(t *testing.T) {
	tmpl := ManagerTemplate()
	if !strings.HasPrefix(string(tmpl), "# Default config:\n") {
		t.Errorf("template starts %q; want \"# Default config:\"", strings.SplitN(string(tmpl), "\n", 2)[0])
	}
	m, ws, err := LoadManager(writeManagerFile(t, string(tmpl)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, DefaultManager()) {
		t.Errorf("the template loads as %+v; want DefaultManager(): %+v", m, Diff(DefaultManager(), m))
	}
	if len(ws) != 0 {
		t.Errorf("the template loads with warnings %q", ws)
	}
}

func TestManagerTemplateShape(t *testing.T) {
	for i, line := range strings.Split(string(ManagerTemplate()), "\n") {
		switch {
		case line == "", strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[[") || !strings.HasPrefix(line, "["):
			// An uncommented [[...]] header would add an empty element;
			// an uncommented key would not be a default any more.
			t.Errorf("line %d: %q is neither a comment nor a table header", i+1, line)
		}
	}
}

// TestManagerTemplateUncommented uncomments every key and header: the file
// must load, set every key of Manager (one element of each array included)
// and hold the defaults, or the examples where an example is needed.
func TestManagerTemplateUncommented(t *testing.T) {
	text := uncomment(ManagerTemplate())
	var tree map[string]any
	md, err := toml.Decode(text, &tree)
	if err != nil {
		t.Fatalf("uncommented template does not parse: %v\n%s", err, text)
	}
	written := map[string]bool{}
	for _, k := range md.Keys() {
		written[k.String()] = true
	}
	for _, k := range leafKeys(reflect.TypeFor[Manager](), "") {
		if !written[k] {
			t.Errorf("key %s is missing from the template", k)
		}
	}

	m, ws, err := LoadManager(writeManagerFile(t, text))
	if err != nil {
		t.Fatalf("uncommented template does not load: %v", err)
	}
	if len(ws) != 0 {
		t.Errorf("uncommented template loads with warnings %q", ws)
	}
	want := DefaultManager()
	want.Common.PieceStores = []PieceStore{examplePieceStore()}
	want.Common.PersistStores = []PersistStore{examplePersistStore()}
	want.Miners = []Miner{exampleMiner()}
	if d := Diff(want, m); len(d) != 0 {
		t.Errorf("uncommented template differs from the defaults and examples: %+v", d)
	}
}

// TestTemplateExamplesAreDefaults checks that the examples differ from the
// defaults only where a default cannot show the form of a value.
func TestTemplateExamplesAreDefaults(t *testing.T) {
	var keys []string
	for _, c := range Diff(DefaultMiner(1000), exampleMiner()) {
		keys = append(keys, c.Key)
	}
	want := []string{"SnapUp.Sender", "Commitment.Pre.Sender", "Commitment.Prove.Sender", "Commitment.Terminate.Sender", "PoSt.Sender"}
	if !slices.Equal(keys, want) {
		t.Errorf("the example miner differs from DefaultMiner in %v; want only %v", keys, want)
	}
	keys = nil
	for _, c := range Diff(DefaultPersistStore(), examplePersistStore()) {
		keys = append(keys, c.Key)
	}
	if want := []string{"Name", "Path", "AllowMiners[0]", `Meta.SomeKey`}; !slices.Equal(keys, want) {
		t.Errorf("the example store differs from DefaultPersistStore in %v; want only %v", keys, want)
	}
}

// TestManagerFieldsDocumented makes every field carry the doc comment that
// the template shows.
func TestManagerFieldsDocumented(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type)
	visit = func(t0 reflect.Type) {
		if seen[t0] {
			return
		}
		seen[t0] = true
		for _, f := range fieldsOf(t0) {
			if docOf(f) == "" {
				t.Errorf("%s.%s has no doc comment", f.owner.Name(), f.sf.Name)
			}
			ft := f.sf.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !isLeaf(ft) {
				visit(ft)
			}
		}
	}
	visit(reflect.TypeFor[Manager]())
	if len(seen) < 15 {
		t.Errorf("visited %d struct types; the walk missed sections", len(seen))
	}
}

func TestManagerTemplateIsStable(t *testing.T) {
	if a, b := ManagerTemplate(), ManagerTemplate(); string(a) != string(b) {
		t.Error("two calls write different templates")
	}
}
