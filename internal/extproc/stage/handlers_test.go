package stage

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/proofs"
)

const (
	testMiner     abi.ActorID = 1000
	testSealProof             = abi.RegisteredSealProof_StackedDrg2KiBV1_1
	testSize                  = 2 << 10
)

var (
	testTicket = seq32(1)
	testSeed   = seq32(100)
)

// fakePool stands in for an extproc.Pool: the task and the output cross
// JSON both ways, as over the pipes, but the handler runs in this process.
type fakePool struct {
	handler extproc.Handler
}

func (f fakePool) Do(ctx context.Context, task any, out any) error {
	raw, err := json.Marshal(task)
	if err != nil {
		return err
	}
	v, err := f.handler(ctx, raw)
	if err != nil {
		return err
	}
	output, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(output, out)
}

func stagePool(engine proofs.Engine, stage string) fakePool {
	return fakePool{handler: Handlers(engine)[stage]}
}

// sealed is a sector sealed for the tests, with what verifying it needs.
type sealed struct {
	info        proofs.PrivateSectorInfo
	unsealedCID cid.Cid
	porep       []byte
}

// sealCC seals a 2KiB CC sector under root directly on the engine:
// PC1, PC2, C1, C2.
func sealCC(t *testing.T, e proofs.Engine, root string, number abi.SectorNumber) sealed {
	t.Helper()
	ctx := context.Background()
	id := abi.SectorID{Miner: testMiner, Number: number}
	s := sealed{info: proofs.PrivateSectorInfo{
		SectorNumber: number,
		SealProof:    testSealProof,
		CacheDir:     proofs.CacheDirPath(root, id),
		SealedPath:   proofs.SealedPath(root, id),
	}}
	staged := stageZeros(t, root, id)
	pc1, err := e.SealPreCommitPhase1(ctx, testSealProof, s.info.CacheDir, staged, s.info.SealedPath, number, testMiner, testTicket[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	s.info.SealedCID, s.unsealedCID, err = e.SealPreCommitPhase2(ctx, pc1, s.info.CacheDir, s.info.SealedPath)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := e.SealCommitPhase1(ctx, testSealProof, s.info.SealedCID, s.unsealedCID, s.info.CacheDir, s.info.SealedPath,
		number, testMiner, testTicket[:], testSeed[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.porep, err = e.SealCommitPhase2(ctx, c1, number, testMiner); err != nil {
		t.Fatal(err)
	}
	return s
}

// stageZeros writes a CC sector's staged data and returns its path.
func stageZeros(t *testing.T, root string, id abi.SectorID) string {
	t.Helper()
	staged := filepath.Join(root, "unsealed", proofs.SectorName(id))
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, make([]byte, testSize), 0o644); err != nil {
		t.Fatal(err)
	}
	return staged
}

func postTask(t *testing.T, proofType abi.RegisteredPoStProof, sectors ...sealed) PoStTask {
	t.Helper()
	infos := make([]proofs.PrivateSectorInfo, len(sectors))
	for i, s := range sectors {
		infos[i] = s.info
	}
	task, err := NewPoStTask(testMiner, proofType, infos, testSeed[:])
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func publicInfos(sectors ...sealed) []proof.SectorInfo {
	out := make([]proof.SectorInfo, len(sectors))
	for i, s := range sectors {
		out[i] = proof.SectorInfo{SealProof: s.info.SealProof, SectorNumber: s.info.SectorNumber, SealedCID: s.info.SealedCID}
	}
	return out
}

func TestStageWindowPoStHandler(t *testing.T) {
	e := &proofs.DevEngine{}
	root := t.TempDir()
	s1, s2 := sealCC(t, e, root, 1), sealCC(t, e, root, 2)
	pool := stagePool(e, WindowPoSt)
	ctx := context.Background()
	windowType := abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1

	verify := func(t *testing.T, out WindowPoStOutput, sectors ...sealed) {
		t.Helper()
		ok, err := e.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{
			Randomness: testSeed[:], Proofs: out.PoStProofs(windowType),
			ChallengedSectors: publicInfos(sectors...), Prover: testMiner,
		})
		if err != nil || !ok {
			t.Fatalf("VerifyWindowPoSt = %v, %v; want the proof to verify", ok, err)
		}
	}

	t.Run("proves", func(t *testing.T) {
		out, err := CallWindowPoSt(ctx, pool, postTask(t, windowType, s1, s2))
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Proofs) != 1 || len(out.Faults) != 0 {
			t.Fatalf("got %d proofs, faults %v; want one proof, no faults", len(out.Proofs), out.Faults)
		}
		verify(t, out, s1, s2)
	})

	t.Run("duplicates collapse, sectors in ascending order", func(t *testing.T) {
		task := postTask(t, windowType, s2, s1, s2)
		out, err := CallWindowPoSt(ctx, pool, task)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, out, s1, s2)
	})

	t.Run("faulty sector", func(t *testing.T) {
		broken := t.TempDir()
		s3 := sealCC(t, e, broken, 3)
		if err := os.Remove(s3.info.SealedPath); err != nil {
			t.Fatal(err)
		}
		task := postTask(t, windowType, s1, s3)
		raw, err := Handlers(e)[WindowPoSt](ctx, mustJSON(t, task))
		if err != nil {
			t.Fatalf("a faulty sector failed the task (%v); want success with faults", err)
		}
		if got := string(mustJSON(t, raw)); got != `{"proofs":[],"faults":[3]}` {
			t.Fatalf("output %s; want no proofs and fault 3", got)
		}
		out, err := CallWindowPoSt(ctx, pool, task)
		var faults *FaultsError
		if !errors.As(err, &faults) || !reflect.DeepEqual(faults.Sectors, []uint64{3}) || faults.Miner == 0 {
			t.Fatalf("CallWindowPoSt error %v; want a *FaultsError for sector 3", err)
		}
		if !strings.Contains(err.Error(), "got 1 fault sectors") || !reflect.DeepEqual(out.Faults, []uint64{3}) {
			t.Fatalf("error %q, output faults %v", err, out.Faults)
		}
	})
}

func TestStageWinningPoStHandler(t *testing.T) {
	e := &proofs.DevEngine{}
	s1 := sealCC(t, e, t.TempDir(), 1)
	pool := stagePool(e, WinningPoSt)
	ctx := context.Background()
	winningType := abi.RegisteredPoStProof_StackedDrgWinning2KiBV1

	out, err := CallWinningPoSt(ctx, pool, postTask(t, winningType, s1))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.VerifyWinningPoSt(proof.WinningPoStVerifyInfo{
		Randomness: testSeed[:], Proofs: out.PoStProofs(winningType),
		ChallengedSectors: publicInfos(s1), Prover: testMiner,
	})
	if err != nil || !ok {
		t.Fatalf("VerifyWinningPoSt = %v, %v; want the proof to verify", ok, err)
	}

	if err := os.Remove(s1.info.SealedPath); err != nil {
		t.Fatal(err)
	}
	if _, err := CallWinningPoSt(ctx, pool, postTask(t, winningType, s1)); err == nil || !strings.Contains(err.Error(), "sector 1") {
		t.Fatalf("winning PoSt of a faulty sector: %v; want an error naming sector 1", err)
	}
}

func TestStagePoStHandlersRejectBadTasks(t *testing.T) {
	e := &proofs.DevEngine{}
	replica := `[{"sector_id":9,"comm_r":` + string(mustJSON(t, seq32(1))) + `,"cache_dir":"/nowhere","sealed_file":"/nowhere"}]`
	seed := string(mustJSON(t, seq32(0)))
	for _, tc := range []struct {
		stage, proofType, replicas string
		want                       string
	}{
		{WindowPoSt, "StackedDrgWinning2KiBV1", replica, `window_post: miner 1000: proof type "StackedDrgWinning2KiBV1" is the wrong kind for this stage: want a StackedDrgWindow... name`},
		{WinningPoSt, "StackedDrgWindow2KiBV1_2", replica, `winning_post: miner 1000: proof type "StackedDrgWindow2KiBV1_2" is the wrong kind for this stage: want a StackedDrgWinning... name`},
		{WindowPoSt, "StackedDrg2KiBV1_1", replica, `unknown PoSt proof name "StackedDrg2KiBV1_1"`},
		{WindowPoSt, "StackedDrgWindow2KiBV1_1", replica, `unknown PoSt proof name "StackedDrgWindow2KiBV1_1"`},
		{WindowPoSt, "StackedDrgWindow2KiBV1_2", `[]`, "window_post: miner 1000: no replicas supplied"},
		{WindowPoSt, "StackedDrgWindow2KiBV1_2", `null`, "window_post: miner 1000: no replicas supplied"},
		{WinningPoSt, "StackedDrgWinning2KiBV1", `[]`, "winning_post: miner 1000: no replicas supplied"},
	} {
		task := `{"miner_id":1000,"proof_type":"` + tc.proofType + `","replicas":` + tc.replicas + `,"seed":` + seed + `}`
		_, err := Handlers(e)[tc.stage](context.Background(), json.RawMessage(task))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s replicas %s: error %v; want %q", tc.stage, tc.proofType, tc.replicas, err, tc.want)
		}
	}
}

