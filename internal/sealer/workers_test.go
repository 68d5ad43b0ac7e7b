package sealer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/damocles-go/damocles/internal/rpc"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

func TestWorkerRegistry(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	reg := NewWorkerRegistry(storetest.NewSQLite(t).Workers(), func() time.Time { return now })

	for _, bad := range []rpc.WorkerInfo{{Dest: "10.0.0.1:17890"}, {Name: "w"}} {
		if _, err := reg.WorkerPing(ctx, bad); err == nil {
			t.Fatalf("WorkerPing(%+v) succeeded; want an error for the empty field", bad)
		}
	}

	info := rpc.WorkerInfo{Name: "w-b", Dest: "10.0.0.2:17890", Version: "v1", Summary: rpc.WorkerThreadsSummary{Threads: 4, Running: 3, Errors: 1}}
	if _, err := reg.WorkerPing(ctx, info); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.WorkerPing(ctx, rpc.WorkerInfo{Name: "w-a", Dest: "10.0.0.1:17890"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	info.Summary.Running = 4
	if _, err := reg.WorkerPing(ctx, info); err != nil {
		t.Fatal(err)
	}

	list, err := reg.WorkerList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Info.Name != "w-a" || list[1].Info.Name != "w-b" {
		t.Fatalf("WorkerList = %+v; want w-a then w-b", list)
	}
	if got := list[1]; got.Info.Summary.Running != 4 || got.LastPing != now.Unix() || !strings.HasPrefix(got.Info.Dest, "10.0.0.2") {
		t.Fatalf("w-b = %+v; want the second ping's summary and time", got)
	}
}
