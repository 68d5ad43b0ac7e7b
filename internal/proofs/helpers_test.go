package proofs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
)

const testMiner abi.ActorID = 1000

// testSector is a sealed sector and what its sealing was given.
type testSector struct {
	id          abi.SectorID
	proofType   abi.RegisteredSealProof
	root        string // store root holding sealed/ and cache/
	ticket      abi.SealRandomness
	seed        abi.InteractiveSealRandomness
	sealedCID   cid.Cid
	unsealedCID cid.Cid
	pc1         PC1Out
	porep       []byte
}

func (s testSector) private() PrivateSectorInfo {
	return PrivateSectorInfo{
		SectorNumber: s.id.Number,
		SealProof:    s.proofType,
		SealedCID:    s.sealedCID,
		CacheDir:     CacheDirPath(s.root, s.id),
		SealedPath:   SealedPath(s.root, s.id),
	}
}

func (s testSector) public() proof.SectorInfo {
	return proof.SectorInfo{SealProof: s.proofType, SectorNumber: s.id.Number, SealedCID: s.sealedCID}
}

func (s testSector) sealVerifyInfo() proof.SealVerifyInfo {
	return proof.SealVerifyInfo{
		SealProof: s.proofType, SectorID: s.id,
		Randomness: s.ticket, InteractiveRandomness: s.seed, Proof: s.porep,
		SealedCID: s.sealedCID, UnsealedCID: s.unsealedCID,
	}
}

// bytes32 is a deterministic 32-byte value derived from a label.
func bytes32(label string) []byte {
	h := hashTrunc([]byte(label))
	return h[:]
}

// sealTestSector runs PC1, PC2, C1 and C2 on a CC sector (staged data =
// zeros, or data when given) under root.
func sealTestSector(t testing.TB, e *DevEngine, root string, proofType abi.RegisteredSealProof, number abi.SectorNumber,
	data []byte, pieces []abi.PieceInfo) testSector {
	t.Helper()
	ctx := context.Background()
	s := testSector{
		id:        abi.SectorID{Miner: testMiner, Number: number},
		proofType: proofType,
		root:      root,
		ticket:    bytes32("ticket"),
		seed:      bytes32("seed"),
	}
	size, err := SealProofSectorSize(proofType)
	if err != nil {
		t.Fatal(err)
	}
	if data == nil {
		data = make([]byte, size)
	}
	staged := filepath.Join(root, "unsealed", SectorName(s.id))
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := s.private()
	s.pc1, err = e.SealPreCommitPhase1(ctx, proofType, p.CacheDir, staged, p.SealedPath, number, testMiner, s.ticket, pieces)
	if err != nil {
		t.Fatal(err)
	}
	s.sealedCID, s.unsealedCID, err = e.SealPreCommitPhase2(ctx, s.pc1, p.CacheDir, p.SealedPath)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := e.SealCommitPhase1(ctx, proofType, s.sealedCID, s.unsealedCID, p.CacheDir, p.SealedPath, number, testMiner, s.ticket, s.seed, pieces)
	if err != nil {
		t.Fatal(err)
	}
	s.porep, err = e.SealCommitPhase2(ctx, c1, number, testMiner)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Sealed sectors shared by the tests that only read them: sealing 8MiB
// sectors under the race detector takes seconds. Tests that damage files
// work on copies (copySector).
var (
	fixtureMu  sync.Mutex
	fixtureDir string
	fixtures   = map[abi.RegisteredSealProof][]testSector{}
)

const fixtureSectors = 3

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// sealedFixtures returns fixtureSectors sealed (not finalized) sectors of
// proofType, numbered from 1.
func sealedFixtures(t testing.TB, proofType abi.RegisteredSealProof) []testSector {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if s, ok := fixtures[proofType]; ok {
		return s
	}
	if fixtureDir == "" {
		dir, err := os.MkdirTemp("", "devproof-fixtures-")
		if err != nil {
			t.Fatal(err)
		}
		fixtureDir = dir
	}
	e := &DevEngine{}
	root := filepath.Join(fixtureDir, fmt.Sprintf("seal-%d", proofType))
	var out []testSector
	for n := abi.SectorNumber(1); n <= fixtureSectors; n++ {
		out = append(out, sealTestSector(t, e, root, proofType, n, nil, nil))
	}
	fixtures[proofType] = out
	return out
}

// copySector copies a sector's sealed file and cache dir under a new root.
func copySector(t testing.TB, s testSector, root string) testSector {
	t.Helper()
	copyFile(t, SealedPath(s.root, s.id), SealedPath(root, s.id))
	entries, err := os.ReadDir(CacheDirPath(s.root, s.id))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(t, filepath.Join(CacheDirPath(s.root, s.id), e.Name()), filepath.Join(CacheDirPath(root, s.id), e.Name()))
	}
	s.root = root
	return s
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func copySectors(t testing.TB, sectors []testSector) []testSector {
	t.Helper()
	root := t.TempDir()
	out := make([]testSector, len(sectors))
	for i, s := range sectors {
		out[i] = copySector(t, s, root)
	}
	return out
}

func privates(sectors []testSector) []PrivateSectorInfo {
	out := make([]PrivateSectorInfo, len(sectors))
	for i, s := range sectors {
		out[i] = s.private()
	}
	return out
}

func publics(sectors []testSector) []proof.SectorInfo {
	out := make([]proof.SectorInfo, len(sectors))
	for i, s := range sectors {
		out[i] = s.public()
	}
	return out
}

// testProofTypes are the seal types the tests seal, V1_1 as on current
// networks.
var testProofTypes = []abi.RegisteredSealProof{
	abi.RegisteredSealProof_StackedDrg2KiBV1_1,
	abi.RegisteredSealProof_StackedDrg8MiBV1_1,
}
