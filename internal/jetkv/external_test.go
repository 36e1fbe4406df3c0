package jetkv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/access"
	"chatd/access/backendtest"
	"chatd/internal/jetlog"
	"chatd/internal/testproc"
)

// external connects to srv as chatd does with --nats: through the room's
// log, closed at the test's end.
func external(t *testing.T, srv *testproc.NATS) *jetlog.Log {
	t.Helper()
	l, err := jetlog.Open(context.Background(), jetlog.Options{URL: srv.URL(), Logger: quiet, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestExternalServer runs the table against a real nats-server process,
// then takes the server away: Put, Get, List and Open fail within
// Timeout, saying the server is unreachable, and work again once it is
// back.
func TestExternalServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	bin, err := testproc.BuildNATS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := testproc.StartNATS(t, bin, t.TempDir(), "")
	nc := external(t, srv).Conn()
	backendtest.Run(t, factory(nc))

	t.Run("WatchResync", func(t *testing.T) { testWatchResync(t, nc) })

	t.Run("Outage", func(t *testing.T) {
		const timeout = time.Second
		b := open(t, nc, Options{Prefix: "OUTAGE_", Timeout: timeout})
		ctx := t.Context()
		told := make(chan string, 16)
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		if err := b.Watch(wctx, access.Bans, func(key string, val []byte, _ bool) { told <- key + "=" + string(val) }); err != nil {
			t.Fatal(err)
		}
		if err := b.Put(ctx, access.Bans, "mallory", []byte("before"), 0); err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		for _, op := range []struct {
			name string
			do   func() error
		}{
			{"Put", func() error { return b.Put(ctx, access.Bans, "eve", []byte("during"), 0) }},
			{"Get", func() error { _, _, err := b.Get(ctx, access.Bans, "mallory"); return err }},
			{"List", func() error { _, err := b.List(ctx, access.Bans); return err }},
			{"Open", func() error {
				_, err := Open(ctx, nc, Options{Prefix: "OUTAGE_", Timeout: timeout, Logger: quiet})
				return err
			}},
		} {
			start := time.Now()
			err := op.do()
			t.Logf("%s with the server down: %v", op.name, err)
			if d := time.Since(start); d > timeout+time.Second {
				t.Errorf("%s with the server down took %v (Timeout %v)", op.name, d, timeout)
			}
			if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "bucket OUTAGE_") {
				t.Errorf("%s with the server down = %v, want it to name the bucket and say the server is unreachable", op.name, err)
			}
		}
		srv = srv.Restart(t)
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := b.Put(ctx, access.Bans, "eve", []byte("after"), 0)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Put still fails after the server came back: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		got, err := b.List(ctx, access.Bans)
		if err != nil || string(got["mallory"]) != "before" || string(got["eve"]) != "after" || len(got) != 2 {
			t.Fatalf("after the outage: %q, %v", got, err)
		}
		if err := b.Create(ctx, access.Bans, "eve", nil, 0); !errors.Is(err, access.ErrExists) {
			t.Fatalf("Create after the outage = %v, want ErrExists", err)
		}
		waitTold(t, told, "eve=after")
	})
}

// waitTold waits for a watch to tell want on told.
func waitTold(t *testing.T, told <-chan string, want string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case got := <-told:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("the watch never told %s", want)
		}
	}
}

// testWatchResync: a change a watch missed (a purge behind its back,
// with no notice) is told when its connection comes back, by reading
// the bucket again; values it was told already are not told again.
func testWatchResync(t *testing.T, nc *nats.Conn) {
	b := open(t, nc, Options{Prefix: "RESYNC_"})
	ctx := t.Context()
	told := make(chan string, 16)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := b.Watch(wctx, access.Bans, func(key string, val []byte, deleted bool) {
		if deleted {
			told <- key + " deleted"
			return
		}
		told <- key + "=" + string(val)
	}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"kept", "missed"} {
		if err := b.Put(ctx, access.Bans, key, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		waitTold(t, told, key+"=v")
	}
	bu, _ := b.bucket(access.Bans)
	subj, _ := bu.subject("missed")
	if err := bu.stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		t.Fatal(err)
	}
	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-told:
		if got != "missed deleted" {
			t.Fatalf("after the reconnection the watch told %s, want only: missed deleted", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the missed purge was never told")
	}
}
