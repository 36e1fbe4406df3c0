package jetlog

import (
	"context"
	"fmt"
	"strings"
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

// TestBeforeOwnReader: page reads do not share Replay's lock: while a
// page read holds its reader (a slow page), Replay still reads the log.
func TestBeforeOwnReader(t *testing.T) {
	l := open(t, t.TempDir(), Options{Recent: -1})
	for i := range 20 {
		if _, err := l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: fmt.Sprint("line ", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	l.pages.mu.Lock() // a page read under way
	done := make(chan error, 1)
	go func() {
		evs, err := l.Replay(0, 10)
		if err == nil && len(evs) != 10 {
			err = fmt.Errorf("%d events", len(evs))
		}
		done <- err
	}()
	select {
	case err := <-done:
		l.pages.mu.Unlock()
		if err != nil {
			t.Fatalf("Replay: %v", err)
		}
	case <-time.After(2 * time.Second):
		l.pages.mu.Unlock()
		<-done
		t.Fatal("Replay waited for a page read")
	}
	if got, err := l.Before(21, 5); err != nil || len(got) != 5 || got[4].Seq != 20 {
		t.Fatalf("Before(21, 5) = %d events, %v", len(got), err)
	}
}

// TestBeforeBytes: a page of long lines stops at MaxPageBytes of records
// (the newest ones), and paging back still reaches the first event, each
// once.
func TestBeforeBytes(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxText: 4000})
	long := strings.Repeat("x", 3000)
	for i := range 120 {
		if _, err := l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: fmt.Sprint(i+1, long)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Before(121, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := MaxPageBytes / 3000; len(got) < want-3 || len(got) > want || got[len(got)-1].Seq != 120 {
		t.Fatalf("Before(121, 100) = %d events ending at %d, want about %d ending at 120", len(got), got[len(got)-1].Seq, want)
	}
	seen := 0
	for before := uint64(121); ; {
		page, err := l.Before(before, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen += len(page)
		before = page[0].Seq
	}
	if seen != 120 {
		t.Fatalf("paging back saw %d events, want 120", seen)
	}
}
