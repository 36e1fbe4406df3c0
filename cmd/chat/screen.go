package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	tea "charm.land/bubbletea/v2"

	"chatd/client"
	"chatd/room"
	"chatd/tui"
)

// runScreen runs the chat screen, the same one chatd's SSH sessions get,
// over a TLS session. It starts on conn, or, when conn is nil because the
// server refused the nickname (problem says why), with the nickname prompt.
// Ctrl+C quits the room politely. It returns the exit status: 0 if the user
// left, 1 otherwise.
func runScreen(ctx context.Context, srv *server, ui *console, conn *client.Conn, problem string) int {
	screenCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &screen{ctx: screenCtx, srv: srv, ui: ui, title: srv.opts.title}
	var first *screenSession
	if conn != nil {
		first = s.start(conn)
	}
	return s.run(ctx, first, problem)
}

// run runs the program, on first if not nil, else on the nickname prompt,
// until it ends, with ctx (runScreen's, not the screen's own) as its
// context. It returns the exit status.
func (s *screen) run(ctx context.Context, first *screenSession, problem string) int {
	pressedCtrlC := false
	opts := tui.Options{Join: s.join, Problem: problem, Title: s.title, OnLeave: func() {
		pressedCtrlC = true
		if sess := s.current(); sess != nil {
			sess.Send("/quit") // written before Run returns and the session closes
		}
	}}
	if first != nil {
		opts.Conn = first
	}
	model := tui.New(opts)
	program := newScreenProgram(ctx, model)
	s.program = program.Program
	_, err := s.program.Run()
	program.close()
	joined := s.end()
	if failure := programFailure(err, program.guard.crashed()); failure != nil {
		reportFailure(failure)
		return exitFailed
	}
	if sess := s.current(); sess != nil && sess.TrustFailure() != nil {
		// As loud as at start-up, now that the screen is gone.
		s.ui.fail(sess.TrustFailure())
		return exitFailed
	}
	reason := model.Reason()
	switch {
	case pressedCtrlC:
		reason = room.Reason{Kind: room.ReasonQuit}
	case reason == (room.Reason{}) && ctx.Err() == nil:
		// Ctrl+C on the nickname prompt.
		if joined {
			fmt.Fprintln(os.Stderr, "chat: you left the room")
		} else {
			fmt.Fprintln(os.Stderr, "chat: you left without joining")
		}
		return exitOK
	}
	switch {
	case reason == (room.Reason{}):
		return exitFailed
	case reason.Kind == room.ReasonQuit:
		fmt.Fprintf(os.Stderr, "chat: you left the room (%s)\n", room.Clean(reason.String()))
	}
	return sayEnded(os.Stderr, reason)
}

// reportFailure prints why the screen failed, now that the terminal is
// back: for a crash, what crashed and where, to report as a bug.
func reportFailure(failure error) {
	fmt.Fprintln(os.Stderr, "chat:", failure)
	var crash *screenCrash
	if errors.As(failure, &crash) {
		fmt.Fprintf(os.Stderr, "This is a bug in chat; please report it with what follows.\n%s", crash.stack)
	} else if errors.Is(failure, tea.ErrProgramPanic) {
		fmt.Fprintln(os.Stderr, "This is a bug in chat; please report it.")
	}
}

// screen is the chat screen's side of the session: it joins for the
// nickname prompt and starts the session once joined.
type screen struct {
	ctx     context.Context // ends when the program has ended
	srv     *server
	ui      *console     // where a certificate failure is explained once the screen is gone
	title   bool         // the screen sets the terminal's title (--title)
	program *tea.Program // set before the program runs, read from its commands

	mu      sync.Mutex
	session *screenSession // nil until joined
	ended   bool
}

// start begins the session on a joined connection, or closes it if the
// screen has ended meanwhile.
func (s *screen) start(conn *client.Conn) *screenSession {
	sess := &screenSession{send: func(msg tea.Msg) { s.program.Send(msg) }, warnings: s.ui.startupWarnings()}
	sess.Redialer = s.srv.session(s.ctx, conn, s.askNick)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		sess.Close()
		return nil
	}
	s.session = sess
	return sess
}

// current is the session, or nil before the first join.
func (s *screen) current() *screenSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session
}

// join is the nickname prompt's Join: the first join, or, when the server
// refused the nickname on a rejoin, the session's Rejoin.
func (s *screen) join(nick string) (tui.Conn, error) {
	nick = strings.TrimSpace(nick)
	if sess := s.current(); sess != nil {
		if err := sess.Rejoin(nick); err != nil {
			return nil, promptError(nick, err)
		}
		return sess, nil
	}
	conn, err := s.srv.join(s.ctx, nick)
	if err != nil {
		return nil, promptError(nick, err)
	}
	sess := s.start(conn)
	if sess == nil {
		return nil, errors.New("chat has ended")
	}
	return sess, nil
}

