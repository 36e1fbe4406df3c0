package jetlog

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatd/room"
)

// TestRefusalsAreNotStorable: an event the log refuses itself (text over
// MaxText, a kind it does not store) is refused with an error wrapping
// room.ErrNotStorable, by Append and by AppendBatch, whose other events
// are stored; the log goes on.
func TestRefusalsAreNotStorable(t *testing.T) {
	const maxText = 64
	l := open(t, t.TempDir(), Options{MaxText: maxText})
	now := time.Now()
	long := &room.Event{Kind: room.Chat, From: "eve", Text: strings.Repeat("x", maxText+1), Time: now}
	if _, err := l.Append(long); !errors.Is(err, room.ErrNotStorable) {
		t.Errorf("Append of %d bytes of text: %v, want ErrNotStorable", len(long.Text), err)
	}
	if _, err := l.Append(&room.Event{Kind: room.Private, From: "eve", To: "bob", Text: "p", Time: now}); !errors.Is(err, room.ErrNotStorable) {
		t.Errorf("Append of a private message: %v, want ErrNotStorable", err)
	}
	evs := []*room.Event{
		{Kind: room.Chat, From: "alice", Text: "one", Time: now},
		{Kind: room.Chat, From: "eve", Text: long.Text, Time: now},
		{Kind: room.Chat, From: "alice", Text: "two", Time: now},
	}
	if err := l.AppendBatch(evs); !errors.Is(err, room.ErrNotStorable) {
		t.Errorf("AppendBatch with an event over MaxText: %v, want ErrNotStorable", err)
	}
	if evs[0].Seq == 0 || evs[1].Seq != 0 || evs[2].Seq <= evs[0].Seq {
		t.Errorf("AppendBatch stored seqs %d, %d, %d; want the first and last only", evs[0].Seq, evs[1].Seq, evs[2].Seq)
	}
	if _, err := l.Append(&room.Event{Kind: room.Chat, From: "alice", Text: "three", Time: now}); err != nil {
		t.Errorf("Append after the refusals: %v", err)
	}
}

// TestRoomStaysWritableOnJetlog: on a jetlog, a member's line that
// cleaning makes longer than the line limit is refused to its sender as
// too long, and a line the log refuses itself (here a room whose line
// limit is over the log's MaxText) is refused to its sender alone: the
// room stays writable, the others see nothing of either, and no store
// failure is counted.
func TestRoomStaysWritableOnJetlog(t *testing.T) {
	const maxText = 256
	for _, tc := range []struct {
		name    string
		maxLine int
		line    string
		told    string
	}{
		{"grows when cleaned", maxText, strings.Repeat("\xffa", maxText/2), "line too long once cleaned"},
		{"over the log's limit", 2 * maxText, strings.Repeat("y", maxText+1), room.NotStorableText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := open(t, t.TempDir(), Options{MaxText: maxText})
			var failures atomic.Int64
			r := room.New(room.Config{Log: l, Logger: quiet, MaxLineBytes: tc.maxLine, StoreFailed: func(error) { failures.Add(1) }})
			defer r.Close("")
			mallory, err := r.Join("mallory", room.JoinOptions{})
			if err != nil {
				t.Fatal(err)
			}
			bob, err := r.Join("bob", room.JoinOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mallory.Take(nil, 100)
			bob.Take(nil, 100)
			for range 3 {
				mallory.Send(tc.line)
			}
			mallory.Send("after")
			if st := r.Stats(); st.ReadOnly || st.ReadOnlyTurns != 0 || st.StoreErrors != 0 || failures.Load() != 0 {
				t.Errorf("stats %+v, %d store failures; want writable, no store error", st, failures.Load())
			}
			told, _ := mallory.Take(nil, 100)
			if len(told) != 3 || told[0].Kind != room.Error || !strings.Contains(told[0].Text, tc.told) {
				t.Errorf("mallory was told %d events, first %+v; want 3 errors saying %q", len(told), told[0], tc.told)
			}
			seen, _ := bob.Take(nil, 100)
			if len(seen) != 1 || seen[0].Kind != room.Chat || seen[0].Text != "after" {
				for _, ev := range seen {
					t.Logf("bob saw %v %q (store %v)", ev.Kind, ev.Text, ev.Store)
				}
				t.Errorf("bob saw %d events, want mallory's last line alone", len(seen))
			}
		})
	}
}
