package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	miner "github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/proofs"
)

// The devnet tests start the damocles-devnet binary and talk to it as a
// manager would: through chain.NewClient, raw JSON-RPC, and the Devnet
// observer namespace, by which they judge the system.

const (
	devnetSeed  = "e2e"
	devnetDelay = abi.ChainEpoch(5)
	// devnetSeal and devnetPoSt are the proof types of 2KiB miners.
	devnetSeal = abi.RegisteredSealProof_StackedDrg2KiBV1_1
	devnetPoSt = abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1
)

// devnetProc is a running damocles-devnet.
type devnetProc struct {
	proc *process
	home string
	// api is the multiaddr of the api file (…/http), url its http:// URL
	// and ws its ws:// URL, the transport ChainNotify needs.
	api, url, ws string
	token        string
	wallet       address.Address
}

// startDevnet runs `damocles-devnet run` on a free loopback port with the
// test seed and pre-commit challenge delay, and waits until it serves.
func startDevnet(t *testing.T, home string, blockTime time.Duration, extra ...string) *devnetProc {
	t.Helper()
	port := freePort(t)
	args := append([]string{"run", "--home", home, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--block-time", blockTime.String(), "--seed", devnetSeed,
		"--precommit-challenge-delay", fmt.Sprint(devnetDelay)}, extra...)
	d := &devnetProc{
		proc: start(t, "damocles-devnet", args...),
		home: home,
		url:  fmt.Sprintf("http://127.0.0.1:%d", port),
		ws:   fmt.Sprintf("ws://127.0.0.1:%d", port),
	}
	eventually(t, 20*time.Second, "the devnet to write its api file and serve /healthcheck", func() bool {
		select {
		case <-d.proc.done:
			t.Fatalf("devnet exited early: %v\n%s", d.proc.err, d.proc.Output())
		default:
		}
		if _, err := os.Stat(filepath.Join(home, "api")); err != nil {
			return false
		}
		resp, err := http.Get(d.url + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.Contains(d.proc.Output(), "Wallet: ")
	})
	for _, line := range strings.Split(d.proc.Output(), "\n") {
		if v, ok := strings.CutPrefix(line, "API: "); ok {
			d.api = v
		}
		if v, ok := strings.CutPrefix(line, "Token: "); ok {
			d.token = v
		}
		if v, ok := strings.CutPrefix(line, "Wallet: "); ok {
			w, err := address.NewFromString(v)
			if err != nil || !strings.HasPrefix(v, "t1") {
				t.Fatalf("devnet printed wallet %q (%v): want a t1 address", v, err)
			}
			d.wallet = w
		}
	}
	data, err := os.ReadFile(filepath.Join(home, "api"))
	if err != nil || strings.TrimSpace(string(data)) != d.api || d.api != fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/http", port) {
		t.Fatalf("api file %q (%v), printed API %q, port %d", data, err, d.api, port)
	}
	if d.token == "" || d.wallet.Protocol() != address.SECP256K1 {
		t.Fatalf("devnet printed token %q and wallet %q:\n%s", d.token, d.wallet, d.proc.Output())
	}
	return d
}

// client connects to the devnet's Filecoin API over websocket.
func (d *devnetProc) client(t *testing.T, token string) chain.API {
	t.Helper()
	api, closer, err := chain.NewClient(context.Background(), d.ws, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closer)
	return api
}

// stop sends SIGTERM and requires a clean exit.
func (d *devnetProc) stop(t *testing.T) {
	t.Helper()
	if err := d.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err, exited := d.proc.wait(10 * time.Second)
	if !exited {
		t.Fatal("devnet did not exit within 10s of the signal")
	}
	if err != nil {
		t.Fatalf("devnet exited with %v after the signal:\n%s", err, d.proc.Output())
	}
}

// devnetCall posts one JSON-RPC request to the devnet's /rpc/v1.
func devnetCall(t *testing.T, d *devnetProc, token, method string, params ...any) rpcReply {
	t.Helper()
	status, r := postRPC(t, d.url+chain.Path, token, method, params...)
	if r.Error == nil && r.Result == nil && status != http.StatusOK {
		t.Fatalf("%s: HTTP %d", method, status)
	}
	return r
}