// TestSealingHandlers seals a sector through pc1, pc2 and c2 (c1 runs on
// the engine, as in the worker) with a Rust-style CC piece list, and checks
// the result against sealing it directly.
func TestStageSealingHandlers(t *testing.T) {
	e := &proofs.DevEngine{}
	ctx := context.Background()
	direct := sealCC(t, e, t.TempDir(), 5)

	root := t.TempDir()
	id := abi.SectorID{Miner: testMiner, Number: 5}
	cacheDir, sealedPath := proofs.CacheDirPath(root, id), proofs.SealedPath(root, id)
	zero, err := e.GenerateUnsealedCID(testSealProof, nil)
	if err != nil {
		t.Fatal(err)
	}
	pieces := []abi.PieceInfo{{Size: testSize, PieceCID: zero}}
	pieceInfos, err := NewPieceInfos(pieces)
	if err != nil {
		t.Fatal(err)
	}

	pc1, err := CallPC1(ctx, stagePool(e, PC1), PC1Task{
		RegisteredProof: "StackedDrg2KiBV1_1", CachePath: cacheDir, InPath: stageZeros(t, root, id), OutPath: sealedPath,
		ProverID: proofs.ProverID(testMiner), SectorID: 5, Ticket: testTicket, PieceInfos: pieceInfos,
	})
	if err != nil {
		t.Fatal(err)
	}
	pc2, err := CallPC2(ctx, stagePool(e, PC2), PC2Task{PC1Out: json.RawMessage(pc1), CacheDir: cacheDir, SealedFile: sealedPath})
	if err != nil {
		t.Fatal(err)
	}
	if pc2.RegisteredProof != "StackedDrg2KiBV1_1" {
		t.Errorf("pc2 registered_proof %q; want StackedDrg2KiBV1_1", pc2.RegisteredProof)
	}
	sealedCID, unsealedCID, err := pc2.CIDs()
	if err != nil {
		t.Fatal(err)
	}
	if sealedCID != direct.info.SealedCID || unsealedCID != direct.unsealedCID {
		t.Fatalf("pc2 gave %s, %s; sealing directly gave %s, %s", sealedCID, unsealedCID, direct.info.SealedCID, direct.unsealedCID)
	}
	c1, err := e.SealCommitPhase1(ctx, testSealProof, sealedCID, unsealedCID, cacheDir, sealedPath, 5, testMiner, testTicket[:], testSeed[:], pieces)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := CallC2(ctx, stagePool(e, C2), C2Task{C1Out: json.RawMessage(c1), ProverID: proofs.ProverID(testMiner), SectorID: 5, MinerID: uint64(testMiner)})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.VerifySeal(proof.SealVerifyInfo{
		SealProof: testSealProof, SectorID: id, Randomness: testTicket[:], InteractiveRandomness: testSeed[:],
		Proof: c2.Proof, SealedCID: sealedCID, UnsealedCID: unsealedCID,
	})
	if err != nil || !ok {
		t.Fatalf("VerifySeal = %v, %v; want the c2 proof to verify", ok, err)
	}
}

