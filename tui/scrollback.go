package tui

import (
	"unsafe"

	"chatd/room"
)

// DefaultScrollback is how many messages a screen keeps when Options leaves
// Scrollback zero.
const DefaultScrollback = 1000

// DefaultScrollbackBytes is how much memory the messages a screen keeps may
// hold, as eventSize counts it, together with the rows rendered from them
// and cached (linesSize), when Options leaves ScrollbackBytes zero.
// DefaultScrollback messages of chatd's longest line (2 KiB) hold about
// that much, so only longer lines, a hostile server's, make a screen keep
// noticeably fewer messages.
const DefaultScrollbackBytes = 2 << 20

// scrollback holds the messages shown on screen, at most max of them and
// maxBytes of memory, the messages and their cached rows (the first limit
// reached drops the oldest; rows pile up while scrolled up, a long message
// on a narrow screen making thousands), each
// rendered and wrapped once: a new message appends its lines. A change of
// width renders again only the newest messages, enough to fill the view;
// older ones are rendered when scrolling reaches them. So neither a message
// nor a resize costs more with a longer history. The view is a slice of the
// cached lines.
type scrollback struct {
	max      int     // messages kept
	maxBytes int     // their eventSize and linesSize kept, in all
	bytes    int     // the eventSize of entries, in all
	rowBytes int     // the linesSize of lines, in all
	entries  []entry // oldest first
	stale    int     // entries[:stale] are not rendered at this width yet
	lines    []line  // the lines of entries[stale:], in order
	width    int     // the width lines are wrapped to; 0 until known
	height   int     // rows shown
	offset   int     // rows scrolled up from the bottom; 0 follows new messages
	unread   int     // messages that arrived while scrolled up
	renders  int     // how many times a message was rendered, for tests
	// The replay times of the HistoryBegin events among entries, once
	// known: one per replay, kept beside the entries rather than in each.
	times map[*room.Event]timeRange
	r     *renderer
	pg    paging // reading older (and newer) pages from the log: older.go
}

type entry struct {
	ev    *room.Event
	size  int    // eventSize(ev)
	n     int    // how many lines it has in lines; 0 while stale
	rows  int    // the linesSize of those lines
	lines []line // only between renderEntry and prependRendered
}

// eventSize is about how much memory ev holds: the event and its text.
func eventSize(ev *room.Event) int {
	n := int(unsafe.Sizeof(*ev)) + len(ev.From) + len(ev.To) + len(ev.Text)
	for _, nick := range ev.Nicks {
		n += int(unsafe.Sizeof(nick)) + len(nick)
	}
	return n
}

// linesSize is about how much memory rendered lines hold: each line and
// its text.
func linesSize(lines []line) int {
	n := len(lines) * int(unsafe.Sizeof(line{}))
	for _, l := range lines {
		n += len(l.s)
	}
	return n
}

// overscan is how many rows beyond the view are rendered ahead, so that
// scrolling up renders in batches.
const overscan = 64

func newScrollback(maxEntries, maxBytes int, r *renderer) *scrollback {
	return &scrollback{max: maxEntries, maxBytes: maxBytes, r: r}
}

// add appends ev, rendering only it. While scrolled up, the view stays where
// it is and the unread count grows.
func (s *scrollback) add(ev *room.Event) {
	if s.pg.pagedSeq > 0 && ev.Seq > 0 {
		if ev.Seq > s.pg.dupFrom && ev.Seq <= s.pg.pagedSeq {
			return // shown already, read from the log while detached
		}
		if !s.pg.detached && ev.Seq > s.pg.pagedSeq {
			s.pg.pagedSeq, s.pg.dupFrom = 0, 0 // past the page
		}
	}
	s.pg.liveSeq = max(s.pg.liveSeq, ev.Seq)
	if s.pg.detached { // the log has it, or it is kept aside
		if ev.Seq == 0 {
			s.pg.keep(ev)
		}
		s.unread++
		return
	}
	var lines []line
	if s.width > 0 {
		lines = s.r.render(ev, s.width)
		s.renders++
	}
	size, rows := eventSize(ev), linesSize(lines)
	s.entries = append(s.entries, entry{ev: ev, size: size, n: len(lines), rows: rows})
	s.bytes += size
	s.rowBytes += rows
	s.lines = append(s.lines, lines...)
	if s.offset > 0 {
		s.offset += len(lines)
		s.unread++
	}
	s.trim()
	s.forget()
	s.clamp()
}

