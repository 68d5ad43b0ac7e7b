package worker

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/proofs"
)

// The pc2 stage runs in a real damocles-worker processor child, built here
// from ../../cmd/damocles-worker; pc1, c1 and c2 stay in-process.
func TestThreadExternalPC2(t *testing.T) {
	bin := workerBinary(t)

	local := &countingStages{Stages: EngineStages{Engine: &proofs.DevEngine{}}}
	procs := &config.Processors{
		PC2:        []config.Processor{{Bin: bin, StableWait: config.HumanDuration(30 * time.Second)}},
		Limitation: config.Limitation{Concurrent: map[string]int{"pc2": 1}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stages, err := OpenSealingStages(ctx, procs, local.Stages.(EngineStages).Engine, "unused-self-bin")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stages.Close(); err != nil {
			t.Logf("close processors: %v", err)
		}
	}()
	// Route the in-process stages through the counter to see pc2 leave.
	limited := stages.Stages.(LimitedStages)
	ps := limited.Stages.(ProcessorStages)
	ps.Local = local
	limited.Stages = ps

	r := newRig(t, 1)
	cfg := r.cfg
	cfg.Stages = limited
	r.start(t, cfg)
	waitFor(t, "sector 1 finalized", r.finished(1))
	if got := r.fake.transitions(1); !slices.Equal(got, sealerSteps) {
		t.Errorf("reported states:\n got %v\nwant %v", got, sealerSteps)
	}
	if n := local.pc2.Load(); n != 0 {
		t.Errorf("pc2 ran in-process %d times; it must run in the processor", n)
	}
	r.checkPersisted(t, 1)
}

// countingStages counts in-process PC2 runs.
type countingStages struct {
	Stages
	pc2 atomic.Int32
}

func (c *countingStages) PC2(ctx context.Context, pc1 proofs.PC1Out, cacheDir, sealedPath string) (cid.Cid, cid.Cid, error) {
	c.pc2.Add(1)
	return c.Stages.PC2(ctx, pc1, cacheDir, sealedPath)
}

func TestProcessorChildren(t *testing.T) {
	two := 2
	got := processorChildren("pc2", []config.Processor{
		{},
		{Bin: "/opt/pc2", Args: []string{"--gpu"}, Concurrent: &two, Weight: 3, Cgroup: config.Cgroup{Cpuset: "0-3"}},
	}, "/usr/bin/damocles-worker")
	if c := got[0]; c.Bin != "/usr/bin/damocles-worker" || !slices.Equal(c.Args, []string{"processor", "pc2"}) || c.Weight != 1 || c.Concurrent < 1<<10 {
		t.Errorf("default child: %+v", c)
	}
	if c := got[1]; c.Bin != "/opt/pc2" || !slices.Equal(c.Args, []string{"--gpu"}) || c.Concurrent != 2 || c.Weight != 3 || c.Cpuset != "0-3" {
		t.Errorf("custom child: %+v", c)
	}
}
