package jetlog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/internal/testproc"
	"chatd/room"
)

// publishForeign stores data on subject as another writer would (no mark,
// no expected sequence), and has the log take it as if it had been in the
// stream when the log was opened: its reads and appends go on above it.
// That is how the tests plant hostile or foreign records; without the
// adoption the log would not read it (it is above the last sequence the
// log was acked for), and Check would break the log (ErrSharedStream).
func publishForeign(t *testing.T, l *Log, subject string, data []byte) uint64 {
	t.Helper()
	js, err := jetstream.New(l.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(context.Background(), subject, data)
	if err != nil {
		t.Fatalf("publish raw %.40q: %v", data, err)
	}
	l.lastSeq.Store(ack.Sequence)
	return ack.Sequence
}

// adoptStream has the log take every message the stream holds as if it
// had been there when the log was opened (see publishForeign).
func adoptStream(t *testing.T, l *Log) {
	t.Helper()
	info, err := l.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l.lastSeq.Store(info.State.LastSeq)
}

// waitCheck calls l.Check until it succeeds, or fails the test after 20s.
func waitCheck(t *testing.T, l *Log) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := l.Check(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check still fails: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestGhostAfterTimeoutDeleted: an append to a server stalled past the
// timeout (SIGSTOP) fails, and the room tells the sender nobody was shown
// the line; the server stores it once it runs again (SIGCONT). That line
// is never replayed, paged back or counted: reads stop at the last
// sequence acked, and Check, which the room calls to leave read-only,
// deletes it (review finding 2). The same for a batch, stored as a prefix.
func TestGhostAfterTimeoutDeleted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	srv := testproc.StartNATS(t, buildNATS(t), t.TempDir(), "")
	var logged strings.Builder
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil))
	l, err := Open(context.Background(), Options{URL: srv.URL(), Logger: logger, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := room.New(room.Config{Log: l, Logger: quiet})
	defer r.Close("bye")
	alice, err := r.Join("alice", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Say("before"); err != nil {
		t.Fatal(err)
	}
	srv.Pause(t) // or the line might be stored before it stops
	if err := alice.Say("ghost"); err == nil {
		t.Log("Say during the stall was taken (the room refuses it later)")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.Stats().ReadOnly && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !r.Stats().ReadOnly {
		t.Fatal("the room did not turn read-only while the server was stopped")
	}
	// While the room is read-only and the server stalled, a batch: it
	// times out as well, and is stored later.
	batch := []*room.Event{chat("batch ghost 1"), chat("batch ghost 2"), chat("batch ghost 3")}
	if err := l.AppendBatch(batch); err == nil {
		t.Fatal("AppendBatch worked with the server stopped")
	}
	srv.Resume()
	deadline = time.Now().Add(20 * time.Second)
	for r.Stats().ReadOnly && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if r.Stats().ReadOnly {
		t.Fatal("the room stayed read-only after the server ran again")
	}
	waitCheck(t, l)
	if err := alice.Say("after"); err != nil {
		t.Fatal(err)
	}
	carol, err := r.Join("carol", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := carol.Take(nil, 100)
	replayed, err := l.Replay(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	paged, err := l.Before(1000, 100)
	if err != nil {
		t.Fatal(err)
	}
	for what, evs := range map[string][]*room.Event{"carol's history": shown, "Replay": replayed, "Before": paged} {
		var said []string
		for _, ev := range evs {
			if ev.Kind == room.Chat {
				said = append(said, ev.Text)
			}
		}
		if !slices.Equal(said, []string{"before", "after"}) {
			t.Errorf("%s says %q; want before, after (nothing refused)", what, said)
		}
	}
	info, err := l.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.NumDeleted == 0 {
		t.Errorf("nothing was deleted (stream state %+v): the refused lines were never stored?", info.State)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "deleted events stored after their append had failed") {
		t.Errorf("the deletion was not logged:\n%s", logged.String())
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestSharedStreamBreaks: two logs on one external stream (two chatds on
// one --nats server, with their own data directories). The second's
// append after the first's is refused (it expects the stream to end where
// it saw it), and its Check breaks it, naming the cause, without deleting
// the other's event; the first goes on. Two logs with one Dir are refused
// at Open (review finding 5).
func TestSharedStreamBreaks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	srv := testproc.StartNATS(t, buildNATS(t), t.TempDir(), "")
	dir := t.TempDir()
	a, err := Open(context.Background(), Options{URL: srv.URL(), Dir: dir, Logger: quiet, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var inUse *InUseError
	if b, err := Open(context.Background(), Options{URL: srv.URL(), Dir: dir, Logger: quiet}); !errors.As(err, &inUse) {
		if err == nil {
			b.Close()
		}
		t.Fatalf("a second Open on the same Dir = %v, want it refused as in use", err)
	}
	b, err := Open(context.Background(), Options{URL: srv.URL(), Dir: t.TempDir(), Logger: quiet, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Append(chat("from a")); err != nil {
		t.Fatal(err)
	}
	if seq, err := b.Append(chat("from b")); !errors.Is(err, ErrStreamAhead) {
		t.Fatalf("b's Append after a's = %d, %v; want it refused (ErrStreamAhead)", seq, err)
	}
	err = b.Check(context.Background())
	if !errors.Is(err, ErrSharedStream) || b.FailureOf(err) != FailBroken {
		t.Fatalf("b's Check = %v, want it broken with ErrSharedStream", err)
	}
	if _, err := b.Append(chat("from b again")); !errors.Is(err, ErrSharedStream) {
		t.Fatalf("b's Append after its Check = %v, want ErrSharedStream", err)
	}
	if _, err := a.Append(chat("a goes on")); err != nil {
		t.Fatal(err)
	}
	got, err := a.Replay(0, 10)
	if err != nil || len(got) != 2 || got[0].Text != "from a" || got[1].Text != "a goes on" {
		t.Fatalf("a's Replay = %v, %v; want its two events", got, err)
	}
}

// TestCheckDeletesOwnUnacked: a message of this log stored above the last
// sequence it was acked for (as after a publish that timed out) is not
// read, makes the next Append fail, and is deleted by Check; after it the
// log appends on, and answers Replay from its memory again (the deletion
// was its own). A foreign message there breaks it instead (Check, not
// deleted), as TestSharedStreamBreaks shows across two logs.
func TestCheckDeletesOwnUnacked(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	appendChats(t, l, 2)
	ack, err := l.js.PublishMsg(context.Background(), l.message([]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"ghost"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l.Replay(0, 10); err != nil || len(got) != 2 {
		t.Fatalf("Replay with an unacked message above = %d events, %v; want the 2 acked", len(got), err)
	}
	if end, err := l.LastSeq(); err != nil || end != 2 {
		t.Fatalf("LastSeq = %d, %v; want 2", end, err)
	}
	if _, err := l.Append(chat("refused")); !errors.Is(err, ErrStreamAhead) {
		t.Fatalf("Append over an unacked message = %v, want ErrStreamAhead", err)
	}
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("Check = %v", err)
	}
	if _, err := l.stream.GetMsg(context.Background(), ack.Sequence); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("the unacked message %d is still there: %v", ack.Sequence, err)
	}
	evs := make([]*room.Event, 3)
	for i := range evs {
		evs[i] = chat("after")
		if _, err := l.Append(evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if evs[0].Seq != ack.Sequence+1 {
		t.Fatalf("first Append after Check = seq %d, want %d", evs[0].Seq, ack.Sequence+1)
	}
	got, err := l.Replay(ack.Sequence, 3)
	if err != nil || len(got) != 3 || got[0] != evs[0] || got[2] != evs[2] {
		t.Fatalf("Replay after the deletion = %d events, %v; want the 3 appended, from memory", len(got), err)
	}
	if _, err := publishForeignUnadopted(t, l, []byte("foreign")); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(context.Background()); !errors.Is(err, ErrSharedStream) {
		t.Fatalf("Check with a foreign message above = %v, want ErrSharedStream", err)
	}
}

// publishForeignUnadopted stores data as another writer would, and leaves
// the log unaware of it.
func publishForeignUnadopted(t *testing.T, l *Log, data []byte) (uint64, error) {
	t.Helper()
	ack, err := l.js.Publish(context.Background(), l.opts.Subject, data)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// TestCheckRefusesAReplacedStream: a stream deleted and created again
// under the log, then grown past where the log saw the old one end, is
// refused by Check as replaced (ErrStreamWentBack, from its creation
// time), not taken for the old one with another writer's messages.
func TestCheckRefusesAReplacedStream(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	appendChats(t, l, 2)
	ctx := context.Background()
	deleteStream(t, l.js, DefaultStream)
	time.Sleep(10 * time.Millisecond) // another creation time
	if _, err := l.js.CreateStream(ctx, l.streamConfig()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := publishForeignUnadopted(t, l, []byte("new")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Check(ctx); !errors.Is(err, ErrStreamWentBack) || !strings.Contains(err.Error(), "created again") {
		t.Fatalf("Check of a replaced stream = %v, want ErrStreamWentBack (created again)", err)
	}
}
