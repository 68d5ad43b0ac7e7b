package rpc

import (
	"encoding/json"
	"testing"
)

// The listing strips each job's input and output as damocles does
// (PROTOCOLS-damocles.md §3.1), keeping every other key.
func TestWdPoStJobBriefJSON(t *testing.T) {
	b := WdPoStJobBrief{
		WdPoStJob: WdPoStJob{
			Id: "5Hr2LDmpVEb", State: WdPoStJobFinished, DeadlineIdx: 3, Partitions: []uint64{0, 1},
			Input:  WdPoStInput{MinerId: 1000, ProofType: "StackedDrgWindow32GiBV1_2", Seed: [32]byte{1}, Sectors: []WdPoStSectorInfo{{SectorId: 42}}},
			Output: &WindowPoStOutput{Proofs: [][]byte{{1}}, Faults: []uint64{}},
			TryNum: 1, WorkerName: "worker-1", StartedAt: 1700000000, HeartbeatAt: 1700000030, FinishedAt: 1700000040,
			CreatedAt: 1699999990, UpdatedAt: 1700000040,
		},
		Sectors: 2349,
	}
	got, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Id":"5Hr2LDmpVEb","State":"finished","DeadlineIdx":3,"Partitions":[0,1],"Input":{"Sectors":null,"MinerId":1000,"ProofType":"","Seed":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},"TryNum":1,"ErrorReason":"","WorkerName":"worker-1","StartedAt":1700000000,"HeartbeatAt":1700000030,"FinishedAt":1700000040,"CreatedAt":1699999990,"UpdatedAt":1700000040,"Sectors":2349,"Faults":0,"Output":{"proofs":null,"faults":null}}`
	if string(got) != want {
		t.Fatalf("brief JSON\n got %s\nwant %s", got, want)
	}
	var back WdPoStJobBrief
	if err := json.Unmarshal(got, &back); err != nil || back.Id != b.Id || back.Input.MinerId != 1000 || back.Sectors != 2349 {
		t.Fatalf("decoded back: %+v, %v", back, err)
	}
	if b.DisplayState() != "Succeed" {
		t.Fatalf("DisplayState = %s", b.DisplayState())
	}
}
