package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-jsonrpc"
	"github.com/filecoin-project/go-jsonrpc/auth"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/dline"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/ipfs/go-cid"
)

// This file holds the test fakes of the chain node, the one process
// boundary these tests cannot run for real yet (the devnet is not built):
//
//   - fakeLotus answers JSON-RPC with the JSON Lotus documents, byte for
//     byte, to prove that our client decodes what a Lotus node sends;
//   - fakeNode is a small in-memory chain behind a real go-jsonrpc server
//     (websocket and HTTP), with APIStruct as its permission proxy, as the
//     devnet will serve it.

// fakeLotus is an HTTP JSON-RPC endpoint that returns, for each method,
// the response JSON of testdata/lotus (or a literal), and records the
// params each method was called with.
type fakeLotus struct {
	responses map[string]json.RawMessage

	mu     sync.Mutex
	params map[string]json.RawMessage
}

func newFakeLotus(t *testing.T) *fakeLotus {
	f := &fakeLotus{responses: map[string]json.RawMessage{}, params: map[string]json.RawMessage{}}
	for method, file := range map[string]string{
		"ChainHead":                 "ChainHead.json",
		"ChainGetTipSetByHeight":    "ChainHead.json",
		"StateMinerInfo":            "StateMinerInfo.json",
		"StateGetNetworkParams":     "StateGetNetworkParams.json",
		"StateMinerProvingDeadline": "StateMinerProvingDeadline.json",
		"StateMinerDeadlines":       "StateMinerDeadlines.json",
		"StateMinerPartitions":      "StateMinerPartitions.json",
		"StateMinerSectors":         "StateMinerSectors.json",
		"StateSectorGetInfo":        "StateSectorGetInfo.json",
		"StateSectorPreCommitInfo":  "StateSectorPreCommitInfo.json",
		"StateWaitMsg":              "StateWaitMsg.json",
		"StateSearchMsg":            "StateSearchMsg.json",
		"MpoolPushMessage":          "MpoolPushMessage.json",
	} {
		f.responses[method] = lotusJSON(t, file)
	}
	// The documented responses that fit on one line.
	for method, literal := range map[string]string{
		"StateNetworkVersion":           `27`,
		"StateMinerSectorAllocated":     `true`,
		"StateGetRandomnessFromBeacon":  `"Bw=="`,
		"StateGetRandomnessFromTickets": `"Bw=="`,
		"StateLookupID":                 `"f01234"`,
		"StateAccountKey":               `"f01234"`,
		"WalletBalance":                 `"0"`,
		"WalletDefaultAddress":          `"f01234"`,
	} {
		f.responses[method] = json.RawMessage(literal)
	}
	return f
}

