package proofs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
)

func windowInfo(proofs []proof.PoStProof, sectors []testSector, rand []byte) proof.WindowPoStVerifyInfo {
	return proof.WindowPoStVerifyInfo{Randomness: rand, Proofs: proofs, ChallengedSectors: publics(sectors), Prover: testMiner}
}

func TestWindowPoStRoundTrip(t *testing.T) {
	e := &DevEngine{}
	ctx := context.Background()
	for _, p := range testProofTypes {
		sectors := sealedFixtures(t, p)
		rand := bytes32("window")
		for _, window := range []abi.RegisteredPoStProof{mustWindow(p), mustWindow(p) - 5} {
			proofs, faulty, err := e.GenerateWindowPoSt(ctx, testMiner, window, privates(sectors), rand)
			if err != nil || len(faulty) != 0 || len(proofs) != 1 {
				t.Fatalf("proof %d: %v, faulty %v, %d proofs", p, err, faulty, len(proofs))
			}
			if proofs[0].PoStProof != window {
				t.Errorf("proof type %d, want %d", proofs[0].PoStProof, window)
			}
			sp, _ := sealParams(p)
			if want := postHeaderSize + len(sectors)*postSectionSize(sp, windowChallenges); len(proofs[0].ProofBytes) != want {
				t.Errorf("proof %d: %d bytes, want %d", p, len(proofs[0].ProofBytes), want)
			}
			if ok, err := e.VerifyWindowPoSt(windowInfo(proofs, sectors, rand)); err != nil || !ok {
				t.Errorf("proof %d, PoSt type %d: VerifyWindowPoSt = %v, %v", p, window, ok, err)
			}
			again, _, _ := e.GenerateWindowPoSt(ctx, testMiner, window, privates(sectors), rand)
			if !bytes.Equal(again[0].ProofBytes, proofs[0].ProofBytes) {
				t.Errorf("proof %d: window PoSt is not deterministic", p)
			}
		}
	}
}

func mustWindow(p abi.RegisteredSealProof) abi.RegisteredPoStProof {
	w, err := WindowPoStProof(p)
	if err != nil {
		panic(err)
	}
	return w
}

// Damocles hands provers the randomness with its top bits masked, the
// chain verifies with the raw one: both must give the same proof.
func TestPoStRandomnessMasking(t *testing.T) {
	e := &DevEngine{}
	sectors := sealedFixtures(t, testProofTypes[0])
	raw := bytes32("mask")
	raw[31] |= 0xc0
	masked := bytes.Clone(raw)
	masked[31] &= 0x3f
	proofs, _, err := e.GenerateWindowPoSt(context.Background(), testMiner, mustWindow(testProofTypes[0]), privates(sectors), masked)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.VerifyWindowPoSt(windowInfo(proofs, sectors, raw)); err != nil || !ok {
		t.Errorf("masked proof against raw randomness: %v, %v", ok, err)
	}
}

