package jetlog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
	"chatd/room/logtest"
)

// viaBatch is a Log whose Append goes through AppendBatch, so that the
// shared table checks the batch path too.
type viaBatch struct{ *Log }

func (l viaBatch) Append(ev *room.Event) (uint64, error) {
	if err := l.AppendBatch([]*room.Event{ev}); err != nil {
		return 0, err
	}
	return ev.Seq, nil
}

// TestConformanceBatched is the shared log table with every append made
// by AppendBatch (hostile raw records published in between included).
func TestConformanceBatched(t *testing.T) {
	logtest.Run(t, logtest.Factory{
		New: func(t *testing.T, keep int) room.Log {
			return viaBatch{open(t, t.TempDir(), Options{MaxMsgs: int64(keep)})}
		},
		Reopen: func(t *testing.T, l room.Log) room.Log {
			old := l.(viaBatch).Log
			old.Close()
			return viaBatch{open(t, old.opts.Dir, Options{MaxMsgs: old.opts.MaxMsgs})}
		},
		Raw: func(t *testing.T, l room.Log, data []byte) {
			t.Helper()
			publishForeign(t, l.(viaBatch).Log, DefaultSubject, data)
		},
		Skipped: func(l room.Log) uint64 { return l.(viaBatch).Skipped() },
		Hostile: hostile,
	})
}

func chat(text string) *room.Event {
	return &room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: text}
}

func texts(evs []*room.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Text
	}
	return out
}

// TestAppendBatch: a batch longer than maxBatch after a single Append is
// stored whole, numbered one by one after it, and replayed in order.
func TestAppendBatch(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	if _, err := l.Append(chat("single")); err != nil {
		t.Fatal(err)
	}
	var evs []*room.Event
	for i := range maxBatch + 44 {
		evs = append(evs, chat(fmt.Sprint("batched ", i)))
	}
	if err := l.AppendBatch(evs); err != nil {
		t.Fatalf("AppendBatch: %v", err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i)+2 {
			t.Fatalf("event %d has Seq %d, want %d", i, ev.Seq, i+2)
		}
	}
	got, err := l.Replay(1, len(evs)+10)
	if err != nil || !slices.Equal(texts(got), texts(evs)) {
		t.Fatalf("Replay = %d events (%v), want the batch in order", len(got), err)
	}
	if seq, err := l.Append(chat("after")); seq != uint64(len(evs))+2 || err != nil {
		t.Errorf("Append after the batch = %d, %v", seq, err)
	}
}

// TestAppendBatchFailuresAreTheirOwn: events the log cannot store are not
// stored (Seq 0) and named in the error; the others are, numbered in order.
func TestAppendBatchFailuresAreTheirOwn(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	bad := func() *room.Event {
		return &room.Event{Kind: room.Private, Time: time.Now(), From: "alice", To: "bob", Text: "psst"}
	}
	evs := []*room.Event{chat("one"), bad(), chat("three"), bad()}
	err := l.AppendBatch(evs)
	if err == nil || !strings.Contains(err.Error(), "2 of 4 events not stored") ||
		!strings.Contains(err.Error(), "event 2: ") || !strings.Contains(err.Error(), "event 4: ") {
		t.Fatalf("AppendBatch: %v; want an error naming events 2 and 4", err)
	}
	if seqs := []uint64{evs[0].Seq, evs[1].Seq, evs[2].Seq, evs[3].Seq}; !slices.Equal(seqs, []uint64{1, 0, 2, 0}) {
		t.Errorf("Seqs %v, want [1 0 2 0]", seqs)
	}
	got, err := l.Replay(0, 10)
	if want := []string{"one", "three"}; err != nil || !slices.Equal(texts(got), want) {
		t.Fatalf("Replay = %q, %v; want %q", texts(got), err, want)
	}
}

// TestAppendBatchAfterAnotherWriter: a message published to the stream by
// someone else leaves a gap in the numbers, as with Append.
func TestAppendBatchAfterAnotherWriter(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	if err := l.AppendBatch([]*room.Event{chat("one")}); err != nil {
		t.Fatal(err)
	}
	publishForeign(t, l, DefaultSubject, []byte("foreign"))
	evs := []*room.Event{chat("two"), chat("three")}
	if err := l.AppendBatch(evs); err != nil || evs[0].Seq != 3 || evs[1].Seq != 4 {
		t.Fatalf("AppendBatch after a foreign message = %v, seqs %d %d; want nil, 3 4", err, evs[0].Seq, evs[1].Seq)
	}
}

// TestAppendBatchRefusesSeqGoingBack: a stream deleted and created again
// under the log breaks it, for batches as for Append.
func TestAppendBatchRefusesSeqGoingBack(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	if err := l.AppendBatch([]*room.Event{chat("one"), chat("two"), chat("three")}); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(l.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deleteStream(t, js, DefaultStream)
	if _, err := js.CreateStream(ctx, l.streamConfig()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		evs := []*room.Event{chat("four"), chat("five")}
		err := l.AppendBatch(evs)
		if err == nil || !strings.Contains(err.Error(), "went back") || evs[0].Seq != 0 || evs[1].Seq != 0 {
			t.Fatalf("AppendBatch on the new stream = %v, seqs %d %d; want the log broken", err, evs[0].Seq, evs[1].Seq)
		}
	}
	if _, err := l.Append(chat("six")); err == nil {
		t.Error("Append after the batch broke the log succeeded")
	}
}