func (f *fakeLotus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	method, _ := strings.CutPrefix(req.Method, Namespace+".")
	f.mu.Lock()
	f.params[method] = req.Params
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	result, known := f.responses[method]
	if !known {
		// What go-jsonrpc answers, over HTTP, for a method returning a
		// channel (ChainNotify) or one it does not have.
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"method '%s' not supported in this mode (no out channel support)"}}`,
			req.ID, req.Method)
		return
	}
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
}

func (f *fakeLotus) paramsOf(method string) json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.params[method]
}

// fakeNode is an in-memory chain implementing API. Tipsets are made with
// addTipSet; ChainNotify hands each stream to the test through streams
// (and fails when noStream is set); MpoolPushMessage records messages and
// StateWaitMsg answers with receipt.
type fakeNode struct {
	mu       sync.Mutex
	tipsets  map[TipSetKey]*TipSet
	head     *TipSet
	noStream bool
	ids      map[address.Address]address.Address
	pushed   []*Message
	specs    []*MessageSendSpec
	receipt  MessageReceipt

	// streams receives the channel of each ChainNotify call.
	streams chan chan []*HeadChange
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		tipsets: map[TipSetKey]*TipSet{},
		ids:     map[address.Address]address.Address{},
		streams: make(chan chan []*HeadChange, 16),
	}
}

var fakeStateRoot = cid.MustParse("bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4")

// addTipSet makes a one-block tipset at height on top of parent (nil for
// a genesis); salt tells apart tipsets at the same height.
func (n *fakeNode) addTipSet(t *testing.T, parent *TipSet, height abi.ChainEpoch, salt string) *TipSet {
	t.Helper()
	blk := &BlockHeader{
		Miner:                 address.TestAddress,
		Ticket:                &Ticket{VRFProof: []byte(salt)},
		Height:                height,
		ParentWeight:          big.NewInt(int64(height)),
		ParentStateRoot:       fakeStateRoot,
		ParentMessageReceipts: fakeStateRoot,
		Messages:              fakeStateRoot,
		Timestamp:             uint64(height) * 30,
		ParentBaseFee:         big.NewInt(100),
	}
	if parent != nil {
		blk.Parents = parent.Cids
	}
	ts, err := NewTipSet([]*BlockHeader{blk})
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tipsets[ts.Key()] = ts
	return ts
}

// chainOf makes tipsets on top of parent at each of heights.
func (n *fakeNode) chainOf(t *testing.T, parent *TipSet, salt string, heights ...abi.ChainEpoch) []*TipSet {
	t.Helper()
	var out []*TipSet
	for _, h := range heights {
		parent = n.addTipSet(t, parent, h, fmt.Sprintf("%s-%d", salt, h))
		out = append(out, parent)
	}
	return out
}

func (n *fakeNode) setID(a, id address.Address) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ids[a] = id
}

func (n *fakeNode) setReceipt(r MessageReceipt) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.receipt = r
}

// pushedAt returns the i-th message pushed and its send spec.
func (n *fakeNode) pushedAt(i int) (*Message, *MessageSendSpec) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pushed[i], n.specs[i]
}

func (n *fakeNode) setNoStream(v bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.noStream = v
}

func (n *fakeNode) setHead(ts *TipSet) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.head = ts
}

func (n *fakeNode) ChainHead(context.Context) (*TipSet, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.head == nil {
		return nil, errors.New("fakeNode: no head yet")
	}
	return n.head, nil
}

func (n *fakeNode) ChainNotify(ctx context.Context) (<-chan []*HeadChange, error) {
	n.mu.Lock()
	noStream := n.noStream
	n.mu.Unlock()
	if noStream {
		return nil, errors.New("fakeNode: not streaming")
	}
	ch := make(chan []*HeadChange, 16)
	n.streams <- ch
	return ch, nil
}

func (n *fakeNode) ChainGetTipSetByHeight(_ context.Context, h abi.ChainEpoch, tsk TipSetKey) (*TipSet, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ts := n.head
	if !tsk.IsEmpty() {
		ts = n.tipsets[tsk]
	}
	for ts != nil && ts.Height > h {
		ts = n.tipsets[ts.Parents()]
	}
	if ts == nil {
		return nil, fmt.Errorf("fakeNode: no tipset at height %d below %s", h, tsk)
	}
	return ts, nil
}

func (n *fakeNode) StateGetNetworkParams(context.Context) (*NetworkParams, error) {
	return &NetworkParams{NetworkName: "fake", BlockDelaySecs: 30, PreCommitChallengeDelay: 150}, nil
}

func (n *fakeNode) StateNetworkVersion(context.Context, TipSetKey) (network.Version, error) {
	return NetworkVersion, nil
}

func (n *fakeNode) StateMinerInfo(context.Context, address.Address, TipSetKey) (MinerInfo, error) {
	return MinerInfo{}, errors.New("fakeNode: StateMinerInfo not faked")
}

func (n *fakeNode) StateMinerProvingDeadline(_ context.Context, _ address.Address, _ TipSetKey) (*dline.Info, error) {
	return DeadlineAt(1234, 100000), nil
}

func (n *fakeNode) StateMinerDeadlines(context.Context, address.Address, TipSetKey) ([]Deadline, error) {
	return nil, errors.New("fakeNode: StateMinerDeadlines not faked")
}

func (n *fakeNode) StateMinerPartitions(context.Context, address.Address, uint64, TipSetKey) ([]Partition, error) {
	return nil, errors.New("fakeNode: StateMinerPartitions not faked")
}

func (n *fakeNode) StateMinerSectors(context.Context, address.Address, *bitfield.BitField, TipSetKey) ([]*SectorOnChainInfo, error) {
	return nil, errors.New("fakeNode: StateMinerSectors not faked")
}

func (n *fakeNode) StateSectorGetInfo(context.Context, address.Address, abi.SectorNumber, TipSetKey) (*SectorOnChainInfo, error) {
	// A sector that does not exist is null, not an error, on Lotus.
	return nil, nil
}

func (n *fakeNode) StateSectorPreCommitInfo(context.Context, address.Address, abi.SectorNumber, TipSetKey) (*SectorPreCommitOnChainInfo, error) {
	return nil, nil
}

func (n *fakeNode) StateMinerSectorAllocated(context.Context, address.Address, abi.SectorNumber, TipSetKey) (bool, error) {
	return false, nil
}

func (n *fakeNode) StateGetRandomnessFromBeacon(_ context.Context, tag crypto.DomainSeparationTag, epoch abi.ChainEpoch, entropy []byte, _ TipSetKey) (abi.Randomness, error) {
	return append([]byte{byte(tag), byte(epoch)}, entropy...), nil
}

func (n *fakeNode) StateGetRandomnessFromTickets(ctx context.Context, tag crypto.DomainSeparationTag, epoch abi.ChainEpoch, entropy []byte, tsk TipSetKey) (abi.Randomness, error) {
	return n.StateGetRandomnessFromBeacon(ctx, tag, epoch, entropy, tsk)
}

func (n *fakeNode) StateLookupID(_ context.Context, a address.Address, _ TipSetKey) (address.Address, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id, ok := n.ids[a]
	if !ok {
		return address.Undef, fmt.Errorf("fakeNode: actor %s not found", a)
	}
	return id, nil
}

func (n *fakeNode) StateAccountKey(_ context.Context, a address.Address, _ TipSetKey) (address.Address, error) {
	return a, nil
}

func (n *fakeNode) WalletBalance(context.Context, address.Address) (big.Int, error) {
	return big.NewInt(1_000_000), nil
}

func (n *fakeNode) WalletDefaultAddress(context.Context) (address.Address, error) {
	return address.TestAddress, nil
}

func (n *fakeNode) MpoolPushMessage(_ context.Context, msg *Message, spec *MessageSendSpec) (*SignedMessage, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	signed := *msg
	signed.Nonce = uint64(len(n.pushed))
	signed.GasLimit = 1_000_000
	signed.GasFeeCap, signed.GasPremium = big.NewInt(200), big.NewInt(100)
	n.pushed = append(n.pushed, &signed)
	n.specs = append(n.specs, spec)
	return &SignedMessage{Message: signed, Signature: crypto.Signature{Type: crypto.SigTypeBLS, Data: []byte("sig")}}, nil
}

func (n *fakeNode) StateWaitMsg(_ context.Context, msg cid.Cid, _ uint64, _ abi.ChainEpoch, _ bool) (*MsgLookup, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.pushed {
		if c, err := m.Cid(); err == nil && c == msg {
			return &MsgLookup{Message: msg, Receipt: n.receipt, TipSet: EmptyTSK, Height: 10}, nil
		}
	}
	return nil, fmt.Errorf("fakeNode: message %s was not pushed", msg)
}

func (n *fakeNode) StateSearchMsg(ctx context.Context, _ TipSetKey, msg cid.Cid, limit abi.ChainEpoch, allowReplaced bool) (*MsgLookup, error) {
	return n.StateWaitMsg(ctx, msg, 0, limit, allowReplaced)
}

var _ API = (*fakeNode)(nil)

// The tokens fakeNode's server accepts, and what they allow.
const (
	readToken = "read-token"
	signToken = "sign-token"
)

// serveFakeNode serves node at /rpc/v1 on 127.0.0.1 behind go-jsonrpc,
// with APIStruct as the permission proxy as the devnet will, and returns
// the host:port. Requests without a token get read permission, as on Lotus.
func serveFakeNode(t *testing.T, node *fakeNode) string {
	t.Helper()
	all := []auth.Permission{"read", "write", "sign", "admin"}
	var proxy APIStruct
	auth.PermissionedProxy(all, []auth.Permission{"read"}, node, &proxy.Internal)
	rpc := jsonrpc.NewServer()
	rpc.Register(Namespace, &proxy)
	mux := http.NewServeMux()
	mux.Handle(Path, &auth.Handler{
		Verify: func(_ context.Context, token string) ([]auth.Permission, error) {
			switch token {
			case readToken:
				return all[:1], nil
			case signToken:
				return all[:3], nil
			}
			return nil, errors.New("unknown token")
		},
		Next: rpc.ServeHTTP,
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// dial connects a client to addr and closes it when the test ends.
func dial(t *testing.T, addr, token string) API {
	t.Helper()
	api, closer, err := NewClient(context.Background(), addr, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closer)
	return api
}

// fakeClock is a Clock that moves only when told. Every After call is
// announced on waits, so a test knows what the code waits for.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	waits   chan time.Duration
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), waits: make(chan time.Duration, 1024)}
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.waits <- d
	return ch
}

// Advance moves time by d and fires the waits that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// createMinerReceipt is a successful CreateMiner receipt for id.
func createMinerReceipt(t *testing.T, id, robust address.Address) MessageReceipt {
	t.Helper()
	var buf bytes.Buffer
	ret := CreateMinerReturn{IDAddress: id, RobustAddress: robust}
	if err := ret.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	return MessageReceipt{ExitCode: exitcode.Ok, Return: buf.Bytes(), GasUsed: 1}
}
