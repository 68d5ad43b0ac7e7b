package config

import (
	"encoding"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Change is one key whose value differs between two loads of a config
// file. Old is empty when the key (or array element) was added, New when it
// was removed. Values are written as in the file.
type Change struct {
	Key      string
	Old, New string
}

// redacted stands for the value of a secret (a field tagged `secret:"true"`,
// such as Common.API.Token or Common.DB.DSN), so that logs of a reload
// never leak it.
const redacted = "<redacted>"

// Diff lists the keys whose values differ between old and new, two configs
// of the same type (Manager, ExtProver, or pointers to them; a nil pointer
// counts as the zero value). Keys are dotted as in the file, with array
// elements indexed ("Miners[0].PoSt.Enabled"); an array element that only
// one side has is reported once, as added or removed. Secrets are
// reported as changed, never shown.
func Diff(old, new any) []Change {
	a, b := reflect.ValueOf(old), reflect.ValueOf(new)
	if a.Type() != b.Type() {
		panic(fmt.Sprintf("config.Diff: %s and %s are not the same type", a.Type(), b.Type()))
	}
	var out []Change
	diffValue(&out, "", deref(a), deref(b), false)
	return out
}

// deref follows pointers; a nil pointer becomes the zero value it points to.
func deref(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Zero(v.Type().Elem())
		}
		v = v.Elem()
	}
	return v
}

func diffValue(out *[]Change, key string, a, b reflect.Value, secret bool) {
	a, b = deref(a), deref(b)
	switch {
	case isLeaf(a.Type()):
		ra, rb := renderValue(a), renderValue(b)
		if ra == rb {
			return
		}
		if secret {
			ra, rb = redacted, redacted
		}
		*out = append(*out, Change{Key: key, Old: ra, New: rb})
	case a.Kind() == reflect.Struct:
		for _, f := range fieldsOf(a.Type()) {
			diffValue(out, joinKey(key, f.name), a.FieldByIndex(f.index), b.FieldByIndex(f.index), secret || f.secret)
		}
	case a.Kind() == reflect.Slice || a.Kind() == reflect.Array:
		n := max(a.Len(), b.Len())
		for i := range n {
			k := fmt.Sprintf("%s[%d]", key, i)
			switch {
			case i >= a.Len():
				*out = append(*out, Change{Key: k, New: elementText(b.Index(i), secret)})
			case i >= b.Len():
				*out = append(*out, Change{Key: k, Old: elementText(a.Index(i), secret)})
			default:
				diffValue(out, k, a.Index(i), b.Index(i), secret)
			}
		}
	case a.Kind() == reflect.Map:
		keys := map[string]reflect.Value{}
		for _, m := range []reflect.Value{a, b} {
			for _, mk := range m.MapKeys() {
				keys[fmt.Sprint(mk.Interface())] = mk
			}
		}
		for _, name := range slices.Sorted(maps.Keys(keys)) {
			mk := keys[name]
			av, bv := a.MapIndex(mk), b.MapIndex(mk)
			k := joinKey(key, name)
			switch {
			case !av.IsValid():
				*out = append(*out, Change{Key: k, New: elementText(bv, secret)})
			case !bv.IsValid():
				*out = append(*out, Change{Key: k, Old: elementText(av, secret)})
			default:
				diffValue(out, k, av, bv, secret)
			}
		}
	}
}

// elementText is how an added or removed element shows in a Change: its
// value for a scalar, "{...}" for a table, whose keys would be too many for
// one log line (the empty other side says whether it came or went).
func elementText(v reflect.Value, secret bool) string {
	v = deref(v)
	switch {
	case secret:
		return redacted
	case isLeaf(v.Type()):
		return renderValue(v)
	default:
		return "{...}"
	}
}

// field is an exported struct field as the TOML file names it. Fields of
// embedded structs (Fee) are flattened into their parent, as the decoder
// does.
type field struct {
	name   string
	index  []int
	secret bool
	// owner is the struct type that declares the field (Fee for the
	// flattened fee keys), where its doc comment is.
	owner reflect.Type
	sf    reflect.StructField
}

// fieldsOf lists the fields of struct type t that the file can set, in
// declaration order.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		embedded := sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct && !isLeaf(sf.Type)
		if name == "-" || !sf.IsExported() && !embedded {
			continue
		}
		secret := sf.Tag.Get("secret") == "true"
		if embedded {
			for _, inner := range fieldsOf(sf.Type) {
				inner.index = append([]int{i}, inner.index...)
				inner.secret = inner.secret || secret
				out = append(out, inner)
			}
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, field{name: name, index: []int{i}, secret: secret, owner: t, sf: sf})
	}
	return out
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// isLeaf reports whether values of t are written as one TOML value: a
// string, number or boolean, or a type that writes itself as text
// (Duration, FIL, Address).
func isLeaf(t reflect.Type) bool {
	if t.Implements(textMarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// renderValue writes v as a TOML value: a leaf as itself, a slice of leaves
// as an array.
func renderValue(v reflect.Value) string {
	v = deref(v)
	if v.Type().Implements(textMarshaler) {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return fmt.Sprintf("<%v>", err)
		}
		return quoteString(string(b))
	}
	switch v.Kind() {
	case reflect.String:
		return quoteString(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return formatFloat(v.Float())
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = renderValue(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// formatFloat writes a TOML float: always with a fraction or exponent, so
// that it reads back as a float ("1.2", "0.0").
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

// quoteString writes a TOML basic string.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// joinKey appends name to a dotted key, quoting it when TOML needs quotes
// (map keys such as environment variable names may hold any character).
func joinKey(key, name string) string {
	if !isBareKey(name) {
		name = quoteString(name)
	}
	if key == "" {
		return name
	}
	return key + "." + name
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// leaf is one value met by walkLeaves.
type leaf struct {
	key   string
	value reflect.Value
	// text is set for types that write themselves as text (Duration, FIL,
	// Address), whose kind says nothing of their meaning.
	text bool
}

// walkLeaves calls fn for every leaf value in v, array elements and map
// entries included, with its dotted, indexed key.
func walkLeaves(v any, fn func(leaf)) {
	walkValue("", reflect.ValueOf(v), fn)
}

func walkValue(key string, v reflect.Value, fn func(leaf)) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch {
	case isLeaf(v.Type()):
		fn(leaf{key: key, value: v, text: v.Type().Implements(textMarshaler)})
	case v.Kind() == reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			walkValue(joinKey(key, f.name), v.FieldByIndex(f.index), fn)
		}
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		for i := range v.Len() {
			walkValue(fmt.Sprintf("%s[%d]", key, i), v.Index(i), fn)
		}
	case v.Kind() == reflect.Map:
		keys := map[string]reflect.Value{}
		for _, mk := range v.MapKeys() {
			keys[fmt.Sprint(mk.Interface())] = mk
		}
		for _, name := range slices.Sorted(maps.Keys(keys)) {
			walkValue(joinKey(key, name), v.MapIndex(keys[name]), fn)
		}
	}
}