// mustResult requires a successful reply and returns its raw result.
func mustResult(t *testing.T, method string, r rpcReply) json.RawMessage {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("%s: error %d %s", method, r.Error.Code, r.Error.Message)
	}
	return r.Result
}

// decodeStrict decodes a result into v, refusing keys v does not have: the
// devnet must send exactly the fields of the types a Lotus client uses.
func decodeStrict(t *testing.T, method string, raw json.RawMessage, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: decode %s into %T: %v", method, raw, v, err)
	}
}

// entropy is what actors mix into a miner's randomness: the CBOR of its
// address.
func entropy(t *testing.T, a address.Address) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := a.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeCBOR(t *testing.T, v cbg.CBORMarshaler) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := v.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sendAndWait pushes a message from the devnet wallet, waits for it to be
// executed and returns how it ended.
func sendAndWait(t *testing.T, ctx context.Context, api chain.API, from, to address.Address, method abi.MethodNum, params cbg.CBORMarshaler) *chain.MsgLookup {
	t.Helper()
	msg := &chain.Message{To: to, From: from, Value: big.Zero(), Method: method}
	if params != nil {
		msg.Params = encodeCBOR(t, params)
	}
	sm, err := api.MpoolPushMessage(ctx, msg, nil)
	if err != nil {
		t.Fatalf("push method %d to %s: %v", method, to, err)
	}
	c, err := sm.Cid()
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	l, err := api.StateWaitMsg(wctx, c, 1, chain.LookbackNoLimit, true)
	if err != nil {
		t.Fatalf("wait for message %s (method %d to %s): %v", c, method, to, err)
	}
	return l
}

// requireOK fails unless the message exited 0.
func requireOK(t *testing.T, what string, l *chain.MsgLookup) {
	t.Helper()
	if l.Receipt.ExitCode != exitcode.Ok {
		t.Fatalf("%s: message %s exited %d (%s) at height %d", what, l.Message, l.Receipt.ExitCode, l.Receipt.ExitCode, l.Height)
	}
}

// head is the chain's current height.
func head(t *testing.T, ctx context.Context, api chain.API) abi.ChainEpoch {
	t.Helper()
	ts, err := api.ChainHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ts.Height
}

