// Package logtest is the conformance test table of room.Log: every Log
// (room.MemoryLog, the JetStream log) runs the same cases through Run.
package logtest

import (
	"fmt"
	"math"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatd/room"
)

// Factory makes the logs under test.
type Factory struct {
	// New returns an empty log that keeps at least the last keep events
	// and forgets older ones. The test closes nothing: New registers its
	// own cleanup.
	New func(t *testing.T, keep int) room.Log
	// Reopen closes l and opens its store again, or is nil for a log that
	// does not survive (a memory log).
	Reopen func(t *testing.T, l room.Log) room.Log
	// Raw stores data as the next record, bypassing Append's encoding, as
	// anyone who can write to the store could; nil for a log with no
	// encoding. Skipped, if set, is how many invalid records l has skipped.
	Raw     func(t *testing.T, l room.Log, data []byte)
	Skipped func(l room.Log) uint64
	// Hostile are the raw records Raw stores that the log must skip.
	Hostile [][]byte
}

// Run runs the table against f.
func Run(t *testing.T, f Factory) {
	t.Run("Empty", func(t *testing.T) { testEmpty(t, f) })
	t.Run("OrderAndSeq", func(t *testing.T) { testOrder(t, f) })
	t.Run("ReplayEdges", func(t *testing.T) { testReplayEdges(t, f) })
	t.Run("AllKinds", func(t *testing.T) { testKinds(t, f) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, f) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, f) })
	t.Run("Before", func(t *testing.T) { withPager(t, f, testBefore) })
	t.Run("BeforeRetention", func(t *testing.T) { withPager(t, f, testBeforeRetention) })
	t.Run("Ends", func(t *testing.T) { testEnds(t, f) })
	t.Run("Name", func(t *testing.T) { testName(t, f) })
	t.Run("Reopen", func(t *testing.T) {
		if f.Reopen == nil {
			t.Skip("the log does not survive a restart")
		}
		testReopen(t, f)
	})
	t.Run("Hostile", func(t *testing.T) {
		if f.Raw == nil {
			t.Skip("the log stores no encoded records")
		}
		testHostile(t, f)
	})
}

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 123456789, time.UTC)

// chat returns the i-th test chat event.
func chat(i int) *room.Event {
	return &room.Event{Kind: room.Chat, Time: t0.Add(time.Duration(i) * time.Second), From: "alice", Text: fmt.Sprintf("message %d", i)}
}

// appendN appends n chat events numbered from first and returns them.
func appendN(t *testing.T, l room.Log, first, n int) []*room.Event {
	t.Helper()
	evs := make([]*room.Event, n)
	for i := range n {
		evs[i] = chat(first + i)
		seq, err := l.Append(evs[i])
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if seq != evs[i].Seq || seq == 0 {
			t.Fatalf("Append %d returned %d, set Seq %d", i, seq, evs[i].Seq)
		}
	}
	return evs
}

// replay calls l.Replay and fails the test on an error.
func replay(t *testing.T, l room.Log, after uint64, n int) []*room.Event {
	t.Helper()
	got, err := l.Replay(after, n)
	if err != nil {
		t.Fatalf("Replay(%d, %d): %v", after, n, err)
	}
	return got
}

// same fails the test unless got is want, event by event.
func same(t *testing.T, what string, got, want []*room.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events %v, want %d %v", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range got {
		if !equal(got[i], want[i]) {
			t.Fatalf("%s: event %d is %+v, want %+v", what, i, *got[i], *want[i])
		}
	}
}

func equal(a, b *room.Event) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Kind == b.Kind && a.From == b.From &&
		a.To == b.To && a.Text == b.Text && a.Count == b.Count && a.Joined == b.Joined &&
		a.Left == b.Left && a.Reason == b.Reason && len(a.Nicks) == 0 && len(b.Nicks) == 0
}

func seqs(evs []*room.Event) []uint64 {
	s := make([]uint64, len(evs))
	for i, ev := range evs {
		s[i] = ev.Seq
	}
	return s
}

