package chain

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-bitfield"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/crypto"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/google/uuid"
)

// docTSK is the tipset key of the documented inputs.
func docTSK(t *testing.T) TipSetKey {
	return NewTipSetKey(
		mustCid(t, "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"),
		mustCid(t, "bafy2bzacebp3shtrn43k7g3unredz7fxn4gj533d3o43tqn2p2ipxxhrvchve"))
}

// TestClientDecodesLotusJSON calls every method through the real client
// against an endpoint answering with Lotus's documented JSON, requires
// the decoded result to encode back to that JSON, and, where Lotus
// documents the inputs, requires the params sent to be those.
func TestClientDecodesLotusJSON(t *testing.T) {
	lotus := newFakeLotus(t)
	srv := httptest.NewServer(lotus)
	defer srv.Close()
	api := dial(t, srv.URL, "")
	ctx := context.Background()
	tsk := docTSK(t)
	f01234 := mustAddr(t, "f01234")
	docCid := mustCid(t, "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4")

	same := func(method string, got any) {
		t.Helper()
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		requireSameJSON(t, method, b, lotus.responses[method])
	}
	sentDocumentedParams := func(method string) {
		t.Helper()
		requireSameJSON(t, method+" params", lotus.paramsOf(method), lotusJSON(t, method+".params.json"))
	}
	check := func(method string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}

	head, err := api.ChainHead(ctx)
	check("ChainHead", err)
	same("ChainHead", head)
	if head.Height != 4863283 || len(head.Blocks) != 1 || head.Blocks[0].Miner.String() != "f01938223" ||
		head.Blocks[0].ElectionProof.WinCount != 1 || head.Blocks[0].ParentBaseFee.String() != "20592036" {
		t.Errorf("ChainHead decoded wrongly: %+v", head.Blocks[0])
	}

	ts, err := api.ChainGetTipSetByHeight(ctx, 10101, tsk)
	check("ChainGetTipSetByHeight", err)
	same("ChainGetTipSetByHeight", ts)
	sentDocumentedParams("ChainGetTipSetByHeight")

	nv, err := api.StateNetworkVersion(ctx, tsk)
	check("StateNetworkVersion", err)
	if nv != network.Version27 {
		t.Errorf("StateNetworkVersion = %d", nv)
	}

	params, err := api.StateGetNetworkParams(ctx)
	check("StateGetNetworkParams", err)
	same("StateGetNetworkParams", params)
	if params.BlockDelaySecs != 42 || params.PreCommitChallengeDelay != 10101 || len(params.SupportedProofTypes) != 1 ||
		params.SupportedProofTypes[0] != abi.RegisteredSealProof_StackedDrg32GiBV1_1 || params.Eip155ChainID != 123 {
		t.Errorf("StateGetNetworkParams decoded wrongly: %+v", params)
	}

	info, err := api.StateMinerInfo(ctx, f01234, tsk)
	check("StateMinerInfo", err)
	same("StateMinerInfo", info)
	if info.PeerId == nil || *info.PeerId != "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf" ||
		info.SectorSize != 32<<30 || info.PendingBeneficiaryTerm == nil || !info.PendingBeneficiaryTerm.ApprovedByNominee {
		t.Errorf("StateMinerInfo decoded wrongly: %+v", info)
	}

	di, err := api.StateMinerProvingDeadline(ctx, f01234, tsk)
	check("StateMinerProvingDeadline", err)
	same("StateMinerProvingDeadline", di)

	dls, err := api.StateMinerDeadlines(ctx, f01234, tsk)
	check("StateMinerDeadlines", err)
	same("StateMinerDeadlines", dls)

	parts, err := api.StateMinerPartitions(ctx, f01234, 42, tsk)
	check("StateMinerPartitions", err)
	same("StateMinerPartitions", parts)
	sentDocumentedParams("StateMinerPartitions")
	// [5, 1] is run-length encoding: five unset bits, then one set.
	if n, err := parts[0].AllSectors.Count(); err != nil || n != 1 {
		t.Errorf("AllSectors count = %d, %v", n, err)
	} else if set, _ := parts[0].AllSectors.IsSet(5); !set {
		t.Error("AllSectors: want sector 5 set")
	}

	empty := bitfield.New()
	sectors, err := api.StateMinerSectors(ctx, f01234, &empty, tsk)
	check("StateMinerSectors", err)
	same("StateMinerSectors", sectors)
	sentDocumentedParams("StateMinerSectors")

	sector, err := api.StateSectorGetInfo(ctx, f01234, 9, tsk)
	check("StateSectorGetInfo", err)
	same("StateSectorGetInfo", sector)
	if sector.SectorKeyCID == nil || sector.DailyFee.Int == nil {
		t.Errorf("StateSectorGetInfo decoded wrongly: %+v", sector)
	}

	pre, err := api.StateSectorPreCommitInfo(ctx, f01234, 9, tsk)
	check("StateSectorPreCommitInfo", err)
	same("StateSectorPreCommitInfo", pre)

	allocated, err := api.StateMinerSectorAllocated(ctx, f01234, 9, tsk)
	check("StateMinerSectorAllocated", err)
	if !allocated {
		t.Error("StateMinerSectorAllocated = false")
	}

	rand, err := api.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_ElectionProofProduction, 10101, []byte("byte array"), tsk)
	check("StateGetRandomnessFromBeacon", err)
	if string(rand) != "\x07" {
		t.Errorf("StateGetRandomnessFromBeacon = %x", rand)
	}
	sentDocumentedParams("StateGetRandomnessFromBeacon")
	rand, err = api.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, 10101, nil, tsk)
	check("StateGetRandomnessFromTickets", err)
	if string(rand) != "\x07" {
		t.Errorf("StateGetRandomnessFromTickets = %x", rand)
	}

	for method, call := range map[string]func() (any, error){
		"StateLookupID":        func() (any, error) { return api.StateLookupID(ctx, f01234, tsk) },
		"StateAccountKey":      func() (any, error) { return api.StateAccountKey(ctx, f01234, tsk) },
		"WalletDefaultAddress": func() (any, error) { return api.WalletDefaultAddress(ctx) },
		"WalletBalance":        func() (any, error) { return api.WalletBalance(ctx, f01234) },
	} {
		got, err := call()
		check(method, err)
		same(method, got)
	}

	msg := docMessage(t)
	smsg, err := api.MpoolPushMessage(ctx, &msg, &MessageSendSpec{
		MaxFee: big.Zero(), MsgUuid: uuid.MustParse("07070707-0707-0707-0707-070707070707"), MaximizeFeeCap: true})
	check("MpoolPushMessage", err)
	same("MpoolPushMessage", smsg)
	sentDocumentedParams("MpoolPushMessage")

	lookup, err := api.StateWaitMsg(ctx, docCid, 42, 10101, true)
	check("StateWaitMsg", err)
	same("StateWaitMsg", lookup)
	sentDocumentedParams("StateWaitMsg")
	if lookup.TipSet != tsk || lookup.Receipt.EventsRoot == nil {
		t.Errorf("StateWaitMsg decoded wrongly: %+v", lookup)
	}

	lookup, err = api.StateSearchMsg(ctx, tsk, docCid, 10101, true)
	check("StateSearchMsg", err)
	same("StateSearchMsg", lookup)
	sentDocumentedParams("StateSearchMsg")

	// Over HTTP a node cannot stream: ChainNotify fails, which is what
	// makes HeadEvents poll.
	if _, err := api.ChainNotify(ctx); err == nil {
		t.Error("ChainNotify over HTTP succeeded")
	}
}

