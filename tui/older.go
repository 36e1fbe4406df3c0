package tui

import (
	"errors"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// Scrolling back past what the screen holds reads the room's log, a page
// at a time, through a Conn that can (Pager). The screen keeps its bounds
// (Options.Scrollback, ScrollbackBytes) while doing so: a page loaded at
// the top pushes the newest messages out at the bottom, and the screen is
// then "detached" from the live end: events that arrive are counted, not
// kept (those the log holds are read again, page by page, when the view
// scrolls back down, or at once with End; the few it does not, such as
// private messages, are kept aside and shown once it is back).

// PageSize is how many events the screen asks for at a time.
const PageSize = 50

// maxKept bounds the events outside the log (private messages, notices)
// kept aside while detached; beyond it the oldest are dropped.
const maxKept = 64

// pageRetry is how long the screen waits before asking again when the
// room said it asked too fast.
const pageRetry = time.Second / 2

// Pager is implemented by a Conn that can read back the room's log: Older
// returns, oldest first, up to n public events numbered below before, and
// fewer (none included) when the log holds no more. It is called from a
// command, outside the update loop, one call at a time, and may take a
// round trip. An error wrapping room.ErrPageLimit means "ask again later".
type Pager interface {
	Older(before uint64, n int) ([]*room.Event, error)
}

// markKind is what the line at the top of the scrollback says about
// paging back.
type markKind uint8

const (
	noMark        markKind = iota
	markLoading            // "loading older events…"
	markBeginning          // "beginning of the history"
	markFailed             // the page could not be read
)

// pageDir is which page a request asks for.
type pageDir uint8

const (
	pageOlder  pageDir = iota + 1 // before the oldest event held
	pageNewer                     // after the newest held, while detached
	pageLatest                    // the newest, replacing what is held (End while detached)
)

// paging is the scrollback's state of paging through the log.
type paging struct {
	mark     *room.Event // the marker entry, at the top of entries while it is there
	markKind markKind
	inFlight bool   // a page was asked for and has not come back
	detached bool   // newer events than those held were dropped
	liveSeq  uint64 // the newest Seq the screen was given live
	// Once attached again, the live events numbered above dupFrom up to
	// pagedSeq, the newest a page brought, were shown from the page: they
	// are skipped when they arrive (a log whose numbers start again, after
	// a reconnect, numbers its events at or below dupFrom).
	pagedSeq uint64
	dupFrom  uint64
	kept     []*room.Event // events outside the log that came or were dropped while detached
}

// pageMsg carries a page back into the update loop.
type pageMsg struct {
	dir    pageDir
	from   uint64 // the Seq the page was asked relative to
	events []*room.Event
	err    error
}

// pageRetryMsg asks the screen to try its page again.
type pageRetryMsg struct{}

// keptWhileDetached reports whether an event of kind, not in the log, is
// kept aside rather than dropped while the screen is detached.
func keptWhileDetached(k room.Kind) bool {
	switch k {
	case room.Private, room.PrivateSent, room.Notice, room.Error, room.Bye:
		return true
	}
	return false
}

// keep sets ev aside while detached (bounded by maxKept).
func (p *paging) keep(ev *room.Event) {
	if !keptWhileDetached(ev.Kind) {
		return
	}
	if len(p.kept) >= maxKept {
		p.kept = append(p.kept[:0], p.kept[1:]...)
	}
	p.kept = append(p.kept, ev)
}

// pageCmd asks for a page if the view needs one: at the top of what the
// screen holds, the page before it; at the bottom while detached, the page
// after it.
func (m *Model) pageCmd() tea.Cmd {
	p, ok := m.conn.(Pager)
	if !ok || m.left {
		return nil
	}
	m.sb.makeRoom()
	if m.sb.pg.inFlight {
		return nil
	}
	if before, ok := m.sb.wantOlder(); ok {
		m.sb.setMark(markLoading, "loading older events…")
		return m.ask(p, pageOlder, before, before, PageSize)
	}
	if from, ok := m.sb.wantNewer(); ok {
		return m.ask(p, pageNewer, from, above(from, PageSize+1), PageSize)
	}
	return nil
}

// latestCmd asks for the newest page, to replace what a detached screen
// holds (End).
func (m *Model) latestCmd() tea.Cmd {
	p, ok := m.conn.(Pager)
	if !ok || m.left || !m.sb.pg.detached || m.sb.pg.inFlight {
		return nil
	}
	seq := m.sb.pg.liveSeq
	return m.ask(p, pageLatest, seq, above(seq, 1), PageSize)
}

// ask returns the command that reads the page before before.
func (m *Model) ask(p Pager, dir pageDir, from, before uint64, n int) tea.Cmd {
	m.sb.pg.inFlight = true
	return func() tea.Msg {
		evs, err := p.Older(before, n)
		return pageMsg{dir: dir, from: from, events: evs, err: err}
	}
}

// above returns seq+k, or the largest Seq if that would wrap.
func above(seq, k uint64) uint64 {
	if seq > ^uint64(0)-k {
		return ^uint64(0)
	}
	return seq + k
}

// gotPage takes a page in.
func (m *Model) gotPage(msg pageMsg) tea.Cmd {
	s := m.sb
	s.pg.inFlight = false
	if msg.err != nil {
		if s.pg.markKind == markLoading {
			s.removeMark()
		}
		if errors.Is(msg.err, room.ErrPageLimit) {
			return tea.Tick(pageRetry, func(time.Time) tea.Msg { return pageRetryMsg{} })
		}
		switch {
		case msg.dir != pageOlder:
			s.attach() // show live events again rather than stay detached
		case errors.Is(msg.err, room.ErrNoPaging):
			s.setMark(markBeginning, "no older events are kept")
		default:
			s.setMark(markFailed, "older events could not be loaded; scroll up to try again")
		}
		return nil
	}
	switch msg.dir {
	case pageOlder:
		if s.oldestSeq() == msg.from {
			s.prependPage(msg.events, msg.from)
		} else if s.pg.markKind == markLoading {
			s.removeMark()
		}
	case pageNewer:
		if s.pg.detached && s.newestSeq() == msg.from {
			s.appendPage(msg.events)
		}
	case pageLatest:
		if s.pg.detached {
			s.replacePage(msg.events)
		}
	}
	return m.pageCmd()
}
