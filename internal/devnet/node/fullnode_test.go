package node

import (
	"context"
	"strings"
	"testing"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
	"github.com/filecoin-project/go-state-types/crypto"

	"github.com/damocles-go/damocles/internal/chain"
)

func TestTipSetsAreTheChainsBlocks(t *testing.T) {
	tn := newTestNode(t)
	ctx := t.Context()
	tn.advance(7)

	head, err := tn.node.ChainHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Height != 7 || len(head.Cids) != 1 || head.Key() != tn.keyAt(7) {
		t.Fatalf("ChainHead = height %d key %s, want 7 %s", head.Height, head.Key(), tn.keyAt(7))
	}
	// A Lotus client recomputes the key from the block it decodes.
	if c, err := head.Blocks[0].Cid(); err != nil || c != head.Cids[0] {
		t.Fatalf("block CID %s (%v), tipset key %s", c, err, head.Cids[0])
	}
	for h := abi.ChainEpoch(0); h <= 7; h++ {
		ts, err := tn.node.ChainGetTipSetByHeight(ctx, h, chain.EmptyTSK)
		if err != nil || ts.Height != h || ts.Key() != tn.keyAt(h) {
			t.Fatalf("ChainGetTipSetByHeight(%d) = %v, %v", h, ts, err)
		}
		if h > 0 && ts.Parents() != tn.keyAt(h-1) {
			t.Fatalf("tipset %d has parents %s, want %s", h, ts.Parents(), tn.keyAt(h-1))
		}
	}
	if _, err := tn.node.ChainGetTipSetByHeight(ctx, 8, chain.EmptyTSK); err == nil {
		t.Error("ChainGetTipSetByHeight above the head succeeded")
	}
	if _, err := tn.node.ChainGetTipSetByHeight(ctx, 5, tn.keyAt(3)); err == nil {
		t.Error("ChainGetTipSetByHeight above the given tipset succeeded")
	}
	if ts, err := tn.node.ChainGetTipSetByHeight(ctx, 2, tn.keyAt(3)); err != nil || ts.Height != 2 {
		t.Errorf("ChainGetTipSetByHeight(2, key of 3) = %v, %v", ts, err)
	}
}