func TestClientAddressNotations(t *testing.T) {
	node := newFakeNode()
	node.setHead(node.addTipSet(t, nil, 0, "genesis"))
	hostport := serveFakeNode(t, node)
	host, port, _ := net.SplitHostPort(hostport)
	for _, addr := range []string{
		"/ip4/" + host + "/tcp/" + port,
		"/ip4/" + host + "/tcp/" + port + "/ws",
		"/ip4/" + host + "/tcp/" + port + "/http",
		hostport,
		"ws://" + hostport,
		"http://" + hostport + "/ignored",
	} {
		t.Run(addr, func(t *testing.T) {
			head, err := dial(t, addr, "").ChainHead(context.Background())
			if err != nil || head.Height != 0 {
				t.Fatalf("ChainHead = %v, %v", head, err)
			}
		})
	}

	_, _, err := NewClient(context.Background(), "nonsense", "")
	if err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Errorf("bad address: error = %v, want one naming it", err)
	}
	// A websocket client dials at once: a node that is down is an error
	// naming where it was looked for.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	_, _, err = NewClient(context.Background(), "/ip4/127.0.0.1/tcp/"+strings.Split(down, ":")[1], "")
	if err == nil || !strings.Contains(err.Error(), "ws://"+down+Path) {
		t.Errorf("node down: error = %v, want one naming ws://%s%s", err, down, Path)
	}
}