func testEmpty(t *testing.T, f Factory) {
	l := f.New(t, 10)
	for _, c := range []struct {
		after uint64
		n     int
	}{{0, 10}, {0, 0}, {5, 10}, {0, -1}, {math.MaxUint64, 10}} {
		if got := replay(t, l, c.after, c.n); len(got) != 0 {
			t.Errorf("Replay(%d, %d) of an empty log = %v", c.after, c.n, seqs(got))
		}
	}
}

func testOrder(t *testing.T, f Factory) {
	l := f.New(t, 100)
	evs := appendN(t, l, 0, 20)
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("Seq not increasing: %d after %d", evs[i].Seq, evs[i-1].Seq)
		}
	}
	same(t, "Replay(0, 100)", replay(t, l, 0, 100), evs)
}

func testReplayEdges(t *testing.T, f Factory) {
	l := f.New(t, 100)
	evs := appendN(t, l, 0, 10)
	last := evs[9].Seq
	cases := []struct {
		name  string
		after uint64
		n     int
		want  []*room.Event
	}{
		{"last 3", 0, 3, evs[7:]},
		{"all, n above count", 0, 50, evs},
		{"exactly all", 0, 10, evs},
		{"n 0", 0, 0, nil},
		{"n negative", 0, -5, nil},
		{"after the 5th", evs[4].Seq, 100, evs[5:]},
		{"after the 5th, last 2", evs[4].Seq, 2, evs[8:]},
		{"after the last", last, 10, nil},
		{"after beyond the last", last + 100, 10, nil},
		{"after the largest seq", math.MaxUint64, 10, nil},
		{"after the largest seq but one", math.MaxUint64 - 1, 10, nil},
		{"after the one before last", evs[8].Seq, 10, evs[9:]},
		{"after below the first", evs[0].Seq - 1, 100, evs},
	}
	for _, c := range cases {
		same(t, c.name, replay(t, l, c.after, c.n), c.want)
	}
}

func testKinds(t *testing.T, f Factory) {
	l := f.New(t, 100)
	at := t0
	evs := []*room.Event{
		{Kind: room.Join, Time: at, From: "bob"},
		{Kind: room.Chat, Time: at, From: "bob", Text: `quotes " and \ and <html> & é 名前 😀`},
		{Kind: room.Action, Time: at, From: "bob", Text: "waves"},
		{Kind: room.NickChange, Time: at, From: "bob", To: "robert"},
		{Kind: room.Presence, Time: at, Joined: 300, Left: 2, Count: 1000},
		{Kind: room.Leave, Time: at, From: "robert", Reason: room.Reason{Kind: room.ReasonQuit, Detail: "off to lunch"}},
		{Kind: room.Leave, Time: at, From: "carol", Reason: room.Reason{Kind: room.ReasonLost}},
		{Kind: room.Chat, Time: at, From: "carol", Text: longText(room.DefaultMaxLineBytes)},
	}
	for i, ev := range evs {
		if _, err := l.Append(ev); err != nil {
			t.Fatalf("Append %d (%v): %v", i, ev.Kind, err)
		}
	}
	same(t, "Replay", replay(t, l, 0, 100), evs)
}

// longText is n bytes of text that JSON escapes the most (quotes).
func longText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '"'
	}
	return string(b)
}

func testRetention(t *testing.T, f Factory) {
	l := f.New(t, 5)
	evs := appendN(t, l, 0, 12)
	same(t, "Replay(0, 100)", replay(t, l, 0, 100), evs[7:])
	same(t, "Replay(0, 2)", replay(t, l, 0, 2), evs[10:])
	same(t, "Replay(after a forgotten one)", replay(t, l, evs[1].Seq, 100), evs[7:])
	more := appendN(t, l, 12, 1)
	if more[0].Seq <= evs[11].Seq {
		t.Fatalf("Seq %d after %d: sequence went back after forgetting", more[0].Seq, evs[11].Seq)
	}
}

