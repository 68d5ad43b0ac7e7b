package demo

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/filecoin-project/go-address"
)

// persistStoreName names the demo's one persist store, in the manager's
// [[Common.PersistStores]] and the worker's [[attached]] alike.
const persistStoreName = "persist-1"

// managerSettings are what the demo sets in sector-manager.cfg over the
// defaults `daemon init` wrote.
type managerSettings struct {
	// Chain and Token reach the devnet.
	Chain, Token string
	// PollInterval is how often the manager looks at the chain and at
	// its commitment batches: the block time.
	PollInterval time.Duration
	// Persist is the persist store's directory.
	Persist string
	// Actor is the miner; Sectors caps its sector numbers (MaxNumber), so
	// that sealing stops after sectors 1..Sectors.
	Actor   uint64
	Sectors int
	// Sender sends every message: the devnet wallet, the miner's owner
	// and worker.
	Sender address.Address
	// BatchThreshold sectors make a PreCommit or ProveCommit message at
	// once; a sector waits BatchMaxWait at most for its batch to fill.
	BatchThreshold int
	BatchMaxWait   time.Duration
}

// managerConfig returns sector-manager.cfg as `daemon init` wrote it
// (data) with the demo's settings: its keys of [Common.API] set under that
// table's header, and a [[Common.PersistStores]] and a [[Miners]] block
// appended, so the file keeps every other key and comment of the template.
func managerConfig(data []byte, s managerSettings) ([]byte, error) {
	const header = "[Common.API]\n"
	if !bytes.Contains(data, []byte(header)) {
		return nil, fmt.Errorf("no %q table: not a sector-manager.cfg written by `daemon init`", strings.TrimSpace(header))
	}
	api := fmt.Sprintf("Chain = %q\nToken = %q\nChainEventInterval = %q\n", s.Chain, s.Token, s.PollInterval.String())
	data = bytes.Replace(data, []byte(header), []byte(header+api), 1)

	var b bytes.Buffer
	b.Write(data)
	fmt.Fprintf(&b, `
# Written by damocles-devnet demo.
[[Common.PersistStores]]
Name = %q
Path = %q

[[Miners]]
Actor = %d

[Miners.Sector]
InitNumber = 0
MaxNumber = %d
Enabled = true

[Miners.Commitment]
Confidence = 1
`, persistStoreName, s.Persist, s.Actor, s.Sectors)
	for _, kind := range []string{"Pre", "Prove"} {
		fmt.Fprintf(&b, `
[Miners.Commitment.%s]
Sender = %q

[Miners.Commitment.%s.Batch]
Enabled = true
Threshold = %d
MaxWait = %q
CheckInterval = %q
`, kind, s.Sender, kind, s.BatchThreshold, s.BatchMaxWait.String(), s.PollInterval.String())
	}
	fmt.Fprintf(&b, `
[Miners.PoSt]
Sender = %q
Enabled = true
`, s.Sender)
	return b.Bytes(), nil
}

// workerSettings are what the demo's worker.toml says.
type workerSettings struct {
	// ManagerURL and Token reach the manager.
	ManagerURL, Token string
	// Actor is the only miner the threads seal for.
	Actor uint64
	// Threads are the sealing threads' locations, one thread each.
	Threads []string
	// Persist is the persist store's directory.
	Persist string
}

// workerConfig is the demo worker's TOML: fast polling, one sealer thread
// per location, the manager's persist store attached.
func workerConfig(s workerSettings) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Written by damocles-devnet demo.
[worker]
name = "demo-worker"
ping_interval = "1s"
rpc_server.host = "127.0.0.1"

[sector_manager]
rpc_client.addr = %q
rpc_client.headers = { Authorization = %q }

[sealing]
allowed_miners = [%d]
seal_interval = "200ms"
recover_interval = "1s"
rpc_polling_interval = "200ms"
`, s.ManagerURL, "Bearer "+s.Token, s.Actor)
	for _, loc := range s.Threads {
		fmt.Fprintf(&b, "\n[[sealing_thread]]\nlocation = %q\n", loc)
	}
	fmt.Fprintf(&b, "\n[[attached]]\nname = %q\nlocation = %q\n", persistStoreName, s.Persist)
	return b.Bytes()
}
