package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// notSentConn is a fakeConn that reports some lines as refused
// (NotSentReporter), as the bundled client does.
type notSentConn struct {
	*fakeConn
	refused map[*room.Event]bool
}

func (c *notSentConn) NotSent(ev *room.Event) bool { return c.refused[ev] }

// TestRefusedOwnLineIsMarkedNotSent: the person's own line, shown as it
// was sent, is marked "(not sent)" once the room's read-only refusal
// arrives, whichever of the two the screen gets first; a line that was
// stored, and other people's lines, are not.
func TestRefusedOwnLineIsMarkedNotSent(t *testing.T) {
	for _, refusalFirst := range []bool{false, true} {
		c := &notSentConn{fakeConn: newFakeConn("carol"), refused: map[*room.Event]bool{}}
		m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1})
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 20})
		stored := chat("carol", "stored before")
		feed(m, stored, chat("bob", "my important sentence too"))
		echo := chat("carol", "my important sentence")
		refusal := &room.Event{Kind: room.Error, Text: room.ReadOnlyText, Store: room.StoreReadOnly, Time: t0}
		if refusalFirst { // the session knew by then
			c.refused[echo] = true
			feed(m, refusal, echo)
		} else {
			feed(m, echo)
			if got := screenText(m); strings.Contains(got, "(not sent)") {
				t.Fatalf("marked before the refusal:\n%s", got)
			}
			c.refused[echo] = true // as the session does before passing on the refusal
			feed(m, refusal)
		}
		got := screenText(m)
		if n := strings.Count(got, "carol: my important sentence (not sent)"); n != 1 {
			t.Errorf("refusal first %v: the refused line is marked %d times:\n%s", refusalFirst, n, got)
		}
		if strings.Contains(got, "stored before (not sent)") || strings.Contains(got, "too (not sent)") {
			t.Errorf("refusal first %v: a line that was not refused is marked:\n%s", refusalFirst, got)
		}
	}
}
