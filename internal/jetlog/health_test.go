package jetlog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// TestCheckEmbedded: a sound embedded log checks fine, in well under its
// timeout; once its connection is closed, Check fails and says so
// (unreachable); once its stream went back, Check fails as broken.
func TestCheckEmbedded(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	start := time.Now()
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("Check of a sound log: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Check took %v", d)
	}
	if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(l.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(context.Background(), DefaultStream); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), l.streamConfig()); err != nil {
		t.Fatal(err)
	}
	err = l.Check(context.Background())
	if got := l.FailureOf(err); err == nil || got != FailBroken {
		t.Fatalf("Check of a stream that went back = %v (%q), want it broken", err, got)
	}

	l2 := open(t, t.TempDir(), Options{})
	l2.Conn().Close()
	err = l2.Check(context.Background())
	if got := l2.FailureOf(err); err == nil || got != FailUnreachable {
		t.Fatalf("Check with the connection closed = %v (%q), want unreachable", err, got)
	}
}

// TestCheckExternalOutage: while an external server is down Check fails
// at once (unreachable) and so does Append; once it is back on the same
// port and store, Check succeeds within a few seconds (the connection
// reconnects by itself).
func TestCheckExternalOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	srv := startNATS(t, buildNATS(t), t.TempDir(), "")
	l, err := Open(context.Background(), Options{URL: srv.url(), Logger: quiet, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	srv.stop(t)
	start := time.Now()
	err = l.Check(context.Background())
	if got := l.FailureOf(err); err == nil || got != FailUnreachable {
		t.Fatalf("Check with the server down = %v (%q), want unreachable", err, got)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a failed Check took %v", d)
	}
	_, err = l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"})
	if got := l.FailureOf(err); err == nil || got == FailOther || got == FailBroken {
		t.Errorf("Append with the server down = %v, classified %q", err, got)
	}
	srv = startNATS(t, srv.bin, srv.dir, srv.port)
	deadline := time.Now().Add(10 * time.Second)
	for err := l.Check(context.Background()); err != nil; err = l.Check(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatalf("Check still fails after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFailureOf(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	for err, want := range map[error]Failure{
		nil:                                  "",
		&WriteError{Detail: "no space left"}: FailWrite,
		fmt.Errorf("x: %w", context.DeadlineExceeded): FailTimeout,
		fmt.Errorf("x: %w", errNotConnected):          FailUnreachable,
		errors.New("something else"):                  FailOther,
	} {
		if got := l.FailureOf(err); got != want {
			t.Errorf("FailureOf(%v) = %q, want %q", err, got, want)
		}
	}
}
