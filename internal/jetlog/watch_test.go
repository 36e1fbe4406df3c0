package jetlog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/internal/testproc"
	"chatd/room"
)

// logBuffer is a bytes.Buffer safe for concurrent use, behind a logger.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestWatchServer runs a real nats-server for the log's watch over it.
func TestWatchServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	srv := testproc.StartNATS(t, buildNATS(t), t.TempDir(), "")
	outer := t // the server restarted in a subtest runs on

	// Lost: killing the server while nobody appends is told to the room
	// at once (down, naming the server without its credentials) and
	// logged; an Append meanwhile fails as "not connected", not with
	// nats.go's "outbound buffer limit exceeded"; the server back is told
	// (up) and logged; Close tells nothing (student review 2).
	t.Run("Lost", func(t *testing.T) {
		var buf logBuffer
		secretURL := "nats://chatd:s3cret@127.0.0.1:" + srv.Port
		l, err := Open(context.Background(), Options{URL: secretURL, Stream: "WATCH", Subject: "chatd.watch",
			Logger: slog.New(slog.NewTextHandler(&buf, nil)), Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		downs, ups := make(chan error, 10), make(chan struct{}, 10)
		l.WatchStore(func(err error) { downs <- err }, func() { ups <- struct{}{} })

		srv.Kill()
		killed := time.Now()
		var down error
		select {
		case down = <-downs:
		case <-time.After(2 * time.Second):
			t.Fatal("the room was not told within 2s that the server is gone")
		}
		t.Logf("told %v after the kill: %v", time.Since(killed).Round(time.Millisecond), down)
		if !errors.Is(down, errNotConnected) || l.FailureOf(down) != FailUnreachable {
			t.Errorf("down(%v): want errNotConnected, unreachable", down)
		}
		wantServer := "nats://127.0.0.1:" + srv.Port
		if !strings.Contains(down.Error(), wantServer) {
			t.Errorf("down(%v) does not name %s", down, wantServer)
		}
		_, err = l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: "lost"})
		var nc *NotConnectedError
		if !errors.As(err, &nc) || !errors.Is(err, errNotConnected) || l.FailureOf(err) != FailUnreachable ||
			strings.Contains(err.Error(), "buffer") || !strings.Contains(err.Error(), wantServer) {
			t.Errorf("Append while disconnected = %v; want a NotConnectedError naming %s", err, wantServer)
		}

		srv = srv.Restart(outer)
		select {
		case <-ups:
		case <-time.After(10 * time.Second):
			t.Fatal("the room was not told the server is back")
		}
		if err := l.Check(context.Background()); err != nil {
			t.Errorf("Check once back: %v", err)
		}
		l.Close()
		time.Sleep(100 * time.Millisecond) // the connection's callbacks run after Close returns
		if len(downs) != 0 {
			t.Errorf("Close told the room the store is down: %v", <-downs)
		}
		out := buf.String()
		for _, want := range []string{"lost the NATS server", "reconnected to the NATS server", wantServer} {
			if !strings.Contains(out, want) {
				t.Errorf("the log does not say %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "s3cret") || strings.Contains(down.Error(), "s3cret") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("a credential was logged or told:\n%s", out)
		}
	})

	// Missing: a stream chatd created on the server and the server lost is
	// named as missing while running (Check, its own failure reason,
	// logged once), and refused at the next Open, which creates nothing
	// on the server and says what to do; removing the records starts an
	// empty history (student review 7).
	t.Run("Missing", func(t *testing.T) {
		var buf logBuffer
		dir := t.TempDir()
		o := Options{URL: srv.URL(), Dir: dir, Stream: "MISSING", Subject: "chatd.missing",
			Logger: slog.New(slog.NewTextHandler(&buf, nil)), Timeout: 2 * time.Second}
		l, err := Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for range 3 {
			if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
				t.Fatal(err)
			}
		}
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc) // the operator's own client
		if err := js.DeleteStream(context.Background(), o.Stream); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			err := l.Check(context.Background())
			if !errors.Is(err, ErrStreamMissing) || l.FailureOf(err) != FailMissing || !strings.Contains(err.Error(), srv.URL()) {
				t.Fatalf("Check of a deleted stream = %v (%s); want ErrStreamMissing, naming %s", err, l.FailureOf(err), srv.URL())
			}
		}
		if n := strings.Count(buf.String(), "is gone from"); n != 1 {
			t.Errorf("the missing stream was logged %d times, want once:\n%s", n, buf.String())
		}
		l.Close()

		_, err = Open(context.Background(), o)
		if !errors.Is(err, ErrStreamMissing) {
			t.Fatalf("Open on a server that lost the stream = %v; want ErrStreamMissing", err)
		}
		for _, want := range []string{srv.URL(), "restore", "chatd-created-MISSING", "chatd-seq-MISSING"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open's refusal does not say %q: %v", want, err)
			}
		}
		if _, err := js.Stream(context.Background(), o.Stream); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("the refused Open left a stream on the server: %v", err)
		}

		os.Remove(dir + "/chatd-created-MISSING")
		os.Remove(dir + "/chatd-seq-MISSING")
		l, err = Open(context.Background(), o)
		if err != nil {
			t.Fatalf("Open once the records are removed: %v", err)
		}
		defer l.Close()
		if evs, err := l.Replay(0, 10); err != nil || len(evs) != 0 {
			t.Errorf("the new stream holds %d events (%v)", len(evs), err)
		}
	})
}
