package node

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/exitcode"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/rpc"
)

// testServer serves a testNode's chain over HTTP and websocket.
type testServer struct {
	*testNode
	url   string // http://127.0.0.1:port
	token string // admin
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	tn := newTestNode(t)
	secret, err := rpc.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(tn.chain, tn.node, secret)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	// Registered after newTestNode's cleanup, so it runs first: the
	// websocket sessions end before the node waits for its streams.
	t.Cleanup(hs.Close)
	token, err := rpc.NewToken(secret, rpc.AllPermissions)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{testNode: tn, url: hs.URL, token: token}
}

// call posts one JSON-RPC request and returns the result or error message.
func (ts *testServer) call(t *testing.T, token, method string, params ...any) (json.RawMessage, string) {
	t.Helper()
	if params == nil {
		params = []any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, ts.url+chain.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var reply struct {
		Result json.RawMessage
		Error  *struct{ Message string }
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		t.Fatalf("%s: HTTP %d %q: %v", method, resp.StatusCode, raw, err)
	}
	if reply.Error != nil {
		return nil, reply.Error.Message
	}
	return reply.Result, ""
}

func TestServerPermissions(t *testing.T) {
	ts := newTestServer(t)
	if _, e := ts.call(t, "", "Filecoin.ChainHead"); e != "" {
		t.Fatalf("ChainHead without a token: %s", e)
	}
	// WalletDefaultAddress is write in Lotus, MpoolPushMessage sign.
	if _, e := ts.call(t, "", "Filecoin.WalletDefaultAddress"); !strings.Contains(e, "write") {
		t.Errorf("WalletDefaultAddress without a token: %q, want a missing write permission", e)
	}
	msg := ts.selfSend()
	if _, e := ts.call(t, "", "Filecoin.MpoolPushMessage", msg, nil); !strings.Contains(e, "sign") {
		t.Errorf("MpoolPushMessage without a token: %q, want a missing sign permission", e)
	}
	res, e := ts.call(t, ts.token, "Filecoin.MpoolPushMessage", msg, nil)
	if e != "" {
		t.Fatalf("MpoolPushMessage with the admin token: %s", e)
	}
	var sm chain.SignedMessage
	if err := json.Unmarshal(res, &sm); err != nil || sm.Message.From != msg.From {
		t.Fatalf("MpoolPushMessage returned %s: %v", res, err)
	}
	if _, e := ts.call(t, "", "Devnet.Records"); e != "" {
		t.Errorf("Devnet.Records without a token: %s", e)
	}
}

func TestServerOverWebsocket(t *testing.T) {
	ts := newTestServer(t)
	ctx := t.Context()
	api, closer, err := chain.NewClient(ctx, strings.Replace(ts.url, "http://", "ws://", 1), "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	ch, err := api.ChainNotify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first := <-ch; first[0].Type != chain.HCCurrent || first[0].Val.Height != 0 {
		t.Fatalf("first change %+v", first[0])
	}
	ts.advance(3)
	for want := abi.ChainEpoch(1); want <= 3; want++ {
		changes := <-ch
		if changes[0].Type != chain.HCApply || changes[0].Val.Height != want || changes[0].Val.Key() != ts.keyAt(want) {
			t.Fatalf("change %+v, want apply at %d", changes[0], want)
		}
	}
	// The key a client decodes is one the node accepts.
	head, err := api.ChainHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if nv, err := api.StateNetworkVersion(ctx, head.Key()); err != nil || nv != chain.NetworkVersion {
		t.Fatalf("StateNetworkVersion at the head's key = %d, %v", nv, err)
	}
}

func TestObserverClient(t *testing.T) {
	ts := newTestServer(t)
	ctx := t.Context()
	maddr, err := ts.chain.CreateMiner(1000, 2048)
	if err != nil {
		t.Fatal(err)
	}
	obs, closer, err := NewObserverClient(ctx, ts.url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	miners, err := obs.Miners(ctx)
	if err != nil || len(miners) != 1 || miners[0] != maddr {
		t.Fatalf("Miners = %v, %v", miners, err)
	}
	stats, err := obs.Stats(ctx, maddr)
	if err != nil || stats.Miner != maddr {
		t.Fatalf("Stats = %+v, %v", stats, err)
	}
	if _, err := obs.Stats(ctx, mustID(t, 1001)); err == nil || !strings.Contains(err.Error(), "01001") {
		t.Errorf("Stats of a missing miner: %v", err)
	}
	ts.advance(2)
	rec, err := obs.Records(ctx)
	if err != nil || rec.Height != 2 || len(rec.Miners) != 1 {
		t.Fatalf("Records = %+v, %v", rec, err)
	}
}

// The observer's records cross JSON without losing anything.
func TestRecordsRoundTripJSON(t *testing.T) {
	maddr := mustID(t, 1000)
	msg, err := abi.CidBuilder.Sum([]byte("a message"))
	if err != nil {
		t.Fatal(err)
	}
	missed := devnet.MissedPartition{Miner: maddr, Deadline: 3, Partition: 1, Open: 100, Epoch: 159, Sectors: 2}
	want := devnet.Records{
		Height: 200,
		Miners: []devnet.MinerStats{{
			Miner: maddr, PreCommitted: 1, Active: 2, Unproven: 3, Faulty: 4, Recovering: 1, Terminated: 5,
			ProofsAccepted: 1, ProofsRejected: 1, Recovered: 6,
			PoSts: []devnet.PoStRecord{
				{Message: msg, Epoch: 120, Deadline: 3, Partitions: []uint64{0, 1}, Accepted: true, Proven: 4},
				{Message: msg, Epoch: 121, Deadline: 3, Partitions: []uint64{2}, ExitCode: exitcode.ErrIllegalArgument, Reason: "invalid post"},
			},
			Missed:      []devnet.MissedPartition{missed},
			FaultySkips: []devnet.MissedPartition{missed},
		}},
		Missed: []devnet.MissedPartition{missed},
	}
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got devnet.Records
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the records:\n got %+v\nwant %+v\njson %s", got, want, data)
	}
	// Addresses are strings, as everywhere in the Lotus API.
	if !bytes.Contains(data, []byte(`"Miner":"`+maddr.String()+`"`)) {
		t.Errorf("JSON %s does not hold the miner as a string", data)
	}
}

func TestObserverMineTo(t *testing.T) {
	ts := newTestServer(t)
	ctx := t.Context()
	anon, closer, err := NewObserverClient(ctx, ts.url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if _, err := anon.MineTo(ctx, 10); err == nil {
		t.Fatal("MineTo without a token succeeded; it needs admin")
	}
	admin, closer2, err := NewObserverClient(ctx, ts.url, ts.token)
	if err != nil {
		t.Fatal(err)
	}
	defer closer2()
	if h, err := admin.MineTo(ctx, 150); err != nil || h != 150 || ts.chain.Head().Height != 150 {
		t.Fatalf("MineTo(150) = %d, %v; head %d", h, err, ts.chain.Head().Height)
	}
	if h, err := admin.MineTo(ctx, 100); err != nil || h != 150 {
		t.Fatalf("MineTo below the head = %d, %v; want the head, 150", h, err)
	}
	if _, err := admin.MineTo(ctx, 150+MineToMaxEpochs+1); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("MineTo too far: %v", err)
	}
}
