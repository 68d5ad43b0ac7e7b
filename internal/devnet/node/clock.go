package node

import (
	"context"
	"fmt"
	"time"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
)

// Clock mines the chain's epochs: one every BlockTime.
type Clock struct {
	// Chain is the chain to advance.
	Chain *devnet.Chain
	// BlockTime is the time between epochs; it must be positive.
	BlockTime time.Duration

	// ticks replaces the ticker in tests, which drive time themselves.
	ticks <-chan time.Time
}

// Run mines an epoch at every tick until ctx ends, then returns nil. A
// time.Ticker drops the ticks a slow epoch made late, so a late tick mines
// one epoch, never a burst: the chain falls behind wall-clock time rather
// than rushing. Each epoch is logged at debug level, every deadline's worth
// (60 epochs) at info. An epoch that cannot be persisted stops the clock
// with an error: the chain's state on disk would no longer follow it.
func (c *Clock) Run(ctx context.Context) error {
	ticks := c.ticks
	if ticks == nil {
		if c.BlockTime <= 0 {
			return fmt.Errorf("block time %s: it must be positive", c.BlockTime)
		}
		t := time.NewTicker(c.BlockTime)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
		ts, err := c.Chain.AdvanceEpoch(time.Now())
		if err != nil {
			return fmt.Errorf("mine epoch %d: %w", ts.Height, err)
		}
		if ts.Height%chain.WPoStChallengeWindow == 0 {
			log.Infow("epoch mined", "height", ts.Height, "tipset", ts.Key)
		} else {
			log.Debugw("epoch mined", "height", ts.Height, "tipset", ts.Key)
		}
	}
}
