package tui

import (
	"chatd/room"
)

// DefaultScrollback is how many messages a screen keeps when Options leaves
// Scrollback zero.
const DefaultScrollback = 1000

// scrollback holds the messages shown on screen, each rendered and wrapped
// once: a new message appends its lines, and only a change of width renders
// everything again. The view is a slice of the cached lines.
type scrollback struct {
	max     int     // messages kept
	entries []entry // oldest first
	lines   []line  // every entry's lines, in order
	width   int     // the width lines are wrapped to; 0 until known
	height  int     // rows shown
	offset  int     // rows scrolled up from the bottom; 0 follows new messages
	unread  int     // messages that arrived while scrolled up
	renders int     // how many times a message was rendered, for tests
}

type entry struct {
	ev *room.Event
	n  int // how many lines it has in lines
}

func newScrollback(maxEntries int) *scrollback {
	return &scrollback{max: maxEntries}
}

// add appends ev, rendering only it. While scrolled up, the view stays where
// it is and the unread count grows.
func (s *scrollback) add(ev *room.Event, r *renderer) {
	var lines []line
	if s.width > 0 {
		lines = r.render(ev, s.width)
		s.renders++
	}
	s.entries = append(s.entries, entry{ev: ev, n: len(lines)})
	s.lines = append(s.lines, lines...)
	if s.offset > 0 {
		s.offset += len(lines)
		s.unread++
	}
	s.trim()
	s.clamp()
}

// trim drops the oldest messages beyond max. It lets a quarter of max
// accumulate first, so the copying is amortised over many messages.
func (s *scrollback) trim() {
	if len(s.entries) <= s.max+s.max/4 {
		return
	}
	drop := len(s.entries) - s.max
	nlines := 0
	for _, e := range s.entries[:drop] {
		nlines += e.n
	}
	s.entries = append(make([]entry, 0, s.max+s.max/4+1), s.entries[drop:]...)
	s.lines = append(make([]line, 0, len(s.lines)-nlines+len(s.lines)/4), s.lines[nlines:]...)
}

// resize sets the area the scrollback is drawn in. A new width renders every
// message again, once; a new height only moves the window.
func (s *scrollback) resize(width, height int, r *renderer) {
	s.height = max(height, 0)
	if width != s.width {
		s.width = width
		s.rerender(r)
	}
	s.clamp()
}

// rerender renders every message again, for a new width or width method.
func (s *scrollback) rerender(r *renderer) {
	if s.width <= 0 {
		return
	}
	// While scrolled up, keep the message at the bottom of the view there.
	anchor := -1
	if s.offset > 0 {
		anchor = s.entryAt(len(s.lines) - s.offset - 1)
	}
	s.lines = s.lines[:0]
	for i := range s.entries {
		lines := r.render(s.entries[i].ev, s.width)
		s.renders++
		s.entries[i].n = len(lines)
		s.lines = append(s.lines, lines...)
	}
	if anchor >= 0 {
		s.offset = 0
		for _, e := range s.entries[anchor+1:] {
			s.offset += e.n
		}
	}
	s.clamp()
}

// entryAt returns the index of the message that line i belongs to.
func (s *scrollback) entryAt(i int) int {
	for j, e := range s.entries {
		if i < e.n {
			return j
		}
		i -= e.n
	}
	return len(s.entries) - 1
}

// maxOffset is how far up the view can be scrolled.
func (s *scrollback) maxOffset() int {
	return max(0, len(s.lines)-s.height)
}

func (s *scrollback) clamp() {
	s.offset = min(max(s.offset, 0), s.maxOffset())
	if s.offset == 0 {
		s.unread = 0
	}
}

// scroll moves the view up (positive delta) or down by delta rows. Reaching
// the bottom clears the unread count.
func (s *scrollback) scroll(delta int) {
	s.offset += delta
	s.clamp()
}

// page is how many rows PgUp and PgDn move.
func (s *scrollback) page() int {
	return max(1, s.height-1)
}

// bottom follows new messages again.
func (s *scrollback) bottom() {
	s.offset = 0
	s.unread = 0
}

// scrolled reports whether the view is away from the newest messages.
func (s *scrollback) scrolled() bool { return s.offset > 0 }

// window returns the rows to show, height of them at most, oldest first.
// When there are fewer lines than rows, the caller draws blank rows above.
func (s *scrollback) window() []line {
	end := len(s.lines) - s.offset
	start := max(0, end-s.height)
	return s.lines[start:end]
}
