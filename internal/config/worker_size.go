package config

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
)

// SealProofSizes maps the sector size names used in config files to bytes:
// the sizes of RegisteredSealProof V1_1.
var SealProofSizes = map[string]uint64{
	"2KiB":   2 << 10,
	"8MiB":   8 << 20,
	"512MiB": 512 << 20,
	"32GiB":  32 << 30,
	"64GiB":  64 << 30,
}

// sealProofSizeNames lists SealProofSizes' names, smallest first, for messages.
func sealProofSizeNames() string {
	names := make([]string, 0, len(SealProofSizes))
	for n := range SealProofSizes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return SealProofSizes[names[i]] < SealProofSizes[names[j]] })
	return strings.Join(names, ", ")
}

// ParseSectorSize reads a sector size as damocles-worker does (byte_unit
// text: "32GiB", "32gib", "32 GiB", or a plain byte count "34359738368") and
// checks that it is one of SealProofSizes. Decimal units ("32GB") name no
// sector size and are refused.
func ParseSectorSize(s string) (uint64, error) {
	n, err := parseByteText(s)
	if err != nil {
		return 0, fmt.Errorf("bad sector size %q: %v; use one of %s", s, err, sealProofSizeNames())
	}
	for _, size := range SealProofSizes {
		if n == size {
			return n, nil
		}
	}
	return 0, fmt.Errorf("bad sector size %q: %d bytes is not a sector size; use one of %s", s, n, sealProofSizeNames())
}

// SectorSizeName returns the canonical name of a sector size in bytes
// ("32GiB"), or the byte count when it is not one.
func SectorSizeName(bytes uint64) string {
	for name, size := range SealProofSizes {
		if size == bytes {
			return name
		}
	}
	return fmt.Sprintf("%d", bytes)
}

// ByteSize is an amount of bytes written as byte_unit text, as
// damocles-worker's min_deal_space is: "8GiB" (binary), "8GB" (decimal),
// "1KiB", or a plain count.
type ByteSize uint64

// String writes the largest binary unit that keeps the amount whole.
func (b ByteSize) String() string {
	v := uint64(b)
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for i < len(units)-1 && v != 0 && v%1024 == 0 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%d%s", v, units[i])
}

// MarshalText writes String().
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses byte_unit text.
func (b *ByteSize) UnmarshalText(text []byte) error {
	n, err := parseByteText(string(text))
	if err != nil {
		return fmt.Errorf("bad byte size %q: %v", string(text), err)
	}
	*b = ByteSize(n)
	return nil
}

// parseByteText follows byte_unit 4 (the crate damocles-worker uses): a
// number (a fraction is allowed), optional spaces, then an optional unit
// K/M/G/T/P/E in any case, "i" for binary (1024) multiples, and an optional
// trailing "B". No unit means bytes.
func parseByteText(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf(`want a number and a unit such as "32GiB"`)
	}
	num, ok := new(big.Rat).SetString(t[:i])
	if !ok {
		return 0, fmt.Errorf("%q is not a number", t[:i])
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	unit = strings.TrimSuffix(unit, "b")
	base := int64(1000)
	if strings.HasSuffix(unit, "i") {
		base, unit = 1024, strings.TrimSuffix(unit, "i")
	}
	exp := strings.Index("kmgtpe", unit) + 1
	switch {
	case unit == "" && base == 1000:
		exp = 0
	case len(unit) != 1 || exp == 0:
		return 0, fmt.Errorf("unknown unit %q (use B, KiB, MiB, GiB, TiB or KB, MB, GB, TB)", strings.TrimSpace(t[i:]))
	}
	num.Mul(num, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(base), big.NewInt(int64(exp)), nil)))
	if !num.IsInt() {
		return 0, fmt.Errorf("not a whole number of bytes")
	}
	if num.Num().Cmp(new(big.Int).SetUint64(math.MaxUint64)) > 0 {
		return 0, fmt.Errorf("too large")
	}
	return num.Num().Uint64(), nil
}