// forget drops the rendered lines of the oldest messages once far more are
// rendered than the view shows, while the view follows new messages. A
// screen then holds its messages (the events, which every screen shares)
// and only the lines near the view; older ones are rendered again if
// scrolled to. It lets lines accumulate first, so the copying is amortised.
func (s *scrollback) forget() {
	if s.offset > 0 || len(s.lines) <= s.height+4*overscan {
		return
	}
	keep := s.height + overscan
	drop, i := 0, s.stale
	for ; i < len(s.entries) && len(s.lines)-drop-s.entries[i].n >= keep; i++ {
		drop += s.entries[i].n
		s.rowBytes -= s.entries[i].rows
		s.entries[i].n, s.entries[i].rows = 0, 0
	}
	s.stale = i
	s.lines = append(make([]line, 0, len(s.lines)-drop+overscan), s.lines[drop:]...)
}

// trim drops the oldest messages beyond max or maxBytes (the messages and
// their cached rows), keeping at least the newest. It lets a quarter more
// accumulate first, so the copying is amortised over many messages.
func (s *scrollback) trim() {
	if len(s.entries) <= s.max+s.max/4 && s.bytes+s.rowBytes <= s.maxBytes+s.maxBytes/4 {
		return
	}
	drop, nlines := 0, 0
	for drop < len(s.entries)-1 && (len(s.entries)-drop > s.max || s.bytes+s.rowBytes > s.maxBytes) {
		delete(s.times, s.entries[drop].ev) // a no-op unless it is a divider with times
		s.bytes -= s.entries[drop].size
		s.rowBytes -= s.entries[drop].rows
		nlines += s.entries[drop].n // 0 for stale entries, which have no lines
		drop++
	}
	s.stale = max(0, s.stale-drop)
	s.entries = append(make([]entry, 0, len(s.entries)-drop+len(s.entries)/4+1), s.entries[drop:]...)
	s.lines = append(make([]line, 0, len(s.lines)-nlines+len(s.lines)/4), s.lines[nlines:]...)
}

// resize sets the area the scrollback is drawn in. A new width renders the
// newest messages again; a new height only moves the window.
func (s *scrollback) resize(width, height int) {
	s.height = max(height, 0)
	if width != s.width {
		s.width = width
		s.rerender()
	}
	s.ensure(s.offset + s.height)
	s.clamp()
}

// rerender forgets every rendered line, for a new width or width method,
// and renders again what the view needs. While scrolled up, the message at
// the bottom of the view stays there, unless the rows below it would take
// more than maxBytes (far up, on a narrow screen): then the view stops as
// far up as they allow.
func (s *scrollback) rerender() {
	if s.width <= 0 {
		return
	}
	anchor := len(s.entries) - 1
	if s.offset > 0 {
		anchor = s.entryAt(len(s.lines) - s.offset - 1)
	}
	for i := range s.entries {
		s.entries[i].n, s.entries[i].rows = 0, 0
	}
	s.rowBytes = 0
	s.stale, s.lines = len(s.entries), s.lines[:0]
	from, got := len(s.entries), 0
	for from > anchor+1 && s.rowBytes <= s.maxBytes { // the messages below the view's bottom one
		from--
		got += s.renderEntry(from)
	}
	s.prependRendered(from, got)
	s.offset = len(s.lines)
	s.ensure(s.offset + s.height)
	s.clamp()
}

