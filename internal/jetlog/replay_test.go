package jetlog

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestNextSeqStrict: a read's answer is refused when a sequence is outside
// the window asked for, repeats or goes back (a hostile or buggy server
// duplicating or reordering events), or is not a number.
func TestNextSeqStrict(t *testing.T) {
	got := []rawMsg{{seq: 12}}
	for _, c := range []struct {
		raw  string
		got  []rawMsg
		want uint64 // 0: an error
	}{
		{"10", nil, 10},
		{"20", nil, 20},
		{"13", got, 13},
		{"15", got, 15},
		{"12", got, 0}, // repeated
		{"11", got, 0}, // back
		{"9", nil, 0},  // below the window
		{"21", nil, 0}, // above it
		{"", nil, 0},
		{"-1", nil, 0},
		{"18446744073709551616", nil, 0},
		{"1e3", nil, 0},
	} {
		seq, err := nextSeq(c.raw, 10, 20, c.got)
		if c.want == 0 && err == nil || c.want != 0 && (err != nil || seq != c.want) {
			t.Errorf("nextSeq(%q, 10, 20, after %v) = %d, %v; want %d", c.raw, c.got, seq, err, c.want)
		}
	}
}

// TestReplayManyWindows: a Replay longer than a window reads several,
// each bounded, and returns every event in order.
func TestReplayManyWindows(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	const n = 2*maxWindow + 100
	appendChats(t, l, n)
	evs, err := l.Replay(0, n)
	if err != nil || len(evs) != n {
		t.Fatalf("Replay(0, %d) = %d events, %v", n, len(evs), err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d is seq %d", i, ev.Seq)
		}
	}
}

// TestReplayGiveUpIsLogged: a Replay that meets more invalid records than
// it may look at returns what it found and says it gave up.
func TestReplayGiveUpIsLogged(t *testing.T) {
	var buf strings.Builder
	l := open(t, t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	appendChats(t, l, 1)
	js, err := jetstream.New(l.Conn())
	if err != nil {
		t.Fatal(err)
	}
	for range maxReplayProbes + minWindow + 1 {
		if _, err := js.PublishAsync(DefaultSubject, []byte("junk")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		t.Fatal("the junk was not acked")
	}
	adoptStream(t, l)
	evs, err := l.Replay(0, 1)
	if err != nil || len(evs) != 0 {
		t.Fatalf("Replay(0, 1) = %d events, %v; want none (the valid one is beyond the probes)", len(evs), err)
	}
	if out := buf.String(); !strings.Contains(out, "replay gave up") || !strings.Contains(out, "wanted=1") {
		t.Fatalf("log:\n%s", out)
	}
}
