package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// keptPagerConn is a pagerConn whose log keeps only the events from first
// on (retention removed the older ones) and answers at most most events
// a page (a log bounding pages by bytes).
type keptPagerConn struct {
	*pagerConn
	first uint64
	most  int
}

func (c *keptPagerConn) Older(before uint64, n int) ([]*room.Event, error) {
	evs, err := c.pagerConn.Older(before, min(n, c.most))
	for len(evs) > 0 && evs[0].Seq < c.first {
		evs = evs[1:]
	}
	return evs, err
}

// scrollToEnd presses PgUp until the screen shows want (failing after a
// bound), then a few more, and returns the screen.
func scrollToEnd(t *testing.T, c Conn, p *pagerConn, want string) string {
	t.Helper()
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1, Scrollback: 1000})
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 12})
	joinHistory(m, p, 5)
	for presses := 0; !strings.Contains(screenText(m), want); presses++ {
		if presses > 300 {
			t.Fatalf("no %q after %d PgUps; the screen:\n%s", want, presses, screenText(m))
		}
		pressRun(m, "pgup")
	}
	return screenText(m)
}

// TestScrollBackEndsWhereTheLogDoes: short pages (a log bounding pages by
// bytes) do not end the scrolling back; it ends with "beginning of the
// history" only at the event numbered 1, and with "no older events are
// kept" where the log's retention removed the older ones.
func TestScrollBackEndsWhereTheLogDoes(t *testing.T) {
	p := newPagerConn("alice", 200)
	screen := scrollToEnd(t, &keptPagerConn{pagerConn: p, first: 1, most: 7}, p, "beginning of the history")
	if !strings.Contains(screen, "line 1") {
		t.Fatalf("the beginning shown without line 1:\n%s", screen)
	}

	p = newPagerConn("alice", 200)
	screen = scrollToEnd(t, &keptPagerConn{pagerConn: p, first: 120, most: PageSize}, p, "no older events are kept")
	if strings.Contains(screen, "beginning of the history") || !strings.Contains(screen, "line 120") || strings.Contains(screen, "line 119") {
		t.Fatalf("after retention, the top of the screen:\n%s", screen)
	}
}
