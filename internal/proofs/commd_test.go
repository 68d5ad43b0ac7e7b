package proofs

import (
	"testing"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
)

// comm_d of a CC sector computed per level (zeroTree) equals the root of a
// binary tree built over an actual zero buffer.
func TestCCCommDMatchesZeroBuffer(t *testing.T) {
	for _, p := range testProofTypes {
		size, _ := SealProofSectorSize(p)
		want := referenceRoot(treeShape{Arity: 2, Files: 1}, make([]byte, size))
		got, err := ComputeCommD(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("proof %d: comm_d %x, zero buffer gives %x", p, got, want)
		}
	}
}

// devproof's comm_d is Filecoin's: the CC values of production sizes are
// well known unsealed CIDs.
func TestCCCommDIsFilecoins(t *testing.T) {
	e := &DevEngine{}
	for p, want := range map[abi.RegisteredSealProof]string{
		abi.RegisteredSealProof_StackedDrg32GiBV1_1: "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq",
		abi.RegisteredSealProof_StackedDrg64GiBV1_1: "baga6ea4seaqomqafu276g53zko4k23xzh4h4uecjwicbmvhsuqi7o4bhthhm4aq",
	} {
		c, err := e.GenerateUnsealedCID(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.String() != want {
			t.Errorf("proof %d: CC unsealed CID %s, want %s", p, c, want)
		}
	}
}

// placePieces lays pieces of the given sizes out like a sector does
// (each aligned to its size) and returns the sector data and piece infos.
func placePieces(t *testing.T, sectorSize uint64, sizes []uint64) ([]byte, []abi.PieceInfo) {
	t.Helper()
	data := make([]byte, sectorSize)
	var pieces []abi.PieceInfo
	var off uint64
	for i, size := range sizes {
		off = (off + size - 1) / size * size
		piece := pseudoRandom(string(rune('a'+i)), int(size))
		copy(data[off:], piece)
		commP := referenceRoot(treeShape{Arity: 2, Files: 1}, piece)
		c, err := commcid.DataCommitmentV1ToCID(commP[:])
		if err != nil {
			t.Fatal(err)
		}
		pieces = append(pieces, abi.PieceInfo{Size: abi.PaddedPieceSize(size), PieceCID: c})
		off += size
	}
	return data, pieces
}

func TestCommDFromPieces(t *testing.T) {
	cases := []struct {
		proof abi.RegisteredSealProof
		sizes []uint64
	}{
		{abi.RegisteredSealProof_StackedDrg2KiBV1_1, []uint64{128, 512, 256}},
		{abi.RegisteredSealProof_StackedDrg2KiBV1_1, []uint64{2048}},
		{abi.RegisteredSealProof_StackedDrg8MiBV1_1, []uint64{2048, 1 << 20, 4096, 128}},
	}
	for _, c := range cases {
		size, _ := SealProofSectorSize(c.proof)
		data, pieces := placePieces(t, uint64(size), c.sizes)
		want := referenceRoot(treeShape{Arity: 2, Files: 1}, data)
		got, err := ComputeCommD(c.proof, pieces)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("pieces %v: comm_d %x, data gives %x", c.sizes, got, want)
		}
	}
}

func TestCommDRejectsBadPieces(t *testing.T) {
	_, pieces := placePieces(t, 2048, []uint64{1024, 1024})
	p := abi.RegisteredSealProof_StackedDrg2KiBV1_1
	tooMany := append(pieces, pieces[0])
	badSize := []abi.PieceInfo{{Size: 100, PieceCID: pieces[0].PieceCID}}
	replicaCID, _ := commcid.ReplicaCommitmentV1ToCID(make([]byte, 32))
	badCID := []abi.PieceInfo{{Size: 1024, PieceCID: replicaCID}}
	for name, bad := range map[string][]abi.PieceInfo{"too many": tooMany, "bad size": badSize, "bad CID": badCID} {
		if _, err := ComputeCommD(p, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ComputeCommD(99, nil); err == nil {
		t.Error("unknown proof type accepted")
	}
}