// waitHeight waits until the head reaches h, logging progress every 30s so
// that a slow run is readable; it fails after timeout.
func waitHeight(t *testing.T, ctx context.Context, api chain.API, h abi.ChainEpoch, timeout time.Duration, why string) {
	t.Helper()
	began := time.Now()
	lastLog := began
	t.Logf("height %d: waiting for height %d (%s)", head(t, ctx, api), h, why)
	for {
		cur := head(t, ctx, api)
		if cur >= h {
			return
		}
		if time.Since(began) > timeout {
			t.Fatalf("timed out after %s at height %d waiting for height %d (%s)", timeout, cur, h, why)
		}
		if time.Since(lastLog) >= 30*time.Second {
			t.Logf("height %d: still waiting for height %d (%s)", cur, h, why)
			lastLog = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// devSealer seals and proves a miner's 2KiB CC sectors in the test
// process, with devproof and the chain's randomness, as a manager and its
// workers would.
type devSealer struct {
	engine *proofs.DevEngine
	root   string
	maddr  address.Address
	id     abi.ActorID
}

func newDevSealer(t *testing.T, maddr address.Address) *devSealer {
	t.Helper()
	id, err := address.IDFromAddress(maddr)
	if err != nil {
		t.Fatalf("miner address %s: %v", maddr, err)
	}
	return &devSealer{engine: &proofs.DevEngine{}, root: t.TempDir(), maddr: maddr, id: abi.ActorID(id)}
}

// devSector is a sealed sector of a devSealer.
type devSector struct {
	number        abi.SectorNumber
	sealRandEpoch abi.ChainEpoch
	ticket        abi.SealRandomness
	sealedCID     cid.Cid
	unsealedCID   cid.Cid
}

func (s *devSealer) sectorID(n abi.SectorNumber) abi.SectorID {
	return abi.SectorID{Miner: s.id, Number: n}
}

// seal runs PC1 and PC2 with the chain's ticket a few epochs before the
// head, as a manager draws it.
func (s *devSealer) seal(t *testing.T, ctx context.Context, api chain.API, n abi.SectorNumber) devSector {
	t.Helper()
	sec := devSector{number: n, sealRandEpoch: max(head(t, ctx, api)-3, 0)}
	ticket, err := api.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, sec.sealRandEpoch, entropy(t, s.maddr), chain.EmptyTSK)
	if err != nil {
		t.Fatalf("ticket of sector %d: %v", n, err)
	}
	sec.ticket = abi.SealRandomness(ticket)
	id := s.sectorID(n)
	cache, sealed := proofs.CacheDirPath(s.root, id), proofs.SealedPath(s.root, id)
	pc1, err := s.engine.SealPreCommitPhase1(ctx, devnetSeal, cache, stageCC(t, s.root, id), sealed, n, s.id, sec.ticket, nil)
	if err != nil {
		t.Fatalf("PC1 of sector %d: %v", n, err)
	}
	if sec.sealedCID, sec.unsealedCID, err = s.engine.SealPreCommitPhase2(ctx, pc1, cache, sealed); err != nil {
		t.Fatalf("PC2 of sector %d: %v", n, err)
	}
	return sec
}

// preCommitParams pre-commits sectors expiring in 540 days.
func preCommitParams(now abi.ChainEpoch, sectors ...devSector) *miner.PreCommitSectorBatchParams2 {
	p := &miner.PreCommitSectorBatchParams2{}
	for _, sec := range sectors {
		p.Sectors = append(p.Sectors, miner.SectorPreCommitInfo{
			SealProof: devnetSeal, SectorNumber: sec.number, SealedCID: sec.sealedCID,
			SealRandEpoch: sec.sealRandEpoch, Expiration: now + 540*builtin.EpochsInDay,
		})
	}
	return p
}

// interactiveSeed waits until the sector's seed epoch is on chain and
// draws the seed there.
func (s *devSealer) interactiveSeed(t *testing.T, ctx context.Context, api chain.API, n abi.SectorNumber) abi.InteractiveSealRandomness {
	t.Helper()
	pc, err := api.StateSectorPreCommitInfo(ctx, s.maddr, n, chain.EmptyTSK)
	if err != nil || pc == nil {
		t.Fatalf("pre-commit of sector %d: %+v, %v", n, pc, err)
	}
	seedEpoch := pc.PreCommitEpoch + devnetDelay
	waitHeight(t, ctx, api, seedEpoch, time.Minute, fmt.Sprintf("the interactive seed epoch of sector %d", n))
	seed, err := api.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_InteractiveSealChallengeSeed, seedEpoch, entropy(t, s.maddr), chain.EmptyTSK)
	if err != nil {
		t.Fatalf("seed of sector %d: %v", n, err)
	}
	return abi.InteractiveSealRandomness(seed)
}

// porep runs C1 and C2.
func (s *devSealer) porep(t *testing.T, ctx context.Context, sec devSector, seed abi.InteractiveSealRandomness) []byte {
	t.Helper()
	id := s.sectorID(sec.number)
	c1, err := s.engine.SealCommitPhase1(ctx, devnetSeal, sec.sealedCID, sec.unsealedCID, proofs.CacheDirPath(s.root, id),
		proofs.SealedPath(s.root, id), sec.number, s.id, sec.ticket, seed, nil)
	if err != nil {
		t.Fatalf("C1 of sector %d: %v", sec.number, err)
	}
	pr, err := s.engine.SealCommitPhase2(ctx, c1, sec.number, s.id)
	if err != nil {
		t.Fatalf("C2 of sector %d: %v", sec.number, err)
	}
	return pr
}

// activate seals, pre-commits and prove-commits sectors, and returns them.
func (s *devSealer) activate(t *testing.T, ctx context.Context, api chain.API, from address.Address, numbers ...abi.SectorNumber) []devSector {
	t.Helper()
	var sectors []devSector
	for _, n := range numbers {
		sectors = append(sectors, s.seal(t, ctx, api, n))
	}
	l := sendAndWait(t, ctx, api, from, s.maddr, builtin.MethodsMiner.PreCommitSectorBatch2, preCommitParams(head(t, ctx, api), sectors...))
	requireOK(t, "PreCommitSectorBatch2", l)
	t.Logf("height %d: sectors %v pre-committed at %d", head(t, ctx, api), numbers, l.Height)

	params := &miner.ProveCommitSectors3Params{RequireActivationSuccess: true}
	for _, sec := range sectors {
		params.SectorActivations = append(params.SectorActivations, miner.SectorActivationManifest{SectorNumber: sec.number})
		params.SectorProofs = append(params.SectorProofs, s.porep(t, ctx, sec, s.interactiveSeed(t, ctx, api, sec.number)))
	}
	l = sendAndWait(t, ctx, api, from, s.maddr, builtin.MethodsMiner.ProveCommitSectors3, params)
	requireOK(t, "ProveCommitSectors3", l)
	t.Logf("height %d: sectors %v prove-committed at %d", head(t, ctx, api), numbers, l.Height)
	return sectors
}

// windowPoSt builds the WindowPoSt of partitions of deadline di, open at
// the head, as a manager does: each partition's live sectors that are not
// faulty or are recovering, in partition order and number order; the
// challenge from the beacon at di.Challenge; the chain commitment at the
// head.
func (s *devSealer) windowPoSt(t *testing.T, ctx context.Context, api chain.API, di *dline.Info, partitions []uint64) *miner.SubmitWindowedPoStParams {
	t.Helper()
	all, err := api.StateMinerPartitions(ctx, s.maddr, di.Index, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	params := &miner.SubmitWindowedPoStParams{Deadline: di.Index}
	var private []proofs.PrivateSectorInfo
	for _, idx := range partitions {
		part := all[idx]
		toProve, err := bitfield.SubtractBitField(part.LiveSectors, part.FaultySectors)
		if err != nil {
			t.Fatal(err)
		}
		if toProve, err = bitfield.MergeBitFields(toProve, part.RecoveringSectors); err != nil {
			t.Fatal(err)
		}
		nums, err := toProve.All(miner.AddressedSectorsMax)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nums {
			info, err := api.StateSectorGetInfo(ctx, s.maddr, abi.SectorNumber(n), chain.EmptyTSK)
			if err != nil || info == nil {
				t.Fatalf("sector %d: %+v, %v", n, info, err)
			}
			id := s.sectorID(abi.SectorNumber(n))
			private = append(private, proofs.PrivateSectorInfo{
				SectorNumber: info.SectorNumber, SealProof: info.SealProof, SealedCID: info.SealedCID,
				CacheDir: proofs.CacheDirPath(s.root, id), SealedPath: proofs.SealedPath(s.root, id),
			})
		}
		params.Partitions = append(params.Partitions, miner.PoStPartition{Index: idx, Skipped: bitfield.New()})
	}
	rand, err := api.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_WindowedPoStChallengeSeed, di.Challenge, entropy(t, s.maddr), chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	proof, faulty, err := s.engine.GenerateWindowPoSt(ctx, s.id, devnetPoSt, private, abi.PoStRandomness(rand))
	if err != nil || len(faulty) != 0 {
		t.Fatalf("GenerateWindowPoSt of deadline %d: %v, faulty %v", di.Index, err, faulty)
	}
	params.Proofs = proof
	params.ChainCommitEpoch = head(t, ctx, api)
	if params.ChainCommitRand, err = api.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_PoStChainCommit, params.ChainCommitEpoch, nil, chain.EmptyTSK); err != nil {
		t.Fatal(err)
	}
	return params
}
