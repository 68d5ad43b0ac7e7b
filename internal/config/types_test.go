package config

import (
	"strings"
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		text string
	}{
		{"1m0s", time.Minute, "1m0s"},
		{"15s", 15 * time.Second, "15s"},
		{"25h", 25 * time.Hour, "25h0m0s"},
		{" 1h30m ", 90 * time.Minute, "1h30m0s"},
		{"0s", 0, "0s"},
	} {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tc.in, err)
			continue
		}
		if d.Std() != tc.want {
			t.Errorf("UnmarshalText(%q) = %v; want %v", tc.in, d.Std(), tc.want)
		}
		text, _ := d.MarshalText()
		if string(text) != tc.text {
			t.Errorf("MarshalText(%v) = %q; want %q", tc.want, text, tc.text)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("%q does not read back: %v, %v", text, back, err)
		}
	}
	for _, bad := range []string{"", "soon", "1 minute", "-5s", "10"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v; want an error", bad, d)
		}
	}
}

func TestFILText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		atto string
		text string
	}{
		{"5 nanoFIL", "5000000000", "5 nanoFIL"},
		{"5nanoFIL", "5000000000", "5 nanoFIL"},
		{"5 NANOFIL", "5000000000", "5 nanoFIL"},
		{"0.5 FIL", "500000000000000000", "500 milliFIL"},
		{"1", "1000000000000000000", "1 FIL"},
		{"1.5 nanoFIL", "1500000000", "1500 picoFIL"},
		{"100 attoFIL", "100", "100 attoFIL"},
		{"0", "0", "0 FIL"},
		{"12345678 attoFIL", "12345678", "12345678 attoFIL"},
	} {
		var f FIL
		if err := f.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tc.in, err)
			continue
		}
		if !f.IsSet() || f.Atto().String() != tc.atto {
			t.Errorf("UnmarshalText(%q) = %s attoFIL; want %s", tc.in, f.Atto(), tc.atto)
		}
		text, _ := f.MarshalText()
		if string(text) != tc.text {
			t.Errorf("MarshalText(%q) = %q; want %q", tc.in, text, tc.text)
		}
		var back FIL
		if err := back.UnmarshalText(text); err != nil || back.Atto().String() != tc.atto {
			t.Errorf("%q does not read back: %s, %v", text, back.Atto(), err)
		}
	}
	var unset FIL
	if err := unset.UnmarshalText([]byte("")); err != nil || unset.IsSet() || unset.String() != "" || unset.Atto().Sign() != 0 {
		t.Errorf("empty FIL = %q (set %v, err %v); want unset", unset, unset.IsSet(), err)
	}
	for _, bad := range []string{"-1 FIL", "five FIL", "5 gigaFIL", "0.1 attoFIL", "FIL", "1 FIL extra"} {
		var f FIL
		if err := f.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %s; want an error", bad, f)
		} else if !strings.Contains(err.Error(), "bad FIL amount") {
			t.Errorf("UnmarshalText(%q) error %q does not say what is wrong", bad, err)
		}
	}
}

func TestAddressText(t *testing.T) {
	for _, tc := range []struct{ in, text string }{
		{"f01000", "f01000"},
		{"t01000", "f01000"}, // written with the network prefix of this build
		{exampleSender, exampleSender},
		{"f3vur6njy6uucabdgxujlq2tsvtfrhbjwyhumangldl5mbsuzm4otzrsoykmejpukkiywmqidhksbvm32qnjga", "f3vur6njy6uucabdgxujlq2tsvtfrhbjwyhumangldl5mbsuzm4otzrsoykmejpukkiywmqidhksbvm32qnjga"},
	} {
		var a Address
		if err := a.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tc.in, err)
			continue
		}
		text, _ := a.MarshalText()
		if !a.IsSet() || string(text) != tc.text {
			t.Errorf("UnmarshalText(%q) = %q; want %q", tc.in, text, tc.text)
		}
	}
	var unset Address
	if err := unset.UnmarshalText(nil); err != nil || unset.IsSet() || unset.String() != "" {
		t.Errorf("empty address = %q, %v; want unset", unset, err)
	}
	for _, bad := range []string{"f0abc", "x01000", "f1nope", "1000"} {
		var a Address
		if err := a.UnmarshalText([]byte(bad)); err == nil || !strings.Contains(err.Error(), "bad address") {
			t.Errorf("UnmarshalText(%q) = %v, %v; want a bad address error", bad, a, err)
		}
	}
}
