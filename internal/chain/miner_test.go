package chain

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/filecoin-project/go-state-types/network"
	"github.com/ipfs/go-cid"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

func TestWindowPoStProofForSectorSize(t *testing.T) {
	for _, tc := range []struct {
		size     abi.SectorSize
		current  abi.RegisteredPoStProof
		beforeV1 abi.RegisteredPoStProof
	}{
		{2 << 10, abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1, abi.RegisteredPoStProof_StackedDrgWindow2KiBV1},
		{8 << 20, abi.RegisteredPoStProof_StackedDrgWindow8MiBV1_1, abi.RegisteredPoStProof_StackedDrgWindow8MiBV1},
		{512 << 20, abi.RegisteredPoStProof_StackedDrgWindow512MiBV1_1, abi.RegisteredPoStProof_StackedDrgWindow512MiBV1},
		{32 << 30, abi.RegisteredPoStProof_StackedDrgWindow32GiBV1_1, abi.RegisteredPoStProof_StackedDrgWindow32GiBV1},
		{64 << 30, abi.RegisteredPoStProof_StackedDrgWindow64GiBV1_1, abi.RegisteredPoStProof_StackedDrgWindow64GiBV1},
	} {
		for nv, want := range map[network.Version]abi.RegisteredPoStProof{
			NetworkVersion:    tc.current,
			network.Version19: tc.current,
			network.Version18: tc.beforeV1,
		} {
			got, err := WindowPoStProofForSectorSize(tc.size, nv)
			if err != nil || got != want {
				t.Errorf("%s at nv%d = %d, %v; want %d", tc.size.ShortString(), nv, got, err, want)
			}
		}
	}
	_, err := WindowPoStProofForSectorSize(1<<30, NetworkVersion)
	if err == nil || !strings.Contains(err.Error(), "1GiB") || !strings.Contains(err.Error(), "32GiB") {
		t.Errorf("1GiB: error = %v, want one naming it and the sizes there are", err)
	}
}

const testPeerID = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

func TestParsePeerID(t *testing.T) {
	b58, err := ParsePeerID(testPeerID)
	if err != nil {
		t.Fatal(err)
	}
	if mh.Multihash(b58).B58String() != testPeerID {
		t.Errorf("peer ID bytes do not encode back to %s", testPeerID)
	}
	// The same peer in libp2p's CID notation.
	asCid := cid.NewCidV1(cid.Libp2pKey, mh.Multihash(b58)).String()
	fromCid, err := ParsePeerID(asCid)
	if err != nil || !bytes.Equal(fromCid, b58) {
		t.Errorf("ParsePeerID(%s) = %x, %v; want %x", asCid, fromCid, err, b58)
	}
	for _, bad := range []string{"", "hello", "1111", cid.NewCidV1(cid.DagCBOR, mh.Multihash(b58)).String()} {
		if _, err := ParsePeerID(bad); err == nil {
			t.Errorf("ParsePeerID(%q) succeeded", bad)
		}
	}
}

func TestCreateMinerParamsCBORRoundTrip(t *testing.T) {
	owner, worker := mustAddr(t, "f01000"), mustAddr(t, "f01001")
	maddr := "/ip4/10.0.0.1/tcp/24001"
	params, err := NewCreateMinerParams(owner, worker, 32<<30, NetworkVersion, testPeerID, []string{maddr})
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := ParsePeerID(testPeerID)
	m, _ := ma.NewMultiaddr(maddr)
	want := &CreateMinerParams{Owner: owner, Worker: worker, WindowPoStProofType: abi.RegisteredPoStProof_StackedDrgWindow32GiBV1_1,
		Peer: peer, Multiaddrs: []abi.Multiaddrs{m.Bytes()}}
	if !reflect.DeepEqual(params, want) {
		t.Fatalf("params = %+v, want %+v", params, want)
	}
	var buf bytes.Buffer
	if err := params.MarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	var back CreateMinerParams
	if err := back.UnmarshalCBOR(&buf); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, want) {
		t.Fatalf("CBOR round trip = %+v, want %+v", back, want)
	}

	// Without a peer or addresses, both stay empty.
	params, err = NewCreateMinerParams(owner, worker, 2<<10, NetworkVersion, "", nil)
	if err != nil || params.Peer != nil || params.Multiaddrs != nil {
		t.Errorf("bare params = %+v, %v", params, err)
	}
	for _, bad := range []struct {
		name       string
		owner      address.Address
		size       abi.SectorSize
		peer       string
		multiaddrs []string
	}{
		{"no owner", address.Undef, 2 << 10, "", nil},
		{"bad size", owner, 3 << 10, "", nil},
		{"bad peer", owner, 2 << 10, "nope", nil},
		{"bad multiaddr", owner, 2 << 10, "", []string{"/nope"}},
	} {
		if _, err := NewCreateMinerParams(bad.owner, worker, bad.size, NetworkVersion, bad.peer, bad.multiaddrs); err == nil {
			t.Errorf("%s: no error", bad.name)
		}
	}
}

