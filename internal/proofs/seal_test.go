package proofs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
)

func TestSealRoundTrip(t *testing.T) {
	e := &DevEngine{}
	for _, p := range testProofTypes {
		s := sealedFixtures(t, p)[0]
		ok, err := e.VerifySeal(s.sealVerifyInfo())
		if err != nil || !ok {
			t.Errorf("proof %d: VerifySeal = %v, %v", p, ok, err)
		}
		sp, _ := sealParams(p)
		if len(s.porep) != porepProofSize(sp) {
			t.Errorf("proof %d: PoRep proof is %d bytes, want %d", p, len(s.porep), porepProofSize(sp))
		}
		ccCID, _ := e.GenerateUnsealedCID(p, nil)
		if s.unsealedCID != ccCID {
			t.Errorf("proof %d: unsealed CID %s, CC is %s", p, s.unsealedCID, ccCID)
		}
		if _, err := commcid.CIDToReplicaCommitmentV1(s.sealedCID); err != nil {
			t.Errorf("proof %d: sealed CID %s: %v", p, s.sealedCID, err)
		}
		for _, name := range append(sp.cacheFiles().Persisted(), sp.cacheFiles().Temporary()...) {
			if _, err := os.Stat(filepath.Join(CacheDirPath(s.root, s.id), name)); err != nil {
				t.Errorf("proof %d: %v", p, err)
			}
		}
		fi, err := os.Stat(SealedPath(s.root, s.id))
		if err != nil || fi.Size() != int64(sp.size) {
			t.Errorf("proof %d: sealed file: %v", p, err)
		}
	}
}

// Sealing the same sector twice gives the same commitments and proofs, and
// sectors differing only in number differ in comm_r.
func TestSealDeterministic(t *testing.T) {
	e := &DevEngine{}
	for _, p := range testProofTypes {
		a := sealedFixtures(t, p)[0]
		b := sealTestSector(t, e, t.TempDir(), p, a.id.Number, nil, nil)
		if a.sealedCID != b.sealedCID || !bytes.Equal(a.porep, b.porep) || !bytes.Equal(a.pc1, b.pc1) {
			t.Errorf("proof %d: resealing changed comm_r (%s, %s) or the proofs", p, a.sealedCID, b.sealedCID)
		}
		if other := sealedFixtures(t, p)[1]; other.sealedCID == a.sealedCID {
			t.Errorf("proof %d: sectors 1 and 2 have the same comm_r", p)
		}
	}
}

func TestVerifySealRejects(t *testing.T) {
	e := &DevEngine{}
	for _, p := range testProofTypes {
		s := sealedFixtures(t, p)[0]
		other := sealedFixtures(t, p)[1]
		mutations := map[string]func(i *testSector){
			"other seed":         func(i *testSector) { i.seed = bytes32("other seed") },
			"other ticket":       func(i *testSector) { i.ticket = bytes32("other ticket") },
			"other sector":       func(i *testSector) { i.id.Number = 7 },
			"other miner":        func(i *testSector) { i.id.Miner = 1001 },
			"other comm_r":       func(i *testSector) { i.sealedCID = other.sealedCID },
			"other proof":        func(i *testSector) { i.porep = other.porep },
			"flipped proof byte": func(i *testSector) { i.porep = flipped(i.porep, len(i.porep)/2) },
			"short proof":        func(i *testSector) { i.porep = i.porep[:len(i.porep)-1] },
			"other unsealed CID": func(i *testSector) {
				_, pieces := placePieces(t, 2048, []uint64{2048})
				i.unsealedCID = pieces[0].PieceCID
			},
		}
		for name, mutate := range mutations {
			i := s
			mutate(&i)
			ok, err := e.VerifySeal(i.sealVerifyInfo())
			if err != nil || ok {
				t.Errorf("proof %d, %s: VerifySeal = %v, %v; want false, nil", p, name, ok, err)
			}
		}
		malformed := map[string]func(i *testSector){
			"sealed CID is a data CID": func(i *testSector) { i.sealedCID = i.unsealedCID },
			"short ticket":             func(i *testSector) { i.ticket = i.ticket[:31] },
			"short seed":               func(i *testSector) { i.seed = nil },
			"unknown proof type":       func(i *testSector) { i.proofType = 42 },
		}
		for name, mutate := range malformed {
			i := s
			mutate(&i)
			if _, err := e.VerifySeal(i.sealVerifyInfo()); err == nil {
				t.Errorf("proof %d, %s: no error", p, name)
			}
		}
	}
}

