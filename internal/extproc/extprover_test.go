package extproc

import (
	"reflect"
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/config"
)

func TestChildrenFromExtProver(t *testing.T) {
	entries := []config.ExtProcessor{
		// No Bin: our own binary as a processor; Args are not used.
		{Args: []string{"ignored"}, Envs: map[string]string{"CUDA_VISIBLE_DEVICES": "0"}},
		// Bin: exactly Bin and Args, nothing appended.
		{Bin: "/opt/prover", Args: []string{"--gpu", "1"}, Concurrent: 2, Weight: 3, ReadyTimeoutSecs: 30},
		{Bin: "/opt/prover"},
	}
	got := ChildrenFromExtProver("winning_post", entries, "/usr/bin/damocles-manager")
	want := []ChildConfig{
		{Bin: "/usr/bin/damocles-manager", Args: []string{"processor", "winning_post"},
			Envs: map[string]string{"CUDA_VISIBLE_DEVICES": "0"}, Concurrent: 1, Weight: 1, ReadyTimeout: 5 * time.Second},
		{Bin: "/opt/prover", Args: []string{"--gpu", "1"}, Concurrent: 2, Weight: 3, ReadyTimeout: 30 * time.Second},
		{Bin: "/opt/prover", Concurrent: 1, Weight: 1, ReadyTimeout: 5 * time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ChildrenFromExtProver =\n%+v\nwant\n%+v", got, want)
	}
	// The result shares nothing with the config.
	got[0].Envs["CUDA_VISIBLE_DEVICES"] = "7"
	got[1].Args[0] = "--cpu"
	if entries[0].Envs["CUDA_VISIBLE_DEVICES"] != "0" || entries[1].Args[0] != "--gpu" {
		t.Error("changing the children changed the config entries")
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		bad  bool
	}{
		{in: "0", want: []int{0}},
		{in: "0-3,8", want: []int{0, 1, 2, 3, 8}},
		{in: " 10-11 , 2,2", want: []int{2, 10, 11}},
		{in: "", bad: true},
		{in: "3-1", bad: true},
		{in: "a", bad: true},
		{in: "-1", bad: true},
		{in: "0-1024", bad: true},
	} {
		got, err := parseCPUList(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseCPUList(%q) = %v; want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
