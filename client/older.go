package client

import (
	"errors"
	"strings"
	"time"

	"chatd/proto"
	"chatd/room"
)

// pageTimeout bounds the wait for the answer to an older-page request.
const pageTimeout = 10 * time.Second

// Errors of Older.
var (
	// ErrPageAnswer: the server's answer to an older-page request was not
	// the framed block the protocol says (docs/PROTOCOL.md, "Scrolling
	// back"); the lines from the one that broke it on are taken as live.
	ErrPageAnswer = errors.New("the server's answer to a page request was malformed")
	// ErrPageUnanswered: the server did not answer in time, or an earlier
	// request it never answered is still waiting; its answer, if it comes,
	// is still taken out of the stream.
	ErrPageUnanswered = errors.New("the server has not answered a page request")
	// ErrClientCommand: a line given to Send is /older or /resume, which
	// the client sends itself (Older, Config.Resume); it was not sent.
	ErrClientCommand  = errors.New("/older and /resume are not commands for you: the client sends them itself (scroll up for older events)")
	errLogUnavailable = errors.New("the server cannot read its log back")
	errConnEnded      = errors.New("the connection ended")
)

// pageWait is an older-page request waiting for its answer, and the
// reader's progress through it.
type pageWait struct {
	req    proto.OlderRequest
	result chan pageResult // buffered: the reader never waits on it
	header bool            // the answer's first line was read
	want   int             // how many numbered lines the header announced
	got    []*room.Event
}

type pageResult struct {
	events []*room.Event
	err    error
}

// Older asks the server for up to n public events just before the one
// numbered before (the line protocol's /older, for a connection whose
// events are numbered: Config.Resume) and returns them, oldest first;
// none means the log holds no more (fewer than n may come while older
// events remain: the server bounds a page by bytes too). One request at a time: one
// made while another waits gets room.ErrPageLimit, as does one the server
// answers "busy". A connection without numbers gets room.ErrNoPaging.
func (c *Conn) Older(before uint64, n int) ([]*room.Event, error) {
	if !c.seqs {
		return nil, room.ErrNoPaging
	}
	n = min(n, room.MaxPage)
	if n <= 0 || before <= 1 {
		return nil, nil
	}
	w := &pageWait{req: proto.OlderRequest{Before: before, N: n}, result: make(chan pageResult, 1)}
	c.mu.Lock()
	if busy := c.page; busy != nil {
		c.mu.Unlock()
		return nil, ErrPageUnanswered
	}
	c.page = w
	c.mu.Unlock()
	if err := c.writeLine(strings.TrimSuffix(string(proto.AppendOlder(nil, w.req)), "\n")); err != nil {
		c.finishPage(w, pageResult{err: err})
		return nil, err
	}
	timer := time.NewTimer(pageTimeout)
	defer timer.Stop()
	select {
	case r := <-w.result:
		return r.events, r.err
	case <-c.ended:
		return nil, errConnEnded
	case <-timer.C:
		return nil, ErrPageUnanswered
	}
}

// finishPage hands w its result, once, and forgets it.
func (c *Conn) finishPage(w *pageWait, r pageResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.page == w {
		c.page = nil
		w.result <- r
	}
}

// takePage takes ev, read by readEvents, if it belongs to the answer to
// the waiting older-page request, and reports whether it did. A line that
// breaks the answer's frame ends the request with ErrPageAnswer and is
// not taken.
//
// An answer to no request of the client's (a typed /older that got
// through, or one to a request it gave up on and replaced) is dropped
// whole, never passed on as live events: see strayPage.
func (c *Conn) takePage(ev *room.Event) bool {
	if c.stray.active {
		if c.stray.take(ev) {
			return true
		}
	}
	c.mu.Lock()
	w := c.page
	c.mu.Unlock()
	if w == nil || !w.header {
		if r, ok := proto.ParseOlderHeader(ev); ok && (w == nil || r.Before != w.req.Before) {
			c.stray.start(r)
			return true
		}
	}
	if w == nil {
		return false
	}
	if !w.header {
		return c.pageHeader(w, ev)
	}
	if len(w.got) < w.want {
		if !ev.Kind.Public() || ev.Seq == 0 || ev.Seq >= w.req.Before || len(w.got) > 0 && ev.Seq <= w.got[len(w.got)-1].Seq {
			c.finishPage(w, pageResult{err: ErrPageAnswer})
			return false
		}
		w.got = append(w.got, ev)
		return true
	}
	if !proto.IsOlderEnd(ev) {
		c.finishPage(w, pageResult{err: ErrPageAnswer})
		return false
	}
	c.finishPage(w, pageResult{events: w.got})
	return true
}

// pageHeader takes ev if it is the first line of w's answer.
func (c *Conn) pageHeader(w *pageWait, ev *room.Event) bool {
	r, ok := proto.ParseOlderHeader(ev)
	if !ok || r.Before != w.req.Before {
		return false // a live event before the answer
	}
	switch r.Status {
	case proto.OlderBusy:
		c.finishPage(w, pageResult{err: room.ErrPageLimit})
	case proto.OlderUnavailable:
		c.finishPage(w, pageResult{err: errLogUnavailable})
	default:
		if r.Count > w.req.N {
			c.finishPage(w, pageResult{err: ErrPageAnswer})
			return true
		}
		w.header, w.want = true, r.Count
	}
	return true
}

// Older asks the session's current connection for the page before
// before (Conn.Older); while disconnected it fails. The screen's numbers
// came from the log of the session's first connection: a connection to
// another log (a server restarted with its history in memory) cannot page
// with them, and gets room.ErrNoPaging.
func (r *Redialer) Older(before uint64, n int) ([]*room.Event, error) {
	r.mu.Lock()
	c := r.client
	r.mu.Unlock()
	if c == nil {
		return nil, errors.New("not connected")
	}
	if p, ok := c.Resumed(); !ok || p.Log != r.firstLog {
		return nil, room.ErrNoPaging
	}
	return c.Older(before, n)
}

// strayPage drops an answer to an older-page request the client is not
// waiting for, frame by frame as takePage checks a requested one: the
// header, at most Count increasing numbered lines below its SEQ, the end
// line. A line that breaks the frame ends the dropping and is taken as
// live (nothing else is hidden).
type strayPage struct {
	active bool
	before uint64 // the answer's SEQ
	want   int    // numbered lines still to drop
	last   uint64 // the last one's number
}

// start begins dropping the answer whose header is r (a busy or
// unavailable answer is that line alone).
func (s *strayPage) start(r proto.OlderReply) {
	*s = strayPage{}
	if r.Status == proto.OlderPage {
		*s = strayPage{active: true, before: r.Before, want: min(r.Count, room.MaxPage)}
	}
}

// take reports whether ev is the next line of the answer being dropped.
func (s *strayPage) take(ev *room.Event) bool {
	if s.want > 0 {
		if ev.Kind.Public() && ev.Seq != 0 && ev.Seq < s.before && ev.Seq > s.last {
			s.want--
			s.last = ev.Seq
			return true
		}
		*s = strayPage{}
		return false
	}
	*s = strayPage{}
	return proto.IsOlderEnd(ev)
}

// isClientCommand reports whether line, as typed, is a command the client
// sends itself: /older or /resume, in any case (as the server reads them).
func isClientCommand(line string) bool {
	return proto.IsOlder(line) || proto.IsResume(line)
}