func TestTipSetKeys(t *testing.T) {
	tn := newTestNode(t)
	ctx := t.Context()
	maddr, err := tn.chain.CreateMiner(1000, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tn.advance(10)
	at3 := tn.keyAt(3)

	// Height-dependent answers follow the key.
	di, err := tn.node.StateMinerProvingDeadline(ctx, maddr, at3)
	if err != nil || di.CurrentEpoch != 3 {
		t.Fatalf("StateMinerProvingDeadline at height 3 = %+v, %v", di, err)
	}
	if di, err := tn.node.StateMinerProvingDeadline(ctx, maddr, chain.EmptyTSK); err != nil || di.CurrentEpoch != 10 {
		t.Fatalf("StateMinerProvingDeadline at the head = %+v, %v", di, err)
	}
	entropy := []byte("entropy")
	if _, err := tn.node.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, 4, entropy, at3); err == nil {
		t.Error("ticket randomness after the given tipset succeeded")
	}
	if _, err := tn.node.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_WindowedPoStChallengeSeed, 11, entropy, chain.EmptyTSK); err == nil {
		t.Error("beacon randomness after the head succeeded")
	}
	r1, err := tn.node.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, 3, entropy, at3)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := tn.chain.TicketRandomness(crypto.DomainSeparationTag_SealRandomness, 3, entropy)
	if err != nil || string(r1) != string(r2) {
		t.Fatalf("randomness through the node %x, from the chain %x (%v)", r1, r2, err)
	}

	// Unknown keys are refused by every method that takes one.
	notABlock, err := abi.CidBuilder.Sum([]byte("not a block"))
	if err != nil {
		t.Fatal(err)
	}
	bogus := chain.NewTipSetKey(notABlock)
	twoBlocks := chain.NewTipSetKey(tn.keyAt(1).Cids()[0], tn.keyAt(2).Cids()[0])
	for _, key := range []chain.TipSetKey{bogus, twoBlocks} {
		calls := map[string]func() error{
			"ChainGetTipSetByHeight": func() error { _, err := tn.node.ChainGetTipSetByHeight(ctx, 1, key); return err },
			"StateNetworkVersion":    func() error { _, err := tn.node.StateNetworkVersion(ctx, key); return err },
			"StateMinerInfo":         func() error { _, err := tn.node.StateMinerInfo(ctx, maddr, key); return err },
			"StateMinerProvingDeadline": func() error {
				_, err := tn.node.StateMinerProvingDeadline(ctx, maddr, key)
				return err
			},
			"StateMinerDeadlines":  func() error { _, err := tn.node.StateMinerDeadlines(ctx, maddr, key); return err },
			"StateMinerPartitions": func() error { _, err := tn.node.StateMinerPartitions(ctx, maddr, 0, key); return err },
			"StateMinerSectors":    func() error { _, err := tn.node.StateMinerSectors(ctx, maddr, nil, key); return err },
			"StateSectorGetInfo":   func() error { _, err := tn.node.StateSectorGetInfo(ctx, maddr, 1, key); return err },
			"StateSectorPreCommitInfo": func() error {
				_, err := tn.node.StateSectorPreCommitInfo(ctx, maddr, 1, key)
				return err
			},
			"StateMinerSectorAllocated": func() error {
				_, err := tn.node.StateMinerSectorAllocated(ctx, maddr, 1, key)
				return err
			},
			"StateGetRandomnessFromBeacon": func() error {
				_, err := tn.node.StateGetRandomnessFromBeacon(ctx, crypto.DomainSeparationTag_SealRandomness, 1, nil, key)
				return err
			},
			"StateGetRandomnessFromTickets": func() error {
				_, err := tn.node.StateGetRandomnessFromTickets(ctx, crypto.DomainSeparationTag_SealRandomness, 1, nil, key)
				return err
			},
			"StateLookupID":   func() error { _, err := tn.node.StateLookupID(ctx, maddr, key); return err },
			"StateAccountKey": func() error { _, err := tn.node.StateAccountKey(ctx, tn.chain.DefaultAddress(), key); return err },
			"StateSearchMsg": func() error {
				_, err := tn.node.StateSearchMsg(ctx, key, tn.keyAt(1).Cids()[0], -1, true)
				return err
			},
		}
		for name, call := range calls {
			if err := call(); err == nil || !strings.Contains(err.Error(), "tipset not found") {
				t.Errorf("%s with key %s: %v, want tipset not found", name, key, err)
			}
		}
	}

	// A key mined after the index was built is found too.
	tn.advance(3)
	if _, err := tn.node.StateNetworkVersion(ctx, tn.keyAt(12)); err != nil {
		t.Errorf("key of a new tipset: %v", err)
	}
}