func flipped(b []byte, at int) []byte {
	out := bytes.Clone(b)
	out[at] ^= 0x01
	return out
}

// A sector with pieces seals and verifies, and its comm_d is the one
// computed from the pieces alone. PC1 refuses pieces that do not match.
func TestSealWithPieces(t *testing.T) {
	e := &DevEngine{}
	p := abi.RegisteredSealProof_StackedDrg2KiBV1_1
	data, pieces := placePieces(t, 2048, []uint64{128, 512, 256})
	s := sealTestSector(t, e, t.TempDir(), p, 5, data, pieces)
	want, _ := e.GenerateUnsealedCID(p, pieces)
	if s.unsealedCID != want {
		t.Errorf("unsealed CID %s, pieces give %s", s.unsealedCID, want)
	}
	if ok, err := e.VerifySeal(s.sealVerifyInfo()); err != nil || !ok {
		t.Errorf("VerifySeal = %v, %v", ok, err)
	}

	// The replica decodes back to the data: replica - last layer.
	replica, _ := os.ReadFile(SealedPath(s.root, s.id))
	files, _ := CacheFilesFor(p)
	key, _ := os.ReadFile(filepath.Join(CacheDirPath(s.root, s.id), files.Layers[len(files.Layers)-1]))
	for i := 0; i < len(replica); i += nodeSize {
		var back, negKey node
		negateNode(negKey[:], key[i:i+nodeSize])
		addNode(back[:], replica[i:i+nodeSize], negKey[:])
		if !bytes.Equal(back[:], data[i:i+nodeSize]) {
			t.Fatalf("node %d does not decode to the data", i/nodeSize)
		}
	}

	staged := filepath.Join(t.TempDir(), "staged")
	if err := os.WriteFile(staged, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := e.SealPreCommitPhase1(context.Background(), p, filepath.Join(dir, "cache"), staged, filepath.Join(dir, "sealed"), 5, testMiner, s.ticket, pieces[:2])
	if err == nil {
		t.Error("PC1 accepted pieces that do not match the data")
	}
	_, err = e.SealPreCommitPhase1(context.Background(), p, filepath.Join(dir, "cache"), staged, filepath.Join(dir, "sealed"), 5, testMiner, s.ticket, nil)
	if err == nil {
		t.Error("PC1 accepted data as CC")
	}
}

// negateNode is the two's complement of a 256-bit little-endian number.
func negateNode(dst, a []byte) {
	var inv [nodeSize]byte
	for i := range inv {
		inv[i] = ^a[i]
	}
	one := [nodeSize]byte{1}
	addNode(dst, inv[:], one[:])
}

func TestSealStagesRejectBadInput(t *testing.T) {
	e := &DevEngine{}
	ctx := context.Background()
	p := abi.RegisteredSealProof_StackedDrg2KiBV1_1
	dir := t.TempDir()
	staged := filepath.Join(dir, "staged")
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	cache, sealed := filepath.Join(dir, "cache"), filepath.Join(dir, "sealed")
	if _, err := e.SealPreCommitPhase1(ctx, p, cache, staged, sealed, 1, testMiner, bytes32("t")[:31], nil); err == nil {
		t.Error("PC1 accepted a 31-byte ticket")
	}
	if _, err := e.SealPreCommitPhase1(ctx, 42, cache, staged, sealed, 1, testMiner, bytes32("t"), nil); err == nil {
		t.Error("PC1 accepted proof type 42")
	}
	if _, err := e.SealPreCommitPhase1(ctx, abi.RegisteredSealProof_StackedDrg8MiBV1_1, cache, staged, sealed, 1, testMiner, bytes32("t"), nil); err == nil {
		t.Error("PC1 accepted a 2KiB staged file for an 8MiB sector")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.SealPreCommitPhase1(cancelled, p, cache, staged, sealed, 1, testMiner, bytes32("t"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("PC1 with a cancelled context: %v", err)
	}

	pc1, err := e.SealPreCommitPhase1(ctx, p, cache, staged, sealed, 1, testMiner, bytes32("t"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.SealPreCommitPhase2(cancelled, pc1, cache, sealed); !errors.Is(err, context.Canceled) {
		t.Errorf("PC2 with a cancelled context: %v", err)
	}
	if _, _, err := e.SealPreCommitPhase2(ctx, PC1Out(`{"registered_proof": 5}`), cache, sealed); err == nil {
		t.Error("PC2 accepted an output without layers")
	}
	sealedCID, unsealedCID, err := e.SealPreCommitPhase2(ctx, pc1, cache, sealed)
	if err != nil {
		t.Fatal(err)
	}
	// PC2 again (as after a crash half way) gives the same replica.
	again, _, err := e.SealPreCommitPhase2(ctx, pc1, cache, sealed)
	if err != nil || again != sealedCID {
		t.Errorf("PC2 rerun: %s, %v; want %s", again, err, sealedCID)
	}

	c1, err := e.SealCommitPhase1(ctx, p, sealedCID, unsealedCID, cache, sealed, 1, testMiner, bytes32("t"), bytes32("s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SealCommitPhase2(ctx, c1, 2, testMiner); err == nil {
		t.Error("C2 accepted C1 output of another sector")
	}
	if _, err := e.SealCommitPhase1(ctx, p, sealedCID, unsealedCID, cache, sealed, 1, testMiner, bytes32("t"), bytes32("s")[:8], nil); err == nil {
		t.Error("C1 accepted an 8-byte seed")
	}
	if _, err := e.SealCommitPhase1(ctx, p, unsealedCID, unsealedCID, cache, sealed, 1, testMiner, bytes32("t"), bytes32("s"), nil); err == nil {
		t.Error("C1 accepted a data CID as sealed CID")
	}

	// A C1 output whose labels were tampered with does not pass C2.
	var out c1Output
	if err := json.Unmarshal(c1, &out); err != nil {
		t.Fatal(err)
	}
	out.Openings[0].Columns[0].Labels[0][3] ^= 1
	bad, _ := json.Marshal(out)
	if _, err := e.SealCommitPhase2(ctx, bad, 1, testMiner); err == nil {
		t.Error("C2 accepted a tampered C1 output")
	}
}

// PC1Out and C1Out embed in other JSON as themselves, not as base64.
func TestOutputsEmbedAsJSON(t *testing.T) {
	msg := struct {
		PC1 PC1Out `json:"pc1out"`
		C1  C1Out  `json:"c1out"`
	}{PC1: PC1Out(`{"a":1}`)}
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"pc1out":{"a":1},"c1out":null}` {
		t.Errorf("marshalled %s", data)
	}
	var back struct {
		PC1 PC1Out `json:"pc1out"`
	}
	if err := json.Unmarshal(data, &back); err != nil || string(back.PC1) != `{"a":1}` {
		t.Errorf("unmarshalled %q, %v", back.PC1, err)
	}
}

func TestFinalizeSector(t *testing.T) {
	e := &DevEngine{}
	ctx := context.Background()
	for _, p := range testProofTypes {
		sectors := copySectors(t, sealedFixtures(t, p))
		s := sectors[0]
		cacheDir := CacheDirPath(s.root, s.id)
		if err := e.FinalizeSector(ctx, p, cacheDir); err != nil {
			t.Fatal(err)
		}
		if err := e.FinalizeSector(ctx, p, cacheDir); err != nil {
			t.Errorf("second finalize: %v", err)
		}
		files, _ := CacheFilesFor(p)
		for _, name := range files.Temporary() {
			if _, err := os.Stat(filepath.Join(cacheDir, name)); !os.IsNotExist(err) {
				t.Errorf("proof %d: %s still there (%v)", p, name, err)
			}
		}
		for _, name := range files.Persisted() {
			if _, err := os.Stat(filepath.Join(cacheDir, name)); err != nil {
				t.Errorf("proof %d: %v", p, err)
			}
		}
		rand := bytes32("finalized")
		window, _ := WindowPoStProof(p)
		proofs, faulty, err := e.GenerateWindowPoSt(ctx, testMiner, window, privates(sectors), rand)
		if err != nil || len(faulty) != 0 {
			t.Fatalf("proof %d: window PoSt after finalize: %v, faulty %v", p, err, faulty)
		}
		if ok, err := e.VerifyWindowPoSt(windowInfo(proofs, sectors, rand)); err != nil || !ok {
			t.Errorf("proof %d: window PoSt after finalize does not verify: %v", p, err)
		}
		if _, err := e.SealCommitPhase1(ctx, p, s.sealedCID, s.unsealedCID, cacheDir, SealedPath(s.root, s.id), s.id.Number, testMiner, s.ticket, s.seed, nil); err == nil {
			t.Errorf("proof %d: C1 worked without layers", p)
		}
	}
}
