package prover_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet/devnettest"
	"github.com/damocles-go/damocles/internal/extproc"
	"github.com/damocles-go/damocles/internal/extproc/stage"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/prover"
)

// With childEnv set the test binary is an ext-prover processor serving the
// stage it names with the built-in engine.
const childEnv = "PROVER_TEST_STAGE"

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		handle := stage.Handlers(&proofs.DevEngine{})[name]
		_ = extproc.Serve(context.Background(), name, os.Stdin, os.Stdout, handle)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func processor(t *testing.T, stageName string) config.ExtProcessor {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return config.ExtProcessor{Bin: self, Envs: map[string]string{childEnv: stageName}, Concurrent: 2}
}

// The processors of ext-prover.cfg answer what the engine in the manager
// answers, byte for byte, faults included.
func TestExtProvesAsLocal(t *testing.T) {
	d := devnettest.New(t, 5)
	sealed := d.SealSectors(t.TempDir(), 3)
	var sectors []proofs.PrivateSectorInfo
	for _, s := range sealed {
		sectors = append(sectors, s.Private())
	}
	ctx := context.Background()
	local := prover.Local{Engine: d.Engine}
	ext, err := prover.NewExt(ctx, &config.ExtProver{
		WdPost:  []config.ExtProcessor{processor(t, stage.WindowPoSt)},
		WinPost: []config.ExtProcessor{processor(t, stage.WinningPoSt)},
	}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	rand := bytes.Repeat([]byte{7}, 32)

	want, faulty, err := local.GenerateWindowPoSt(ctx, prover.WindowPoStTask{Miner: d.Actor, ProofType: d.PoStProof, Sectors: sectors, Randomness: rand})
	if err != nil || len(faulty) != 0 {
		t.Fatalf("local window PoSt: %v, faulty %v", err, faulty)
	}
	got, faulty, err := ext.GenerateWindowPoSt(ctx, prover.WindowPoStTask{Miner: d.Actor, ProofType: d.PoStProof, Sectors: sectors, Randomness: rand})
	if err != nil || len(faulty) != 0 || len(got) != 1 || !bytes.Equal(got[0].ProofBytes, want[0].ProofBytes) || got[0].PoStProof != want[0].PoStProof {
		t.Fatalf("ext window PoSt = %d proofs, faulty %v, %v; want the local proof", len(got), faulty, err)
	}

	winning, err := proofs.WinningPoStProof(sectors[0].SealProof)
	if err != nil {
		t.Fatal(err)
	}
	wantWin, err := local.GenerateWinningPoSt(ctx, d.Actor, winning, sectors[:1], rand)
	if err != nil {
		t.Fatal(err)
	}
	gotWin, err := ext.GenerateWinningPoSt(ctx, d.Actor, winning, sectors[:1], rand)
	if err != nil || len(gotWin) != 1 || !bytes.Equal(gotWin[0].ProofBytes, wantWin[0].ProofBytes) {
		t.Fatalf("ext winning PoSt = %v, %v; want the local proof", gotWin, err)
	}

	// A missing sealed file is a fault, reported as the local engine does.
	if err := os.Remove(sectors[1].SealedPath); err != nil {
		t.Fatal(err)
	}
	_, faulty, err = ext.GenerateWindowPoSt(ctx, prover.WindowPoStTask{Miner: d.Actor, ProofType: d.PoStProof, Sectors: sectors, Randomness: rand})
	if err != nil || len(faulty) != 1 || faulty[0] != sectors[1].SectorNumber {
		t.Fatalf("ext window PoSt with a missing file: faulty %v, %v; want sector %d", faulty, err, sectors[1].SectorNumber)
	}
	_, localFaulty, _ := local.GenerateWindowPoSt(ctx, prover.WindowPoStTask{Miner: d.Actor, ProofType: d.PoStProof, Sectors: sectors, Randomness: rand})
	if len(localFaulty) != 1 || localFaulty[0] != faulty[0] {
		t.Fatalf("local faulty %v, ext faulty %v: want the same", localFaulty, faulty)
	}
}

func TestExtNeedsProcessors(t *testing.T) {
	if _, err := prover.NewExt(context.Background(), &config.ExtProver{}, "", nil); err == nil {
		t.Fatal("NewExt without any processor succeeded")
	}
	ext, err := prover.NewExt(context.Background(), &config.ExtProver{WdPost: []config.ExtProcessor{processor(t, stage.WindowPoSt)}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	// No [[WinPost]] and no fallback: a winning PoSt is a clear error.
	if _, err := ext.GenerateWinningPoSt(context.Background(), abi.ActorID(1000), abi.RegisteredPoStProof_StackedDrgWinning2KiBV1, nil, make([]byte, 32)); err == nil {
		t.Fatal("a winning PoSt without [[WinPost]] succeeded")
	}
}