func TestMinerInfoIsLotuss(t *testing.T) {
	tn := newTestNode(t)
	ctx := t.Context()
	maddr, err := tn.chain.CreateMiner(1000, 2048)
	if err != nil {
		t.Fatal(err)
	}
	walletID, err := tn.node.StateLookupID(ctx, tn.chain.DefaultAddress(), chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	mi, err := tn.node.StateMinerInfo(ctx, maddr, chain.EmptyTSK)
	if err != nil {
		t.Fatal(err)
	}
	if mi.Owner != walletID || mi.Worker != walletID || mi.Beneficiary != walletID || mi.NewWorker != address.Undef ||
		mi.WorkerChangeEpoch != -1 || mi.PeerId != nil || mi.SectorSize != 2048 || mi.WindowPoStPartitionSectors != 2 ||
		mi.WindowPoStProofType != abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1 || mi.BeneficiaryTerm == nil {
		t.Errorf("StateMinerInfo = %+v", mi)
	}
	if _, err := tn.node.StateMinerInfo(ctx, mustID(t, 1999), chain.EmptyTSK); err == nil || !strings.Contains(err.Error(), "t01999") && !strings.Contains(err.Error(), "f01999") {
		t.Errorf("StateMinerInfo of a missing miner: %v, want an error naming it", err)
	}

	// Peer IDs and pending worker changes, which the devnet's own
	// miners never have, map as Lotus maps them.
	peer, err := chain.ParsePeerID("12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf")
	if err != nil {
		t.Fatal(err)
	}
	other := mustID(t, 1234)
	got := lotusMinerInfo(miner.MinerInfo{
		PeerId:           peer,
		PendingWorkerKey: &miner.WorkerKeyChange{NewWorker: other, EffectiveAt: 77},
	})
	if got.PeerId == nil || *got.PeerId != "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf" || got.NewWorker != other || got.WorkerChangeEpoch != 77 {
		t.Errorf("mapped info %+v (peer %v)", got, got.PeerId)
	}
}

func TestWalletAndPush(t *testing.T) {
	tn := newTestNode(t)
	ctx := t.Context()
	w, err := tn.node.WalletDefaultAddress(ctx)
	if err != nil || w != tn.chain.DefaultAddress() {
		t.Fatalf("WalletDefaultAddress = %s, %v", w, err)
	}
	if bal, err := tn.node.WalletBalance(ctx, w); err != nil || bal.Sign() <= 0 {
		t.Errorf("wallet balance %s, %v", bal, err)
	}
	// Lotus reports zero, not an error, for an address without an actor.
	if bal, err := tn.node.WalletBalance(ctx, mustID(t, 4242)); err != nil || !bal.IsZero() {
		t.Errorf("balance of a missing actor = %s, %v", bal, err)
	}

	sm, err := tn.node.MpoolPushMessage(ctx, tn.selfSend(), &chain.MessageSendSpec{MaxFee: big.Zero()})
	if err != nil {
		t.Fatal(err)
	}
	second, err := tn.node.MpoolPushMessage(ctx, tn.selfSend(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sm.Message.Nonce != 0 || second.Message.Nonce != 1 || sm.Signature.Type != crypto.SigTypeSecp256k1 {
		t.Errorf("nonces %d, %d, signature type %d", sm.Message.Nonce, second.Message.Nonce, sm.Signature.Type)
	}
	// The CID a client computes from the returned message finds it.
	c, err := sm.Cid()
	if err != nil {
		t.Fatal(err)
	}
	tn.advance(1)
	if l, err := tn.node.StateSearchMsg(ctx, chain.EmptyTSK, c, chain.LookbackNoLimit, true); err != nil || l == nil || l.Receipt.ExitCode != 0 {
		t.Fatalf("StateSearchMsg of the pushed message = %+v, %v", l, err)
	}

	withNonce := tn.selfSend()
	withNonce.Nonce = 5
	if _, err := tn.node.MpoolPushMessage(ctx, withNonce, nil); err == nil {
		t.Error("a message with a nonce was pushed")
	}
	foreign := tn.selfSend()
	foreign.From = mustID(t, 4)
	if _, err := tn.node.MpoolPushMessage(ctx, foreign, nil); err == nil || !strings.Contains(err.Error(), "holds no key") {
		t.Errorf("push from an address outside the wallet: %v", err)
	}
	if _, err := tn.node.MpoolPushMessage(ctx, nil, nil); err == nil {
		t.Error("a nil message was pushed")
	}
}

func TestStateWaitMsg(t *testing.T) {
	tn := newTestNode(t)
	ctx := t.Context()
	tn.advance(2)
	msg := tn.push(tn.selfSend())
	pushedAt := tn.height()

	if l, err := tn.node.StateSearchMsg(ctx, chain.EmptyTSK, msg, chain.LookbackNoLimit, true); err != nil || l != nil {
		t.Fatalf("StateSearchMsg of a pending message = %+v, %v; want nil, nil", l, err)
	}

	type result struct {
		l   *chain.MsgLookup
		err error
	}
	wait := func(confidence uint64, limit abi.ChainEpoch) <-chan result {
		out := make(chan result, 1)
		go func() {
			l, err := tn.node.StateWaitMsg(ctx, msg, confidence, limit, true)
			out <- result{l, err}
		}()
		return out
	}
	done := wait(2, chain.LookbackNoLimit)
	// The message executes in the next epoch; two more make it 2 deep.
	tn.advance(2)
	select {
	case r := <-done:
		t.Fatalf("StateWaitMsg returned %+v at confidence 1", r)
	default:
	}
	tn.advance(1)
	r := <-done
	executed := pushedAt + 1
	if r.err != nil || r.l.Height != executed || r.l.TipSet != tn.keyAt(executed) || r.l.Message != msg || r.l.Receipt.ExitCode != 0 {
		t.Fatalf("StateWaitMsg = %+v, %v; want height %d, tipset %s", r.l, r.err, executed, tn.keyAt(executed))
	}
	// StateSearchMsg reports the same tipset, from any later tipset.
	for _, from := range []chain.TipSetKey{chain.EmptyTSK, tn.keyAt(executed)} {
		l, err := tn.node.StateSearchMsg(ctx, from, msg, chain.LookbackNoLimit, true)
		if err != nil || l == nil || l.Height != r.l.Height || l.TipSet != r.l.TipSet {
			t.Errorf("StateSearchMsg from %s = %+v, %v", from, l, err)
		}
	}
	if l, err := tn.node.StateSearchMsg(ctx, tn.keyAt(executed-1), msg, chain.LookbackNoLimit, true); err != nil || l != nil {
		t.Errorf("StateSearchMsg from before its execution = %+v, %v", l, err)
	}

	// The look-back limit: the head is 2 epochs past the execution.
	for _, tc := range []struct {
		limit abi.ChainEpoch
		found bool
	}{{chain.LookbackNoLimit, true}, {3, true}, {2, false}, {0, false}} {
		l, err := tn.node.StateSearchMsg(ctx, chain.EmptyTSK, msg, tc.limit, true)
		if err != nil || (l != nil) != tc.found {
			t.Errorf("StateSearchMsg limit %d = %+v, %v; found want %v", tc.limit, l, err, tc.found)
		}
	}
	if r := <-wait(0, 3); r.err != nil || r.l.Height != executed {
		t.Errorf("StateWaitMsg within the limit = %+v, %v", r.l, r.err)
	}
	// Outside the limit, Lotus waits for a new execution that never
	// comes: until the caller gives up.
	short, cancel := context.WithCancel(ctx)
	out := make(chan error, 1)
	go func() {
		_, err := tn.node.StateWaitMsg(short, msg, 0, 2, true)
		out <- err
	}()
	tn.advance(1)
	select {
	case err := <-out:
		t.Fatalf("StateWaitMsg outside the look-back limit returned %v", err)
	default:
	}
	cancel()
	if err := <-out; err == nil {
		t.Error("StateWaitMsg outside the look-back limit returned no error when cancelled")
	}

	unknown, err := abi.CidBuilder.Sum([]byte("never pushed"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.node.StateWaitMsg(ctx, unknown, 0, chain.LookbackNoLimit, true); err == nil || !strings.Contains(err.Error(), "failed to load message") {
		t.Errorf("StateWaitMsg of an unknown message: %v", err)
	}
	if _, err := tn.node.StateSearchMsg(ctx, chain.EmptyTSK, unknown, chain.LookbackNoLimit, true); err == nil {
		t.Error("StateSearchMsg of an unknown message succeeded")
	}
}

func TestStateWaitMsgEndsWithTheNode(t *testing.T) {
	tn := newTestNode(t)
	msg := tn.push(tn.selfSend())
	out := make(chan error, 1)
	go func() {
		_, err := tn.node.StateWaitMsg(context.Background(), msg, 10, chain.LookbackNoLimit, true)
		out <- err
	}()
	tn.node.Close()
	if err := <-out; err == nil {
		t.Fatal("StateWaitMsg succeeded after Close")
	}
}
