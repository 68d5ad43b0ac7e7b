package proofs

import (
	"context"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
)

// Benchmarks of the hot loops. Figures are in the issue note; run with
// go test -bench . ./internal/proofs/ -run ^$

var (
	sp2KiB = sectorSizes[0]
	sp8MiB = sectorSizes[1]
)

// One PC1 layer above layer 1 (6 base + 8 expander parents per label), the
// case of 10 of a 32GiB sector's 11 layers.
func BenchmarkLabelLayer8MiB(b *testing.B) {
	g := newGraph(sp8MiB.nodes())
	prev := pseudoRandom("prev", int(sp8MiB.size))
	cur := make([]byte, sp8MiB.size)
	rid := hashTrunc([]byte("replica"))
	b.SetBytes(int64(sp8MiB.size))
	for b.Loop() {
		if err := labelLayer(context.Background(), g, rid, 2, cur, prev); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkTree(b *testing.B, shape treeShape, names []string) {
	leaves := pseudoRandom("leaves", int(shape.Leaves)*nodeSize)
	dir := b.TempDir()
	b.SetBytes(int64(len(leaves)))
	for b.Loop() {
		w, err := newTreeWriter(shape, dir, names, (&DevEngine{}).hashThreads())
		if err != nil {
			b.Fatal(err)
		}
		chunk := int(w.chunkLeaves()) * nodeSize
		for off := 0; off < len(leaves); off += chunk {
			if err := w.write(leaves[off : off+chunk]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.finish(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTreeRLast8MiB(b *testing.B) {
	benchmarkTree(b, treeRLastShape(sp8MiB), sp8MiB.cacheFiles().TreeRLast)
}

func BenchmarkTreeD8MiB(b *testing.B) {
	benchmarkTree(b, treeDShape(sp8MiB), []string{TreeDFile})
}

// One WindowPoSt opening: 512 replica leaves read and rebuilt into 2
// discarded rows, the stored rows read, the rebuilt node checked.
func BenchmarkWindowPoStOpening8MiB(b *testing.B) {
	s := sealedFixtures(b, abi.RegisteredSealProof_StackedDrg8MiBV1_1)[0]
	tree, sealed, err := openReplicaTree(sp8MiB, CacheDirPath(s.root, s.id), SealedPath(s.root, s.id))
	if err != nil {
		b.Fatal(err)
	}
	defer sealed.Close()
	defer tree.close()
	x := uint64(0)
	for b.Loop() {
		x = (x + 7919*512) % sp8MiB.nodes()
		if _, err := tree.open(x, true); err != nil {
			b.Fatal(err)
		}
	}
}

// One sector of a WindowPoSt: 10 openings and the prover's self-check.
func BenchmarkWindowPoStSector8MiB(b *testing.B) {
	s := sealedFixtures(b, abi.RegisteredSealProof_StackedDrg8MiBV1_1)[0]
	rand, _ := postRandomness(bytes32("bench"))
	cr := mustCommR(b, s)
	for b.Loop() {
		if _, err := proveSector(context.Background(), sp8MiB, windowPoSt, testMiner, rand, s.private(), cr, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyWindowPoStSector8MiB(b *testing.B) {
	s := sealedFixtures(b, abi.RegisteredSealProof_StackedDrg8MiBV1_1)[0]
	rand, _ := postRandomness(bytes32("bench"))
	cr := mustCommR(b, s)
	section, err := proveSector(context.Background(), sp8MiB, windowPoSt, testMiner, rand, s.private(), cr, true)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !verifySection(sp8MiB, windowPoSt, testMiner, rand, s.id.Number, cr, section) {
			b.Fatal("does not verify")
		}
	}
}

func benchmarkSeal(b *testing.B, p abi.RegisteredSealProof) {
	sp, _ := sealParams(p)
	e := &DevEngine{}
	b.SetBytes(int64(sp.size))
	for b.Loop() {
		sealTestSector(b, e, b.TempDir(), p, 1, nil, nil)
	}
}

// Full seals: PC1, PC2, C1 and C2 (which verifies).
func BenchmarkSeal2KiB(b *testing.B) { benchmarkSeal(b, abi.RegisteredSealProof_StackedDrg2KiBV1_1) }
func BenchmarkSeal8MiB(b *testing.B) { benchmarkSeal(b, abi.RegisteredSealProof_StackedDrg8MiBV1_1) }

func BenchmarkVerifySeal8MiB(b *testing.B) {
	s := sealedFixtures(b, abi.RegisteredSealProof_StackedDrg8MiBV1_1)[0]
	e := &DevEngine{}
	info := s.sealVerifyInfo()
	for b.Loop() {
		if ok, err := e.VerifySeal(info); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
