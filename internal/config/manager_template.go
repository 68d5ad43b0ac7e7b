package config

import (
	_ "embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// The template's comments are the doc comments of the fields in
// manager.go, read from its source, so that a field added there shows up
// in the template, explained, without a second place to edit.
//
//go:embed manager.go
var managerSource string

// fieldDocs maps "Type.Field" to the doc comment of that field.
var fieldDocs = sync.OnceValue(func() map[string]string {
	f, err := parser.ParseFile(token.NewFileSet(), "manager.go", managerSource, parser.ParseComments)
	if err != nil {
		panic(fmt.Sprintf("config: parse embedded manager.go: %v", err))
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fl := range st.Fields.List {
			for _, name := range fl.Names {
				docs[ts.Name.Name+"."+name.Name] = strings.TrimSpace(fl.Doc.Text())
			}
		}
		return false
	})
	return docs
})

// docOf returns the doc comment of a field, "" when it has none.
func docOf(f field) string {
	return fieldDocs()[f.owner.Name()+"."+f.sf.Name]
}

// exampleSender is the address damocles's own templates use as a
// placeholder; it is well formed and nobody's control address.
const exampleSender = "f1abjxfbp274xpdqcpuaykwkfb43omjotacm2p3za"

// exampleMiner is the commented-out [[Miners]] block of the template: the
// defaults, with an actor and senders filled in to show their form.
func exampleMiner() Miner {
	m := DefaultMiner(1000)
	var sender Address
	if err := sender.UnmarshalText([]byte(exampleSender)); err != nil {
		panic(err)
	}
	m.SnapUp.Sender = sender
	m.Commitment.Pre.Sender = sender
	m.Commitment.Prove.Sender = sender
	m.Commitment.Terminate.Sender = sender
	m.PoSt.Sender = sender
	return m
}

func examplePieceStore() PieceStore {
	return PieceStore{
		Name: "piece-store-1",
		Path: "/mnt/pieces/1",
		Meta: map[string]string{"SomeKey": "SomeValue"},
	}
}

func examplePersistStore() PersistStore {
	s := DefaultPersistStore()
	s.Name = "store-1"
	s.Path = "/mnt/nfs/store-1"
	s.AllowMiners = []uint64{1000}
	s.DenyMiners = []uint64{}
	s.Meta = map[string]string{"SomeKey": "SomeValue"}
	return s
}

// templateExamples gives the example element shown for each array of
// tables.
var templateExamples = map[reflect.Type]func() any{
	reflect.TypeFor[Miner]():        func() any { return exampleMiner() },
	reflect.TypeFor[PieceStore]():   func() any { return examplePieceStore() },
	reflect.TypeFor[PersistStore](): func() any { return examplePersistStore() },
}

// ManagerTemplate returns the sector-manager.cfg that `daemon init` writes:
// every key at its default, commented out, under a short explanation; the
// headers of the plain tables as they are; and one commented-out example of
// each array of tables ([[Miners]] and the stores), whose header would
// otherwise create an empty element.
func ManagerTemplate() []byte {
	var t templateWriter
	t.line("# Default config:")
	t.line("# Every key is shown at its default value, commented out: remove the leading '#'")
	t.line("# of a key to set it. The [[...]] blocks are commented-out examples: remove the")
	t.line("# '#' of each line of a block (not of the '# ' explanations) to use it.")
	t.table(nil, reflect.ValueOf(*DefaultManager()), false)
	return []byte(t.b.String())
}

type templateWriter struct {
	b strings.Builder
}

func (t *templateWriter) line(s string) {
	t.b.WriteString(s)
	t.b.WriteByte('\n')
}

func (t *templateWriter) doc(text string) {
	for l := range strings.SplitSeq(text, "\n") {
		t.line(strings.TrimRight("# "+l, " "))
	}
}

// table writes the keys of the struct v, then its sub-tables; TOML needs
// that order, as a key after a header belongs to that header's table.
// commented is set inside an array-of-tables example, whose headers are
// commented out too.
func (t *templateWriter) table(path []string, v reflect.Value, commented bool) {
	mark := ""
	if commented {
		mark = "#"
	}
	fields := fieldsOf(v.Type())
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		if isLeaf(f.sf.Type) || isLeafSlice(f.sf.Type) {
			t.doc(docOf(f))
			t.line("#" + f.name + " = " + renderValue(fv))
		}
	}
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		sub := append(append([]string{}, path...), f.name)
		name := strings.Join(sub, ".")
		switch {
		case isLeaf(f.sf.Type) || isLeafSlice(f.sf.Type):
		case fv.Kind() == reflect.Struct:
			t.line("")
			t.doc(docOf(f))
			t.line(mark + "[" + name + "]")
			t.table(sub, fv, commented)
		case fv.Kind() == reflect.Slice:
			example, ok := templateExamples[f.sf.Type.Elem()]
			if !ok {
				panic(fmt.Sprintf("config: no template example for [[%s]] (%s)", name, f.sf.Type.Elem()))
			}
			t.line("")
			t.doc(docOf(f))
			t.line("# Example:")
			t.line("#[[" + name + "]]")
			t.table(sub, reflect.ValueOf(example()), true)
		case fv.Kind() == reflect.Map:
			if fv.Len() == 0 {
				continue
			}
			t.doc(docOf(f))
			t.line(mark + "[" + name + "]")
			iter := fv.MapRange()
			entries := map[string]string{}
			for iter.Next() {
				entries[fmt.Sprint(iter.Key().Interface())] = renderValue(iter.Value())
			}
			for _, k := range slices.Sorted(maps.Keys(entries)) {
				t.line("#" + joinKey("", k) + " = " + entries[k])
			}
		default:
			panic(fmt.Sprintf("config: template cannot write %s (%s)", name, f.sf.Type))
		}
	}
}

// isLeafSlice reports whether t is an array of plain values, written on
// one line ("Gateway = [...]").
func isLeafSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && isLeaf(t.Elem())
}
