package commit

import (
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store"
)

// kind is a kind of commitment message.
type kind int

const (
	preCommit kind = iota
	proveCommit
)

func (k kind) String() string {
	if k == preCommit {
		return "pre-commit"
	}
	return "prove-commit"
}

// policyName is the kind's section under [Miners.Commitment].
func (k kind) policyName() string {
	if k == preCommit {
		return "Pre"
	}
	return "Prove"
}

func (k kind) policy(mi *minerCfg) config.CommitPolicy {
	if k == preCommit {
		return mi.cfg.Commitment.Pre
	}
	return mi.cfg.Commitment.Prove
}

// message is the sector's message of kind k, nil while nothing of that
// kind is recorded.
func (k kind) message(s *store.Sector) *store.SectorMessage {
	switch {
	case k == preCommit && s.PreCommit != nil:
		return &s.PreCommit.Message
	case k == proveCommit && s.Commit != nil:
		return &s.Commit.Message
	}
	return nil
}

// state is where the message stands, in the sealer API's numbers.
func state(msg *store.SectorMessage) rpc.OnChainState {
	return rpc.OnChainState(msg.State)
}

// inFlight tells whether a message was sent and has not failed: a reset
// must not drop it, or it would be sent twice.
func inFlight(msg *store.SectorMessage) bool {
	st := state(msg)
	return st == rpc.OnChainPacked || st == rpc.OnChainLanded
}
