package rpc_test

import (
	"encoding/json"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/rpc"
)

// The examples of PROTOCOLS-damocles.md §2.5, as the Rust worker sends and
// reads them.
func TestSealerWireShapes(t *testing.T) {
	got, _ := json.Marshal(rpc.AllocatedSector{ID: abi.SectorID{Miner: 1000, Number: 42}, ProofType: abi.RegisteredSealProof_StackedDrg32GiBV1_1})
	if string(got) != `{"ID":{"Miner":1000,"Number":42},"ProofType":8}` {
		t.Errorf("AllocatedSector = %s", got)
	}
	got, _ = json.Marshal(rpc.SubmitResp{Res: rpc.SubmitAccepted})
	if string(got) != `{"Res":1,"Desc":null}` {
		t.Errorf("SubmitResp = %s", got)
	}
	got, _ = json.Marshal(rpc.SectorStateResp{ID: abi.SectorID{Miner: 1, Number: 2}})
	if string(got) != `{"Id":{"Miner":1,"Number":2},"Finalized":false,"AbortReason":""}` {
		t.Errorf("SectorStateResp = %s", got)
	}

	params := `[{"ID":{"Miner":1000,"Number":42},"ProofType":8},{"CommR":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32],"CommD":[160,161,162,163,164,165,166,167,168,169,170,171,172,173,174,175,176,177,178,179,180,181,182,183,184,185,186,187,188,189,190,191],"Ticket":{"Ticket":"EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8=","Epoch":2860000}},false]`
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(params), &raw); err != nil || len(raw) != 3 {
		t.Fatal(err)
	}
	var sector rpc.AllocatedSector
	var info rpc.PreCommitOnChainInfo
	if err := json.Unmarshal(raw[0], &sector); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw[1], &info); err != nil {
		t.Fatal(err)
	}
	if sector.ID.Number != 42 || info.CommR[0] != 1 || info.CommR[31] != 32 || info.CommD[0] != 160 ||
		len(info.Ticket.Ticket) != 32 || info.Ticket.Ticket[0] != 0x10 || info.Ticket.Epoch != 2860000 {
		t.Errorf("decoded %+v %+v", sector, info)
	}
	back, _ := json.Marshal(info)
	var again map[string]json.RawMessage
	_ = json.Unmarshal(back, &again)
	if string(again["CommR"]) != "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32]" {
		t.Errorf("CommR encodes as %s, want an array of 32 ints", again["CommR"])
	}
}
