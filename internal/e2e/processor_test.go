package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
)

// The processor tests run "damocles-worker processor <stage>" as the child
// of an extproc.Pool, as damocles-manager's ext-prover and the worker's
// external processors do, and check its answers with the engine's Verify
// methods in this process.

const (
	procMiner     abi.ActorID = 1000
	procSealProof             = abi.RegisteredSealProof_StackedDrg2KiBV1_1
	procSize                  = 2 << 10
)

var (
	procTicket = bytes32(1)
	procSeed   = bytes32(100)
)

func bytes32(first byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// startProcessor starts one damocles-worker processor child of stage; the
// test closes it.
func startProcessor(t *testing.T, stageName string) *extproc.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := extproc.NewPool(ctx, extproc.PoolConfig{
		Stage: stageName,
		Children: []extproc.ChildConfig{{
			Bin:  bin("damocles-worker"),
			Args: []string{"processor", stageName},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// procSector is a sector sealed in the test process.
type procSector struct {
	info        proofs.PrivateSectorInfo
	unsealedCID cid.Cid
}

// stageCC writes a CC sector's staged data (zeros) and returns its path.
func stageCC(t *testing.T, root string, id abi.SectorID) string {
	t.Helper()
	staged := filepath.Join(root, "unsealed", proofs.SectorName(id))
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, make([]byte, procSize), 0o644); err != nil {
		t.Fatal(err)
	}
	return staged
}

// sealCCSector seals a 2KiB CC sector under root with PC1 and PC2, all a
// PoSt needs.
func sealCCSector(t *testing.T, e *proofs.DevEngine, root string, number abi.SectorNumber) procSector {
	t.Helper()
	ctx := context.Background()
	id := abi.SectorID{Miner: procMiner, Number: number}
	s := procSector{info: proofs.PrivateSectorInfo{
		SectorNumber: number,
		SealProof:    procSealProof,
		CacheDir:     proofs.CacheDirPath(root, id),
		SealedPath:   proofs.SealedPath(root, id),
	}}
	pc1, err := e.SealPreCommitPhase1(ctx, procSealProof, s.info.CacheDir, stageCC(t, root, id), s.info.SealedPath, number, procMiner, procTicket, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.info.SealedCID, s.unsealedCID, err = e.SealPreCommitPhase2(ctx, pc1, s.info.CacheDir, s.info.SealedPath); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestProcessorWindowPoSt(t *testing.T) {
	e := &proofs.DevEngine{}
	root := t.TempDir()
	sectors := []procSector{sealCCSector(t, e, root, 1), sealCCSector(t, e, root, 2)}
	infos := []proofs.PrivateSectorInfo{sectors[0].info, sectors[1].info}
	public := []proof.SectorInfo{
		{SealProof: procSealProof, SectorNumber: 1, SealedCID: sectors[0].info.SealedCID},
		{SealProof: procSealProof, SectorNumber: 2, SealedCID: sectors[1].info.SealedCID},
	}
	windowType := abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1
	pool := startProcessor(t, stage.WindowPoSt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	task, err := stage.NewPoStTask(procMiner, windowType, infos, procSeed)
	if err != nil {
		t.Fatal(err)
	}
	out, err := stage.CallWindowPoSt(ctx, pool, task)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{
		Randomness: procSeed, Proofs: out.PoStProofs(windowType), ChallengedSectors: public, Prover: procMiner,
	})
	if err != nil || !ok {
		t.Fatalf("VerifyWindowPoSt of the child's proof = %v, %v; want it to verify", ok, err)
	}

	// A sector whose replica is gone: the child answers with its number,
	// not a proof and not an error.
	if err := os.Remove(sectors[1].info.SealedPath); err != nil {
		t.Fatal(err)
	}
	out, err = stage.CallWindowPoSt(ctx, pool, task)
	var faults *stage.FaultsError
	if !errors.As(err, &faults) || !reflect.DeepEqual(faults.Sectors, []uint64{2}) {
		t.Fatalf("window PoSt with sector 2's replica missing: %v; want a FaultsError for sector 2", err)
	}
	if len(out.Proofs) != 0 || !reflect.DeepEqual(out.Faults, []uint64{2}) {
		t.Fatalf("output %d proofs, faults %v; want no proofs and fault 2", len(out.Proofs), out.Faults)
	}

	// A wrong proof type fails the task, not the child.
	bad := task
	bad.ProofType = "StackedDrgWinning2KiBV1"
	var taskErr *extproc.TaskError
	if _, err := stage.CallWindowPoSt(ctx, pool, bad); !errors.As(err, &taskErr) || !strings.Contains(taskErr.Msg, "wrong kind") {
		t.Fatalf("window PoSt with a winning proof type: %v; want a task error", err)
	}
	bad = task
	bad.Replicas = nil
	if _, err := stage.CallWindowPoSt(ctx, pool, bad); !errors.As(err, &taskErr) || !strings.Contains(taskErr.Msg, "no replicas supplied") {
		t.Fatalf("window PoSt without replicas: %v; want \"no replicas supplied\"", err)
	}
}

func TestProcessorWinningPoSt(t *testing.T) {
	e := &proofs.DevEngine{}
	s := sealCCSector(t, e, t.TempDir(), 7)
	winningType := abi.RegisteredPoStProof_StackedDrgWinning2KiBV1
	pool := startProcessor(t, stage.WinningPoSt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	task, err := stage.NewPoStTask(procMiner, winningType, []proofs.PrivateSectorInfo{s.info}, procSeed)
	if err != nil {
		t.Fatal(err)
	}
	out, err := stage.CallWinningPoSt(ctx, pool, task)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.VerifyWinningPoSt(proof.WinningPoStVerifyInfo{
		Randomness: procSeed, Proofs: out.PoStProofs(winningType), Prover: procMiner,
		ChallengedSectors: []proof.SectorInfo{{SealProof: procSealProof, SectorNumber: 7, SealedCID: s.info.SealedCID}},
	})
	if err != nil || !ok {
		t.Fatalf("VerifyWinningPoSt of the child's proof = %v, %v; want it to verify", ok, err)
	}
}

// TestProcessorSealing seals a sector through the pc1, pc2 and c2 children;
// c1 runs in this process, as it does in the worker.
func TestProcessorSealing(t *testing.T) {
	e := &proofs.DevEngine{}
	pc1Pool, pc2Pool, c2Pool := startProcessor(t, stage.PC1), startProcessor(t, stage.PC2), startProcessor(t, stage.C2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	root := t.TempDir()
	id := abi.SectorID{Miner: procMiner, Number: 3}
	cacheDir, sealedPath := proofs.CacheDirPath(root, id), proofs.SealedPath(root, id)
	// A CC sector as the Rust add_pieces stage describes it: one zero
	// piece filling the sector.
	zero, err := e.GenerateUnsealedCID(procSealProof, nil)
	if err != nil {
		t.Fatal(err)
	}
	pieces := []abi.PieceInfo{{Size: procSize, PieceCID: zero}}
	pieceInfos, err := stage.NewPieceInfos(pieces)
	if err != nil {
		t.Fatal(err)
	}
	sealName, err := proofs.SealProofName(procSealProof)
	if err != nil {
		t.Fatal(err)
	}

	pc1, err := stage.CallPC1(ctx, pc1Pool, stage.PC1Task{
		RegisteredProof: sealName, CachePath: cacheDir, InPath: stageCC(t, root, id), OutPath: sealedPath,
		ProverID: proofs.ProverID(procMiner), SectorID: uint64(id.Number), Ticket: [32]byte(procTicket), PieceInfos: pieceInfos,
	})
	if err != nil {
		t.Fatal(err)
	}
	pc2, err := stage.CallPC2(ctx, pc2Pool, stage.PC2Task{PC1Out: json.RawMessage(pc1), CacheDir: cacheDir, SealedFile: sealedPath})
	if err != nil {
		t.Fatal(err)
	}
	if pc2.RegisteredProof != sealName {
		t.Errorf("pc2 answered registered_proof %q; want %q", pc2.RegisteredProof, sealName)
	}
	sealedCID, unsealedCID, err := pc2.CIDs()
	if err != nil {
		t.Fatal(err)
	}
	if unsealedCID != zero {
		t.Errorf("pc2 comm_d is %s; want the CC sector's %s", unsealedCID, zero)
	}
	c1, err := e.SealCommitPhase1(ctx, procSealProof, sealedCID, unsealedCID, cacheDir, sealedPath, id.Number, procMiner, procTicket, procSeed, pieces)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := stage.CallC2(ctx, c2Pool, stage.C2Task{
		C1Out: json.RawMessage(c1), ProverID: proofs.ProverID(procMiner), SectorID: uint64(id.Number), MinerID: uint64(procMiner),
	})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.VerifySeal(proof.SealVerifyInfo{
		SealProof: procSealProof, SectorID: id, Randomness: procTicket, InteractiveRandomness: procSeed,
		Proof: c2.Proof, SealedCID: sealedCID, UnsealedCID: unsealedCID,
	})
	if err != nil || !ok {
		t.Fatalf("VerifySeal of the c2 child's proof = %v, %v; want it to verify", ok, err)
	}
}

// TestProcessorCommandLine checks the child's contract with its parent
// outside the protocol: stdout holds the ready line only, closing stdin
// ends it with status 1 and no message, and an unknown stage is refused
// with the list of stages.
func TestProcessorCommandLine(t *testing.T) {
	for _, name := range stage.Stages() {
		// runCmd gives the child an empty stdin: it reads EOF at once.
		stdout, stderr, err := runCmd(t, "damocles-worker", "processor", name)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("processor %s at end of input: %v; want exit status 1", name, err)
		}
		if stdout != name+" processor ready\n" {
			t.Errorf("processor %s wrote %q on stdout; want only its ready line", name, stdout)
		}
		if strings.Contains(stderr, "ERROR") {
			t.Errorf("processor %s reported an error at end of input:\n%s", name, stderr)
		}
		if !strings.Contains(stderr, `"proc": "`+name+`"`) {
			t.Errorf("processor %s did not log its ready line with pid, ppid and proc:\n%s", name, stderr)
		}
	}

	stdout, stderr, err := runCmd(t, "damocles-worker", "processor", "pc3")
	if err == nil || stdout != "" || !strings.Contains(stderr, `unknown stage "pc3"`) ||
		!strings.Contains(stderr, strings.Join(stage.Stages(), ", ")) {
		t.Fatalf("processor pc3: err %v, stdout %q, stderr %q; want a failure listing the stages", err, stdout, stderr)
	}
}
