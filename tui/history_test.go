package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"chatd/room"
)

// replay returns a history replay of events at the given times, framed
// by HistoryBegin and HistoryEnd sent at now.
func replay(now time.Time, times ...time.Time) []*room.Event {
	evs := []*room.Event{{Kind: room.HistoryBegin, Count: len(times), Time: now}}
	for i, at := range times {
		evs = append(evs, &room.Event{Kind: room.Chat, From: "bob", Text: fmt.Sprintf("old %d", i), Time: at})
	}
	return append(evs, &room.Event{Kind: room.HistoryEnd, Time: now})
}

// TestHistoryDividerShowsItsTimes: the divider above replayed history
// says when its events happened, first to last, in the screen's time
// zone, named; with dates when they are not today's.
func TestHistoryDividerShowsItsTimes(t *testing.T) {
	now := time.Date(2025, 3, 4, 15, 0, 0, 0, time.UTC)
	at := func(day, h, m int) time.Time { return time.Date(2025, 3, day, h, m, 0, 0, time.UTC) }
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		loc   *time.Location
		times []time.Time
		want  string
	}{
		{"today", time.UTC, []time.Time{at(4, 14, 2), at(4, 14, 20), at(4, 14, 35)}, "15:00 ── earlier messages, 14:02–14:35 UTC ──"},
		{"one minute", time.UTC, []time.Time{at(4, 9, 5)}, "15:00 ── earlier messages, 09:05 UTC ──"},
		{"another day", time.UTC, []time.Time{at(2, 9, 5), at(2, 11, 0)}, "15:00 ── earlier messages, 2 Mar 09:05–11:00 UTC ──"},
		{"over midnight", time.UTC, []time.Time{at(3, 23, 50), at(4, 0, 10)}, "15:00 ── earlier messages, 3 Mar 23:50 – 4 Mar 00:10 UTC ──"},
		{"another year", time.UTC, []time.Time{time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC)}, "15:00 ── earlier messages, 31 Dec 2024 23:00 UTC ──"},
		{"zone", berlin, []time.Time{at(4, 14, 2), at(4, 14, 35)}, "16:00 ── earlier messages, 15:02–15:35 CET ──"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{Conn: newFakeConn("alice"), Location: tc.loc, LeaveDelay: -1})
			m.rend.now = func() time.Time { return now }
			m.Update(tea.WindowSizeMsg{Width: 100, Height: 12})
			feed(m, replay(now, tc.times...)...)
			feed(m, &room.Event{Kind: room.Join, From: "alice", Time: now})
			text := screenText(m)
			if !strings.Contains(text, tc.want) {
				t.Errorf("screen lacks %q:\n%s", tc.want, text)
			}
			if !strings.Contains(text, "── now ──") {
				t.Errorf("no divider below the history:\n%s", text)
			}
		})
	}
}

// TestHistoryDividerWhileScrolledUp: the divider of a second replay (the
// bundled client's, after a reconnection) gets its times, and a second
// row, while the view is scrolled up to the messages before it: the rows
// in view stay where they are, and scrolling down shows it.
func TestHistoryDividerWhileScrolledUp(t *testing.T) {
	now := time.Date(2025, 3, 4, 15, 0, 0, 0, time.UTC)
	m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC, LeaveDelay: -1})
	m.rend.now = func() time.Time { return now }
	m.Update(tea.WindowSizeMsg{Width: 40, Height: 8}) // 6 rows of messages
	for i := range 10 {
		feed(m, chat("carol", fmt.Sprintf("before %d", i)))
	}
	var times []time.Time
	for i := range 20 {
		times = append(times, now.Add(time.Duration(i-60)*time.Minute))
	}
	evs := replay(now, times...)
	feed(m, evs[:12]...) // the divider and some history
	for range 10 {
		press(m, "pgup")
	}
	before := screen(m)[:6]
	if !strings.Contains(strings.Join(before, "\n"), "before 0") {
		t.Fatalf("not scrolled to the top:\n%s", strings.Join(before, "\n"))
	}
	lines := len(m.sb.lines)
	feed(m, evs[12:]...) // the rest, and the end
	if got := screen(m)[:6]; strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Errorf("the view moved:\n%s\nwas\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	if got, want := len(m.sb.lines), lines+9+1+1; got != want {
		t.Errorf("%d lines, want %d: 9 messages more, the lower divider and the upper one's second row", got, want)
	}
	var rows []string
	for _, l := range m.sb.lines {
		rows = append(rows, strings.TrimSpace(ansi.Strip(l.s)))
	}
	if text := strings.Join(rows, " "); !strings.Contains(text, "15:00 ── earlier messages, 14:00–14:19 UTC ──") {
		t.Errorf("the divider lacks its times:\n%s", strings.Join(rows, "\n"))
	}
}

// TestHistoryTimesGoWithTheirDivider: the times of a replay are kept
// beside the scrollback while its divider is in it, and dropped with it.
func TestHistoryTimesGoWithTheirDivider(t *testing.T) {
	now := time.Date(2025, 3, 4, 15, 0, 0, 0, time.UTC)
	m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC, LeaveDelay: -1, Scrollback: 8})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 10})
	feed(m, replay(now, now.Add(-time.Hour), now.Add(-time.Minute))...)
	if len(m.sb.times) != 1 {
		t.Fatalf("%d replay times kept, want 1", len(m.sb.times))
	}
	for i := range 20 {
		feed(m, chat("bob", fmt.Sprintf("later %d", i)))
	}
	if len(m.sb.times) != 0 {
		t.Errorf("%d replay times kept after their divider was dropped", len(m.sb.times))
	}
}
