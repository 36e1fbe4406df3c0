package jetlog

import (
	"fmt"
	"slices"
	"testing"

	"chatd/room"
)

// TestReplayFromMemory: the recent history is answered from the events
// the log appended (the same events, shared, as with MemoryLog), within
// the stream's limits; once another writer's message is in the stream,
// Replay reads the stream again (and skips it), until the memory has
// enough events after it.
func TestReplayFromMemory(t *testing.T) {
	l := open(t, t.TempDir(), Options{Recent: 8})
	var appended []*room.Event
	for i := range 5 {
		ev := chat(fmt.Sprint("single ", i))
		if _, err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
		appended = append(appended, ev)
	}
	batch := []*room.Event{chat("b1"), chat("b2"), chat("b3"), chat("b4")}
	if err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	appended = append(appended, batch...)
	got, err := l.Replay(0, 8)
	if err != nil || len(got) != 8 {
		t.Fatalf("Replay(0, 8) = %d events, %v", len(got), err)
	}
	for i, ev := range got {
		if ev != appended[i+1] {
			t.Fatalf("event %d of the history is not the event appended (Seq %d)", i, ev.Seq)
		}
	}
	if got, _ := l.Replay(7, 8); len(got) != 2 || got[0] != appended[7] {
		t.Errorf("Replay(7, 8) = %d events, want the last 2 from memory", len(got))
	}
	if got, _ := l.Replay(0, 9); len(got) != 9 || got[0] == appended[0] || got[0].Text != "single 0" {
		t.Errorf("Replay(0, 9), one more than the memory: %d events, want 9 read from the stream", len(got))
	}

	publishForeign(t, l, DefaultSubject, []byte("foreign"))
	got, err = l.Replay(0, 3)
	if err != nil || !slices.Equal(texts(got), []string{"b2", "b3", "b4"}) || got[0] == appended[6] || l.Skipped() != 1 {
		t.Fatalf("Replay after a foreign message = %q, %v, skipped %d; want b2-b4 read from the stream", texts(got), err, l.Skipped())
	}
	after := chat("after")
	if _, err := l.Append(after); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Replay(0, 1); len(got) != 1 || got[0] != after {
		t.Errorf("Replay(0, 1) after a new event: %q, want it from memory", texts(got))
	}
	if got, _ := l.Replay(0, 2); len(got) != 2 || got[1] == after || got[0].Text != "b4" {
		t.Errorf("Replay(0, 2) across the foreign message: %q, want b4 and after read from the stream", texts(got))
	}
}
