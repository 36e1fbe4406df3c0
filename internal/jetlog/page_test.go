package jetlog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"chatd/room"
)

// TestBeforeStepsOverDeleted: messages deleted from the middle of the
// stream (by an operator with the nats tool), inside a window that is not
// the newest, leave gaps Before steps over; paging back from the end
// still reaches the first event, each once. (nats-server 2.15 runs a
// batched direct get past a gap above its up_to_seq: getRange stops at
// its top.)
func TestBeforeStepsOverDeleted(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	for i := range 200 {
		if _, err := l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: fmt.Sprint("line ", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	deleted := map[uint64]bool{30: true, 80: true, 81: true, 150: true}
	for seq := range deleted {
		if err := l.stream.DeleteMsg(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Before(100, 50)
	if err != nil {
		t.Fatalf("Before(100, 50): %v", err)
	}
	if len(got) != 50 || got[0].Seq != 48 || got[49].Seq != 99 {
		t.Fatalf("Before(100, 50) = %d events from %d to %d, want 50 from 48 to 99", len(got), got[0].Seq, got[len(got)-1].Seq)
	}
	var seen int
	for before := uint64(201); ; {
		page, err := l.Before(before, 50)
		if err != nil {
			t.Fatalf("Before(%d, 50): %v", before, err)
		}
		if len(page) == 0 {
			break
		}
		for i, ev := range page {
			if deleted[ev.Seq] || ev.Seq >= before || i > 0 && ev.Seq <= page[i-1].Seq {
				t.Fatalf("Before(%d, 50) returned %d out of place", before, ev.Seq)
			}
		}
		seen += len(page)
		before = page[0].Seq
	}
	if seen != 200-len(deleted) {
		t.Fatalf("paging back saw %d events, want %d", seen, 200-len(deleted))
	}
	// Replay reads its older windows the same way.
	if got, err := l.Replay(0, 150); err != nil || len(got) != 150 || got[149].Seq != 200 {
		t.Fatalf("Replay(0, 150) = %d events, %v", len(got), err)
	}
}
