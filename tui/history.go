package tui

import (
	"time"

	"chatd/room"
)

// The replayed history a member gets on joining is framed by two dividers:
// "── earlier messages, 14:02–14:35 UTC ──" above it and "── now ──"
// below. The times of the upper one are those of the first and last
// replayed events, known once the replay ends; the divider is drawn again
// with them then.

// timeRange is when the replayed events happened, first to last.
type timeRange struct{ from, to time.Time }

// historyMark follows a history replay while it arrives.
type historyMark struct {
	begin *room.Event // the replay's HistoryBegin; nil outside a replay
	times timeRange   // of the events so far; zero until one has a time
}

// noteHistory follows the replay: it remembers the HistoryBegin, the times
// of the events after it, and at HistoryEnd has the divider drawn with
// them.
func (m *Model) noteHistory(ev *room.Event) {
	switch ev.Kind {
	case room.HistoryBegin:
		m.hist = historyMark{begin: ev}
	case room.HistoryEnd:
		if m.hist.begin != nil && !m.hist.times.from.IsZero() {
			m.sb.setTimes(m.hist.begin, m.hist.times)
		}
		m.hist = historyMark{}
	default:
		if m.hist.begin == nil || ev.Time.IsZero() {
			return
		}
		if m.hist.times.from.IsZero() || ev.Time.Before(m.hist.times.from) {
			m.hist.times.from = ev.Time
		}
		if ev.Time.After(m.hist.times.to) {
			m.hist.times.to = ev.Time
		}
	}
}

// setTimes gives the HistoryBegin event begin, if the scrollback still
// holds it, the times of its replay, and draws it again if it is drawn.
func (s *scrollback) setTimes(begin *room.Event, times timeRange) {
	i := len(s.entries) - 1
	for i >= 0 && s.entries[i].ev != begin {
		i--
	}
	if i < 0 {
		return
	}
	if s.times == nil {
		s.times = make(map[*room.Event]timeRange, 1)
	}
	s.times[begin] = times
	e := &s.entries[i]
	if i < s.stale || s.width <= 0 {
		return // drawn with its times when scrolled to
	}
	at := 0 // where its lines start
	for _, older := range s.entries[s.stale:i] {
		at += older.n
	}
	below := len(s.lines) - at - e.n
	lines := s.r.renderTimes(e.ev, &times, s.width)
	s.renders++
	s.lines = append(s.lines[:at], append(lines, s.lines[at+e.n:]...)...)
	if below < s.offset {
		s.offset += len(lines) - e.n // it is below the view, which stays
	}
	e.n = len(lines)
	s.clamp()
}

// timesOf returns the replay times of ev, a HistoryBegin among the
// entries, or nil when they are not known (or ev is another event).
func (s *scrollback) timesOf(ev *room.Event) *timeRange {
	if ev.Kind != room.HistoryBegin {
		return nil
	}
	if t, ok := s.times[ev]; ok {
		return &t
	}
	return nil
}

// historyTitle is the text of the divider above a replay at times (nil
// while the replay is still arriving), with now the current time, all
// shown in loc: "earlier messages, 14:02–14:35 UTC". A time not of today
// has its date; the zone is named, since the screen's times are the
// server's for an SSH session.
func historyTitle(times *timeRange, now time.Time, loc *time.Location) string {
	const title = "earlier messages"
	if times == nil {
		return title
	}
	from, to, now := times.from.In(loc), times.to.In(loc), now.In(loc)
	const clock = "15:04"
	sameDay := from.YearDay() == to.YearDay() && from.Year() == to.Year()
	var when string
	switch {
	case sameDay && from.Format(clock) == to.Format(clock):
		when = dayOf(from, now) + from.Format(clock)
	case sameDay:
		when = dayOf(from, now) + from.Format(clock) + "–" + to.Format(clock)
	default:
		when = dayOf(from, now) + from.Format(clock) + " – " + dayOfAlways(to, now) + to.Format(clock)
	}
	return title + ", " + when + " " + zoneName(to)
}

// dayOf returns t's date and a space ("3 Mar "), or "" when t is on now's
// day.
func dayOf(t, now time.Time) string {
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return ""
	}
	return dayOfAlways(t, now)
}

// dayOfAlways returns t's date and a space: "3 Mar ", with the year when it
// is not now's.
func dayOfAlways(t, now time.Time) string {
	if t.Year() != now.Year() {
		return t.Format("2 Jan 2006 ")
	}
	return t.Format("2 Jan ")
}

// zoneName names t's time zone: its abbreviation, or its offset from UTC
// when the zone has none.
func zoneName(t time.Time) string {
	name, offset := t.Zone()
	if name == "" {
		return "UTC" + t.Format("-07:00")
	}
	if name[0] == '+' || name[0] == '-' {
		if offset == 0 {
			return "UTC"
		}
		return "UTC" + name
	}
	return name
}
