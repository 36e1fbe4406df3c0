package tui

import (
	"runtime"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestScrolledUpRowsCountAgainstTheBudget: rows rendered while scrolled up
// (a long message at one column is two thousand of them) count against the
// scrollback's 2 MiB with the messages, so a screen scrolled up while 1200
// of the longest messages arrive stays within a few MiB at any width; so
// does scrolling to the top, and a resize while scrolled up. Before, a
// screen one column wide held about 80 MiB.
func TestScrolledUpRowsCountAgainstTheBudget(t *testing.T) {
	text := strings.Repeat("x", 2000)
	for _, w := range []int{1, 20, 80} {
		before := heapInUse()
		m, _ := newTestModel(t, "alice", w, 10)
		for range 30 {
			feed(m, chat("bob", "hello"))
		}
		press(m, "pgup")
		if !m.sb.scrolled() {
			t.Fatalf("width %d: not scrolled up", w)
		}
		for range 1200 {
			feed(m, &room.Event{Kind: room.Chat, From: "bob", Text: text, Time: t0})
		}
		checkScrollbackBudget(t, m, w, "1200 messages while scrolled up")
		m.sb.scroll(1 << 30)
		checkScrollbackBudget(t, m, w, "scrolled to the top")
		m.sb.scroll(-m.sb.offset / 2)
		m.Update(tea.WindowSizeMsg{Width: 1 + w/2, Height: 10})
		checkScrollbackBudget(t, m, w, "resized while scrolled up")
		grew := int64(heapInUse()) - int64(before)
		t.Logf("width %d: %d messages %d KiB, %d rows %d KiB, heap +%d KiB", w, len(m.sb.entries), m.sb.bytes>>10, len(m.sb.lines), m.sb.rowBytes>>10, grew>>10)
		if grew > 8<<20 {
			t.Errorf("width %d: the heap grew by %d MiB", w, grew>>20)
		}
		if len(screen(m)) != 10 {
			t.Errorf("width %d: the screen lost its rows", w)
		}
		runtime.KeepAlive(m)
	}
}

// checkScrollbackBudget checks that m's scrollback holds its budget, with
// the rows it caches counted as they are.
func checkScrollbackBudget(t *testing.T, m *Model, w int, when string) {
	t.Helper()
	sb := m.sb
	if got := linesSize(sb.lines); got != sb.rowBytes {
		t.Fatalf("width %d, %s: rows counted as %d bytes, hold %d", w, when, sb.rowBytes, got)
	}
	// Messages arriving trim both to the budget (and a quarter); scrolling
	// up and resizing stop rendering rows once they take the budget.
	budget := DefaultScrollbackBytes
	if sb.bytes > budget+budget/4 || sb.rowBytes > budget+budget/4+oneMessageRows {
		t.Errorf("width %d, %s: %d messages (%d KiB) and %d rows (%d KiB), over the %d KiB budget", w, when,
			len(sb.entries), sb.bytes>>10, len(sb.lines), sb.rowBytes>>10, budget>>10)
	}
}

// oneMessageRows is more than the rows of the longest message take, at one
// column.
const oneMessageRows = 256 << 10
