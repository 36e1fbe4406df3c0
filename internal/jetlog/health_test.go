package jetlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/internal/testproc"
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
	deleteStream(t, js, DefaultStream)
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
	srv := testproc.StartNATS(t, buildNATS(t), t.TempDir(), "")
	l, err := Open(context.Background(), Options{URL: srv.URL(), Logger: quiet, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	srv.Kill()
	// Once the connection has seen the server go (on a busy machine its
	// reader may take a moment), Check says so at once.
	for deadline := time.Now().Add(10 * time.Second); l.Conn().Status() == nats.CONNECTED; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection did not notice the server stopped")
		}
	}
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
	srv = srv.Restart(t)
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

// mountSmallDisk mounts a tmpfs of size under a new temporary directory,
// unmounted when the test ends; it skips the test where mounting is not
// permitted.
func mountSmallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root and mount permission): %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := exec.Command("umount", dir).Run(); err != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fillDisk writes a file in dir until its filesystem is full, and returns
// its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return path
		}
	}
}

// TestCheckDiskFull: an embedded store whose disk fills fails its
// Appends; Check says why (a write error) and stays failing while the
// disk is full, even though JetStream keeps the error after space is
// freed; once space is freed, Check reloads JetStream, succeeds, and
// Appends are stored again after what was stored before.
func TestCheckDiskFull(t *testing.T) {
	disk := mountSmallDisk(t, "16m")
	l := open(t, filepath.Join(disk, "nats"), Options{Timeout: 500 * time.Millisecond})
	text := strings.Repeat("x", 1500)
	ev := func(s string) *room.Event {
		return &room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: s}
	}
	if _, err := l.Append(ev("before")); err != nil {
		t.Fatal(err)
	}
	filler := fillDisk(t, disk)
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, err = l.Append(ev(text))
	}
	if err == nil {
		t.Fatal("100 Appends of 1.5 KB on a full disk all worked")
	}
	err = l.Check(context.Background())
	if got := l.FailureOf(err); got != FailWrite {
		t.Fatalf("Check on a full disk = %v (%q), want a write error", err, got)
	}
	if err := l.Check(context.Background()); l.FailureOf(err) != FailWrite {
		t.Fatalf("Check, the disk still full = %v", err)
	}
	os.Remove(filler)
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("Check once space is freed = %v", err)
	}
	seq, err := l.Append(ev("after"))
	if err != nil {
		t.Fatalf("Append once space is freed: %v", err)
	}
	got, err := l.Replay(0, 1000)
	if err != nil || len(got) == 0 || got[0].Text != "before" || got[len(got)-1].Text != "after" || got[len(got)-1].Seq != seq {
		t.Fatalf("Replay after the disk was full: %d events, %v", len(got), err)
	}
}
