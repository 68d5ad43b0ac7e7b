package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/proofs"
)

const size2KiB abi.SectorSize = 2 << 10

// recorder is a Progress that writes down what it hears.
type recorder struct {
	mu     sync.Mutex
	events []string
	steps  map[string]int
	stage  string
}

func (r *recorder) StageStarted(stage string, steps int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "start "+stage)
	r.stage = stage
	if r.steps == nil {
		r.steps = map[string]int{}
	}
	r.steps[stage] = 0
	if steps > 0 {
		r.steps[stage+" planned"] = steps
	}
}

func (r *recorder) StepDone() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps[r.stage]++
}

func (r *recorder) StageFinished(res StageResult, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := "finish " + res.Name
	if err != nil {
		e += " error"
	}
	r.events = append(r.events, e)
}

func (r *recorder) finished() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if name, ok := strings.CutPrefix(e, "finish "); ok {
			out = append(out, name)
		}
	}
	return out
}

func TestSeal(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	eng := &proofs.DevEngine{}
	res, err := Seal(context.Background(), eng, SealOptions{SectorSize: size2KiB, Dir: dir, Sector: 7}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified {
		t.Error("the PoRep proof did not verify")
	}
	if res.SectorSize != size2KiB || res.SectorSizeName != "2KiB" || res.ProofType != "StackedDrg2KiBV1_1" {
		t.Errorf("size %d %q, proof type %q", res.SectorSize, res.SectorSizeName, res.ProofType)
	}
	if res.Miner != MinerDefault || res.Sector != 7 || res.Dir != dir || res.DirRemoved {
		t.Errorf("miner %d sector %d dir %q removed %v", res.Miner, res.Sector, res.Dir, res.DirRemoved)
	}

	var names []string
	var stageMs float64
	for _, s := range res.Stages {
		names = append(names, s.Name)
		stageMs += s.Duration.Ms
		if s.Duration.Ms < 0 || s.Duration.Text == "" {
			t.Errorf("stage %s: duration %+v", s.Name, s.Duration)
		}
	}
	if !slices.Equal(names, sealStages) {
		t.Errorf("stages %v, want %v", names, sealStages)
	}
	if got := rec.finished(); !slices.Equal(got, sealStages) {
		t.Errorf("progress heard %v, want %v", got, sealStages)
	}
	if res.Total.Ms < stageMs*0.99 {
		t.Errorf("total %.3fms is less than its stages' %.3fms", res.Total.Ms, stageMs)
	}

	stage := func(name string) StageResult {
		i := slices.IndexFunc(res.Stages, func(s StageResult) bool { return s.Name == name })
		return res.Stages[i]
	}
	// Zeros may be stored compressed, the replica is not: PC2 writes at
	// least the sector's size.
	if w := stage(StageStaging).BytesWritten; w > int64(size2KiB) {
		t.Errorf("staging wrote %d bytes of a %d-byte sector", w, size2KiB)
	}
	if w := stage(StagePC2).BytesWritten; w < int64(size2KiB) {
		t.Errorf("PC2 wrote %d bytes, less than the replica", w)
	}
	if w := stage(StagePC1).BytesWritten; w < int64(size2KiB) {
		t.Errorf("PC1 wrote %d bytes, less than one layer", w)
	}
	if f := stage(StageFinalize); f.BytesWritten != 0 || f.BytesRemoved == 0 {
		t.Errorf("finalize wrote %d and removed %d bytes", f.BytesWritten, f.BytesRemoved)
	}
	if res.BytesWritten < res.PeakBytes || res.PeakBytes <= res.FinalizedBytes || res.FinalizedBytes < int64(size2KiB) {
		t.Errorf("written %d, peak %d, finalized %d", res.BytesWritten, res.PeakBytes, res.FinalizedBytes)
	}

	wantCommD, err := eng.GenerateUnsealedCID(abi.RegisteredSealProof_StackedDrg2KiBV1_1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.CommD != wantCommD.String() {
		t.Errorf("comm_d %s, want the CC sector's %s", res.CommD, wantCommD)
	}
	if _, err := cid.Parse(res.CommR); err != nil {
		t.Errorf("comm_r %q: %v", res.CommR, err)
	}
	if res.ProofBytes == 0 {
		t.Error("no proof bytes")
	}
	if res.Machine.CPUs == 0 || res.Machine.OS != runtime.GOOS {
		t.Errorf("machine %+v", res.Machine)
	}

	// A given Dir keeps the finalized sector, and only it.
	id := abi.SectorID{Miner: MinerDefault, Number: 7}
	if _, err := os.Stat(proofs.SealedPath(dir, id)); err != nil {
		t.Errorf("replica: %v", err)
	}
	if _, err := os.Stat(pathsOf(dir, id).staged); !os.IsNotExist(err) {
		t.Errorf("staged file still there after finalize: %v", err)
	}

	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"verified":true`, `"stages":[{"name":"staging"`, `"comm_r":"`, `"total":{"ms":`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, data)
		}
	}
}

func TestSealTemporaryDirIsRemoved(t *testing.T) {
	res, err := Seal(context.Background(), &proofs.DevEngine{}, SealOptions{SectorSize: size2KiB}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || !res.DirRemoved {
		t.Errorf("verified %v, dir removed %v", res.Verified, res.DirRemoved)
	}
	if _, err := os.Stat(res.Dir); !os.IsNotExist(err) {
		t.Errorf("temporary dir %s: %v", res.Dir, err)
	}
}

func TestBadSectorSize(t *testing.T) {
	_, err := Seal(context.Background(), &proofs.DevEngine{}, SealOptions{SectorSize: 4 << 10, Dir: t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), "2KiB, 8MiB, 512MiB, 32GiB, 64GiB") {
		t.Errorf("seal of a 4KiB sector: %v", err)
	}
	_, err = WindowPoSt(context.Background(), &proofs.DevEngine{}, WdPoStOptions{SectorSize: 4 << 10, Sectors: 1, Dir: t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), "2KiB, 8MiB") {
		t.Errorf("window PoSt of 4KiB sectors: %v", err)
	}
	_, err = WindowPoSt(context.Background(), &proofs.DevEngine{}, WdPoStOptions{SectorSize: size2KiB, Sectors: 0, Dir: t.TempDir()}, nil)
	if err == nil {
		t.Error("window PoSt of 0 sectors did not fail")
	}
}

func wdpost(t *testing.T, dir string, sectors int, progress Progress) WdPoStResult {
	t.Helper()
	res, err := WindowPoSt(context.Background(), &proofs.DevEngine{}, WdPoStOptions{SectorSize: size2KiB, Sectors: sectors, Dir: dir}, progress)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified {
		t.Fatalf("window PoSt of %d sectors did not verify: %+v", sectors, res)
	}
	if res.Sectors != sectors {
		t.Errorf("proved %d sectors, want %d", res.Sectors, sectors)
	}
	return res
}

func TestWindowPoSt(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	res := wdpost(t, dir, 3, rec)
	if res.SectorsSealed != 3 || res.SectorsReused != 0 || len(res.Resealed) != 0 || res.Faulty != 0 {
		t.Errorf("sealed %d, reused %d, resealed %v, faulty %d", res.SectorsSealed, res.SectorsReused, res.Resealed, res.Faulty)
	}
	if res.ProofType != "StackedDrg2KiBV1_1" || res.PoStProofType != "StackedDrgWindow2KiBV1_2" {
		t.Errorf("proof types %q %q", res.ProofType, res.PoStProofType)
	}
	if res.Prove.Ms <= 0 || res.PerSector.Ms > res.Prove.Ms || res.Seal.Ms <= 0 || res.Total.Ms < res.Seal.Ms+res.Prove.Ms {
		t.Errorf("seal %v, prove %v, per sector %v, total %v", res.Seal, res.Prove, res.PerSector, res.Total)
	}
	if res.ProofBytes == 0 {
		t.Error("no proof bytes")
	}
	if runtime.GOOS == "linux" {
		// Every sector's challenges open its replica: at least one node
		// of each is read.
		if res.BytesRead == nil || *res.BytesRead < 3*32 || res.BytesReadSource != "/proc/self/io" {
			t.Errorf("bytes read %v from %q", res.BytesRead, res.BytesReadSource)
		}
	}
	want := []string{StageSealSectors, StageWindowPoSt, StageVerifyWindowPoSt}
	if got := rec.finished(); !slices.Equal(got, want) {
		t.Errorf("progress heard %v, want %v", got, want)
	}
	if planned, done := rec.steps[StageSealSectors+" planned"], rec.steps[StageSealSectors]; planned != 3*len(sealStages) || done != planned {
		t.Errorf("seal steps: %d planned, %d done", planned, done)
	}

	m, err := loadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []abi.SectorNumber
	for _, s := range m.Sectors {
		numbers = append(numbers, s.Number)
	}
	if !slices.Equal(numbers, []abi.SectorNumber{1, 2, 3}) {
		t.Errorf("manifest sectors %v", numbers)
	}
}

func TestWindowPoStReusesSectors(t *testing.T) {
	dir := t.TempDir()
	first := wdpost(t, dir, 3, nil)

	rec := &recorder{}
	second := wdpost(t, dir, 3, rec)
	if second.SectorsSealed != 0 || second.SectorsReused != 3 {
		t.Errorf("second run sealed %d, reused %d", second.SectorsSealed, second.SectorsReused)
	}
	if slices.Contains(rec.finished(), StageSealSectors) {
		t.Error("second run had a sealing stage")
	}
	// Fixed randomness: the same sectors give the same proof.
	if second.ProofBytes != first.ProofBytes {
		t.Errorf("proof of %d bytes, first run's was %d", second.ProofBytes, first.ProofBytes)
	}

	// A sector whose replica is gone is sealed again under its number.
	if err := os.Remove(proofs.SealedPath(dir, abi.SectorID{Miner: MinerDefault, Number: 2})); err != nil {
		t.Fatal(err)
	}
	third := wdpost(t, dir, 3, nil)
	if third.SectorsSealed != 1 || third.SectorsReused != 2 || !slices.Equal(third.Resealed, []abi.SectorNumber{2}) {
		t.Errorf("after deleting sector 2: sealed %d, reused %d, resealed %v", third.SectorsSealed, third.SectorsReused, third.Resealed)
	}

	// More sectors than the manifest holds: the missing ones get new
	// numbers.
	fourth := wdpost(t, dir, 4, nil)
	if fourth.SectorsSealed != 1 || fourth.SectorsReused != 3 || len(fourth.Resealed) != 0 {
		t.Errorf("four sectors: sealed %d, reused %d, resealed %v", fourth.SectorsSealed, fourth.SectorsReused, fourth.Resealed)
	}
	if _, err := os.Stat(proofs.SealedPath(dir, abi.SectorID{Miner: MinerDefault, Number: 4})); err != nil {
		t.Errorf("sector 4: %v", err)
	}
}

func TestWindowPoStReportsFaultySectors(t *testing.T) {
	dir := t.TempDir()
	wdpost(t, dir, 3, nil)
	// Same size, wrong content: the files pass the reuse check, the proof
	// finds them out.
	sealed := proofs.SealedPath(dir, abi.SectorID{Miner: MinerDefault, Number: 3})
	if err := os.WriteFile(sealed, make([]byte, size2KiB), 0o644); err != nil {
		t.Fatal(err)
	}
	res := wdpost(t, dir, 3, nil)
	if res.Faulty != 1 || !slices.Equal(res.FaultySectors, []abi.SectorNumber{3}) || res.SectorsReused != 3 {
		t.Errorf("faulty %d %v, reused %d", res.Faulty, res.FaultySectors, res.SectorsReused)
	}
}

func TestWindowPoStCorruptManifest(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := WindowPoSt(context.Background(), &proofs.DevEngine{}, WdPoStOptions{SectorSize: size2KiB, Sectors: 1, Dir: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("corrupt manifest: %v", err)
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name             string
		before, after    fileSizes
		written, removed int64
	}{
		{"nothing", fileSizes{}, fileSizes{}, 0, 0},
		{"created", fileSizes{}, fileSizes{"a": 10, "b": 5}, 15, 0},
		{"grown", fileSizes{"a": 10}, fileSizes{"a": 25}, 15, 0},
		{"rewritten in place", fileSizes{"a": 10}, fileSizes{"a": 10}, 0, 0},
		{"deleted", fileSizes{"a": 10, "b": 5}, fileSizes{"b": 5}, 0, 10},
		{"shrunk and created", fileSizes{"a": 10}, fileSizes{"a": 4, "c": 7}, 7, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r := diff(tc.before, tc.after)
			if w != tc.written || r != tc.removed {
				t.Errorf("written %d removed %d, want %d %d", w, r, tc.written, tc.removed)
			}
		})
	}
}

// A sparse file is not data: PC1 creates the replica as one, PC2 fills it.
func TestSnapshotLeavesHolesOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("st_blocks is read on Linux only")
	}
	dir := t.TempDir()
	p := pathsOf(dir, abi.SectorID{Miner: 1, Number: 1})
	if err := p.prepare(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p.sealed)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sizes, err := p.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if sizes[p.sealed] >= 8<<20 {
		t.Errorf("an 8MiB hole counts %d bytes", sizes[p.sealed])
	}
}

func TestSealProofForSize(t *testing.T) {
	for _, size := range SectorSizes() {
		p, err := SealProofForSize(size)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := proofs.SealProofSectorSize(p); got != size {
			t.Errorf("%s: proof type %d seals %s", size.ShortString(), p, got.ShortString())
		}
	}
	if got := SectorSizeNames(); got != "2KiB, 8MiB, 512MiB, 32GiB, 64GiB" {
		t.Errorf("names %q", got)
	}
}

func TestDiskEstimate(t *testing.T) {
	var prev int64
	for _, size := range SectorSizes() {
		p, _ := SealProofForSize(size)
		sealing, kept, err := DiskEstimate(p)
		if err != nil {
			t.Fatal(err)
		}
		if kept < int64(size) || sealing < 2*kept || sealing <= prev {
			t.Errorf("%s: sealing %d, kept %d", size.ShortString(), sealing, kept)
		}
		prev = sealing
	}
	// Filecoin's 32GiB sealing needs about half a TiB: 11 layers and the
	// trees. devproof's layout is the same.
	sealing, _, _ := DiskEstimate(abi.RegisteredSealProof_StackedDrg32GiBV1_1)
	if sealing < 400<<30 || sealing > 600<<30 {
		t.Errorf("32GiB sealing estimate %s", FormatBytes(sealing))
	}
}

// syncBuffer is a bytes.Buffer the progress bar's goroutine can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTerminalProgress(t *testing.T) {
	var out syncBuffer
	p := NewTerminalProgress(&out)
	p.StageStarted(StagePC1, 0)
	p.StageFinished(StageResult{Name: StagePC1, Duration: timing(1500000), BytesWritten: 3 << 20}, nil)
	p.StageStarted(StageSealSectors, 2)
	p.StepDone()
	p.StepDone()
	p.StageFinished(StageResult{Name: StageSealSectors, Duration: timing(2000000)}, nil)
	p.StageStarted(StageWindowPoSt, 0)
	p.StageFinished(StageResult{Name: StageWindowPoSt}, os.ErrNotExist)
	text := out.String()
	for _, want := range []string{"pc1", "1.5ms  wrote 3.0 MiB\n", "seal_sectors", "window_post        FAILED"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 8 << 20: "8.0 MiB", 517 << 30: "517.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