func testReopen(t *testing.T, f Factory) {
	l := f.New(t, 100)
	evs := appendN(t, l, 0, 7)
	l = f.Reopen(t, l)
	same(t, "Replay after reopen", replay(t, l, 0, 100), evs)
	more := appendN(t, l, 7, 3)
	if more[0].Seq <= evs[6].Seq {
		t.Fatalf("Seq %d after reopen, last was %d", more[0].Seq, evs[6].Seq)
	}
	l = f.Reopen(t, l)
	same(t, "Replay after a second reopen", replay(t, l, evs[5].Seq, 100), append(evs[6:], more...))
}

func testHostile(t *testing.T, f Factory) {
	l := f.New(t, 1000)
	var want []*room.Event
	for i, raw := range f.Hostile {
		want = append(want, appendN(t, l, i, 1)...)
		f.Raw(t, l, raw)
	}
	want = append(want, appendN(t, l, len(f.Hostile), 1)...)
	same(t, "Replay skips the hostile records", replay(t, l, 0, 1000), want)
	if f.Skipped != nil {
		if got := f.Skipped(l); got != uint64(len(f.Hostile)) {
			t.Errorf("Skipped = %d, want %d", got, len(f.Hostile))
		}
	}
	// The last n valid ones: hostile records do not count.
	same(t, "Replay(0, 3)", replay(t, l, 0, 3), want[len(want)-3:])
	if _, ok := l.(room.LogPager); ok {
		end := want[len(want)-1].Seq + 1
		same(t, "Before skips the hostile records", before(t, l, end, 1000), want)
		same(t, "Before(end, 3)", before(t, l, end, 3), want[len(want)-3:])
	}
}

// testConcurrent replays while another goroutine appends (the room reads a
// joiner's history outside its sequencer): every replay is in order, with
// no gap among the events it returns.
func testConcurrent(t *testing.T, f Factory) {
	l := f.New(t, 1000)
	var wg sync.WaitGroup
	var stop atomic.Bool
	wg.Go(func() {
		for i := range 200 {
			if stop.Load() {
				return
			}
			if _, err := l.Append(chat(i)); err != nil {
				t.Errorf("Append %d: %v", i, err) // not Fatal: another goroutine
				return
			}
		}
	})
	// No Fatal before wg.Wait: the appender must be done before the test
	// ends and its cleanup closes the log.
	var failed string
replays:
	for range 50 {
		got, err := l.Replay(0, 20)
		if err != nil {
			failed = fmt.Sprintf("Replay(0, 20) during appends: %v", err)
			break
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq != got[i-1].Seq+1 {
				failed = fmt.Sprintf("Replay during appends: %v", seqs(got))
				break replays
			}
		}
	}
	stop.Store(failed != "")
	wg.Wait()
	if failed != "" {
		t.Fatal(failed)
	}
	if got := replay(t, l, 0, 1000); len(got) != 200 {
		t.Fatalf("%d events after the appends, want 200", len(got))
	}
}

// withPager runs test with a log of f that pages (room.LogPager), or
// skips it.
func withPager(t *testing.T, f Factory, test func(*testing.T, Factory)) {
	if _, ok := f.New(t, 1).(room.LogPager); !ok {
		t.Skip("the log does not page (room.LogPager)")
	}
	test(t, f)
}

// before calls l.Before and fails the test on an error.
func before(t *testing.T, l room.Log, seq uint64, n int) []*room.Event {
	t.Helper()
	got, err := l.(room.LogPager).Before(seq, n)
	if err != nil {
		t.Fatalf("Before(%d, %d): %v", seq, n, err)
	}
	return got
}