func TestCreateMinerOverRPC(t *testing.T) {
	node := newFakeNode()
	from := mustAddr(t, "f3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a")
	fromID := mustAddr(t, "f01001")
	node.setID(from, fromID)
	minerID := mustAddr(t, "f01234")
	robust, err := address.NewActorAddress([]byte("the new miner"))
	if err != nil {
		t.Fatal(err)
	}
	node.setReceipt(createMinerReceipt(t, minerID, robust))
	api := dial(t, serveFakeNode(t, node), signToken)
	ctx := context.Background()

	smsg, err := PushCreateMiner(ctx, api, CreateMinerRequest{From: from, SectorSize: 2 << 10, PeerID: testPeerID})
	if err != nil {
		t.Fatal(err)
	}
	sent, spec := node.pushedAt(0)
	if sent.To != builtin.StoragePowerActorAddr || sent.From != from || sent.Method != builtin.MethodsPower.CreateMiner || !sent.Value.IsZero() {
		t.Errorf("message = %+v, want CreateMiner from %s to f04 with no value", sent, from)
	}
	var params CreateMinerParams
	if err := params.UnmarshalCBOR(bytes.NewReader(sent.Params)); err != nil {
		t.Fatal(err)
	}
	if params.Owner != fromID || params.Worker != fromID || params.WindowPoStProofType != abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1 {
		t.Errorf("params = %+v, want owner and worker %s and the 2KiB V1_1 window proof", params, fromID)
	}
	if spec == nil || !spec.MaxFee.IsZero() {
		t.Errorf("send spec = %+v, want MaxFee 0 (the node estimates)", spec)
	}

	c, err := smsg.Cid()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := WaitCreateMiner(ctx, api, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ret.IDAddress != minerID || ret.RobustAddress != robust {
		t.Errorf("return = %+v, want %s / %s", ret, minerID, robust)
	}

	// Explicit owner and worker are used as given.
	owner, worker := mustAddr(t, "f01500"), mustAddr(t, "f01501")
	if _, err := PushCreateMiner(ctx, api, CreateMinerRequest{From: from, Owner: owner, Worker: worker, SectorSize: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	second, _ := node.pushedAt(1)
	if err := params.UnmarshalCBOR(bytes.NewReader(second.Params)); err != nil || params.Owner != owner || params.Worker != worker {
		t.Errorf("params = %+v, %v; want owner %s worker %s", params, err, owner, worker)
	}

	// A message that fails on chain is an error naming its exit code.
	node.setReceipt(MessageReceipt{ExitCode: exitcode.ErrIllegalArgument})
	_, err = WaitCreateMiner(ctx, api, c, 1)
	if err == nil || !strings.Contains(err.Error(), "exit code 16") || !strings.Contains(err.Error(), c.String()) {
		t.Errorf("failed message: error = %v, want one naming exit code 16 and the message", err)
	}

	// A sender unknown to the chain cannot default owner and worker.
	stranger, err := address.NewSecp256k1Address([]byte("a key the chain never saw"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = PushCreateMiner(ctx, api, CreateMinerRequest{From: stranger, SectorSize: 2 << 10})
	if err == nil || !strings.Contains(err.Error(), stranger.String()) {
		t.Errorf("unknown sender: error = %v, want one naming it", err)
	}
	if _, err := PushCreateMiner(ctx, api, CreateMinerRequest{SectorSize: 2 << 10}); err == nil {
		t.Error("no sender: no error")
	}

	// Pushing needs sign permission.
	readOnly := dial(t, serveFakeNode(t, node), readToken)
	if _, err := PushCreateMiner(ctx, readOnly, CreateMinerRequest{From: from, SectorSize: 2 << 10}); err == nil {
		t.Error("pushed with a read token")
	}
}
