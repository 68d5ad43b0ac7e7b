package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/config"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/home"
	"github.com/damocles-go/damocles/internal/proofs"
	"github.com/damocles-go/damocles/internal/rpc"
)

// Defaults of Config, as damocles-devnet run's flags have them.
const (
	HomeDefault      = "~/.damocles-devnet"
	ListenDefault    = "127.0.0.1:1234"
	BlockTimeDefault = time.Second
)

// Config is what damocles-devnet run is told.
type Config struct {
	// Home holds the chain, the token secret and the api and token files;
	// a leading ~ is the user's home. A chain found there is continued.
	Home string
	// Listen is the API's host:port; port 0 picks a free one.
	Listen string
	// BlockTime is the time between epochs; it must be positive.
	BlockTime time.Duration
	// Seed, PreCommitChallengeDelay and PartitionSectors are the chain's
	// (devnet.Config); a continued chain refuses other values.
	Seed                    string
	PreCommitChallengeDelay abi.ChainEpoch
	PartitionSectors        uint64
	// Miners are pre-created (devnet.Chain.CreateMiner), owned by the
	// wallet's default address; those that exist already are kept.
	Miners []MinerSpec
}

// MinerSpec is a miner to pre-create.
type MinerSpec struct {
	ID   abi.ActorID
	Size abi.SectorSize
}

// ParseMinerSpec reads ID:SIZE, the --miner flag: the ID as t01000,
// f01000 or 1000; the size as 2KiB, 8MiB, 512MiB, 32GiB or 64GiB.
func ParseMinerSpec(s string) (MinerSpec, error) {
	id, size, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return MinerSpec{}, fmt.Errorf("miner %q: want ID:SIZE, e.g. t01000:2KiB", s)
	}
	var spec MinerSpec
	if n, err := strconv.ParseUint(id, 10, 64); err == nil {
		spec.ID = abi.ActorID(n)
	} else {
		a, err := address.NewFromString(id)
		if err != nil || a.Protocol() != address.ID {
			return MinerSpec{}, fmt.Errorf("miner %q: %q is not a miner ID (t01000, f01000 or 1000)", s, id)
		}
		n, _ := address.IDFromAddress(a)
		spec.ID = abi.ActorID(n)
	}
	bytes, err := config.ParseSectorSize(size)
	if err != nil {
		return MinerSpec{}, fmt.Errorf("miner %q: %w", s, err)
	}
	spec.Size = abi.SectorSize(bytes)
	return spec, nil
}

// Started is what a running devnet tells its operator.
type Started struct {
	// API is the multiaddr written to the api file. It names http, as
	// Lotus's does; chain.NewClient then speaks HTTP, which has no
	// ChainNotify, so a client that wants head changes streamed dials the
	// same host and port without /http (or as ws://).
	API string
	// Token is the admin token written to the token file.
	Token string
	// Wallet is the funded default address of the devnet's wallet.
	Wallet address.Address
	// Miners are the pre-created miners, in Config.Miners order.
	Miners []PreCreated
	// Chain and Node are the running chain and its Filecoin API, for a
	// caller in the same process (the demo reads them directly). They
	// are closed when Run returns.
	Chain *devnet.Chain
	Node  *FullNode
}

// PreCreated is a miner that exists because Config.Miners named it.
type PreCreated struct {
	Address address.Address
	Size    abi.SectorSize
}

// NewServer serves the Filecoin API of full and the Devnet observer of c at
// chain.Path, with tokens signed by secret. No network is trusted: a
// request without a token gets read permission only.
func NewServer(c *devnet.Chain, full *FullNode, secret []byte) (*rpc.Server, error) {
	return rpc.NewAPIServer(rpc.ServerConfig{Secret: secret, Path: chain.Path},
		rpc.API{Namespace: chain.Namespace, Impl: full, Proxy: &chain.APIStruct{}},
		rpc.API{Namespace: ObserverNamespace, Impl: NewObserver(c), Proxy: &ObserverStruct{}},
	)
}

// Run runs a devnet until ctx ends: it opens (or creates) the chain in the
// home, pre-creates the miners, writes the token and, once listening, the
// api file, calls started, then mines and serves. On return everything it
// started has stopped and the chain is persisted and closed.
func Run(ctx context.Context, cfg Config, started func(Started)) (err error) {
	if cfg.BlockTime <= 0 {
		return fmt.Errorf("block time %s: it must be positive (e.g. 1s, or 100ms for tests)", cfg.BlockTime)
	}
	if cfg.Home == "" {
		return errors.New("no devnet home: give the directory that holds the chain (--home)")
	}
	dir, err := home.Expand(cfg.Home)
	if err != nil {
		return fmt.Errorf("devnet home %q: %w", cfg.Home, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create devnet home: %w", err)
	}
	c, err := devnet.New(devnet.Config{
		Home:                    dir,
		Seed:                    cfg.Seed,
		PreCommitChallengeDelay: cfg.PreCommitChallengeDelay,
		PartitionSectors:        cfg.PartitionSectors,
		GenesisTime:             time.Now(),
		Verifier:                &proofs.DevEngine{},
	})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("persist the chain: %w", cerr))
		}
	}()

	info := Started{Wallet: c.DefaultAddress()}
	for _, m := range cfg.Miners {
		maddr, err := c.CreateMiner(m.ID, m.Size)
		if err != nil {
			want, _ := address.NewIDAddress(uint64(m.ID))
			return fmt.Errorf("pre-create miner %s: %w", want, err)
		}
		info.Miners = append(info.Miners, PreCreated{Address: maddr, Size: m.Size})
	}
	secret, err := LoadSecret(dir)
	if err != nil {
		return err
	}
	if info.Token, err = WriteToken(dir, secret); err != nil {
		return err
	}
	full := NewFullNode(c)
	full.SetBlockTime(cfg.BlockTime)
	defer full.Close()
	srv, err := NewServer(c, full, secret)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if info.API, err = WriteAPIFile(dir, ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	info.Chain, info.Node = c, full
	head := c.Head()
	log.Infow("devnet started", "home", dir, "api", info.API, "height", head.Height, "blockTime", cfg.BlockTime.String(),
		"wallet", info.Wallet, "precommitChallengeDelay", c.PreCommitChallengeDelay())
	if started != nil {
		started(info)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var clockErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		clock := &Clock{Chain: c, BlockTime: cfg.BlockTime}
		if clockErr = clock.Run(ctx); clockErr != nil {
			// The chain on disk no longer follows the one in memory:
			// stop serving it.
			cancel()
		}
	}()
	serveErr := srv.Serve(ctx, ln)
	cancel()
	wg.Wait()
	log.Infow("devnet stopped", "height", c.Head().Height)
	return errors.Join(serveErr, clockErr)
}
