package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
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
	"github.com/filecoin-project/go-state-types/network"
	"github.com/ipfs/go-cid"

	"github.com/damocles-go/damocles/internal/chain"
	"github.com/damocles-go/damocles/internal/devnet"
	"github.com/damocles-go/damocles/internal/devnet/node"
)

// TestDevnetDecoding calls every chain.API method of a running devnet over
// raw JSON-RPC and decodes each result into the go-state-types,
// go-address, go-cid and go-bitfield types a Lotus client uses, refusing
// unknown keys; where Lotus documents an example result, the keys must be
// Lotus's too.
func TestDevnetDecoding(t *testing.T) {
	d := startDevnet(t, filepath.Join(t.TempDir(), "devnet"), 100*time.Millisecond, "--miner", "t01000:2KiB")
	if !strings.Contains(d.proc.Output(), "Miner: t01000 (2KiB)") {
		t.Fatalf("the pre-created miner was not printed:\n%s", d.proc.Output())
	}
	ctx := t.Context()
	api := d.client(t, d.token)
	maddr, _ := address.NewIDAddress(1000)

	// Sector 1 active, sector 2 pre-committed: every state method has
	// something to show.
	s := newDevSealer(t, maddr)
	s.activate(t, ctx, api, d.wallet, 1)
	pending := s.seal(t, ctx, api, 2)
	requireOK(t, "pre-commit sector 2", sendAndWait(t, ctx, api, d.wallet, maddr, builtin.MethodsMiner.PreCommitSectorBatch2, preCommitParams(head(t, ctx, api), pending)))

	call := func(token, method string, params ...any) json.RawMessage {
		t.Helper()
		raw := mustResult(t, method, devnetCall(t, d, token, "Filecoin."+method, params...))
		requireLotusShape(t, method, raw)
		return raw
	}
	empty := chain.EmptyTSK

	var ts chain.TipSet
	decodeStrict(t, "ChainHead", call("", "ChainHead"), &ts)
	if len(ts.Cids) != 1 || len(ts.Blocks) != 1 || ts.Blocks[0].Height != ts.Height {
		t.Fatalf("ChainHead = %+v", ts)
	}
	if c, err := ts.Blocks[0].Cid(); err != nil || c != ts.Cids[0] {
		t.Fatalf("the head's key %s is not its block's CID %s (%v)", ts.Cids[0], c, err)
	}
	var parent chain.TipSet
	decodeStrict(t, "ChainGetTipSetByHeight", call("", "ChainGetTipSetByHeight", ts.Height-1, ts.Key()), &parent)
	if parent.Height != ts.Height-1 || parent.Key() != ts.Parents() {
		t.Fatalf("ChainGetTipSetByHeight(%d) = %v, want the head's parent %s", ts.Height-1, parent.Key(), ts.Parents())
	}

	var nv network.Version
	decodeStrict(t, "StateNetworkVersion", call("", "StateNetworkVersion", empty), &nv)
	if nv != chain.NetworkVersion {
		t.Errorf("network version %d, want %d", nv, chain.NetworkVersion)
	}

	var mi chain.MinerInfo
	decodeStrict(t, "StateMinerInfo", call("", "StateMinerInfo", maddr, empty), &mi)
	walletID, err := api.StateLookupID(ctx, d.wallet, empty)
	if err != nil {
		t.Fatal(err)
	}
	if mi.Owner != walletID || mi.Worker != walletID || mi.SectorSize != 2048 || mi.WindowPoStPartitionSectors != 2 ||
		mi.WindowPoStProofType != devnetPoSt || mi.NewWorker != address.Undef || mi.WorkerChangeEpoch != -1 {
		t.Errorf("StateMinerInfo = %+v", mi)
	}

	// A known key selects the height of height-dependent answers.
	var di dline.Info
	decodeStrict(t, "StateMinerProvingDeadline", call("", "StateMinerProvingDeadline", maddr, parent.Key()), &di)
	if di.CurrentEpoch != parent.Height || !di.IsOpen() {
		t.Errorf("StateMinerProvingDeadline at %d = %+v", parent.Height, di)
	}
	if r := devnetCall(t, d, "", "Filecoin.StateMinerProvingDeadline", maddr, chain.NewTipSetKey(pending.sealedCID)); r.Error == nil || !strings.Contains(r.Error.Message, "tipset not found") {
		t.Errorf("an unknown tipset key: %+v", r.Error)
	}

	var deadlines []chain.Deadline
	decodeStrict(t, "StateMinerDeadlines", call("", "StateMinerDeadlines", maddr, empty), &deadlines)
	if len(deadlines) != int(chain.WPoStPeriodDeadlines) {
		t.Fatalf("%d deadlines", len(deadlines))
	}
	loc, found := findSector(t, ctx, api, maddr, 1)
	if !found {
		t.Fatal("sector 1 is in no partition")
	}
	var parts []chain.Partition
	decodeStrict(t, "StateMinerPartitions", call("", "StateMinerPartitions", maddr, loc.deadline, empty), &parts)
	if all, err := parts[loc.partition].AllSectors.All(10); err != nil || !slices.Equal(all, []uint64{1}) {
		t.Errorf("partition %d of deadline %d holds %v (%v), want [1]", loc.partition, loc.deadline, all, err)
	}

	var sectors []*miner.SectorOnChainInfo
	decodeStrict(t, "StateMinerSectors", call("", "StateMinerSectors", maddr, nil, empty), &sectors)
	if len(sectors) != 1 || sectors[0].SectorNumber != 1 || sectors[0].SealProof != devnetSeal {
		t.Errorf("StateMinerSectors = %+v", sectors)
	}
	filter := bitfield.NewFromSet([]uint64{1})
	decodeStrict(t, "StateMinerSectors", call("", "StateMinerSectors", maddr, &filter, empty), &sectors)
	if len(sectors) != 1 {
		t.Errorf("StateMinerSectors filtered on sector 1 = %+v", sectors)
	}
	var info *miner.SectorOnChainInfo
	decodeStrict(t, "StateSectorGetInfo", call("", "StateSectorGetInfo", maddr, 1, empty), &info)
	if info == nil || info.SectorNumber != 1 || info.SealedCID != sectors[0].SealedCID {
		t.Errorf("StateSectorGetInfo(1) = %+v", info)
	}
	if raw := call("", "StateSectorGetInfo", maddr, 99, empty); string(raw) != "null" {
		t.Errorf("StateSectorGetInfo of a missing sector = %s, want null", raw)
	}
	var pc *miner.SectorPreCommitOnChainInfo
	decodeStrict(t, "StateSectorPreCommitInfo", call("", "StateSectorPreCommitInfo", maddr, 2, empty), &pc)
	if pc == nil || pc.Info.SectorNumber != 2 || pc.Info.SealedCID != pending.sealedCID || pc.PreCommitEpoch <= 0 {
		t.Errorf("StateSectorPreCommitInfo(2) = %+v", pc)
	}
	if raw := call("", "StateSectorPreCommitInfo", maddr, 1, empty); string(raw) != "null" {
		t.Errorf("StateSectorPreCommitInfo of an activated sector = %s, want null", raw)
	}
	for n, want := range map[abi.SectorNumber]bool{1: true, 2: true, 3: false} {
		var allocated bool
		decodeStrict(t, "StateMinerSectorAllocated", call("", "StateMinerSectorAllocated", maddr, n, empty), &allocated)
		if allocated != want {
			t.Errorf("sector number %d allocated = %v, want %v", n, allocated, want)
		}
	}

	for _, method := range []string{"StateGetRandomnessFromBeacon", "StateGetRandomnessFromTickets"} {
		var r abi.Randomness
		decodeStrict(t, method, call("", method, crypto.DomainSeparationTag_SealRandomness, ts.Height, entropy(t, maddr), empty), &r)
		if len(r) != abi.RandomnessLength {
			t.Errorf("%s = %x", method, r)
		}
	}

	var id, key address.Address
	decodeStrict(t, "StateLookupID", call("", "StateLookupID", d.wallet, empty), &id)
	decodeStrict(t, "StateAccountKey", call("", "StateAccountKey", id, empty), &key)
	if id.Protocol() != address.ID || key != d.wallet {
		t.Errorf("StateLookupID = %s, StateAccountKey = %s, want the wallet %s", id, key, d.wallet)
	}
	var balance big.Int
	decodeStrict(t, "WalletBalance", call("", "WalletBalance", d.wallet), &balance)
	if balance.Sign() <= 0 {
		t.Errorf("wallet balance %s", balance)
	}
	if r := devnetCall(t, d, "", "Filecoin.WalletDefaultAddress"); r.Error == nil {
		t.Error("WalletDefaultAddress without a token succeeded: Lotus requires write")
	}
	var def address.Address
	decodeStrict(t, "WalletDefaultAddress", call(d.token, "WalletDefaultAddress"), &def)
	if def != d.wallet {
		t.Errorf("WalletDefaultAddress = %s, want %s", def, d.wallet)
	}

	// Messages: sign permission to push; the returned message carries its CID.
	msg := &chain.Message{To: d.wallet, From: d.wallet, Value: big.NewInt(1), Method: builtin.MethodSend}
	if r := devnetCall(t, d, "", "Filecoin.MpoolPushMessage", msg, nil); r.Error == nil || !strings.Contains(r.Error.Message, "sign") {
		t.Fatalf("MpoolPushMessage without a token: %+v, want a missing sign permission", r.Error)
	}
	raw := call(d.token, "MpoolPushMessage", msg, nil)
	var sm chain.SignedMessage
	var withCID struct{ CID cid.Cid }
	if err := json.Unmarshal(raw, &sm); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &withCID); err != nil {
		t.Fatal(err)
	}
	msgCid, err := sm.Cid()
	if err != nil || msgCid != withCID.CID || sm.Message.From != d.wallet || sm.Signature.Type != crypto.SigTypeSecp256k1 {
		t.Fatalf("MpoolPushMessage returned %s: CID %s, computed %s (%v)", raw, withCID.CID, msgCid, err)
	}
	var waited chain.MsgLookup
	decodeStrict(t, "StateWaitMsg", call("", "StateWaitMsg", msgCid, 2, chain.LookbackNoLimit, true), &waited)
	if waited.Message != msgCid || waited.Receipt.ExitCode != 0 || len(waited.TipSet.Cids()) != 1 {
		t.Fatalf("StateWaitMsg = %+v", waited)
	}
	var at chain.TipSet
	decodeStrict(t, "ChainGetTipSetByHeight", call("", "ChainGetTipSetByHeight", waited.Height, empty), &at)
	if at.Key() != waited.TipSet {
		t.Errorf("StateWaitMsg reports tipset %s at height %d, the chain has %s there", waited.TipSet, waited.Height, at.Key())
	}
	var searched *chain.MsgLookup
	decodeStrict(t, "StateSearchMsg", call("", "StateSearchMsg", empty, msgCid, chain.LookbackNoLimit, true), &searched)
	if searched == nil || searched.Height != waited.Height || searched.TipSet != waited.TipSet {
		t.Errorf("StateSearchMsg = %+v, StateWaitMsg said %+v", searched, waited)
	}

	// ChainNotify: current, then one apply per tipset, heights in a row.
	ws := d.client(t, "")
	notes, err := ws.ChainNotify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := <-notes
	if len(first) != 1 || first[0].Type != chain.HCCurrent {
		t.Fatalf("first ChainNotify change %+v, want current", first[0])
	}
	last := first[0].Val
	for range 10 {
		select {
		case changes, ok := <-notes:
			if !ok {
				t.Fatal("ChainNotify stream ended")
			}
			for _, c := range changes {
				if c.Type != chain.HCApply || c.Val.Height != last.Height+1 || c.Val.Parents() != last.Key() {
					t.Fatalf("after height %d came %s at %d (parents %s)", last.Height, c.Type, c.Val.Height, c.Val.Parents())
				}
				last = c.Val
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no head change for 10s after height %d", last.Height)
		}
	}

	// The observer namespace decodes into the devnet's record types.
	var stats devnet.MinerStats
	decodeStrict(t, "Devnet.Stats", mustResult(t, "Devnet.Stats", devnetCall(t, d, "", "Devnet.Stats", maddr)), &stats)
	if stats.Miner != maddr || stats.Unproven != 1 || stats.PreCommitted != 1 {
		t.Errorf("Devnet.Stats = %+v", stats)
	}
	var records devnet.Records
	decodeStrict(t, "Devnet.Records", mustResult(t, "Devnet.Records", devnetCall(t, d, "", "Devnet.Records")), &records)
	if len(records.Miners) != 1 || records.Height < last.Height {
		t.Errorf("Devnet.Records = %+v", records)
	}
	var miners []address.Address
	decodeStrict(t, "Devnet.Miners", mustResult(t, "Devnet.Miners", devnetCall(t, d, "", "Devnet.Miners")), &miners)
	if len(miners) != 1 || miners[0] != maddr {
		t.Errorf("Devnet.Miners = %v", miners)
	}
}