func TestClientTokenAndPermissions(t *testing.T) {
	node := newFakeNode()
	node.setHead(node.addTipSet(t, nil, 0, "genesis"))
	hostport := serveFakeNode(t, node)
	ctx := context.Background()
	msg := docMessage(t)
	msg.Version = 0

	// Lotus's perm tags: WalletDefaultAddress needs write, MpoolPushMessage
	// sign; reads need only read.
	for _, tc := range []struct {
		token          string
		wantWrite      bool
		wantSign       bool
		transportLabel string
	}{
		{"", false, false, "ws"},
		{readToken, false, false, "ws"},
		{signToken, true, true, "ws"},
		{signToken, true, true, "http"},
	} {
		addr := tc.transportLabel + "://" + hostport
		api := dial(t, addr, tc.token)
		if _, err := api.ChainHead(ctx); err != nil {
			t.Errorf("token %q over %s: ChainHead: %v", tc.token, tc.transportLabel, err)
		}
		_, err := api.WalletDefaultAddress(ctx)
		if (err == nil) != tc.wantWrite {
			t.Errorf("token %q over %s: WalletDefaultAddress error = %v", tc.token, tc.transportLabel, err)
		}
		_, err = api.MpoolPushMessage(ctx, &msg, nil)
		if (err == nil) != tc.wantSign {
			t.Errorf("token %q over %s: MpoolPushMessage error = %v", tc.token, tc.transportLabel, err)
		}
	}
	if _, _, err := NewClient(ctx, "ws://"+hostport, "forged"); err == nil {
		t.Error("a forged token connected")
	}
}

func TestClientNullResults(t *testing.T) {
	// Lotus returns null for a sector it does not know; the client gives nil.
	node := newFakeNode()
	api := dial(t, serveFakeNode(t, node), "")
	ctx := context.Background()
	info, err := api.StateSectorGetInfo(ctx, mustAddr(t, "f01000"), 1, EmptyTSK)
	if err != nil || info != nil {
		t.Errorf("StateSectorGetInfo = %v, %v; want nil, nil", info, err)
	}
	pre, err := api.StateSectorPreCommitInfo(ctx, mustAddr(t, "f01000"), 1, EmptyTSK)
	if err != nil || pre != nil {
		t.Errorf("StateSectorPreCommitInfo = %v, %v; want nil, nil", pre, err)
	}
	di, err := api.StateMinerProvingDeadline(ctx, mustAddr(t, "f01000"), EmptyTSK)
	if err != nil || *di != *DeadlineAt(1234, 100000) {
		t.Errorf("StateMinerProvingDeadline = %+v, %v", di, err)
	}
	r, err := api.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, abi.ChainEpoch(9), []byte{1}, EmptyTSK)
	if err != nil || string(r) != "\x05\x09\x01" {
		t.Errorf("StateGetRandomnessFromTickets = %x, %v", r, err)
	}
}

// Lotus writes its api file as a multiaddr ending in /http, and its own
// clients still dial a websocket for it; so does ours, or a manager pointed
// at such an address would lose ChainNotify and fall back to polling.
func TestMultiaddrWithHTTPStillStreams(t *testing.T) {
	node := newFakeNode()
	node.setHead(node.addTipSet(t, nil, 0, "genesis"))
	hostport := serveFakeNode(t, node)
	host, port, _ := net.SplitHostPort(hostport)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := dial(t, "/ip4/"+host+"/tcp/"+port+"/http", "").ChainNotify(ctx); err != nil {
		t.Fatalf("ChainNotify through a /http multiaddr: %v (over plain HTTP it cannot stream)", err)
	}
	select {
	case <-node.streams:
	case <-time.After(5 * time.Second):
		t.Fatal("the node saw no ChainNotify stream")
	}
}
