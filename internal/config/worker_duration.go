package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// HumanDuration is a duration written the way damocles-worker writes it: the
// text of Rust's humantime crate ("15s", "60s", "1min", "3m", "1h 30m",
// "500ms", "2days"). The worker file uses it, not Go duration text, so that a
// file written for damocles-worker loads unchanged.
type HumanDuration time.Duration

// humantime's units. Months and years are humantime's averages (30.44 and
// 365.25 days), not calendar ones. Units are case-sensitive: "M" is a month,
// "m" a minute.
var humanUnits = map[string]time.Duration{
	"nanos": time.Nanosecond, "nsec": time.Nanosecond, "ns": time.Nanosecond,
	"micros": time.Microsecond, "usec": time.Microsecond, "us": time.Microsecond, "µs": time.Microsecond,
	"millis": time.Millisecond, "msec": time.Millisecond, "ms": time.Millisecond,
	"seconds": time.Second, "second": time.Second, "secs": time.Second, "sec": time.Second, "s": time.Second,
	"minutes": time.Minute, "minute": time.Minute, "mins": time.Minute, "min": time.Minute, "m": time.Minute,
	"hours": time.Hour, "hour": time.Hour, "hrs": time.Hour, "hr": time.Hour, "h": time.Hour,
	"days": humanDay, "day": humanDay, "d": humanDay,
	"weeks": 7 * humanDay, "week": 7 * humanDay, "w": 7 * humanDay,
	"months": humanMonth, "month": humanMonth, "M": humanMonth,
	"years": humanYear, "year": humanYear, "y": humanYear,
}

const (
	humanDay   = 24 * time.Hour
	humanMonth = 2_630_016 * time.Second
	humanYear  = 31_557_600 * time.Second
)

const humanDurationHint = `want humantime text such as "15s", "1min", "1h 30m", "500ms" or "2days"`

// ParseHumanDuration parses humantime text: one or more "<integer><unit>"
// parts, optionally separated by spaces ("1h30m" and "1h 30m" are equal).
// A bare "0" is zero; any other number needs a unit.
func ParseHumanDuration(s string) (time.Duration, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, fmt.Errorf("bad duration %q: empty; %s", s, humanDurationHint)
	}
	if text == "0" {
		return 0, nil
	}
	var total time.Duration
	rest := text
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad duration %q: expected a number at %q; %s", s, rest, humanDurationHint)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q: number %s is too large", s, rest[:i])
		}
		rest = strings.TrimLeft(rest[i:], " \t")
		j := 0
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9') && rest[j] != ' ' && rest[j] != '\t' {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("bad duration %q: %d has no unit; %s", s, n, humanDurationHint)
		}
		unit, ok := humanUnits[rest[:j]]
		if !ok {
			return 0, fmt.Errorf("bad duration %q: unknown unit %q (use ns, us, ms, s, m or min, h, d or days, w, M or months, y); %s", s, rest[:j], humanDurationHint)
		}
		if n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, fmt.Errorf("bad duration %q: longer than %s", s, HumanDuration(math.MaxInt64))
		}
		total += time.Duration(n) * unit
		rest = strings.TrimLeft(rest[j:], " \t")
	}
	return total, nil
}

// Std returns the duration as a time.Duration.
func (d HumanDuration) Std() time.Duration { return time.Duration(d) }

// String writes humantime's own format ("1m", "1h 30m", "2days", "500ms"),
// so that parsing it gives back the same duration.
func (d HumanDuration) String() string {
	v := time.Duration(d)
	if v == 0 {
		return "0s"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var parts []string
	add := func(n int64, unit string, plural bool) {
		if n == 0 {
			return
		}
		if plural && n > 1 {
			unit += "s"
		}
		parts = append(parts, strconv.FormatInt(n, 10)+unit)
	}
	for _, u := range []struct {
		size   time.Duration
		name   string
		plural bool
	}{
		{humanYear, "year", true}, {humanMonth, "month", true}, {humanDay, "day", true},
		{time.Hour, "h", false}, {time.Minute, "m", false}, {time.Second, "s", false},
		{time.Millisecond, "ms", false}, {time.Microsecond, "us", false}, {time.Nanosecond, "ns", false},
	} {
		add(int64(v/u.size), u.name, u.plural)
		v %= u.size
	}
	s := strings.Join(parts, " ")
	if neg {
		return "-" + s
	}
	return s
}

// MarshalText writes String().
func (d HumanDuration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses humantime text (see ParseHumanDuration).
func (d *HumanDuration) UnmarshalText(b []byte) error {
	v, err := ParseHumanDuration(string(b))
	if err != nil {
		return err
	}
	*d = HumanDuration(v)
	return nil
}
