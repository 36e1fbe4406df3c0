package tui

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// pagerConn is a fakeConn over a log of numbered chat lines, "line 1" to
// "line n", that it pages through as a room would.
type pagerConn struct {
	*fakeConn
	mu    sync.Mutex
	log   []*room.Event // log[i].Seq == i+1
	calls int
	limit int // refuse calls beyond it with room.ErrPageLimit; 0: no limit
}

func newPagerConn(nick string, n int) *pagerConn {
	c := &pagerConn{fakeConn: newFakeConn(nick)}
	for range n {
		c.append()
	}
	return c
}

// append adds the next line to the log and returns it.
func (c *pagerConn) append() *room.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := uint64(len(c.log) + 1)
	ev := &room.Event{Seq: seq, Kind: room.Chat, From: "bob", Text: fmt.Sprintf("line %d", seq), Time: t0}
	c.log = append(c.log, ev)
	return ev
}

func (c *pagerConn) Older(before uint64, n int) ([]*room.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.limit > 0 && c.calls > c.limit {
		return nil, room.ErrPageLimit
	}
	end := min(before-1, uint64(len(c.log))) // the events below before are log[:end]
	if before == 0 {
		end = 0
	}
	start := end - min(end, uint64(n))
	return c.log[start:end], nil
}

// runCmd runs cmd and what it leads to, feeding the messages back into m,
// as the program would (without waiting for ticks).
func runCmd(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			runCmd(m, c)
		}
	case pageMsg:
		_, next := m.Update(msg)
		runCmd(m, next)
	}
}

// pressRun presses key and runs what it asks for.
func pressRun(m *Model, key string) {
	_, cmd := m.Update(keyMsg(key))
	runCmd(m, cmd)
}

// joinHistory feeds m a joiner's stream: the last h lines of c's log as
// history, and its own join.
func joinHistory(m *Model, c *pagerConn, h int) {
	evs := []*room.Event{{Kind: room.HistoryBegin, Time: t0}}
	evs = append(evs, c.log[len(c.log)-h:]...)
	join := c.append()
	join.Kind, join.From, join.Text = room.Join, "alice", ""
	evs = append(evs, &room.Event{Kind: room.HistoryEnd, Time: t0}, join)
	feed(m, evs...)
}

// TestScrollBackLoadsOlderPages: scrolling past the top of what the screen
// holds loads the page before it from the log, showing "loading older
// events…" meanwhile, until "line 1" and "beginning of the history"; the
// screen holds no more than its bound on the way (newer messages are
// dropped and the screen detached); live events meanwhile are counted,
// and End brings the newest back and follows live events again.
func TestScrollBackLoadsOlderPages(t *testing.T) {
	const total, bound = 400, 120
	c := newPagerConn("alice", total)
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1, Scrollback: bound})
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 12})
	joinHistory(m, c, 5)

	// The first PgUp reaches the top and asks; before the page is in, the
	// marker shows.
	_, cmd := m.Update(keyMsg("pgup"))
	if cmd == nil || !strings.Contains(screenText(m), "loading older events…") {
		t.Fatalf("no page asked for, or no marker, at the top:\n%s", screenText(m))
	}
	runCmd(m, cmd)
	most, presses := 0, 0
	for !strings.Contains(screenText(m), "line 1 ") && !strings.HasSuffix(screenLineWith(m, "line 1"), "line 1") {
		if presses++; presses > 200 {
			t.Fatalf("line 1 not reached after %d PgUps; the screen:\n%s", presses, screenText(m))
		}
		pressRun(m, "pgup")
		most = max(most, len(m.sb.entries))
		if presses == 20 {
			c.append()
			feed(m, c.log[len(c.log)-1], &room.Event{Kind: room.Private, From: "carol", Text: "psst", Time: t0})
		}
	}
	pressRun(m, "pgup")
	if !strings.Contains(screenText(m), "beginning of the history") {
		t.Fatalf("no beginning marker at line 1:\n%s", screenText(m))
	}
	if most > bound+1 {
		t.Errorf("the screen held %d messages, over its bound of %d", most, bound)
	}
	if !m.sb.pg.detached || !strings.Contains(m.statusView(60), "new") {
		t.Errorf("far back, the screen is not detached or does not count new events: %q", m.statusView(60))
	}
	calls := c.calls
	pressRun(m, "pgup")
	pressRun(m, "pgup")
	if c.calls != calls {
		t.Errorf("at the beginning, PgUp still asked for pages (%d calls, were %d)", c.calls, calls)
	}

	// End: the newest again, the private message kept aside, and live
	// events followed.
	pressRun(m, "end")
	if m.sb.pg.detached || m.sb.scrolled() {
		t.Fatalf("after End the screen is still detached or scrolled")
	}
	text := screenText(m)
	last := c.log[len(c.log)-1].Text
	if !strings.Contains(text, last) || !strings.Contains(text, "psst") {
		t.Fatalf("after End the screen lacks %q or the private message:\n%s", last, text)
	}
	feed(m, c.append())
	if !strings.Contains(screenText(m), c.log[len(c.log)-1].Text) {
		t.Fatalf("a live event after End is not shown:\n%s", screenText(m))
	}
	if n := strings.Count(screenText(m), last+" "); n > 1 {
		t.Fatalf("%q shown %d times", last, n)
	}
}