// ensure renders older messages until at least rows lines (plus some ahead)
// are rendered, or every message is. Beyond the rows the view needs, it
// stops once the cached rows take maxBytes: scrolling up then stops there,
// rather than a narrow screen caching dozens of times its messages' size.
func (s *scrollback) ensure(rows int) {
	if s.width <= 0 || len(s.lines) >= rows || s.stale == 0 {
		return
	}
	from, got := s.stale, 0
	for from > 0 && got < rows+overscan-len(s.lines) && (s.rowBytes <= s.maxBytes || len(s.lines)+got < s.height) {
		from--
		got += s.renderEntry(from)
	}
	s.prependRendered(from, got)
}

// renderEntry renders message i at the current width and returns how many
// lines it has; prependRendered then collects them.
func (s *scrollback) renderEntry(i int) int {
	s.entries[i].lines = s.r.renderTimes(s.entries[i].ev, s.timesOf(s.entries[i].ev), s.width)
	s.entries[i].n = len(s.entries[i].lines)
	s.entries[i].rows = linesSize(s.entries[i].lines)
	s.rowBytes += s.entries[i].rows
	s.renders++
	return s.entries[i].n
}

// prependRendered puts the lines of the freshly rendered messages
// entries[from:s.stale], n lines in all, before the others.
func (s *scrollback) prependRendered(from, n int) {
	if from >= s.stale {
		return
	}
	older := make([]line, 0, n+len(s.lines))
	for i := from; i < s.stale; i++ {
		older = append(older, s.entries[i].lines...)
		s.entries[i].lines = nil
	}
	s.lines = append(older, s.lines...)
	s.stale = from
}

// entryAt returns the index of the rendered message that line i belongs to.
func (s *scrollback) entryAt(i int) int {
	for j, e := range s.entries[s.stale:] {
		if i < e.n {
			return s.stale + j
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

// scroll moves the view up (positive delta) or down by delta rows,
// rendering older messages as it reaches them. Reaching the bottom clears
// the unread count.
func (s *scrollback) scroll(delta int) {
	s.offset += delta
	s.ensure(s.offset + s.height)
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

// scrolled reports whether the view is away from the newest messages:
// scrolled up, or showing older pages that pushed them out (detached).
func (s *scrollback) scrolled() bool { return s.offset > 0 || s.pg.detached }

// window returns the rows to show, height of them at most, oldest first.
// When there are fewer lines than rows, the caller draws blank rows above.
func (s *scrollback) window() []line {
	end := len(s.lines) - s.offset
	start := max(0, end-s.height)
	return s.lines[start:end]
}

// notSentScan is how many of the newest messages a refusal looks through
// for the line it refused.
const notSentScan = 32

// ownUnstored reports whether ev may be one of the person's own lines as
// the Conn passed it on when it was sent: a chat line or action that the
// room did not number.
func ownUnstored(ev *room.Event) bool {
	return (ev.Kind == room.Chat || ev.Kind == room.Action) && ev.Seq == 0
}

// markedNotSent returns a copy of ev, a line of the person's own, marked
// as refused (NotSentMark).
func markedNotSent(ev *room.Event) *room.Event {
	marked := *ev
	marked.Text += NotSentMark
	return &marked
}

// markNotSent marks, among the newest messages, the person's own lines
// that refused reports the room refused, and renders them again.
func (s *scrollback) markNotSent(refused func(*room.Event) bool) {
	changed := false
	for i := len(s.entries) - 1; i >= max(0, len(s.entries)-notSentScan); i-- {
		e := &s.entries[i]
		if !ownUnstored(e.ev) || !refused(e.ev) {
			continue
		}
		e.ev = markedNotSent(e.ev)
		size := eventSize(e.ev)
		s.bytes += size - e.size
		e.size = size
		changed = true
	}
	if changed {
		s.rerender()
	}
}
