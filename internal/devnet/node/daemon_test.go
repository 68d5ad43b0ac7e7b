package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
)

func TestParseMinerSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want MinerSpec
		err  string
	}{
		{in: "t01000:2KiB", want: MinerSpec{ID: 1000, Size: 2048}},
		{in: "f01001:8MiB", want: MinerSpec{ID: 1001, Size: 8 << 20}},
		{in: "1002:32GiB", want: MinerSpec{ID: 1002, Size: 32 << 30}},
		{in: "t01000", err: "ID:SIZE"},
		{in: "t1abc:2KiB", err: "not a miner ID"},
		{in: "t01000:3KiB", err: "not a sector size"},
		{in: "t01000:lots", err: "bad sector size"},
	} {
		got, err := ParseMinerSpec(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseMinerSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseMinerSpec(%q) error %v, want one containing %q", tc.in, err, tc.err)
		}
	}
}

// runDevnet runs Run until the returned stop is called, which returns
// Run's error.
func runDevnet(t *testing.T, cfg Config) (Started, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan Started, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(s Started) { ready <- s }) }()
	select {
	case s := <-ready:
		return s, func() error { cancel(); return <-done }
	case err := <-done:
		cancel()
		t.Fatalf("Run failed at start: %v", err)
		return Started{}, nil
	}
}

func TestRunServesAndContinuesAfterARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Home: dir, Listen: "127.0.0.1:0", BlockTime: 5 * time.Millisecond, Seed: "test", PreCommitChallengeDelay: 5,
		Miners: []MinerSpec{{ID: 1000, Size: 2048}}}
	s, stop := runDevnet(t, cfg)
	if len(s.Miners) != 1 || s.Miners[0].Address != mustID(t, 1000) || s.Wallet.Empty() {
		t.Fatalf("started %+v", s)
	}
	if data, err := os.ReadFile(filepath.Join(dir, APIFile)); err != nil || string(data) != s.API || strings.HasSuffix(s.API, "/tcp/0/http") {
		t.Fatalf("api file %q (%v), reported %q", data, err, s.API)
	}
	if data, err := os.ReadFile(filepath.Join(dir, TokenFile)); err != nil || string(data) != s.Token {
		t.Fatalf("token file %q (%v), reported %q", data, err, s.Token)
	}
	api, closer, err := chain.NewClient(t.Context(), s.API, s.Token)
	if err != nil {
		t.Fatal(err)
	}
	var before abi.ChainEpoch
	waitFor(t, "a few epochs", func() bool {
		head, err := api.ChainHead(t.Context())
		if err == nil {
			before = head.Height
		}
		return before >= 3
	})
	closer()
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v when stopped", err)
	}

	s2, stop := runDevnet(t, cfg)
	if s2.Token != s.Token || s2.Wallet != s.Wallet {
		t.Errorf("after a restart: token or wallet changed: %+v, was %+v", s2, s)
	}
	api, closer, err = chain.NewClient(t.Context(), s2.API, s.Token)
	if err != nil {
		t.Fatal(err)
	}
	head, err := api.ChainHead(t.Context())
	if err != nil || head.Height < before {
		t.Errorf("after a restart the head is %v (%v), was at %d", head, err, before)
	}
	if _, err := api.WalletDefaultAddress(t.Context()); err != nil {
		t.Errorf("the old token after a restart: %v", err)
	}
	closer()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	other := cfg
	other.Seed = "another"
	if err := Run(t.Context(), other, nil); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("Run with another seed: %v", err)
	}
	other = cfg
	other.BlockTime = 0
	if err := Run(t.Context(), other, nil); err == nil {
		t.Error("Run with a zero block time succeeded")
	}
}
