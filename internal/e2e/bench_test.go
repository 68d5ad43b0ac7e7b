package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchJSON runs a bench with --json and decodes its stdout, which must be
// exactly one JSON object: no progress, logs or table may leak there.
func benchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := mustRun(t, "damocles-worker", append(append([]string{"bench"}, args...), "--json")...)
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if res["verified"] != true {
		t.Errorf("verified = %v, want true\n%s", res["verified"], out)
	}
	return res
}

func TestBenchWdPoStJSON(t *testing.T) {
	res := benchJSON(t, "wdpost", "--sector-size", "2KiB", "--sectors", "4")
	if res["sectors"] != 4.0 || res["sectors_sealed"] != 4.0 || res["faulty"] != 0.0 {
		t.Errorf("sectors %v, sealed %v, faulty %v", res["sectors"], res["sectors_sealed"], res["faulty"])
	}
	if dir, _ := res["dir"].(string); res["dir_removed"] != true || dir == "" {
		t.Errorf("temporary dir %q removed %v", dir, res["dir_removed"])
	} else if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary dir %s is still there: %v", dir, err)
	}
}

func TestBenchWdPoStReusesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench")
	first := benchJSON(t, "wdpost", "--sector-size", "2KiB", "--sectors", "2", "--dir", dir)
	second := benchJSON(t, "wdpost", "--sector-size", "2KiB", "--sectors", "2", "--dir", dir)
	if first["sectors_sealed"] != 2.0 || second["sectors_sealed"] != 0.0 || second["sectors_reused"] != 2.0 {
		t.Errorf("first run sealed %v; second sealed %v, reused %v", first["sectors_sealed"], second["sectors_sealed"], second["sectors_reused"])
	}
}

func TestBenchSealJSON(t *testing.T) {
	res := benchJSON(t, "seal", "--sector-size", "2KiB")
	stages, _ := res["stages"].([]any)
	if len(stages) != 7 {
		t.Errorf("%d stages, want 7: %v", len(stages), stages)
	}
	if res["proof_type"] != "StackedDrg2KiBV1_1" || res["comm_r"] == "" {
		t.Errorf("proof type %v, comm_r %v", res["proof_type"], res["comm_r"])
	}
}

func TestBenchHumanOutput(t *testing.T) {
	out := mustRun(t, "damocles-worker", "bench", "seal", "--sector-size", "2KiB")
	for _, want := range []string{"pc1", "pc2", "finalize", "verified: yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchRefusesBadSectorSize(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "seal", "--sector-size", "4KiB", "--json"},
		{"bench", "wdpost", "--sector-size", "4KiB", "--sectors", "1", "--json"},
	} {
		out, errOut, err := runCmd(t, "damocles-worker", args...)
		if err == nil {
			t.Errorf("%s exited 0", strings.Join(args, " "))
		}
		if !strings.Contains(errOut, "2KiB, 8MiB, 512MiB, 32GiB, 64GiB") {
			t.Errorf("%s: stderr does not name the sector sizes:\n%s", strings.Join(args, " "), errOut)
		}
		if out != "" {
			t.Errorf("%s: stdout %q, want nothing", strings.Join(args, " "), out)
		}
	}
}
