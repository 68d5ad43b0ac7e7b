package proofs

import (
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/network"
)

// The arithmetic numbering of prooftypes.go must agree with go-state-types
// for every seal type it accepts.
func TestSealProofTypesMatchGoStateTypes(t *testing.T) {
	for p := abi.RegisteredSealProof(0); p < 20; p++ {
		info, ok := abi.SealProofInfos[p]
		if !ok {
			t.Fatalf("go-state-types does not know seal proof %d", p)
		}
		size, err := SealProofSectorSize(p)
		if err != nil || size != info.SectorSize {
			t.Errorf("SealProofSectorSize(%d) = %v, %v; want %v", p, size, err, info.SectorSize)
		}
		win, err := WinningPoStProof(p)
		if err != nil || win != info.WinningPoStProof {
			t.Errorf("WinningPoStProof(%d) = %d, %v; want %d", p, win, err, info.WinningPoStProof)
		}
		wantWindow, _ := p.RegisteredWindowPoStProofByNetworkVersion(network.Version21)
		if window, err := WindowPoStProof(p); err != nil || window != wantWindow {
			t.Errorf("WindowPoStProof(%d) = %d, %v; want %d", p, window, err, wantWindow)
		}
		for _, post := range []abi.RegisteredPoStProof{win, wantWindow, info.WindowPoStProof} {
			if s, err := PoStProofSectorSize(post); err != nil || s != info.SectorSize {
				t.Errorf("PoStProofSectorSize(%d) = %v, %v; want %v", post, s, err, info.SectorSize)
			}
			back, err := SealProofForPoSt(post)
			if err != nil || abi.SealProofInfos[back].SectorSize != info.SectorSize || back < 5 || back > 9 {
				t.Errorf("SealProofForPoSt(%d) = %d, %v; want the V1_1 type of %v", post, back, err, info.SectorSize)
			}
		}
		if !IsWinningPoStProof(win) || IsWindowPoStProof(win) || !IsWindowPoStProof(wantWindow) || IsWinningPoStProof(wantWindow) {
			t.Errorf("kind of PoSt types %d, %d", win, wantWindow)
		}
		if p < 15 {
			want, _ := p.PoRepID()
			if got := porepID(p); got != want {
				t.Errorf("porepID(%d) = %x, want %x", p, got, want)
			}
		}
	}
	if _, err := SealProofSectorSize(20); err == nil {
		t.Error("seal proof 20 accepted")
	}
	if _, err := SealProofSectorSize(-1); err == nil {
		t.Error("seal proof -1 accepted")
	}
	if _, err := PoStProofSectorSize(15); err == nil {
		t.Error("PoSt proof 15 accepted")
	}
}

func TestProofNames(t *testing.T) {
	// Examples from PROTOCOLS §5.
	sealNames := map[abi.RegisteredSealProof]string{
		0:  "StackedDrg2KiBV1",
		5:  "StackedDrg2KiBV1_1",
		8:  "StackedDrg32GiBV1_1",
		11: "StackedDrg8MiBV1_1_Feat_SyntheticPoRep",
		17: "StackedDrg512MiBV1_2_Feat_NonInteractivePoRep",
		19: "StackedDrg64GiBV1_2_Feat_NonInteractivePoRep",
	}
	for p, want := range sealNames {
		if got, err := SealProofName(p); err != nil || got != want {
			t.Errorf("SealProofName(%d) = %q, %v; want %q", p, got, err, want)
		}
	}
	postNames := map[abi.RegisteredPoStProof]string{
		0:  "StackedDrgWinning2KiBV1",
		4:  "StackedDrgWinning64GiBV1",
		6:  "StackedDrgWindow8MiBV1",
		10: "StackedDrgWindow2KiBV1_2",
		13: "StackedDrgWindow32GiBV1_2",
	}
	for p, want := range postNames {
		if got, err := PoStProofName(p); err != nil || got != want {
			t.Errorf("PoStProofName(%d) = %q, %v; want %q", p, got, err, want)
		}
	}

	seen := map[string]bool{}
	for p := abi.RegisteredSealProof(0); p < 20; p++ {
		name, err := SealProofName(p)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParseSealProofName(name); err != nil || back != p {
			t.Errorf("ParseSealProofName(%q) = %d, %v; want %d", name, back, err, p)
		}
		seen[name] = true
	}
	for p := abi.RegisteredPoStProof(0); p < 15; p++ {
		name, err := PoStProofName(p)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParsePoStProofName(name); err != nil || back != p {
			t.Errorf("ParsePoStProofName(%q) = %d, %v; want %d", name, back, err, p)
		}
		seen[name] = true
	}
	if len(seen) != 35 {
		t.Errorf("%d distinct names for 35 proof types", len(seen))
	}
	for _, bad := range []string{"", "StackedDrg2KiB", "StackedDrg2KiBV1_2", "StackedDrgWindow2KiBV1_1", "StackedDrg4KiBV1", "Unknown RegisteredPoStProof 13"} {
		if _, err := ParseSealProofName(bad); err == nil {
			t.Errorf("ParseSealProofName(%q) accepted", bad)
		}
		if _, err := ParsePoStProofName(bad); err == nil {
			t.Errorf("ParsePoStProofName(%q) accepted", bad)
		}
	}
	if _, err := SealProofName(20); err == nil {
		t.Error("SealProofName(20) accepted")
	}
}

func TestProverID(t *testing.T) {
	got := ProverID(1000)
	want := [32]byte{232, 7}
	if got != want {
		t.Fatalf("ProverID(1000) = %v, want %v", got, want)
	}
	for _, m := range []abi.ActorID{0, 1, 127, 128, 1000, 1 << 40} {
		ref, err := abi.MakeProverID(m)
		if err != nil {
			t.Fatal(err)
		}
		if ProverID(m) != [32]byte(ref) {
			t.Errorf("ProverID(%d) = %x, go-state-types says %x", m, ProverID(m), ref)
		}
	}
}

// replicaID must be Filecoin's, so a devproof sector's replica id is the
// one real proofs would derive.
func TestReplicaIDMatchesFilecoin(t *testing.T) {
	ticket, commD := bytes32("t"), bytes32("d")
	p := abi.RegisteredSealProof_StackedDrg32GiBV1_1
	want, err := p.ReplicaId(1000, 42, ticket, commD)
	if err != nil {
		t.Fatal(err)
	}
	if got := replicaID(p, 1000, 42, node(ticket), node(commD)); got != want {
		t.Fatalf("replicaID = %x, want %x", got, want)
	}
}
