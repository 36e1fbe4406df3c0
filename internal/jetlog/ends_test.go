package jetlog

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// TestLogIDFollowsTheStream: LogID stays the same across reopens of the
// same stream, and changes when the stream is created again (here: deleted
// behind the log's back and its floor removed, as the operator would to
// accept a new stream).
func TestLogIDFollowsTheStream(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	id := l.LogID()
	appendChats(t, l, 2)
	l.Close()
	l = open(t, dir, Options{})
	if got := l.LogID(); got != id {
		t.Fatalf("LogID %q after reopen, was %q", got, id)
	}
	js, err := jetstream.New(l.Conn())
	if err != nil {
		t.Fatal(err)
	}
	deleteStream(t, js, DefaultStream)
	l.Close()
	if err := os.Remove(filepath.Join(dir, floorName)); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Options{})
	if got := l.LogID(); got == id {
		t.Fatalf("LogID %q kept by a stream created again", got)
	}
}

// TestEndsWhenAllExpired: when every event expired, LastSeq still tells
// the last one's number and FirstSeq the next one's, before and after a
// reopen, and the next event is numbered after them.
func TestEndsWhenAllExpired(t *testing.T) {
	dir := t.TempDir()
	const age = 300 * time.Millisecond
	l := open(t, dir, Options{MaxAge: age})
	appendChats(t, l, 3)
	waitEmpty(t, l)
	checkEnds(t, l, "expired", 4, 3)
	l.Close()
	l = open(t, dir, Options{MaxAge: age})
	checkEnds(t, l, "expired, reopened", 4, 3)
	if seq := appendChats(t, l, 1); seq != 4 {
		t.Fatalf("next event numbered %d, want 4", seq)
	}
}

// appendChats appends n chat events and returns the last one's Seq.
func appendChats(t *testing.T, l *Log, n int) uint64 {
	t.Helper()
	var seq uint64
	for i := range n {
		var err error
		if seq, err = l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: "hi " + string(rune('a'+i%26))}); err != nil {
			t.Fatal(err)
		}
	}
	return seq
}

// waitEmpty waits (a few seconds at most) until l holds no event.
func waitEmpty(t *testing.T, l *Log) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		evs, err := l.Replay(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d events", len(evs))
		}
	}
}

func checkEnds(t *testing.T, l *Log, what string, first, last uint64) {
	t.Helper()
	gotFirst, err1 := l.FirstSeq()
	gotLast, err2 := l.LastSeq()
	if err1 != nil || err2 != nil || gotFirst != first || gotLast != last {
		t.Fatalf("%s: FirstSeq %d (%v), LastSeq %d (%v); want %d, %d", what, gotFirst, err1, gotLast, err2, first, last)
	}
}
