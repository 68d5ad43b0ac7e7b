package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"15s", 15 * time.Second},
		{"60s", time.Minute},
		{"1min", time.Minute},
		{"3m", 3 * time.Minute},
		{"1h 30m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"500ms", 500 * time.Millisecond},
		{"2days", 48 * time.Hour},
		{"1day", 24 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1M", 2_630_016 * time.Second},
		{"1y", 31_557_600 * time.Second},
		{"10 sec", 10 * time.Second},
		{" 5 minutes ", 5 * time.Minute},
		{"2hrs 1us 3ns", 2*time.Hour + time.Microsecond + 3},
		{"0", 0},
		{"0s", 0},
	} {
		got, err := ParseHumanDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseHumanDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseHumanDurationRejects(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"", "empty"},
		{"15", "has no unit"},
		{"1m0s0", "has no unit"},
		{"1.5h", `unknown unit "."`},
		{"-5s", "expected a number"},
		{"5 parsecs", `unknown unit "parsecs"`},
		{"5S", `unknown unit "S"`},
		{"99999999999999999999s", "too large"},
		{"300000y", "longer than"},
	} {
		_, err := ParseHumanDuration(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseHumanDuration(%q) error = %v; want it to say %q", tc.in, err, tc.why)
		}
	}
	// A text that is not a duration at all gets examples of one.
	if _, err := ParseHumanDuration("soon"); err == nil || !strings.Contains(err.Error(), `"1h 30m"`) {
		t.Errorf("ParseHumanDuration(\"soon\") error = %v; want examples", err)
	}
}

func TestHumanDurationString(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{15 * time.Second, "15s"},
		{60 * time.Second, "1m"},
		{90 * time.Minute, "1h 30m"},
		{500 * time.Millisecond, "500ms"},
		{48 * time.Hour, "2days"},
		{25 * time.Hour, "1day 1h"},
		{time.Second + 2*time.Microsecond + 3, "1s 2us 3ns"},
		{31_557_600 * time.Second, "1year"},
	} {
		d := HumanDuration(tc.d)
		if got := d.String(); got != tc.want {
			t.Errorf("HumanDuration(%v).String() = %q; want %q", tc.d, got, tc.want)
		}
		text, _ := d.MarshalText()
		var back HumanDuration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("round trip of %v through %q gave %v, %v", tc.d, text, back.Std(), err)
		}
	}
}
