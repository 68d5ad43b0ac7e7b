package stage

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/proofs"
)

// The window_post request of PROTOCOLS §4.4, verbatim.
const protocolWindowPoStRequest = `{"id":1,"task":{"miner_id":1000,"proof_type":"StackedDrgWindow32GiBV1_2","replicas":[{"sector_id":42,"comm_r":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32],"cache_dir":"/mnt/store-a/cache/s-t01000-42","sealed_file":"/mnt/store-a/sealed/s-t01000-42"}],"seed":[64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,31]}}`

func TestStagePoStTaskMatchesProtocolExample(t *testing.T) {
	var req struct {
		Task json.RawMessage `json:"task"`
	}
	if err := json.Unmarshal([]byte(protocolWindowPoStRequest), &req); err != nil {
		t.Fatal(err)
	}
	var task PoStTask
	if err := json.Unmarshal(req.Task, &task); err != nil {
		t.Fatalf("decode the protocol's task: %v", err)
	}
	want := PoStTask{MinerID: 1000, ProofType: "StackedDrgWindow32GiBV1_2", Replicas: []Replica{{
		SectorID:   42,
		CommR:      seq32(1),
		CacheDir:   "/mnt/store-a/cache/s-t01000-42",
		SealedFile: "/mnt/store-a/sealed/s-t01000-42",
	}}}
	want.Seed = seq32(64)
	want.Seed[31] = 31
	if !reflect.DeepEqual(task, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", task, want)
	}
	got, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(req.Task) {
		t.Fatalf("re-encoded task\n%s\nwant the protocol's\n%s", got, req.Task)
	}
}

// seq32 is first, first+1, ..., first+31.
func seq32(first byte) (b [32]byte) {
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

func TestStageOutputsMatchProtocolExamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string // from PROTOCOLS §4.4 where it has one
		into any
	}{
		{"window success", `{"proofs":["3q2+7w=="],"faults":[]}`, &WindowPoStOutput{}},
		{"window faults", `{"proofs":[],"faults":[42,43]}`, &WindowPoStOutput{}},
		{"winning", `{"proofs":["3q2+7w=="]}`, &WinningPoStOutput{}},
		{"c2", `{"proof":[0,1,127,255]}`, &C2Output{}},
		{"pc2", `{"registered_proof":"StackedDrg2KiBV1_1","comm_r":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32],"comm_d":[64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95]}`, &PC2Output{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tc.json), tc.into); err != nil {
				t.Fatalf("decode: %v", err)
			}
			got, err := json.Marshal(tc.into)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.json {
				t.Fatalf("re-encoded\n%s\nwant\n%s", got, tc.json)
			}
		})
	}
	var w WindowPoStOutput
	if err := json.Unmarshal([]byte(`{"proofs":["3q2+7w=="],"faults":[]}`), &w); err != nil || string(w.Proofs[0]) != "\xde\xad\xbe\xef" {
		t.Fatalf("proof decoded as %x, %v; want base64 of deadbeef", w.Proofs, err)
	}
	var c C2Output
	if err := json.Unmarshal([]byte(`{"proof":[0,1,127,255]}`), &c); err != nil || string(c.Proof) != "\x00\x01\x7f\xff" {
		t.Fatalf("c2 proof decoded as %v, %v", c.Proof, err)
	}
}

// Rust reads a Vec from [] only: nil slices must not go out as null.
func TestStageNilSlicesEncodeAsEmptyArrays(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{WindowPoStOutput{}, `{"proofs":[],"faults":[]}`},
		{WinningPoStOutput{}, `{"proofs":[]}`},
		{C2Output{}, `{"proof":[]}`},
		{PoStTask{MinerID: 1, ProofType: "p"}, `{"miner_id":1,"proof_type":"p","replicas":[],"seed":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`},
	} {
		got, err := json.Marshal(tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%T: got %s, %v; want %s", tc.v, got, err, tc.want)
		}
	}
	got, err := json.Marshal(PC1Task{})
	if err != nil || !strings.Contains(string(got), `"piece_infos":[]`) {
		t.Errorf("PC1Task{}: got %s, %v; want piece_infos []", got, err)
	}
}