func TestStageSealingHandlersRejectBadTasks(t *testing.T) {
	e := &proofs.DevEngine{}
	ctx := context.Background()
	badProver := proofs.ProverID(testMiner)
	badProver[31] = 1 // bytes after the varint
	for _, tc := range []struct {
		stage string
		task  any
		want  string
	}{
		{PC1, PC1Task{RegisteredProof: "StackedDrgWindow2KiBV1_2", SectorID: 5}, `pc1: sector 5: unknown seal proof name "StackedDrgWindow2KiBV1_2"`},
		{PC1, PC1Task{RegisteredProof: "StackedDrg2KiBV1_1", SectorID: 5, ProverID: badProver}, "pc1: sector 5: prover_id"},
		{PC1, PC1Task{RegisteredProof: "StackedDrg2KiBV1_1", SectorID: 5, ProverID: proofs.ProverID(testMiner), InPath: "/nonexistent"},
			"pc1: miner 1000 sector 5:"},
		{PC1, PC1Task{RegisteredProof: "StackedDrg2KiBV1_1", SectorID: 5, ProverID: proofs.ProverID(testMiner), PieceInfos: []PieceInfo{{Size: 2048}}},
			"pc1: miner 1000 sector 5: piece 0"},
		{PC2, PC2Task{CacheDir: "/c/s-t01000-5"}, "pc2: cache dir /c/s-t01000-5: task has no pc1out"},
		{PC2, PC2Task{PC1Out: json.RawMessage(`{"registered_proof":"nope"}`), CacheDir: "/c"}, `pc2: cache dir /c: pc1out: unknown seal proof name "nope"`},
		{C2, C2Task{C1Out: json.RawMessage(`{}`), ProverID: proofs.ProverID(1001), SectorID: 5, MinerID: 1000}, "c2: miner 1000 sector 5: prover_id is miner 1001's"},
		{C2, C2Task{ProverID: proofs.ProverID(1000), SectorID: 5, MinerID: 1000}, "c2: miner 1000 sector 5: task has no c1out"},
		{C2, C2Task{C1Out: json.RawMessage(`{}`), ProverID: proofs.ProverID(1000), SectorID: 5, MinerID: 1000}, "c2: miner 1000 sector 5: "},
	} {
		_, err := Handlers(e)[tc.stage](ctx, mustJSON(t, tc.task))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: error %v; want %q", tc.stage, tc.task, err, tc.want)
		}
	}
}

func TestStageSealProofOf(t *testing.T) {
	for _, tc := range []struct {
		pc1out string
		want   abi.RegisteredSealProof
		bad    bool
	}{
		{`{"registered_proof":"StackedDrg32GiBV1_1"}`, abi.RegisteredSealProof_StackedDrg32GiBV1_1, false},
		{`{"registered_proof":5}`, abi.RegisteredSealProof_StackedDrg2KiBV1_1, false},
		{`{"registered_proof":null}`, 0, true},
		{`{}`, 0, true},
		{`{"registered_proof":[1]}`, 0, true},
	} {
		got, err := sealProofOf(json.RawMessage(tc.pc1out))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("sealProofOf(%s) = %v, %v; want %v (error: %v)", tc.pc1out, got, err, tc.want, tc.bad)
		}
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
