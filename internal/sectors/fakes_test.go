package sectors

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// engines are the databases the tests that depend on the engine run on.
var engines = []struct {
	name  string
	newDB func(t *testing.T) *store.DB
}{
	{"SQLite", storetest.NewSQLite},
	{"Postgres", storetest.NewPostgres},
	{"MySQL", storetest.NewMySQL},
}

// fakeChain stands in for the chain's allocated-sectors bitfield.
type fakeChain struct {
	mu        sync.Mutex
	allocated map[abi.SectorID]bool
	err       error
	calls     int
}

func newFakeChain(allocated ...abi.SectorID) *fakeChain {
	c := &fakeChain{allocated: map[abi.SectorID]bool{}}
	for _, id := range allocated {
		c.allocated[id] = true
	}
	return c
}

func (c *fakeChain) SectorAllocated(_ context.Context, actor abi.ActorID, num abi.SectorNumber) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.err != nil {
		return false, c.err
	}
	return c.allocated[abi.SectorID{Miner: actor, Number: num}], nil
}

// fakeMinerInfo stands in for the chain's miner info: each miner's seal
// proof.
type fakeMinerInfo map[abi.ActorID]abi.RegisteredSealProof

func (f fakeMinerInfo) SealProof(_ context.Context, actor abi.ActorID) (abi.RegisteredSealProof, error) {
	p, ok := f[actor]
	if !ok {
		return 0, fmt.Errorf("miner %d not found on the fake chain", actor)
	}
	return p, nil
}

// fakeSpace stands in for statfs: free bytes by store path.
type fakeSpace map[string]uint64

func (f fakeSpace) Available(path string) (uint64, error) {
	free, ok := f[path]
	if !ok {
		return 0, fmt.Errorf("statfs %s: no such file or directory", path)
	}
	return free, nil
}

func sid(miner, number uint64) abi.SectorID {
	return abi.SectorID{Miner: abi.ActorID(miner), Number: abi.SectorNumber(number)}
}
