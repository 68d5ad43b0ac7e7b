package stage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// array32 decodes one [32]byte field strictly, as serde's [u8; 32] does:
// exactly 32 numbers 0..255. encoding/json alone would zero-fill a short
// array and drop the tail of a long one, so a truncated comm_r would turn
// into a "faulty" sector instead of a rejected task.
type array32 struct {
	key string // the JSON key, for the error
	p   *[32]byte
}

func (a array32) UnmarshalJSON(data []byte) error {
	b, err := decodeByteArray(data)
	if err != nil {
		return fmt.Errorf("%s: %w", a.key, err)
	}
	if len(b) != len(a.p) {
		return fmt.Errorf("%s: want an array of %d byte values, got %d", a.key, len(a.p), len(b))
	}
	copy(a.p[:], b)
	return nil
}

// decodeByteArray decodes a JSON array of byte values. It refuses the
// base64 string encoding/json would also accept for a []byte: Rust's
// Vec<u8> and [u8; N] only read arrays.
func decodeByteArray(data []byte) ([]byte, error) {
	if d := bytes.TrimLeft(data, " \t\r\n"); len(d) == 0 || d[0] != '[' {
		return nil, fmt.Errorf("want an array of byte values, got %s", excerpt(data))
	}
	b := []byte{}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	return b, nil
}

// encodeByteArray writes b as a JSON array of byte values; nil is [].
func encodeByteArray(b []byte) []byte {
	out := make([]byte, 0, 2+4*len(b))
	out = append(out, '[')
	for i, v := range b {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(v), 10)
	}
	return append(out, ']')
}

// orEmpty returns s, or an empty slice when s is nil: the Rust side
// declares these fields as Vec, which serde does not read from null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// isNull reports whether a raw JSON value is absent or the literal null.
func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// excerpt shortens a JSON value for an error message.
func excerpt(data []byte) string {
	const limit = 64
	if len(data) > limit {
		return string(data[:limit]) + "..."
	}
	return string(data)
}