// requireLotusShape fails when a result and Lotus's documented example of
// the method have different keys in an object they both have.
func requireLotusShape(t *testing.T, method string, ours json.RawMessage) {
	t.Helper()
	example, err := os.ReadFile(filepath.Join("..", "chain", "testdata", "lotus", method+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var o, l any
	if err := json.Unmarshal(ours, &o); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(example, &l); err != nil {
		t.Fatal(err)
	}
	if diff := shapeDiff(method, o, l); diff != "" {
		t.Errorf("%s: the devnet's JSON differs from Lotus's example: %s", method, diff)
	}
}

// shapeDiff compares the object keys of two JSON values; null, empty
// arrays and scalars match anything.
func shapeDiff(path string, ours, lotus any) string {
	switch l := lotus.(type) {
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !ok {
			return ""
		}
		var ok1, ok2 []string
		for k := range o {
			ok1 = append(ok1, k)
		}
		for k := range l {
			ok2 = append(ok2, k)
		}
		sort.Strings(ok1)
		sort.Strings(ok2)
		if !slices.Equal(ok1, ok2) {
			return fmt.Sprintf("%s has keys %v, Lotus %v", path, ok1, ok2)
		}
		for k := range l {
			if diff := shapeDiff(path+"."+k, o[k], l[k]); diff != "" {
				return diff
			}
		}
	case []any:
		o, ok := ours.([]any)
		if ok && len(o) > 0 && len(l) > 0 {
			return shapeDiff(path+"[0]", o[0], l[0])
		}
	}
	return ""
}

// sectorLocation is where a sector is proven.
type sectorLocation struct{ deadline, partition uint64 }

// findSector looks for a sector in the miner's partitions, as a manager
// finds what to prove.
func findSector(t *testing.T, ctx context.Context, api chain.API, maddr address.Address, n abi.SectorNumber) (sectorLocation, bool) {
	t.Helper()
	for dl := range chain.WPoStPeriodDeadlines {
		parts, err := api.StateMinerPartitions(ctx, maddr, dl, chain.EmptyTSK)
		if err != nil {
			t.Fatal(err)
		}
		for p, part := range parts {
			if in, err := part.AllSectors.IsSet(uint64(n)); err == nil && in {
				return sectorLocation{deadline: dl, partition: uint64(p)}, true
			}
		}
	}
	return sectorLocation{}, false
}

func TestDevnetRestartKeepsState(t *testing.T) {
	home := filepath.Join(t.TempDir(), "devnet")
	d := startDevnet(t, home, 100*time.Millisecond)
	ctx := t.Context()
	api := d.client(t, d.token)
	smsg, err := chain.PushCreateMiner(ctx, api, chain.CreateMinerRequest{From: d.wallet, SectorSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smsg.Cid()
	if err != nil {
		t.Fatal(err)
	}
	created, err := chain.WaitCreateMiner(ctx, api, c, 2)
	if err != nil {
		t.Fatal(err)
	}
	waitHeight(t, ctx, api, 20, time.Minute, "some epochs before the restart")
	token, err := os.ReadFile(filepath.Join(home, "token"))
	if err != nil || strings.TrimSpace(string(token)) != d.token {
		t.Fatalf("token file %q (%v), printed %q", token, err, d.token)
	}
	before := head(t, ctx, api)
	d.stop(t)

	again := startDevnet(t, home, 100*time.Millisecond)
	api = again.client(t, strings.TrimSpace(string(token)))
	if h := head(t, ctx, api); h < before {
		t.Fatalf("after the restart the head is at %d, it was at %d", h, before)
	}
	mi, err := api.StateMinerInfo(ctx, created.IDAddress, chain.EmptyTSK)
	if err != nil || mi.SectorSize != 2048 {
		t.Fatalf("the miner after the restart: %+v, %v", mi, err)
	}
	if robust, err := api.StateLookupID(ctx, created.RobustAddress, chain.EmptyTSK); err != nil || robust != created.IDAddress {
		t.Errorf("the miner's robust address after the restart: %s, %v", robust, err)
	}
	// The old token keeps working: WalletDefaultAddress needs write.
	if w, err := api.WalletDefaultAddress(ctx); err != nil || w != d.wallet || again.wallet != d.wallet {
		t.Errorf("WalletDefaultAddress with the old token = %s, %v; want %s", w, err, d.wallet)
	}
	obs, closer, err := node.NewObserverClient(ctx, again.api, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if miners, err := obs.Miners(ctx); err != nil || len(miners) != 1 || miners[0] != created.IDAddress {
		t.Errorf("Devnet.Miners after the restart = %v, %v", miners, err)
	}
	again.stop(t)

	// A home holds one chain: another seed or delay is refused.
	for _, args := range [][]string{{"--seed", "another"}, {"--precommit-challenge-delay", "7"}} {
		_, errOut, err := runCmd(t, "damocles-devnet", append([]string{"run", "--home", home, "--listen", "127.0.0.1:0"}, args...)...)
		if err == nil || !strings.Contains(errOut, "holds a chain with") {
			t.Errorf("run %v on the home: err=%v stderr=%s", args, err, errOut)
		}
	}
}

func TestDevnetRefusesBadFlags(t *testing.T) {
	home := filepath.Join(t.TempDir(), "devnet")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--block-time", "0s"}, "--block-time"},
		{[]string{"--block-time", "-1s"}, "--block-time"},
		{[]string{"--miner", "t01000"}, "ID:SIZE"},
		{[]string{"--miner", "t1abc:2KiB"}, "not a miner ID"},
		{[]string{"--miner", "t01000:3KiB"}, "not a sector size"},
		{[]string{"--miner", "t0999:2KiB", "--listen", "127.0.0.1:0"}, "miner ids start at 1000"},
	} {
		_, errOut, err := runCmd(t, "damocles-devnet", append([]string{"run", "--home", home}, tc.args...)...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("run %v: err=%v stderr=%s, want an error about %q", tc.args, err, errOut, tc.want)
		}
	}
}

// lifecycleNeeds is how long TestDevnetLifecycle may take: up to three
// proving periods of 2880 epochs at 100 ms (its deadline's first window,
// the missed one, the recovered one) plus sealing and start-up.
const lifecycleNeeds = 18 * time.Minute

// TestDevnetLifecycle is the devnet's acceptance scenario: a miner created
// with the manager's CLI, two sectors sealed and activated, a WindowPoSt
// accepted in their deadline, the next period's deadline missed (sectors
// faulty), recovery declared and proven in the period after (sectors
// active again). The test process plays the manager; the devnet's records
// and chain state are the only judge.
func TestDevnetLifecycle(t *testing.T) {
	t.Parallel()
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < lifecycleNeeds {
		// CI runs make test, whose timeout leaves room: a skip there would
		// hide the acceptance test.
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs about %s of real time but the test deadline is in %s: raise go test's -timeout", lifecycleNeeds, time.Until(deadline).Round(time.Second))
		}
		t.Skipf("needs about %s of real time (three proving periods of 100 ms epochs); run with -timeout 25m", lifecycleNeeds)
	}
	began := time.Now()
	defer func() { t.Logf("TestDevnetLifecycle took %s", time.Since(began).Round(time.Second)) }()
	const blockTime = 100 * time.Millisecond
	// epochs bounds the wait for n epochs: twice their block time, and a
	// minute for a slow machine.
	epochs := func(n abi.ChainEpoch) time.Duration { return time.Duration(max(n, 0))*blockTime*2 + time.Minute }

	d := startDevnet(t, filepath.Join(t.TempDir(), "devnet"), blockTime)
	ctx := t.Context()

	h := managerHome(t)
	setConfig(t, h, "Common.API", fmt.Sprintf("Chain = %q", d.api), fmt.Sprintf("Token = %q", d.token))
	out := mustRun(t, "damocles-manager", "--home", h, "util", "miner", "create", "--from", d.wallet.String(), "--sector-size", "2KiB")
	m := regexp.MustCompile(`New miner: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("util miner create printed no miner:\n%s", out)
	}
	maddr, err := address.NewFromString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	api := d.client(t, d.token)
	obs, closer, err := node.NewObserverClient(ctx, d.api, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	stats := func() devnet.MinerStats {
		t.Helper()
		s, err := obs.Stats(ctx, maddr)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Logf("height %d: miner %s created by the manager's CLI", head(t, ctx, api), maddr)

	s := newDevSealer(t, maddr)
	s.activate(t, ctx, api, d.wallet, 1, 2)
	loc1, found1 := findSector(t, ctx, api, maddr, 1)
	loc2, found2 := findSector(t, ctx, api, maddr, 2)
	if !found1 || !found2 || loc1 != loc2 {
		t.Fatalf("sectors 1 and 2 are at %+v (%v) and %+v (%v): want one 2-sector partition", loc1, found1, loc2, found2)
	}
	if st := stats(); st.Unproven != 2 {
		t.Fatalf("after activation: %+v, want 2 unproven sectors", st)
	}
	sectors := bitfield.NewFromSet([]uint64{1, 2})

	// 1. The first window of their deadline: proven.
	first := waitDeadlineOpen(t, ctx, api, maddr, loc1.deadline, epochs)
	submitPoSt(t, ctx, api, s, d.wallet, first, loc1.partition)
	if st := stats(); st.ProofsAccepted != 1 || st.ProofsRejected != 0 || st.Active != 2 {
		t.Fatalf("after the first WindowPoSt: %+v, want 1 accepted and 2 active sectors", st)
	}

	// 2. The next period's window closes without a proof.
	missed := chain.NewDeadlineInfo(first.PeriodStart+chain.WPoStProvingPeriod, loc1.deadline, first.CurrentEpoch)
	waitHeight(t, ctx, api, missed.Close, epochs(missed.Close-head(t, ctx, api)),
		fmt.Sprintf("deadline %d of the next period (%d..%d) to close without a proof", loc1.deadline, missed.Open, missed.Close-1))
	rec, err := obs.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := devnet.MissedPartition{Miner: maddr, Deadline: loc1.deadline, Partition: loc1.partition, Open: missed.Open, Epoch: missed.Last(), Sectors: 2}
	if len(rec.Missed) != 1 || rec.Missed[0] != want {
		t.Fatalf("missed partitions %+v, want %+v", rec.Missed, want)
	}
	if st := stats(); st.Faulty != 2 || st.Active != 0 {
		t.Fatalf("after the missed window: %+v, want 2 faulty sectors", st)
	}
	t.Logf("height %d: partition %d of deadline %d recorded missed at %d", head(t, ctx, api), loc1.partition, loc1.deadline, missed.Last())

	// 3. Recovery declared before the fault cutoff of the next window.
	third := chain.NewDeadlineInfo(missed.PeriodStart+chain.WPoStProvingPeriod, loc1.deadline, head(t, ctx, api))
	l := sendAndWait(t, ctx, api, d.wallet, maddr, builtin.MethodsMiner.DeclareFaultsRecovered, &miner.DeclareFaultsRecoveredParams{
		Recoveries: []miner.RecoveryDeclaration{{Deadline: loc1.deadline, Partition: loc1.partition, Sectors: sectors}},
	})
	requireOK(t, "DeclareFaultsRecovered", l)
	if l.Height >= third.FaultCutoff {
		t.Fatalf("recovery executed at %d, after the fault cutoff %d", l.Height, third.FaultCutoff)
	}
	if st := stats(); st.Recovering != 2 || st.Faulty != 2 {
		t.Fatalf("after declaring recovery: %+v, want 2 faulty sectors recovering", st)
	}
	t.Logf("height %d: recovery declared (fault cutoff %d)", head(t, ctx, api), third.FaultCutoff)

	// 4. The following period's window: proven again, sectors active.
	again := waitDeadlineOpen(t, ctx, api, maddr, loc1.deadline, epochs)
	if again.Open != third.Open {
		t.Fatalf("waited for the window at %d, want the one at %d", again.Open, third.Open)
	}
	submitPoSt(t, ctx, api, s, d.wallet, again, loc1.partition)
	st := stats()
	if st.ProofsAccepted != 2 || st.ProofsRejected != 0 || st.Active != 2 || st.Faulty != 0 || st.Recovering != 0 || st.Recovered != 2 {
		t.Fatalf("after the recovery WindowPoSt: %+v, want 2 accepted proofs and 2 active, recovered sectors", st)
	}
	if rec, err := obs.Records(ctx); err != nil || len(rec.Missed) != 1 {
		t.Fatalf("missed partitions at the end: %+v, %v; want only the one missed on purpose", rec.Missed, err)
	}
}

// waitDeadlineOpen waits for the next window of deadline idx that has not
// closed, and returns it as StateMinerProvingDeadline reports it open.
func waitDeadlineOpen(t *testing.T, ctx context.Context, api chain.API, maddr address.Address, idx uint64, epochs func(abi.ChainEpoch) time.Duration) *dline.Info {
	t.Helper()
	cur, err := api.StateMinerProvingDeadline(ctx, maddr, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	target := chain.NewDeadlineInfo(cur.PeriodStart, idx, cur.CurrentEpoch).NextNotElapsed()
	waitHeight(t, ctx, api, target.Open, epochs(target.Open-cur.CurrentEpoch), fmt.Sprintf("deadline %d to open at %d", idx, target.Open))
	di, err := api.StateMinerProvingDeadline(ctx, maddr, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	if di.Index != idx || !di.IsOpen() || di.Open != target.Open || di.Close-di.CurrentEpoch < 10 {
		t.Fatalf("waiting for deadline %d at %d, the chain says %+v", idx, target.Open, di)
	}
	return di
}

// submitPoSt proves one partition of the open deadline di and requires the
// devnet to accept it.
func submitPoSt(t *testing.T, ctx context.Context, api chain.API, s *devSealer, from address.Address, di *dline.Info, partition uint64) {
	t.Helper()
	params := s.windowPoSt(t, ctx, api, di, []uint64{partition})
	l := sendAndWait(t, ctx, api, from, s.maddr, builtin.MethodsMiner.SubmitWindowedPoSt, params)
	requireOK(t, fmt.Sprintf("SubmitWindowedPoSt of deadline %d", di.Index), l)
	if l.Height >= di.Close {
		t.Fatalf("WindowPoSt executed at %d, after its window closed at %d", l.Height, di.Close)
	}
	t.Logf("height %d: WindowPoSt of deadline %d partition %d accepted at %d (window %d..%d)", head(t, ctx, api), di.Index, partition, l.Height, di.Open, di.Close-1)
}
