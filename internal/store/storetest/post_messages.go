package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/damocles-go/damocles/internal/store"
)

// postKey is the key of a message of miner 1000 for the deadline whose
// window opens at epoch open.
func postKey(open abi.ChainEpoch, kind, batch string) store.PoStMessageKey {
	return store.PoStMessageKey{Miner: 1000, DeadlineOpen: open, Kind: kind, Batch: batch}
}

func exercisePoStMessages(t *testing.T, newDB func(t *testing.T) *store.DB) {
	t.Run("ClaimOnce", func(t *testing.T) {
		ctx := testContext(t)
		msgs := newDB(t).PoStMessages()
		key := postKey(3_000_000, "post", "0,1,2")
		claimed := store.PoStMessage{PoStMessageKey: key, CreatedAt: testTime, UpdatedAt: testTime}

		got, created, err := msgs.Claim(ctx, key, testTime.Add(999*time.Millisecond))
		if err != nil || !created || got != claimed {
			t.Fatalf("first Claim = %+v, %v, %v; want %+v, true, nil", got, created, err, claimed)
		}
		got, created, err = msgs.Claim(ctx, key, testTime.Add(time.Minute))
		if err != nil || created || got != claimed {
			t.Fatalf("second Claim = %+v, %v, %v; want %+v, false, nil", got, created, err, claimed)
		}

		// After a restart the poster finds the message it pushed.
		sent := claimed
		sent.Message, sent.UpdatedAt = "bafy2bzacepost", testTime.Add(time.Second)
		if err := msgs.SetMessage(ctx, key, sent.Message, sent.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		got, created, err = msgs.Claim(ctx, key, testTime.Add(time.Hour))
		if err != nil || created || got != sent {
			t.Fatalf("Claim after SetMessage = %+v, %v, %v; want %+v, false, nil", got, created, err, sent)
		}
		// The values already stored, again: MySQL reports no row changed.
		if err := msgs.SetMessage(ctx, key, sent.Message, sent.UpdatedAt); err != nil {
			t.Fatalf("SetMessage of the stored values: %v", err)
		}
		wantPoStMessages(t, msgs, 1000, 3_000_000, sent)
	})

	t.Run("SetMessageOfUnclaimed", func(t *testing.T) {
		ctx := testContext(t)
		msgs := newDB(t).PoStMessages()
		key := postKey(3_000_000, "recover", "4")
		if err := msgs.SetMessage(ctx, key, "bafy2bzacerecover", testTime); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SetMessage of an unclaimed key = %v; want ErrNotFound", err)
		}
		if _, _, err := msgs.Claim(ctx, postKey(3_000_000, "post", "4"), testTime); err != nil {
			t.Fatal(err)
		}
		if err := msgs.SetMessage(ctx, key, "bafy2bzacerecover", testTime); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SetMessage of a key claimed for another kind = %v; want ErrNotFound", err)
		}
		if err := msgs.SetMessage(ctx, postKey(3_000_000, "post", "4"), "", testTime); err == nil {
			t.Error("SetMessage of an empty CID succeeded")
		}
	})

	t.Run("ListOneDeadlineOccurrence", func(t *testing.T) {
		ctx := testContext(t)
		msgs := newDB(t).PoStMessages()
		const open = 3_000_000
		// Batches sort bytewise, as text, and keys are case-sensitive.
		want := []store.PoStMessageKey{
			postKey(open, "POST", "0"),
			postKey(open, "post", "0,1"),
			postKey(open, "post", "10"),
			postKey(open, "post", "2"),
			postKey(open, "recover", "0,1"),
		}
		others := []store.PoStMessageKey{
			postKey(open+2880, "post", "0,1"), // the same deadline a proving period later
			postKey(open-60, "post", "0,1"),   // the previous deadline
			{Miner: 1001, DeadlineOpen: open, Kind: "post", Batch: "0,1"},
		}
		for _, i := range []int{3, 1, 4, 0, 2} {
			if _, _, err := msgs.Claim(ctx, want[i], testTime); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range others {
			if _, _, err := msgs.Claim(ctx, k, testTime); err != nil {
				t.Fatal(err)
			}
		}
		var rows []store.PoStMessage
		for _, k := range want {
			rows = append(rows, store.PoStMessage{PoStMessageKey: k, CreatedAt: testTime, UpdatedAt: testTime})
		}
		wantPoStMessages(t, msgs, 1000, open, rows...)
		wantPoStMessages(t, msgs, 1002, open)
		wantPoStMessages(t, msgs, 1000, open+1)
	})

	t.Run("DeleteThenClaimAgain", func(t *testing.T) {
		ctx := testContext(t)
		msgs := newDB(t).PoStMessages()
		key, kept := postKey(3_000_000, "post", "0"), postKey(3_000_000, "post", "1")
		for _, k := range []store.PoStMessageKey{key, kept} {
			if _, _, err := msgs.Claim(ctx, k, testTime); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if err := msgs.Delete(ctx, key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		wantPoStMessages(t, msgs, 1000, 3_000_000,
			store.PoStMessage{PoStMessageKey: kept, CreatedAt: testTime, UpdatedAt: testTime})
		later := testTime.Add(time.Minute)
		got, created, err := msgs.Claim(ctx, key, later)
		want := store.PoStMessage{PoStMessageKey: key, CreatedAt: later, UpdatedAt: later}
		if err != nil || !created || got != want {
			t.Fatalf("Claim after Delete = %+v, %v, %v; want %+v, true, nil", got, created, err, want)
		}
	})

	t.Run("PruneBefore", func(t *testing.T) {
		ctx := testContext(t)
		msgs := newDB(t).PoStMessages()
		keys := []store.PoStMessageKey{
			postKey(0, "post", "0"),
			{Miner: 1001, DeadlineOpen: 100, Kind: "recover", Batch: "0"},
			postKey(100, "post", "0"),
			postKey(200, "post", "0"),
			postKey(300, "post", "0"),
		}
		for _, k := range keys {
			if _, _, err := msgs.Claim(ctx, k, testTime); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			before abi.ChainEpoch
			want   int64
		}{{-2880, 0}, {0, 0}, {101, 3}, {101, 0}, {200, 0}, {201, 1}} {
			if n, err := msgs.PruneBefore(ctx, tt.before); err != nil || n != tt.want {
				t.Fatalf("PruneBefore(%d) = %d, %v; want %d, nil", tt.before, n, err, tt.want)
			}
		}
		wantPoStMessages(t, msgs, 1000, 300,
			store.PoStMessage{PoStMessageKey: keys[4], CreatedAt: testTime, UpdatedAt: testTime})
		wantPoStMessages(t, msgs, 1000, 200)
		wantPoStMessages(t, msgs, 1001, 100)
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		ctx := testContext(t)
		msgs := newDB(t).PoStMessages()
		for _, tt := range []struct {
			key   store.PoStMessageKey
			field string
		}{
			{postKey(3_000_000, "", "0"), "kind"},
			{postKey(3_000_000, "post", ""), "batch"},
			{postKey(-1, "post", "0"), "deadline open"},
			{store.PoStMessageKey{Miner: 1 << 63, DeadlineOpen: 3_000_000, Kind: "post", Batch: "0"}, "miner"},
		} {
			_, _, claimErr := msgs.Claim(ctx, tt.key, testTime)
			for op, err := range map[string]error{
				"Claim":      claimErr,
				"SetMessage": msgs.SetMessage(ctx, tt.key, "bafy2bzacepost", testTime),
				"Delete":     msgs.Delete(ctx, tt.key),
			} {
				if err == nil || !strings.Contains(err.Error(), tt.field) {
					t.Errorf("%s(%+v) = %v; want an error naming the %s", op, tt.key, err, tt.field)
				}
			}
		}
		if _, err := msgs.List(ctx, 1000, -1); err == nil || !strings.Contains(err.Error(), "deadline open") {
			t.Errorf("List at a negative epoch = %v; want an error naming the deadline open epoch", err)
		}
		if _, err := msgs.List(ctx, 1<<63, 0); err == nil || !strings.Contains(err.Error(), "miner") {
			t.Errorf("List of miner 2^63 = %v; want an error naming the miner", err)
		}
		wantPoStMessages(t, msgs, 1000, 3_000_000)
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		ctx := testContext(t)
		db := newDB(t)
		dbs := handles(t, db)
		key := postKey(3_000_000, "post", "0,1")
		got := make([]store.PoStMessage, len(dbs))
		created := make([]bool, len(dbs))
		errs := race(len(dbs), func(i int) error {
			var err error
			got[i], created[i], err = dbs[i].PoStMessages().Claim(ctx, key, testTime.Add(time.Duration(i)*time.Second))
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Claim on handle %d: %v", i, err)
			}
		}
		winner := onlyWinner(t, "Claims created the row", created)
		want := store.PoStMessage{PoStMessageKey: key,
			CreatedAt: testTime.Add(time.Duration(winner) * time.Second),
			UpdatedAt: testTime.Add(time.Duration(winner) * time.Second)}
		for i := range got {
			if got[i] != want {
				t.Errorf("Claim on handle %d = %+v; want the row handle %d created, %+v", i, got[i], winner, want)
			}
		}
		wantPoStMessages(t, db.PoStMessages(), 1000, 3_000_000, want)
	})
}

func wantPoStMessages(t *testing.T, msgs *store.PoStMessages, miner abi.ActorID, open abi.ChainEpoch, want ...store.PoStMessage) {
	t.Helper()
	got, err := msgs.List(testContext(t), miner, open)
	if err != nil {
		t.Fatalf("List(%d, %d): %v", miner, open, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%d, %d) =\n\t%+v\nwant\n\t%+v", miner, open, got, want)
	}
}
