package extproc

import (
	"maps"
	"slices"
	"time"

	"github.com/damocles-go/damocles/internal/config"
)

// ChildrenFromExtProver turns the [[WdPost]] or [[WinPost]] blocks of
// ext-prover.cfg into children of stage, by damocles's rules: a block
// without Bin runs selfBin with the arguments "processor <stage>" (its Args
// are ignored); a block with Bin runs exactly Bin and Args, the stage not
// appended; zero Concurrent and Weight mean 1, zero ReadyTimeoutSecs 5s.
func ChildrenFromExtProver(stage string, entries []config.ExtProcessor, selfBin string) []ChildConfig {
	children := make([]ChildConfig, 0, len(entries))
	for _, e := range entries {
		c := ChildConfig{
			Bin:          e.Bin,
			Args:         slices.Clone(e.Args),
			Envs:         maps.Clone(e.Envs),
			Concurrent:   max(int(e.Concurrent), 1),
			Weight:       max(int(e.Weight), 1),
			ReadyTimeout: time.Duration(e.ReadyTimeoutSecs) * time.Second,
		}
		if c.Bin == "" {
			c.Bin, c.Args = selfBin, []string{"processor", stage}
		}
		if c.ReadyTimeout == 0 {
			c.ReadyTimeout = ReadyTimeoutDefault
		}
		children = append(children, c)
	}
	return children
}
