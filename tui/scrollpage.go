package tui

import (
	"slices"

	"chatd/room"
)

// The scrollback's side of paging through the log (older.go).

// markShown reports whether the marker is the scrollback's top entry.
func (s *scrollback) markShown() bool {
	return s.pg.mark != nil && len(s.entries) > 0 && s.entries[0].ev == s.pg.mark
}

// atTop reports whether the view shows the oldest line the scrollback
// holds.
func (s *scrollback) atTop() bool {
	return len(s.entries) > 0 && s.stale == 0 && s.offset >= s.maxOffset()
}

// oldestSeq is the Seq of the oldest numbered event held, 0 if none.
func (s *scrollback) oldestSeq() uint64 {
	for _, e := range s.entries {
		if e.ev.Seq > 0 {
			return e.ev.Seq
		}
	}
	return 0
}

// newestSeq is the Seq of the newest numbered event held, 0 if none.
func (s *scrollback) newestSeq() uint64 {
	for i := len(s.entries) - 1; i >= 0; i-- {
		if seq := s.entries[i].ev.Seq; seq > 0 {
			return seq
		}
	}
	return 0
}

// wantOlder returns the Seq to read the page before, when the view is at
// the top and the top is not the beginning of the history (nor loading).
// At the log's first event it marks the beginning instead.
func (s *scrollback) wantOlder() (before uint64, ok bool) {
	if !s.atTop() || s.markShown() && (s.pg.markKind == markLoading || s.pg.markKind == markBeginning) {
		return 0, false
	}
	switch seq := s.oldestSeq(); seq {
	case 0:
		return 0, false
	case 1:
		s.setMark(markBeginning, "beginning of the history")
		return 0, false
	default:
		return seq, true
	}
}

// wantNewer returns the Seq of the newest event held, when the view is at
// the bottom of a detached scrollback.
func (s *scrollback) wantNewer() (from uint64, ok bool) {
	if !s.pg.detached || s.offset > 0 {
		return 0, false
	}
	return s.newestSeq(), true
}

// setMark puts a marker saying text at the top, in place of any other.
// If the view was at the top it stays there, showing the marker.
func (s *scrollback) setMark(kind markKind, text string) {
	s.removeMark()
	top := s.atTop()
	ev := &room.Event{Kind: room.Notice, Text: text}
	e := entry{ev: ev, size: eventSize(ev)}
	if s.stale == 0 && s.width > 0 {
		lines := s.r.render(ev, s.width)
		s.renders++
		e.n, e.rows = len(lines), linesSize(lines)
		s.lines = append(lines, s.lines...)
	} else {
		s.stale++
	}
	s.entries = slices.Insert(s.entries, 0, e)
	s.bytes += e.size
	s.rowBytes += e.rows
	s.pg.mark, s.pg.markKind = ev, kind
	if top {
		s.offset = s.maxOffset()
	}
	s.clamp()
}

// removeMark takes the marker away, if it is shown.
func (s *scrollback) removeMark() {
	if s.markShown() {
		e := s.entries[0]
		if s.stale > 0 {
			s.stale--
		} else {
			s.lines = s.lines[e.n:]
		}
		s.bytes -= e.size
		s.rowBytes -= e.rows
		s.entries = s.entries[1:]
		s.clamp()
	}
	s.pg.mark, s.pg.markKind = nil, noMark
}

// pageOf keeps of a page what may be shown: public, numbered events above
// low and below high, increasing.
func pageOf(evs []*room.Event, low, high uint64) []*room.Event {
	out := make([]*room.Event, 0, len(evs))
	for _, ev := range evs {
		if ev != nil && ev.Kind.Public() && ev.Seq > low && ev.Seq < high {
			out = append(out, ev)
			low = ev.Seq
		}
	}
	return out
}

