package config

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// LoadWorker reads a damocles-worker TOML file. A file in the old
// venus-worker format (see worker_legacy.go) is translated, with a warning
// per translated key. Anything else is strict: an unknown key, a wrong type
// or a bad value is an error naming the file, the line and the key, and
// every problem found after decoding is reported at once.
func LoadWorker(path string) (*Worker, Warnings, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	return parseWorker(path, data)
}

func parseWorker(file string, data []byte) (*Worker, Warnings, error) {
	var raw map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		// decodeStrict turns the same syntax error into a LoadError that
		// names the line.
		if _, lerr := decodeStrict(file, data, &map[string]any{}); lerr != nil {
			return nil, nil, hintElision(data, lerr)
		}
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	src := &workerSource{file: file, data: data}
	var (
		w     *Worker
		warns Warnings
	)
	if isLegacyWorker(raw) {
		var err error
		if w, warns, err = translateLegacyWorker(src); err != nil {
			return nil, warns, err
		}
	} else {
		w = DefaultWorker()
		presizeProcessors(w, raw)
		if _, err := decodeStrict(file, data, w); err != nil {
			return nil, nil, err
		}
		warns = src.deprecations(w, raw)
	}
	if err := validateWorker(src, w); err != nil {
		return nil, warns, err
	}
	return w, warns, nil
}

// hintElision explains a syntax error on a line that holds a literal "...":
// the docs use it to elide entries (envs = { CUDA_VISIBLE_DEVICES="0", ... }),
// and an operator who copies such an example gets the parser's message
// about a key starting with '.', which does not say what to change.
func hintElision(data []byte, err error) error {
	lerr, ok := err.(*LoadError)
	if !ok {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for i, p := range lerr.Problems {
		if p.Line > 0 && p.Line <= len(lines) && strings.Contains(stripComment(lines[p.Line-1]), "...") {
			lerr.Problems[i].Msg += ` (the line holds a literal "...", which the docs use to elide entries; it is not TOML: remove it or write the entries out)`
		}
	}
	return lerr
}

// presizeProcessors gives every [[processors.<stage>]] of the file an element
// holding DefaultProcessor, before decoding. The decoder fills existing
// elements in place, so keys a table leaves out keep their defaults
// (auto_restart = true, ...) instead of Go's zero values; a test guards this.
func presizeProcessors(w *Worker, raw map[string]any) {
	procs, _ := raw["processors"].(map[string]any)
	for name, field := range w.Processors.stages() {
		list, _ := procs[name].([]map[string]any)
		if len(list) == 0 {
			continue
		}
		*field = make([]Processor, len(list))
		for i := range *field {
			(*field)[i] = DefaultProcessor()
		}
	}
}

// place names where a key of the current format is: key inside element idx
// of the array of tables arr, or the dotted key itself when arr is "".
type place struct {
	arr string
	idx int
	key string
}

func at(key string) place { return place{key: key} }

func in(arr string, idx int, key string) place { return place{arr: arr, idx: idx, key: key} }

func (p place) String() string {
	switch {
	case p.arr == "":
		return p.key
	case p.key == "":
		return p.arr
	}
	return p.arr + "." + p.key
}

// workerSource is the file being loaded. rename maps a place of the current
// format to where a legacy file wrote it; it is nil for the current format.
type workerSource struct {
	file   string
	data   []byte
	rename func(place) place
}

// locate returns the line and the key, as written in the file, of a place.
func (s *workerSource) locate(p place) (int, string) {
	if s.rename != nil {
		p = s.rename(p)
	}
	if p.arr == "" {
		return keyLine(s.data, p.key), p.key
	}
	key := fmt.Sprintf("%s[%d]", p.arr, p.idx)
	if p.key != "" {
		key += "." + p.key
	}
	return elementKeyLine(s.data, key), p.String()
}

func (s *workerSource) problem(lerr *LoadError, p place, format string, args ...any) {
	line, key := s.locate(p)
	lerr.Problems = append(lerr.Problems, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// noted is a warning and the line it points at, so that a list of them
// can be put in file order.
type noted struct {
	line int
	text string
}

func (s *workerSource) warn(list *[]noted, p place, format string, args ...any) {
	line, key := s.locate(p)
	*list = append(*list, noted{line, s.where(line, key) + fmt.Sprintf(format, args...)})
}

// inFileOrder returns the warnings sorted by line; those without a line
// (about the whole file) come first.
func inFileOrder(list []noted) Warnings {
	sort.SliceStable(list, func(i, j int) bool { return list[i].line < list[j].line })
	var out Warnings
	for _, n := range list {
		out = append(out, n.text)
	}
	return out
}

// where formats "file:line: key k: " like LoadError does.
func (s *workerSource) where(line int, key string) string {
	var b strings.Builder
	b.WriteString(s.file)
	if line > 0 {
		fmt.Fprintf(&b, ":%d", line)
	}
	if key != "" {
		fmt.Fprintf(&b, ": key %s", key)
	}
	b.WriteString(": ")
	return b.String()
}

// deprecations warns about keys damocles-worker still reads but has renamed
// or stopped using.
func (s *workerSource) deprecations(w *Worker, raw map[string]any) Warnings {
	var warns []noted
	if w.Processors.Limit != nil {
		if w.Processors.Limitation.Concurrent != nil {
			s.warn(&warns, at("processors.limit"), "ignored: [processors.limitation.concurrent] is also set and wins")
		} else {
			s.warn(&warns, at("processors.limit"), "deprecated: rename [processors.limit] to [processors.limitation.concurrent]")
		}
	}
	if w.RemoteStore != nil {
		s.warn(&warns, at("remote_store"), "deprecated: write this store as an [[attached]] entry")
	}
	if w.Worker.LocalPiecesDir != "" {
		if w.Worker.LocalPiecesDirs != nil {
			s.warn(&warns, at("worker.local_pieces_dir"), "ignored: local_pieces_dirs is also set and wins")
		} else {
			s.warn(&warns, at("worker.local_pieces_dir"), "deprecated: use local_pieces_dirs = [%q]", w.Worker.LocalPiecesDir)
		}
	}
	if sel, ok := raw["attached_selection"].(map[string]any); ok {
		if _, set := sel["enable_space_weighted"]; set {
			s.warn(&warns, at("attached_selection.enable_space_weighted"), "ignored: damocles-manager chooses the persist store of a sector")
		}
	}
	return inFileOrder(warns)
}