// screenLineWith returns the screen's row holding s, trimmed, or "".
func screenLineWith(m *Model, s string) string {
	for _, row := range screen(m) {
		if row = strings.TrimRight(row, " │"); strings.Contains(row, s) {
			return strings.TrimSpace(row)
		}
	}
	return ""
}

// scrollToLine1 scrolls m back until the screen shows "line 1".
func scrollToLine1(t *testing.T, m *Model) {
	t.Helper()
	for presses := 0; screenLineWith(m, "bob: line 1 ") == "" && !strings.HasSuffix(screenLineWith(m, "bob: line 1"), "bob: line 1"); presses++ {
		if presses > 200 {
			t.Fatalf("line 1 not reached; the screen:\n%s", screenText(m))
		}
		pressRun(m, "pgup")
	}
}

// shownLines returns the numbers of the "line N" rows on the screen.
func shownLines(m *Model) []int {
	var out []int
	for _, row := range screen(m) {
		var n int
		if i := strings.Index(row, "bob: line "); i >= 0 {
			if _, err := fmt.Sscanf(row[i:], "bob: line %d", &n); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestScrollDownReloadsNewerPages: after scrolling back past the bound,
// scrolling down again reloads the pages dropped at the bottom, each line
// once and in order, up to the live end, which the screen follows again.
func TestScrollDownReloadsNewerPages(t *testing.T) {
	const total, bound = 300, 100
	c := newPagerConn("alice", total)
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1, Scrollback: bound})
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 12})
	joinHistory(m, c, 5)
	scrollToLine1(t, m)
	if !m.sb.pg.detached {
		t.Fatal("not detached after scrolling back 300 lines with a bound of 100")
	}
	next := 1 // the lowest line not yet seen
	for presses := 0; m.sb.pg.detached || m.sb.scrolled(); presses++ {
		if presses > 300 {
			t.Fatalf("still detached after %d PgDns:\n%s", presses, screenText(m))
		}
		for _, n := range shownLines(m) {
			if n > next {
				t.Fatalf("line %d shown before line %d:\n%s", n, next, screenText(m))
			}
			next = max(next, n+1)
		}
		if len(m.sb.entries) > bound+bound/4+1 {
			t.Fatalf("%d messages held, bound %d", len(m.sb.entries), bound)
		}
		pressRun(m, "pgdown")
	}
	if next <= total-10 {
		t.Fatalf("scrolling down ended at line %d of %d", next, total)
	}
	feed(m, c.append())
	if got := shownLines(m); got[len(got)-1] != total+2 {
		t.Fatalf("the live line %d is not at the bottom: %v", total+2, got)
	}
}

// TestScrollBackRateLimited: a page the room refuses as asked too fast
// takes the loading marker away and is asked again after a while, not at
// once.
func TestScrollBackRateLimited(t *testing.T) {
	c := newPagerConn("alice", 100)
	c.limit = 1
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1})
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 12})
	joinHistory(m, c, 5)
	pressRun(m, "pgup") // page 1
	var cmd tea.Cmd
	for presses := 0; cmd == nil; presses++ {
		if presses > 20 {
			t.Fatal("no second page asked for")
		}
		_, cmd = m.Update(keyMsg("pgup"))
	}
	_, retry := m.Update(cmd())
	if strings.Contains(screenText(m), "loading older events") || retry == nil {
		t.Fatalf("a refused page left its marker, or is not retried:\n%s", screenText(m))
	}
	if c.calls != 2 {
		t.Fatalf("%d calls, want 2", c.calls)
	}
	c.limit = 0
	start := time.Now()
	_, cmd = m.Update(retry())
	if waited := time.Since(start); waited < pageRetry/2 || cmd == nil {
		t.Fatalf("retried after %v (cmd %v)", waited, cmd != nil)
	}
	runCmd(m, cmd)
	if c.calls != 3 {
		t.Fatalf("%d calls after the retry, want 3", c.calls)
	}
}

// failingPager is a Conn whose Older fails with err.
type failingPager struct {
	*fakeConn
	err   error
	calls int
}

