package jetlog

import (
	"strings"
	"testing"

	"chatd/room"
)

// TestLowerMaxTextKeepsOlderRecords: records written under a larger
// MaxText (chatd's --max-line, since lowered) stay readable, in Replay and
// Before, and are not counted as invalid; Append still refuses a text over
// the new limit (review finding 9).
func TestLowerMaxTextKeepsOlderRecords(t *testing.T) {
	if storedRecordMax != maxRecordBytes(MaxMaxText) {
		t.Fatalf("storedRecordMax %d, maxRecordBytes(MaxMaxText) %d", storedRecordMax, maxRecordBytes(MaxMaxText))
	}
	dir := t.TempDir()
	l := open(t, dir, Options{MaxText: 8192})
	long := strings.Repeat("é", 4000) // 8000 bytes
	var want []string
	for _, text := range []string{"short", long, "short again"} {
		if _, err := l.Append(chat(text)); err != nil {
			t.Fatal(err)
		}
		want = append(want, text)
	}
	l.Close()
	l = open(t, dir, Options{MaxText: 512, Recent: -1})
	if _, err := l.Append(chat(long)); err == nil {
		t.Fatal("Append took a text over the new MaxText")
	}
	replayed, err := l.Replay(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	paged, err := l.Before(100, 10)
	if err != nil {
		t.Fatal(err)
	}
	for what, evs := range map[string][]*room.Event{"Replay": replayed, "Before": paged} {
		if len(evs) != len(want) {
			t.Fatalf("%s after lowering MaxText: %d events, want %d", what, len(evs), len(want))
		}
		for i, ev := range evs {
			if ev.Text != want[i] {
				t.Errorf("%s event %d: %d bytes, want %d", what, i, len(ev.Text), len(want[i]))
			}
		}
	}
	if l.Skipped() != 0 {
		t.Errorf("Skipped = %d: chatd's own older records counted as invalid", l.Skipped())
	}
	// Still bounded: a text over the largest limit is refused.
	over := []byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"` + strings.Repeat("a", MaxMaxText+1) + `"}`)
	if _, err := l.decodeMsg(rawMsg{seq: 1, subject: DefaultSubject, data: over}); err == nil {
		t.Error("a text over MaxMaxText was decoded")
	}
}

// TestWindowOverReadMaxBytes: a window whose records add up to more than
// one direct get asks for (readMaxBytes) is read in several, none of it
// lost; and the reply subscription's pending limits hold such a read.
func TestWindowOverReadMaxBytes(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxText: MaxMaxText, Recent: -1})
	if msgs, bytes, err := l.reads.sub.PendingLimits(); err != nil || msgs != readPendingMsgs || bytes != readPendingBytes {
		t.Fatalf("reply subscription pending limits %d msgs, %d bytes (%v); want %d, %d", msgs, bytes, err, readPendingMsgs, readPendingBytes)
	}
	big := strings.Repeat("x", MaxMaxText)
	const n = readMaxBytes/MaxMaxText + 10 // more than one direct get's worth
	evs := make([]*room.Event, n)
	for i := range evs {
		evs[i] = chat(big)
	}
	if err := l.AppendBatch(evs); err != nil {
		t.Fatal(err)
	}
	replayed, err := l.Replay(0, n)
	if err != nil || len(replayed) != n {
		t.Fatalf("Replay(0, %d) = %d events, %v", n, len(replayed), err)
	}
	for i := range n {
		if replayed[i].Seq != evs[i].Seq || len(replayed[i].Text) != MaxMaxText {
			t.Fatalf("event %d: replayed seq %d, %d bytes; want %d, %d", i, replayed[i].Seq, len(replayed[i].Text), evs[i].Seq, MaxMaxText)
		}
	}
	// A page may hold fewer (a page may be bounded in bytes), but at least
	// one, and the last ones, in order.
	paged, err := l.Before(evs[n-1].Seq+1, n)
	if err != nil || len(paged) == 0 || len(paged) > n {
		t.Fatalf("Before = %d events, %v; want 1 to %d", len(paged), err, n)
	}
	for i, ev := range paged {
		if want := evs[n-len(paged)+i].Seq; ev.Seq != want {
			t.Fatalf("paged event %d: seq %d, want %d", i, ev.Seq, want)
		}
	}
}