func TestVerifyWindowPoStRejects(t *testing.T) {
	e := &DevEngine{}
	for _, p := range testProofTypes {
		sectors := sealedFixtures(t, p)
		rand := bytes32("window")
		proofs, _, err := e.GenerateWindowPoSt(context.Background(), testMiner, mustWindow(p), privates(sectors), rand)
		if err != nil {
			t.Fatal(err)
		}
		renumbered := slices.Clone(sectors)
		renumbered[1].id.Number = 99
		reordered := []testSector{sectors[1], sectors[0], sectors[2]}
		swappedCIDs := slices.Clone(sectors)
		swappedCIDs[0].sealedCID, swappedCIDs[1].sealedCID = sectors[1].sealedCID, sectors[0].sealedCID
		cases := map[string]proof.WindowPoStVerifyInfo{
			"other randomness":   windowInfo(proofs, sectors, bytes32("other")),
			"other sector":       windowInfo(proofs, renumbered, rand),
			"fewer sectors":      windowInfo(proofs, sectors[:2], rand),
			"more sectors":       windowInfo(proofs, append(slices.Clone(sectors), sectors[0]), rand),
			"other order":        windowInfo(proofs, reordered, rand),
			"swapped comm_r":     windowInfo(proofs, swappedCIDs, rand),
			"flipped proof byte": windowInfo([]proof.PoStProof{{PoStProof: proofs[0].PoStProof, ProofBytes: flipped(proofs[0].ProofBytes, 100)}}, sectors, rand),
			"truncated proof":    windowInfo([]proof.PoStProof{{PoStProof: proofs[0].PoStProof, ProofBytes: proofs[0].ProofBytes[:50]}}, sectors, rand),
		}
		otherMiner := windowInfo(proofs, sectors, rand)
		otherMiner.Prover = 1001
		cases["other miner"] = otherMiner
		for name, info := range cases {
			if ok, err := e.VerifyWindowPoSt(info); err != nil || ok {
				t.Errorf("proof %d, %s: VerifyWindowPoSt = %v, %v; want false, nil", p, name, ok, err)
			}
		}

		malformed := map[string]proof.WindowPoStVerifyInfo{
			"no proofs":       windowInfo(nil, sectors, rand),
			"two proofs":      windowInfo(append(slices.Clone(proofs), proofs[0]), sectors, rand),
			"no sectors":      windowInfo(proofs, nil, rand),
			"short rand":      windowInfo(proofs, sectors, rand[:16]),
			"winning type":    windowInfo([]proof.PoStProof{{PoStProof: mustWinning(p), ProofBytes: proofs[0].ProofBytes}}, sectors, rand),
			"other size type": windowInfo([]proof.PoStProof{{PoStProof: mustWindow(p) + 1, ProofBytes: proofs[0].ProofBytes}}, sectors, rand),
		}
		for name, info := range malformed {
			if _, err := e.VerifyWindowPoSt(info); err == nil {
				t.Errorf("proof %d, %s: no error", p, name)
			}
		}
	}
}

func mustWinning(p abi.RegisteredSealProof) abi.RegisteredPoStProof {
	w, err := WinningPoStProof(p)
	if err != nil {
		panic(err)
	}
	return w
}

func TestWinningPoStRoundTrip(t *testing.T) {
	e := &DevEngine{}
	ctx := context.Background()
	for _, p := range testProofTypes {
		sectors := sealedFixtures(t, p)
		rand := bytes32("winning")
		idx, err := e.GenerateWinningPoStSectorChallenge(mustWinning(p), testMiner, rand, uint64(len(sectors)))
		if err != nil || len(idx) != 1 || idx[0] >= uint64(len(sectors)) {
			t.Fatalf("sector challenge %v, %v", idx, err)
		}
		again, _ := e.GenerateWinningPoStSectorChallenge(mustWinning(p), testMiner, rand, uint64(len(sectors)))
		if !slices.Equal(idx, again) {
			t.Error("winning sector challenge is not deterministic")
		}
		chosen := []testSector{sectors[idx[0]]}
		proofs, err := e.GenerateWinningPoSt(ctx, testMiner, privates(chosen), rand)
		if err != nil || len(proofs) != 1 || proofs[0].PoStProof != mustWinning(p) {
			t.Fatalf("proof %d: winning PoSt %v, %v", p, proofs, err)
		}
		info := proof.WinningPoStVerifyInfo{Randomness: rand, Proofs: proofs, ChallengedSectors: publics(chosen), Prover: testMiner}
		if ok, err := e.VerifyWinningPoSt(info); err != nil || !ok {
			t.Errorf("proof %d: VerifyWinningPoSt = %v, %v", p, ok, err)
		}
		info.Randomness = bytes32("other")
		if ok, err := e.VerifyWinningPoSt(info); err != nil || ok {
			t.Errorf("proof %d: winning PoSt verified with other randomness (%v)", p, err)
		}
		info.Randomness = rand
		info.ChallengedSectors = publics([]testSector{sectors[(idx[0]+1)%uint64(len(sectors))]})
		if ok, err := e.VerifyWinningPoSt(info); err != nil || ok {
			t.Errorf("proof %d: winning PoSt verified for another sector (%v)", p, err)
		}
		// A window proof is no winning proof, even relabelled.
		window, _, _ := e.GenerateWindowPoSt(ctx, testMiner, mustWindow(p), privates(chosen), rand)
		info.ChallengedSectors = publics(chosen)
		info.Proofs = []proof.PoStProof{{PoStProof: mustWinning(p), ProofBytes: window[0].ProofBytes}}
		if ok, err := e.VerifyWinningPoSt(info); err != nil || ok {
			t.Errorf("proof %d: window proof verified as winning (%v)", p, err)
		}
	}
	if _, err := e.GenerateWinningPoStSectorChallenge(mustWindow(testProofTypes[0]), testMiner, bytes32("r"), 3); err == nil {
		t.Error("sector challenge accepted a window type")
	}
	if _, err := e.GenerateWinningPoStSectorChallenge(mustWinning(testProofTypes[0]), testMiner, bytes32("r"), 0); err == nil {
		t.Error("sector challenge accepted no eligible sectors")
	}
}