func testBefore(t *testing.T, f Factory) {
	l := f.New(t, 100)
	same(t, "Before of an empty log", before(t, l, 10, 10), nil)
	evs := appendN(t, l, 0, 10)
	first, last := evs[0].Seq, evs[9].Seq
	cases := []struct {
		name string
		seq  uint64
		n    int
		want []*room.Event
	}{
		{"seq 0", 0, 10, nil},
		{"seq 1", 1, 10, nil},
		{"before the first", first, 10, nil},
		{"before the second", evs[1].Seq, 10, evs[:1]},
		{"before the 6th, 3", evs[5].Seq, 3, evs[2:5]},
		{"before the 6th, all", evs[5].Seq, 100, evs[:5]},
		{"before the last", last, 10, evs[:9]},
		{"just beyond the last", last + 1, 10, evs},
		{"beyond the end", last + 1000, 4, evs[6:]},
		{"the largest seq", math.MaxUint64, 2, evs[8:]},
		{"n 0", last, 0, nil},
		{"n negative", last, -3, nil},
		{"n 1", last, 1, evs[8:9]},
		{"n huge", last + 1, math.MaxInt, evs},
	}
	for _, c := range cases {
		same(t, c.name, before(t, l, c.seq, c.n), c.want)
	}
	// Paging back from the end reaches the first event, each page once.
	var paged []*room.Event
	for seq := last + 1; ; {
		page := before(t, l, seq, 3)
		if len(page) == 0 {
			break
		}
		paged = append(append([]*room.Event(nil), page...), paged...)
		seq = page[0].Seq
	}
	same(t, "paging back by 3", paged, evs)
}

func testBeforeRetention(t *testing.T, f Factory) {
	l := f.New(t, 5)
	evs := appendN(t, l, 0, 12) // evs[7:] are kept
	same(t, "before a forgotten one", before(t, l, evs[3].Seq, 10), nil)
	same(t, "before the oldest kept", before(t, l, evs[7].Seq, 10), nil)
	same(t, "before one after the oldest kept", before(t, l, evs[8].Seq, 10), evs[7:8])
	same(t, "beyond the end", before(t, l, evs[11].Seq+1, 100), evs[7:])
	same(t, "the last 2", before(t, l, evs[11].Seq+1, 2), evs[10:])
}

// testEnds checks LastSeq (room.LogEnd) and FirstSeq (room.LogStart), for
// a log that has them: empty, holding events, and having forgotten some.
func testEnds(t *testing.T, f Factory) {
	l := f.New(t, 5)
	end, hasEnd := l.(room.LogEnd)
	start, hasStart := l.(room.LogStart)
	if !hasEnd && !hasStart {
		t.Skip("the log implements neither LogEnd nor LogStart")
	}
	check := func(what string, first, last uint64) {
		t.Helper()
		if hasEnd {
			if got, err := end.LastSeq(); err != nil || got != last {
				t.Fatalf("%s: LastSeq = %d, %v; want %d", what, got, err, last)
			}
		}
		if hasStart {
			if got, err := start.FirstSeq(); err != nil || got != first {
				t.Fatalf("%s: FirstSeq = %d, %v; want %d", what, got, err, first)
			}
		}
	}
	check("empty", 1, 0)
	evs := appendN(t, l, 0, 3)
	check("3 events", evs[0].Seq, evs[2].Seq)
	evs = append(evs, appendN(t, l, 3, 9)...)
	check("12 events, 5 kept", evs[7].Seq, evs[11].Seq)
	if f.Reopen != nil {
		l = f.Reopen(t, l)
		end, _ = l.(room.LogEnd)
		start, _ = l.(room.LogStart)
		check("reopened", evs[7].Seq, evs[11].Seq)
	}
}

// logIDPattern is what room.LogNamer allows.
var logIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// testName checks LogID (room.LogNamer), for a log that has it: of the
// allowed characters and length, the same while the log lives and, for a
// log that survives a restart, after it; another log's is another.
func testName(t *testing.T, f Factory) {
	l := f.New(t, 10)
	n, ok := l.(room.LogNamer)
	if !ok {
		t.Skip("the log does not name itself")
	}
	id := n.LogID()
	if !logIDPattern.MatchString(id) {
		t.Fatalf("LogID %q: want 1 to 32 of A-Z a-z 0-9 _ -", id)
	}
	appendN(t, l, 0, 2)
	if got := n.LogID(); got != id {
		t.Fatalf("LogID changed from %q to %q after appends", id, got)
	}
	if f.Reopen != nil {
		l = f.Reopen(t, l)
		if got := l.(room.LogNamer).LogID(); got != id {
			t.Fatalf("LogID %q after reopen, was %q: a resume would be refused", got, id)
		}
	}
	if other := f.New(t, 10).(room.LogNamer).LogID(); other == id {
		t.Fatalf("two logs are both named %q", id)
	}
}