func (c *failingPager) Older(before uint64, n int) ([]*room.Event, error) {
	c.calls++
	return nil, c.err
}

// TestScrollBackFailures: a log that cannot page is the beginning, asked
// once; a failed read says so, hides the store's words, and is tried
// again on the next scroll up.
func TestScrollBackFailures(t *testing.T) {
	for _, c := range []struct {
		err   error
		mark  string
		again bool
	}{
		{room.ErrNoPaging, "no older events are kept", false},
		{fmt.Errorf("%w: jetlog: before: nats: timeout", room.ErrUnavailable), "older events could not be loaded", true},
	} {
		conn := &failingPager{fakeConn: newFakeConn("alice"), err: c.err}
		m := New(Options{Conn: conn, Location: time.UTC, LeaveDelay: -1})
		m.Update(tea.WindowSizeMsg{Width: 60, Height: 12})
		feed(m, chat("bob", "hi"), &room.Event{Seq: 7, Kind: room.Chat, From: "bob", Text: "numbered", Time: t0})
		pressRun(m, "pgup")
		text := screenText(m)
		if !strings.Contains(text, c.mark) || strings.Contains(text, "nats") {
			t.Errorf("%v: the screen shows\n%s", c.err, text)
		}
		pressRun(m, "pgup")
		if again := conn.calls > 1; again != c.again {
			t.Errorf("%v: asked %d times after two PgUps", c.err, conn.calls)
		}
	}
}

// TestScrollBackHoldsTheByteBound: paging back through long lines, and
// down again to the newest, keeps the messages and their rows near the
// screen's byte bound, however far back.
func TestScrollBackHoldsTheByteBound(t *testing.T) {
	const budget = 256 << 10
	c := newPagerConn("alice", 0)
	long := strings.Repeat("x", 2000)
	for range 600 {
		c.append().Text = long
	}
	c.log[0].Text = "line 1"
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1, ScrollbackBytes: budget})
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 12})
	joinHistory(m, c, 5)
	most := 0
	for presses := 0; screenLineWith(m, "bob: line 1") == ""; presses++ {
		if presses > 5000 {
			t.Fatalf("line 1 not reached; the screen:\n%s", screenText(m))
		}
		pressRun(m, "pgup")
		most = max(most, m.sb.bytes+m.sb.rowBytes)
	}
	if most > budget+budget/2 {
		t.Errorf("the scrollback held %d KiB, over its bound of %d KiB and a half", most>>10, budget>>10)
	}
	for presses := 0; m.sb.pg.detached || m.sb.scrolled(); presses++ {
		if presses > 5000 {
			t.Fatalf("not back at the newest after %d PgDns", presses)
		}
		pressRun(m, "pgdown")
		most = max(most, m.sb.bytes+m.sb.rowBytes)
	}
	if most > budget+budget/2 {
		t.Errorf("scrolling back down, the scrollback held %d KiB, over its bound of %d KiB and a half", most>>10, budget>>10)
	}
	t.Logf("at most %d KiB held, bound %d KiB", most>>10, budget>>10)
}

// TestReattachShowsEachEventOnce: events the room appended while the
// screen was detached, read from the log by the page that brings it back,
// are not shown again when they arrive live; later ones are, and so are
// those of a log whose numbers start again (a reconnect to a restarted
// server).
func TestReattachShowsEachEventOnce(t *testing.T) {
	c := newPagerConn("alice", 300)
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1, Scrollback: 100})
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 12})
	joinHistory(m, c, 5) // alice's join is 301
	scrollToLine1(t, m)
	var pending []*room.Event
	for range 5 {
		pending = append(pending, c.append()) // 302..306, not delivered yet
	}
	for presses := 0; m.sb.pg.detached; presses++ {
		if presses > 300 {
			t.Fatal("still detached")
		}
		pressRun(m, "pgdown")
	}
	feed(m, pending...)
	feed(m, c.append()) // 307
	pressRun(m, "end")
	counts := map[int]int{}
	for _, e := range m.sb.entries {
		if e.ev.Kind == room.Chat {
			var n int
			fmt.Sscanf(e.ev.Text, "line %d", &n)
			counts[n]++
		}
	}
	for n := 302; n <= 307; n++ {
		if counts[n] != 1 {
			t.Errorf("line %d held %d times", n, counts[n])
		}
	}
	restarted := &room.Event{Seq: 1, Kind: room.Chat, From: "carol", Text: "a new log", Time: t0}
	feed(m, restarted)
	if !strings.Contains(screenText(m), "carol: a new log") {
		t.Errorf("an event of a new log is not shown:\n%s", screenText(m))
	}
}