func TestVanillaProof(t *testing.T) {
	e := &DevEngine{}
	ctx := context.Background()
	for _, p := range testProofTypes {
		s := sealedFixtures(t, p)[0]
		rand := bytes32("vanilla")
		for _, postType := range []abi.RegisteredPoStProof{mustWindow(p), mustWinning(p)} {
			v, err := e.GenerateSingleVanillaProof(ctx, testMiner, postType, s.private(), rand)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := e.VerifySingleVanillaProof(testMiner, postType, s.public(), rand, v); err != nil || !ok {
				t.Errorf("proof %d, PoSt type %d: vanilla proof does not verify (%v)", p, postType, err)
			}
			if ok, _ := e.VerifySingleVanillaProof(testMiner, postType, s.public(), bytes32("other"), v); ok {
				t.Errorf("proof %d, PoSt type %d: vanilla proof verifies with other randomness", p, postType)
			}
		}
	}
}

// sectorDamage breaks one sector's files in a way a PoSt must notice.
type sectorDamage struct {
	name   string
	damage func(t *testing.T, s testSector)
}

func sectorDamages(t *testing.T, p abi.RegisteredSealProof) []sectorDamage {
	files, _ := CacheFilesFor(p)
	cachePath := func(s testSector, name string) string { return filepath.Join(CacheDirPath(s.root, s.id), name) }
	replaceWithDir := func(t *testing.T, path string) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return []sectorDamage{
		{"flipped byte under a challenged leaf", func(t *testing.T, s testSector) {
			flipChallengedLeaf(t, s, bytes32("faults"))
		}},
		{"missing sealed file", func(t *testing.T, s testSector) {
			must(t, os.Remove(SealedPath(s.root, s.id)))
		}},
		{"truncated sealed file", func(t *testing.T, s testSector) {
			must(t, os.Truncate(SealedPath(s.root, s.id), 1024))
		}},
		{"directory in place of the sealed file", func(t *testing.T, s testSector) {
			replaceWithDir(t, SealedPath(s.root, s.id))
		}},
		{"missing tree-r-last", func(t *testing.T, s testSector) {
			must(t, os.Remove(cachePath(s, files.TreeRLast[0])))
		}},
		{"truncated tree-r-last", func(t *testing.T, s testSector) {
			must(t, os.Truncate(cachePath(s, files.TreeRLast[0]), 64))
		}},
		{"corrupt tree-r-last", func(t *testing.T, s testSector) {
			path := cachePath(s, files.TreeRLast[0])
			data, err := os.ReadFile(path)
			must(t, err)
			for i := range data {
				data[i] ^= 0xff
			}
			must(t, os.WriteFile(path, data, 0o644))
		}},
		{"missing p_aux", func(t *testing.T, s testSector) {
			must(t, os.Remove(cachePath(s, PAuxFile)))
		}},
		{"p_aux of another sector", func(t *testing.T, s testSector) {
			other := sealedFixtures(t, p)[2]
			if other.id == s.id {
				t.Fatal("damaging with the sector's own p_aux")
			}
			copyFile(t, cachePath(other, PAuxFile), cachePath(s, PAuxFile))
		}},
		{"missing t_aux", func(t *testing.T, s testSector) {
			must(t, os.Remove(cachePath(s, TAuxFile)))
		}},
		{"directory in place of the cache dir", func(t *testing.T, s testSector) {
			must(t, os.RemoveAll(CacheDirPath(s.root, s.id)))
			must(t, os.Mkdir(CacheDirPath(s.root, s.id), 0o755))
		}},
		{"unreadable sealed file", func(t *testing.T, s testSector) {
			if os.Geteuid() == 0 {
				// root reads files whatever their mode; the directory
				// cases above cover unreadable files there.
				t.Skip("running as root: chmod 000 does not stop reads")
			}
			must(t, os.Chmod(SealedPath(s.root, s.id), 0))
		}},
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// flipChallengedLeaf flips a byte of the replica under the first leaf a
// window PoSt with rand challenges, and returns that leaf.
func flipChallengedLeaf(t *testing.T, s testSector, rand []byte) uint64 {
	t.Helper()
	sp, _ := sealParams(s.proofType)
	r, _ := postRandomness(rand)
	leaf := postChallenges(sp, testMiner, r, s.id.Number, windowChallenges)[0]
	f, err := os.OpenFile(SealedPath(s.root, s.id), os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	var b [1]byte
	off := int64(leaf)*nodeSize + 7
	_, err = f.ReadAt(b[:], off)
	must(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b[:], off)
	must(t, err)
	return leaf
}

// A damaged sector is reported faulty and left out; the others are proven
// and the proof of those verifies.
func TestWindowPoStFaultySectors(t *testing.T) {
	e := &DevEngine{}
	ctx := context.Background()
	rand := bytes32("faults")
	for _, p := range testProofTypes {
		sp, _ := sealParams(p)
		for _, d := range sectorDamages(t, p) {
			t.Run(sp.name+"/"+d.name, func(t *testing.T) {
				sectors := copySectors(t, sealedFixtures(t, p))
				d.damage(t, sectors[1])
				proofs, faulty, err := e.GenerateWindowPoSt(ctx, testMiner, mustWindow(p), privates(sectors), rand)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(faulty, []abi.SectorNumber{sectors[1].id.Number}) {
					t.Fatalf("faulty %v, want [%d]", faulty, sectors[1].id.Number)
				}
				good := []testSector{sectors[0], sectors[2]}
				if ok, err := e.VerifyWindowPoSt(windowInfo(proofs, good, rand)); err != nil || !ok {
					t.Errorf("proof of the good sectors: %v, %v", ok, err)
				}
				_, err = e.GenerateSingleVanillaProof(ctx, testMiner, mustWindow(p), sectors[1].private(), rand)
				var fe *FaultError
				if !errors.As(err, &fe) || fe.Sector != sectors[1].id.Number {
					t.Errorf("strict check: %v, want a FaultError for sector %d", err, sectors[1].id.Number)
				}
				if _, err := e.GenerateWinningPoSt(ctx, testMiner, privates(sectors[1:2]), rand); !errors.As(err, &fe) {
					t.Errorf("winning PoSt of a faulty sector: %v, want a FaultError", err)
				}
			})
		}
	}
}

// Without the prover's check, an opening over a corrupted replica gives a
// proof that fails verification: the check is what keeps bad proofs off
// chain, and the verifier is what catches a prover without it.
func TestCorruptReplicaFailsVerification(t *testing.T) {
	ctx := context.Background()
	rand := bytes32("faults")
	for _, p := range testProofTypes {
		s := copySectors(t, sealedFixtures(t, p)[:1])[0]
		flipChallengedLeaf(t, s, rand)
		sp, _ := sealParams(p)
		r, _ := postRandomness(rand)
		cr := mustCommR(t, s)
		section, err := proveSector(ctx, sp, windowPoSt, testMiner, r, s.private(), cr, false)
		if err != nil {
			t.Fatal(err)
		}
		if verifySection(sp, windowPoSt, testMiner, r, s.id.Number, cr, section) {
			t.Errorf("proof %d: section over a corrupt replica verifies", p)
		}
		pr := []proof.PoStProof{{PoStProof: mustWindow(p), ProofBytes: encodePoSt([][]byte{section})}}
		if ok, err := (&DevEngine{}).VerifyWindowPoSt(windowInfo(pr, []testSector{s}, rand)); err != nil || ok {
			t.Errorf("proof %d: VerifyWindowPoSt = %v, %v; want false", p, ok, err)
		}
		if _, err := proveSector(ctx, sp, windowPoSt, testMiner, r, s.private(), cr, true); !errors.Is(err, errCorrupt) {
			t.Errorf("proof %d: strict opening: %v, want errCorrupt", p, err)
		}
	}
}

// mustCommR is a sector's comm_r, from its sealed CID.
func mustCommR(t testing.TB, s testSector) node {
	t.Helper()
	_, _, crs, err := postInputs(mustWindow(s.proofType), windowPoSt, bytes32("x"), []proof.SectorInfo{s.public()})
	must(t, err)
	return crs[0]
}

func TestWindowPoStAllFaulty(t *testing.T) {
	e := &DevEngine{}
	sectors := copySectors(t, sealedFixtures(t, testProofTypes[0]))
	for _, s := range sectors {
		must(t, os.Remove(SealedPath(s.root, s.id)))
	}
	proofs, faulty, err := e.GenerateWindowPoSt(context.Background(), testMiner, mustWindow(testProofTypes[0]), privates(sectors), bytes32("r"))
	if err != nil || len(proofs) != 0 || len(faulty) != len(sectors) {
		t.Errorf("all faulty: %d proofs, faulty %v, %v", len(proofs), faulty, err)
	}
}

func TestWindowPoStErrors(t *testing.T) {
	e := &DevEngine{}
	p := testProofTypes[0]
	sectors := privates(sealedFixtures(t, p))
	rand := bytes32("r")
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	wrongSize := slices.Clone(sectors)
	wrongSize[0].SealProof = abi.RegisteredSealProof_StackedDrg8MiBV1_1
	badCID := slices.Clone(sectors)
	badCID[0].SealedCID = sealedFixtures(t, p)[0].unsealedCID
	cases := []struct {
		name    string
		ctx     context.Context
		typ     abi.RegisteredPoStProof
		sectors []PrivateSectorInfo
		rand    []byte
	}{
		{"winning type", ctx, mustWinning(p), sectors, rand},
		{"unknown type", ctx, 99, sectors, rand},
		{"no sectors", ctx, mustWindow(p), nil, rand},
		{"short randomness", ctx, mustWindow(p), sectors, rand[:31]},
		{"sector of another size", ctx, mustWindow(p), wrongSize, rand},
		{"data CID as sealed CID", ctx, mustWindow(p), badCID, rand},
		{"cancelled", cancelled, mustWindow(p), sectors, rand},
	}
	for _, c := range cases {
		if _, _, err := e.GenerateWindowPoSt(c.ctx, testMiner, c.typ, c.sectors, c.rand); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, err := e.GenerateWinningPoSt(cancelled, testMiner, sectors[:1], rand); !errors.Is(err, context.Canceled) {
		t.Errorf("winning PoSt with a cancelled context: %v", err)
	}
}

// Many sectors at once: every one proven, with the parallel readers.
func TestWindowPoStManySectors(t *testing.T) {
	e := &DevEngine{PoStReaders: 3}
	base := sealedFixtures(t, testProofTypes[0])
	var sectors []testSector
	for range 10 {
		sectors = append(sectors, base...)
	}
	rand := bytes32("many")
	proofs, faulty, err := e.GenerateWindowPoSt(context.Background(), testMiner, mustWindow(testProofTypes[0]), privates(sectors), rand)
	if err != nil || len(faulty) != 0 {
		t.Fatalf("%v, faulty %v", err, faulty)
	}
	if ok, err := e.VerifyWindowPoSt(windowInfo(proofs, sectors, rand)); err != nil || !ok {
		t.Errorf("VerifyWindowPoSt = %v, %v", ok, err)
	}
}

// A PoSt reads what its openings touch, never whole files: proving an
// 8MiB sector allocates a small fraction of its size.
func TestPoStReadsOnlyOpenings(t *testing.T) {
	s := sealedFixtures(t, abi.RegisteredSealProof_StackedDrg8MiBV1_1)[0]
	sp, _ := sealParams(s.proofType)
	rand, _ := postRandomness(bytes32("memory"))
	cr := mustCommR(t, s)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := proveSector(context.Background(), sp, windowPoSt, testMiner, rand, s.private(), cr, true); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// 10 openings of 16KiB of leaves each, plus paths: about 240KiB.
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > uint64(sp.size)/8 {
		t.Errorf("proving an %s sector allocated %d bytes", sp.name, allocated)
	}
}
