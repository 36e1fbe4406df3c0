package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// lastLines returns the scrollback's non-blank rows, the status and input
// rows and the member panel left out.
func lastLines(m *Model) []string {
	rows := screen(m)
	var out []string
	for _, row := range rows[:len(rows)-2] {
		row, _, _ = strings.Cut(row, "│")
		if row = strings.TrimSpace(row); row != "" {
			out = append(out, row)
		}
	}
	return out
}

// closeWith ends the model's stream with events and reason c.reason.
func closeWith(m *Model, events ...*room.Event) {
	m.Update(EventsMsg{Events: events, Closed: true})
}

// TestKickIsShownLastOnTheSSHScreen: an SSH screen's member is sent no
// farewell; when its stream ends with a kick, the screen says so plainly
// as its last line, offers no reconnecting, and any key closes it.
func TestKickIsShownLastOnTheSSHScreen(t *testing.T) {
	for _, tc := range []struct {
		reason room.Reason
		words  string
	}{
		{room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}, "!! You were kicked by alice: spam."},
		{room.Reason{Kind: room.ReasonBanned, Detail: "alice until 2026-12-01 18:00:00 UTC: spam"}, "!! You were banned by alice until 2026-12-01 18:00:00 UTC: spam."},
	} {
		m, c := newTestModel(t, "mallory", 100, 12)
		feed(m, chat("bob", "hi"), ev(room.Notice, "", "", "mallory was kicked by alice: spam"))
		c.reason = tc.reason
		closeWith(m)
		lines := lastLines(m)
		if last := lines[len(lines)-1]; !strings.HasSuffix(last, tc.words) {
			t.Errorf("last line %q, want %q; screen:\n%s", last, tc.words, screenText(m))
		}
		text := screenText(m)
		if !strings.Contains(text, "you left the room: "+tc.reason.String()) || strings.Contains(strings.ToLower(text), "reconnect") {
			t.Errorf("screen:\n%s", text)
		}
		_, cmd := m.Update(keyMsg("enter"))
		if cmd == nil {
			t.Fatal("a key did not close the screen")
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Error("a key did not close the screen")
		}
	}
}

// TestFinalFarewellIsShownOnceAndLast: the bundled client's screen gets
// the server's farewell (and the client's notice that it will not
// reconnect): the farewell is worded plainly, once, as the last line.
func TestFinalFarewellIsShownOnceAndLast(t *testing.T) {
	for _, tc := range []struct {
		bye   *room.Event
		words string
	}{
		{&room.Event{Kind: room.Bye, Time: t0, Text: "disconnected: kicked by alice: spam", Reason: room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}},
			"!! You were kicked by alice: spam."},
		{&room.Event{Kind: room.Bye, Time: t0, Reason: room.Reason{Kind: room.ReasonRefused, Detail: "you are banned until 2026-12-01 18:00:00 UTC: \x1b[2Jspam"}},
			"!! You are banned until 2026-12-01 18:00:00 UTC: spam."},
	} {
		m, c := newTestModel(t, "mallory", 100, 12)
		c.reason = tc.bye.Reason
		closeWith(m, ev(room.Notice, "", "", "The server sent you away; chat will not reconnect by itself."), tc.bye)
		lines := lastLines(m)
		if last := lines[len(lines)-1]; !strings.HasSuffix(last, tc.words) {
			t.Errorf("last line %q, want %q", last, tc.words)
		}
		text := screenText(m)
		if n := strings.Count(text, tc.words[len("!! "):]); n != 1 || strings.Contains(text, "disconnected:") {
			t.Errorf("the farewell is shown %d times, or in the wire's words:\n%s", n, text)
		}
	}
}

// TestOtherEndsAreNotFinal: a lost connection or a quit adds no farewell
// of its own.
func TestOtherEndsAreNotFinal(t *testing.T) {
	m, c := newTestModel(t, "mallory", 100, 12)
	feed(m, chat("bob", "hi"))
	c.reason = room.Reason{Kind: room.ReasonLost}
	closeWith(m)
	if lines := lastLines(m); !strings.HasSuffix(lines[len(lines)-1], "bob: hi") {
		t.Errorf("screen:\n%s", screenText(m))
	}
}

// TestAnnouncementsLookLikeNotices: what an operator did, announced to
// everyone (Room.Announce), is drawn as any notice.
func TestAnnouncementsLookLikeNotices(t *testing.T) {
	m, _ := newTestModel(t, "bob", 100, 12)
	feed(m, ev(room.Notice, "", "", "a notice"), ev(room.Notice, "", "", "mallory was kicked by alice: spam"))
	if !strings.Contains(screenText(m), "12:34 -- mallory was kicked by alice: spam") {
		t.Fatalf("screen:\n%s", screenText(m))
	}
	raw := m.View().Content
	styleBefore := func(text string) string {
		i := strings.Index(raw, text)
		return raw[strings.LastIndex(raw[:i], "\x1b["):i]
	}
	if styleBefore("mallory was kicked") != styleBefore("a notice") {
		t.Error("the announcement is not drawn like a notice")
	}
}