func TestStageSealTasksUseTheProtocolKeys(t *testing.T) {
	pid := proofs.ProverID(1000)
	pc1 := PC1Task{
		RegisteredProof: "StackedDrg2KiBV1_1", CachePath: "/c", InPath: "/u", OutPath: "/s",
		ProverID: pid, SectorID: 7, Ticket: seq32(1),
		PieceInfos: []PieceInfo{{Commitment: seq32(64), Size: 2032}},
	}
	want := `{"registered_proof":"StackedDrg2KiBV1_1","cache_path":"/c","in_path":"/u","out_path":"/s",` +
		`"prover_id":[232,7,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"sector_id":7,` +
		`"ticket":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32],` +
		`"piece_infos":[{"commitment":[64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95],"size":2032}]}`
	roundTrip(t, pc1, want, &PC1Task{})

	pc2 := PC2Task{PC1Out: json.RawMessage(`{"registered_proof":"StackedDrg2KiBV1_1"}`), CacheDir: "/c", SealedFile: "/s"}
	roundTrip(t, pc2, `{"pc1out":{"registered_proof":"StackedDrg2KiBV1_1"},"cache_dir":"/c","sealed_file":"/s"}`, &PC2Task{})

	c2 := C2Task{C1Out: json.RawMessage(`{"x":1}`), ProverID: pid, SectorID: 7, MinerID: 1000}
	roundTrip(t, c2, `{"c1out":{"x":1},"prover_id":[232,7,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"sector_id":7,"miner_id":1000}`, &C2Task{})
}

// roundTrip checks that v encodes to want and want decodes back to v.
func roundTrip(t *testing.T, v any, want string, into any) {
	t.Helper()
	got, err := json.Marshal(v)
	if err != nil || string(got) != want {
		t.Fatalf("%T encodes to\n%s (%v)\nwant\n%s", v, got, err, want)
	}
	if err := json.Unmarshal([]byte(want), into); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	if back := reflect.ValueOf(into).Elem().Interface(); !reflect.DeepEqual(back, v) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", back, v)
	}
}

// serde rejects byte arrays of the wrong length or form; so must we, rather
// than zero-fill or base64-decode them.
func TestStageByteArraysAreStrict(t *testing.T) {
	ints := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]" }
	for _, tc := range []struct {
		name string
		json string
		into any
	}{
		{"short comm_r", `{"sector_id":1,"comm_r":` + ints(31) + `}`, &Replica{}},
		{"long comm_r", `{"sector_id":1,"comm_r":` + ints(33) + `}`, &Replica{}},
		{"base64 comm_r", `{"sector_id":1,"comm_r":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="}`, &Replica{}},
		{"null seed", `{"miner_id":1,"seed":null}`, &PoStTask{}},
		{"seed value over 255", `{"miner_id":1,"seed":[256` + strings.Repeat(",1", 31) + `]}`, &PoStTask{}},
		{"short comm_r in replicas", `{"replicas":[{"comm_r":` + ints(3) + `}]}`, &PoStTask{}},
		{"short ticket", `{"ticket":` + ints(2) + `}`, &PC1Task{}},
		{"short prover_id", `{"prover_id":` + ints(2) + `}`, &C2Task{}},
		{"short commitment", `{"commitment":` + ints(2) + `,"size":127}`, &PieceInfo{}},
		{"short comm_d", `{"comm_d":` + ints(2) + `}`, &PC2Output{}},
		{"base64 c2 proof", `{"proof":"AQID"}`, &C2Output{}},
		{"null c2 proof", `{"proof":null}`, &C2Output{}},
	} {
		if err := json.Unmarshal([]byte(tc.json), tc.into); err == nil {
			t.Errorf("%s: %s decoded into %+v; want an error", tc.name, tc.json, tc.into)
		}
	}
}

func TestStagePieceInfosRoundTrip(t *testing.T) {
	var e proofs.DevEngine
	zero, err := e.GenerateUnsealedCID(abi.RegisteredSealProof_StackedDrg2KiBV1_1, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := []abi.PieceInfo{{Size: 2048, PieceCID: zero}}
	infos, err := NewPieceInfos(in)
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].Size != 2032 {
		t.Fatalf("piece size %d; want the unpadded 2032", infos[0].Size)
	}
	back, err := abiPieces(infos)
	if err != nil || !reflect.DeepEqual(back, in) {
		t.Fatalf("back to abi: %v, %v; want %v", back, err, in)
	}
	if _, err := abiPieces([]PieceInfo{{Size: 2048}}); err == nil {
		t.Fatal("a padded size passed as unpadded was accepted")
	}
}
