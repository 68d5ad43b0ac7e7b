package node

import (
	"context"
	"testing"
	"time"
)

func TestStateGetNetworkParams(t *testing.T) {
	tn := newTestNode(t)
	for _, tc := range []struct {
		blockTime time.Duration
		want      uint64
	}{
		{100 * time.Millisecond, 1},
		{time.Second, 1},
		{30 * time.Second, 30},
	} {
		tn.node.SetBlockTime(tc.blockTime)
		p, err := tn.node.StateGetNetworkParams(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if p.BlockDelaySecs != tc.want || p.PreCommitChallengeDelay != 5 || p.NetworkName != NetworkName || len(p.SupportedProofTypes) == 0 {
			t.Errorf("block time %s: params %+v; want BlockDelaySecs %d and the chain's delay 5", tc.blockTime, p, tc.want)
		}
	}
}