// prependPage puts the page before seq above what is held, unrendered
// until scrolled to, and drops the newest messages beyond the bounds. A
// page that reaches the event numbered 1 is the beginning of the history;
// an empty one means older events were not kept.
func (s *scrollback) prependPage(evs []*room.Event, seq uint64) {
	s.removeMark()
	page := pageOf(evs, 0, seq)
	added := make([]entry, len(page))
	for i, ev := range page {
		added[i] = entry{ev: ev, size: eventSize(ev)}
		s.bytes += added[i].size
	}
	s.entries = slices.Insert(s.entries, 0, added...)
	s.stale += len(added)
	switch {
	case len(page) > 0 && page[0].Seq == 1:
		s.setMark(markBeginning, "beginning of the history")
	case len(page) == 0:
		// Nothing before seq, which is not 1: the log's retention removed
		// what was older. (A short page is not the end: the log bounds a
		// page by bytes too; the next one is asked for at the top.)
		s.setMark(markBeginning, "no older events are kept")
	}
	s.dropNewest()
	s.ensure(s.offset + s.height)
	s.clamp()
}

// makeRoom lets a view stopped short of the top by the byte bound (the
// rows rendered while scrolling up, see ensure) go on: it drops the
// newest messages, below the view, which the log gives back when
// scrolled down again, and renders what the view needs.
func (s *scrollback) makeRoom() {
	if s.stale == 0 || s.offset < s.maxOffset() {
		return
	}
	s.dropNewest()
	s.ensure(s.offset + s.height)
	s.clamp()
}

// dropNewest drops the newest messages, below the view, while the
// scrollback holds more than its bounds: it is then detached. Those not in
// the log are kept aside.
func (s *scrollback) dropNewest() {
	for len(s.entries) > 1 && (len(s.entries) > s.max || s.bytes+s.rowBytes > s.maxBytes) {
		i := len(s.entries) - 1
		e := s.entries[i]
		if e.n > s.offset {
			return // shown: the bound is held again once scrolled away
		}
		s.lines = s.lines[:len(s.lines)-e.n]
		s.offset -= e.n
		s.bytes -= e.size
		s.rowBytes -= e.rows
		delete(s.times, e.ev)
		s.stale = min(s.stale, i)
		s.entries = s.entries[:i]
		if e.ev.Seq == 0 && keptWhileDetached(e.ev.Kind) && len(s.pg.kept) < maxKept {
			s.pg.kept = slices.Insert(s.pg.kept, 0, e.ev)
		}
		s.pg.detached = true
	}
}

// appendPage puts the page after the newest event held below it, the view
// staying where it is; once it reaches the newest event the screen was
// given (or the log has no more), the scrollback follows live events
// again, starting with those kept aside.
func (s *scrollback) appendPage(evs []*room.Event) {
	page := pageOf(evs, s.newestSeq(), ^uint64(0))
	for _, ev := range page {
		var lines []line
		if s.width > 0 {
			lines = s.r.render(ev, s.width)
			s.renders++
		}
		e := entry{ev: ev, size: eventSize(ev), n: len(lines), rows: linesSize(lines)}
		s.entries = append(s.entries, e)
		s.bytes += e.size
		s.rowBytes += e.rows
		s.lines = append(s.lines, lines...)
		s.offset += e.n
		s.pg.pagedSeq = max(s.pg.pagedSeq, ev.Seq)
	}
	if len(page) == 0 || s.newestSeq() >= s.pg.liveSeq {
		s.attach()
	}
	s.trim()
	s.clamp()
}

// replacePage replaces what is held by the newest page.
func (s *scrollback) replacePage(evs []*room.Event) {
	page := pageOf(evs, 0, ^uint64(0))
	s.entries, s.lines, s.stale = nil, nil, 0
	s.bytes, s.rowBytes, s.offset, s.unread = 0, 0, 0, 0
	s.times = nil
	s.pg.mark, s.pg.markKind = nil, noMark
	s.pg.detached = false
	s.pg.pagedSeq, s.pg.dupFrom = 0, 0 // the page is added as live events
	live := s.pg.liveSeq
	for _, ev := range page {
		s.add(ev)
	}
	if len(page) > 0 {
		s.pg.pagedSeq = max(s.pg.pagedSeq, page[len(page)-1].Seq)
	}
	if len(page) > 0 && s.newestSeq() < live {
		s.pg.detached = true // more arrived since the read: read on
		return
	}
	s.attach()
}

// attach follows live events again, showing those kept aside first.
func (s *scrollback) attach() {
	s.pg.detached = false
	s.pg.dupFrom = s.pg.liveSeq
	kept := s.pg.kept
	s.pg.kept = nil
	for _, ev := range kept {
		s.add(ev)
	}
}
