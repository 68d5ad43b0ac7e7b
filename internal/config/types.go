package config

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/filecoin-project/go-address"
	fbig "github.com/filecoin-project/go-state-types/big"
)

// Duration is a time.Duration written as Go duration text ("1m0s", "25h0m0s").
type Duration time.Duration

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses Go duration text; negative durations are refused.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: want Go duration text like \"30s\", \"1m0s\" or \"25h0m0s\"", s)
	}
	if v < 0 {
		return fmt.Errorf("bad duration %q: must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// filUnits are the FIL denominations Lotus and damocles accept, largest first.
var filUnits = []struct {
	name string
	exp  int
}{
	{"FIL", 18}, {"milliFIL", 15}, {"microFIL", 12}, {"nanoFIL", 9},
	{"picoFIL", 6}, {"femtoFIL", 3}, {"attoFIL", 0},
}

// FIL is an amount of FIL written as "<number> <unit>" ("5 nanoFIL",
// "0.5 FIL", "100 attoFIL"; a bare number is FIL). The empty string means
// "not set" (e.g. no fee cap), which IsSet reports.
type FIL struct {
	atto *big.Int
}

// NewFIL returns an amount of attoFIL.
func NewFIL(atto int64) FIL { return FIL{atto: big.NewInt(atto)} }

// IsSet reports whether an amount was given.
func (f FIL) IsSet() bool { return f.atto != nil }

// Atto returns the amount in attoFIL as a chain big.Int (zero when unset).
func (f FIL) Atto() fbig.Int {
	if f.atto == nil {
		return fbig.Zero()
	}
	return fbig.NewFromGo(new(big.Int).Set(f.atto))
}

// String writes the amount in the largest unit that keeps it whole.
func (f FIL) String() string {
	if f.atto == nil {
		return ""
	}
	if f.atto.Sign() == 0 {
		return "0 FIL"
	}
	for _, u := range filUnits {
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(u.exp)), nil)
		q, r := new(big.Int).QuoRem(f.atto, div, new(big.Int))
		if r.Sign() == 0 {
			return q.String() + " " + u.name
		}
	}
	return f.atto.String() + " attoFIL"
}

// MarshalText writes String().
func (f FIL) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses "<decimal> [unit]"; units are case-insensitive.
func (f *FIL) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*f = FIL{}
		return nil
	}
	num, unit := s, "FIL"
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	} else if j := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }); j > 0 {
		num, unit = s[:j], s[j:]
	}
	exp := -1
	for _, u := range filUnits {
		if strings.EqualFold(u.name, unit) {
			exp = u.exp
		}
	}
	if exp < 0 {
		return fmt.Errorf("bad FIL amount %q: unknown unit %q (use FIL, milliFIL, microFIL, nanoFIL, picoFIL, femtoFIL or attoFIL)", s, unit)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || r.Sign() < 0 {
		return fmt.Errorf("bad FIL amount %q: %q is not a non-negative number", s, num)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	if !r.IsInt() {
		return fmt.Errorf("bad FIL amount %q: finer than 1 attoFIL", s)
	}
	f.atto = new(big.Int).Set(r.Num())
	return nil
}

// Address is a Filecoin address ("f01000", "t3...", "f1..."). The empty
// string means "not set".
type Address struct {
	address.Address
}

// IsSet reports whether an address was given.
func (a Address) IsSet() bool { return a.Address != address.Undef }

func (a Address) String() string {
	if !a.IsSet() {
		return ""
	}
	return a.Address.String()
}

// MarshalText writes the address, or "" when unset.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses an f/t-prefixed address of any protocol.
func (a *Address) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		a.Address = address.Undef
		return nil
	}
	v, err := address.NewFromString(s)
	if err != nil {
		return fmt.Errorf("bad address %q: %v", s, err)
	}
	a.Address = v
	return nil
}
