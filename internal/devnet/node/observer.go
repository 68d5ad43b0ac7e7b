package node

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-jsonrpc"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/netaddr"
)

// ObserverNamespace is the JSON-RPC namespace of the observer API, served
// next to Filecoin at chain.Path: "Devnet.Stats", "Devnet.Records", ...
const ObserverNamespace = "Devnet"

// ObserverAPI is what the devnet tells tests and the demo about the system
// it judges: per miner, its sectors' health, every WindowPoSt verdict and
// every partition it found unproven at a deadline's close. A Lotus node has
// no such namespace; only the devnet serves it.
type ObserverAPI interface {
	// Stats returns one miner's record.
	Stats(ctx context.Context, maddr address.Address) (devnet.MinerStats, error)
	// Records returns every miner's record and the chain-wide list of
	// missed partitions.
	Records(ctx context.Context) (devnet.Records, error)
	// Miners lists the miner actors' ID addresses in id order.
	Miners(ctx context.Context) ([]address.Address, error)
	// MineTo mines epochs as fast as it can until the head is at epoch
	// (at most MineToMaxEpochs ahead) and returns the head. Tests and the
	// demo skip stretches where nothing is due with it; the block clock
	// keeps ticking beside it.
	MineTo(ctx context.Context, epoch abi.ChainEpoch) (abi.ChainEpoch, error)
}

// MineToMaxEpochs bounds one MineTo call: ten proving periods.
const MineToMaxEpochs = 10 * chain.WPoStProvingPeriod

// ObserverStruct is the observer's typed client and, on the server, its
// permission-checking proxy, as chain.APIStruct is for the Filecoin API.
type ObserverStruct struct {
	Internal struct {
		Stats   func(ctx context.Context, maddr address.Address) (devnet.MinerStats, error) `perm:"read"`
		Records func(ctx context.Context) (devnet.Records, error)                           `perm:"read"`
		Miners  func(ctx context.Context) ([]address.Address, error)                        `perm:"read"`
		MineTo  func(ctx context.Context, epoch abi.ChainEpoch) (abi.ChainEpoch, error)     `perm:"admin"`
	}
}

// ObserverStruct's methods only forward to Internal.
var _ ObserverAPI = (*ObserverStruct)(nil)

func (s *ObserverStruct) Stats(ctx context.Context, maddr address.Address) (devnet.MinerStats, error) {
	return s.Internal.Stats(ctx, maddr)
}

func (s *ObserverStruct) Records(ctx context.Context) (devnet.Records, error) {
	return s.Internal.Records(ctx)
}

func (s *ObserverStruct) Miners(ctx context.Context) ([]address.Address, error) {
	return s.Internal.Miners(ctx)
}

func (s *ObserverStruct) MineTo(ctx context.Context, epoch abi.ChainEpoch) (abi.ChainEpoch, error) {
	return s.Internal.MineTo(ctx, epoch)
}

// Observer serves ObserverAPI from a devnet chain.
type Observer struct {
	chain *devnet.Chain
}

var _ ObserverAPI = (*Observer)(nil)

// NewObserver serves c's records.
func NewObserver(c *devnet.Chain) *Observer { return &Observer{chain: c} }

func (o *Observer) Stats(_ context.Context, maddr address.Address) (devnet.MinerStats, error) {
	return o.chain.Stats(maddr)
}

func (o *Observer) Records(context.Context) (devnet.Records, error) {
	return o.chain.Records(), nil
}

func (o *Observer) Miners(context.Context) ([]address.Address, error) {
	return o.chain.Miners(), nil
}

func (o *Observer) MineTo(ctx context.Context, epoch abi.ChainEpoch) (abi.ChainEpoch, error) {
	head := o.chain.Head().Height
	if epoch-head > MineToMaxEpochs {
		return head, fmt.Errorf("mine to %d: that is %d epochs ahead of the head %d, more than %d", epoch, epoch-head, head, MineToMaxEpochs)
	}
	for head < epoch {
		if err := ctx.Err(); err != nil {
			return head, err
		}
		ts, err := o.chain.AdvanceEpoch(time.Now())
		if err != nil {
			return head, fmt.Errorf("mine epoch %d: %w", head+1, err)
		}
		head = ts.Height
	}
	return head, nil
}

// NewObserverClient connects to a devnet's observer API. addr is any
// notation netaddr.Parse reads (the devnet's api file, host:port, a URL);
// the client uses HTTP unless the address names ws or wss. token may be
// empty for the methods that only read; MineTo needs the admin token. Close it with the returned closer.
func NewObserverClient(ctx context.Context, addr, token string) (*ObserverStruct, jsonrpc.ClientCloser, error) {
	ep, err := netaddr.Parse(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("devnet address: %w", err)
	}
	transport := "http"
	if ep.Scheme == "ws" || ep.Scheme == "wss" {
		transport = "ws"
	}
	url := ep.URL(transport, chain.Path)
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	var api ObserverStruct
	closer, err := jsonrpc.NewMergeClient(ctx, url, ObserverNamespace, []any{&api.Internal}, header)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the devnet at %s (from address %q): %w", url, addr, err)
	}
	return &api, closer, nil
}