// promptError is what the nickname prompt shows when joining as nick
// failed: a refusal in the words chatd's SSH screen uses.
func promptError(nick string, err error) error {
	if reason, ok := sentAway(err); ok {
		return errors.New(room.Clean(reason.Farewell()))
	}
	if isNickProblem(err) {
		return errors.New(nickProblem(nick, err))
	}
	return err
}

// askNick asks for another nickname on the screen after the server refused
// the session's on the way back (client.RedialConfig.AskNick). The prompt
// starts with the old one: Enter tries it again, which works once the server
// lets go of a connection it has not yet noticed is lost.
func (s *screen) askNick(refused error) {
	msg := tui.AskNickMsg{Problem: "While you were away, " + refused.Error()}
	var r *client.NickRefusedError
	if errors.As(refused, &r) {
		msg.Nick = r.Nick
	}
	s.program.Send(msg)
}

// end closes the session, if any, once the program has ended, and waits for
// its forwarder. It reports whether the user had joined.
func (s *screen) end() bool {
	s.mu.Lock()
	s.ended = true
	sess := s.session
	s.mu.Unlock()
	if sess == nil {
		return false
	}
	sess.Close() // ends the events, and so the forwarder
	sess.wait()
	return true
}

// screenSession is the screen's Conn: the session, whose events and link
// changes go to the program once the screen asks for them (tui.Starter).
type screenSession struct {
	*client.Redialer
	send      func(tea.Msg)
	warnings  []*room.Event // chat's start-up warnings, shown first
	once      sync.Once
	forwarded chan struct{} // closed when the forwarder is done; nil if never started
}

// The screen marks the lines the room refused (tui.NotSentReporter, the
// session's NotSent).
var _ tui.NotSentReporter = (*screenSession)(nil)

// Start starts the forwarder, once; it first shows chat's start-up
// warnings (--insecure, the key log), which the screen would hide.
func (c *screenSession) Start() {
	c.once.Do(func() {
		c.forwarded = make(chan struct{})
		go func() {
			defer close(c.forwarded)
			if len(c.warnings) > 0 {
				c.send(tui.EventsMsg{Events: c.warnings})
			}
			forward(c.Redialer, c.send)
		}()
	})
}

// wait waits for the forwarder, if it started; it never starts after.
func (c *screenSession) wait() {
	c.once.Do(func() {})
	if c.forwarded != nil {
		<-c.forwarded
	}
}

// linkSource is what forward reads: a session's events and the state of its
// connection.
type linkSource interface {
	Events() <-chan *room.Event
	LinkChanged() <-chan struct{}
	Link() client.Link
}

// forward sends the session's events into the screen's program (send is
// its Send) as tui.EventsMsg, each carrying what is queued, up to
// tui.MaxBatch events, until the events end; the last message says so.
// Changes of the connection's state go as tui.LinkMsg, after the events
// that came before them. Send returns once the program has taken a
// message, so one batch at a time is in flight and the rest wait in the
// session's bounded queue; once the program has ended, Send returns at once
// and the rest is dropped.
func forward(src linkSource, send func(tea.Msg)) {
	events, changed := src.Events(), src.LinkChanged()
	for {
		select {
		case ev, ok := <-events:
			msg := batchFrom(ev, ok, events)
			send(msg)
			if msg.Closed {
				return
			}
		case <-changed:
			for len(events) > 0 {
				msg := nextBatch(events)
				send(msg)
				if msg.Closed {
					return
				}
			}
			l := src.Link()
			send(tui.LinkMsg{Down: l.Down, Why: l.Why, RetryAt: l.RetryAt})
		}
	}
}

// nextBatch waits for the next event and returns it together with whatever
// else is already queued, up to tui.MaxBatch events, or the end of the
// events.
func nextBatch(events <-chan *room.Event) tui.EventsMsg {
	ev, ok := <-events
	return batchFrom(ev, ok, events)
}

// batchFrom returns ev, received with ok, together with whatever else is
// already queued, up to tui.MaxBatch events, or the end of the events.
func batchFrom(ev *room.Event, ok bool, events <-chan *room.Event) tui.EventsMsg {
	if !ok {
		return tui.EventsMsg{Closed: true}
	}
	batch := []*room.Event{ev}
	for len(batch) < tui.MaxBatch {
		select {
		case ev, ok := <-events:
			if !ok {
				return tui.EventsMsg{Events: batch, Closed: true}
			}
			batch = append(batch, ev)
		default:
			return tui.EventsMsg{Events: batch}
		}
	}
	return tui.EventsMsg{Events: batch}
}

// The screen scrolls back through the room's log with the session's Older
// (client.Redialer.Older: the line protocol's /older).
var _ tui.Pager = (*screenSession)(nil)
