package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Problem is one thing wrong in a config file. Line is 0 when the parser
// could not tell where it is.
type Problem struct {
	Line int
	Key  string
	Msg  string
}

// LoadError lists every problem found in one file, so that an operator fixes
// them in one round instead of one per restart.
type LoadError struct {
	File     string
	Problems []Problem
}

func (e *LoadError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		if p.Key != "" {
			fmt.Fprintf(&b, ": key %s", p.Key)
		}
		b.WriteString(": ")
		b.WriteString(p.Msg)
	}
	return b.String()
}

// add records a problem; line 0 means "look the key up in data".
func (e *LoadError) add(data []byte, line int, key, format string, args ...any) {
	if line == 0 && key != "" {
		line = keyLine(data, key)
	}
	e.Problems = append(e.Problems, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (e *LoadError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
	return e
}

// readFile reads a config file, turning "not found" into a message that says
// how to create one.
func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config file %s does not exist: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	return data, nil
}

// decodeStrict decodes data into v (which already holds the defaults) and
// reports syntax errors, type errors and unknown keys as a *LoadError naming
// file, line and key. ignore lists key prefixes that are accepted without
// being decoded (e.g. legacy sections handled separately).
func decodeStrict(file string, data []byte, v any, ignore ...string) (toml.MetaData, error) {
	lerr := &LoadError{File: file}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(v)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			msg := perr.Message
			if msg == "" {
				msg = perr.Error()
			}
			lerr.add(data, perr.Position.Line, perr.LastKey, "%s", msg)
			return md, lerr
		}
		// Type mismatches come back as "toml: line N (last key "k"): msg".
		line, key, msg := splitDecodeError(err.Error())
		lerr.add(data, line, key, "%s", msg)
		return md, lerr
	}
	for _, k := range unknownKeys(md, ignore) {
		lerr.add(data, 0, k, "unknown key (misspelt, or not a key of this file; see the template written by init)")
	}
	return md, lerr.orNil()
}

var decodeErrRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

func splitDecodeError(s string) (line int, key, msg string) {
	m := decodeErrRE.FindStringSubmatch(s)
	if m == nil {
		return 0, "", strings.TrimPrefix(s, "toml: ")
	}
	line, _ = strconv.Atoi(m[1])
	return line, m[2], m[3]
}

// unknownKeys returns the undecoded keys, keeping only the outermost of a
// subtree (an unknown table is reported once, not once per key inside it).
func unknownKeys(md toml.MetaData, ignore []string) []string {
	var out []string
	seen := map[string]bool{}
next:
	for _, k := range md.Undecoded() {
		s := k.String()
		for _, p := range ignore {
			if s == p || strings.HasPrefix(s, p+".") {
				continue next
			}
		}
		for i := 1; i < len(k); i++ {
			if seen[k[:i].String()] {
				continue next
			}
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// keyLine finds the line that defines the dotted key in a TOML document, by
// following table headers and dotted keys as written. Array indexes are not
// part of the key, so the first element that defines it wins. It returns 0
// when the key cannot be found (e.g. inside a multi-line inline table).
func keyLine(data []byte, key string) int {
	want := splitKey(key)
	var table []string
	best, bestLen := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(stripComment(sc.Text()))
		if line == "" {
			continue
		}
		var path []string
		switch {
		case strings.HasPrefix(line, "[["):
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			table = splitKey(line[2:end])
			path = table
		case strings.HasPrefix(line, "["):
			end := strings.Index(line, "]")
			if end < 0 {
				continue
			}
			table = splitKey(line[1:end])
			path = table
		default:
			eq := strings.Index(line, "=")
			if eq < 0 {
				continue
			}
			path = append(append([]string{}, table...), splitKey(line[:eq])...)
		}
		if l := commonPrefix(path, want); l == len(want) {
			return n
		} else if l > bestLen && l == len(path) {
			best, bestLen = n, l
		}
	}
	if bestLen == 0 {
		return 0
	}
	return best
}

func commonPrefix(a, b []string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// splitKey splits a dotted TOML key, trimming the spaces TOML allows around
// dots (`[processors. window_post]`) and the quotes of quoted keys.
func splitKey(s string) []string {
	var parts []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		p = strings.Trim(p, `"'`)
		parts = append(parts, p)
	}
	return parts
}

// stripComment drops a trailing comment that is not inside a string.
func stripComment(s string) string {
	inStr := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr != 0 && c == '\\' && inStr == '"':
			i++
		case inStr != 0 && c == inStr:
			inStr = 0
		case inStr == 0 && (c == '"' || c == '\''):
			inStr = c
		case inStr == 0 && c == '#':
			return s[:i]
		}
	}
	return s
}

// elementKeyLine is keyLine for keys that may name an element of an array
// of tables ("Miners[1].PoSt.Sender"): it narrows the search to the lines
// of that element, then looks the key up there. A key that is not written
// gives the line of the deepest table of it that is (the element's header,
// say). An index of an inline array ("TrustedNetworks[1]") gives the line
// of the array.
func elementKeyLine(data []byte, key string) int {
	lines := strings.Split(string(data), "\n")
	from, to := 0, len(lines)
	var names []string
	for _, part := range splitKey(key) {
		name, index := part, -1
		if open := strings.IndexByte(part, '['); open > 0 && strings.HasSuffix(part, "]") {
			if n, err := strconv.Atoi(part[open+1 : len(part)-1]); err == nil {
				name, index = part[:open], n
			}
		}
		names = append(names, name)
		if index >= 0 {
			var ok bool
			if from, to, ok = elementLines(lines, from, to, names, index); !ok {
				return 0
			}
		}
	}
	n := keyLine([]byte(strings.Join(lines[from:to], "\n")), strings.Join(names, "."))
	if n == 0 {
		return 0
	}
	return from + n
}

// elementLines narrows lines[from:to] to element index of the array of
// tables named by array: from its [[...]] header to the next header that is
// not inside it. It leaves the range alone when the array has no [[...]]
// header (an inline array), and is not ok when it has too few elements.
func elementLines(lines []string, from, to int, array []string, index int) (int, int, bool) {
	start, seen := -1, 0
	for n := from; n < to; n++ {
		path, isArray, ok := tableHeader(lines[n])
		if !ok {
			continue
		}
		same := isArray && slices.Equal(path, array)
		inside := len(path) > len(array) && slices.Equal(path[:len(array)], array)
		switch {
		case start >= 0 && (same || !inside):
			return start, n, true
		case same && seen == index:
			start = n
		}
		if same {
			seen++
		}
	}
	switch {
	case start >= 0:
		return start, to, true
	case seen == 0:
		return from, to, true
	}
	return 0, 0, false
}

// tableHeader reads a [table] or [[array]] header line.
func tableHeader(line string) (path []string, array, ok bool) {
	line = strings.TrimSpace(stripComment(line))
	if strings.HasPrefix(line, "[[") && strings.HasSuffix(line, "]]") {
		return splitKey(line[2 : len(line)-2]), true, true
	}
	if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
		return splitKey(line[1 : len(line)-1]), false, true
	}
	return nil, false, false
}
