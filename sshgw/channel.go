package sshgw

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Limits on what a session may ask for before its shell starts.
const (
	// maxEnvVars is how many environment variables a session keeps; later
	// ones are refused and forgotten.
	maxEnvVars = 32
	// maxEnvBytes bounds one variable, name and value together.
	maxEnvBytes = 1024
	// maxTermBytes bounds the terminal type a pty request names (the
	// longest in terminfo is about 40 bytes).
	maxTermBytes = 64
)

// SSH channel request types, as RFC 4254 names them.
const (
	reqPty          = "pty-req"
	reqShell        = "shell"
	reqExec         = "exec"
	reqSubsystem    = "subsystem"
	reqEnv          = "env"
	reqWindowChange = "window-change"
)

// openSession is the server's handler for "session" channels, in place of
// charm.land/ssh's DefaultSessionHandler, which it wraps. charm's handler
// serves a session's requests in one loop that blocks in places: a
// window change before the shell starts waits forever on a one-slot channel
// nobody reads, and every env request is kept. So the channel is counted
// against its connection's limit before it is accepted, and its requests
// pass through a sessionChannel first, which answers all but the few that
// charm's loop handles without blocking (see sessionChannel.filter).
func (s *Server) openSession(srv *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	cl, _ := ctx.Value(connLogKey{}).(*connLog)
	if cl != nil && !cl.openChannel() {
		s.log.Info("ssh session refused: too many on one connection", "user", boundedUser(conn.User()), "remote", conn.RemoteAddr().String())
		_ = newChan.Reject(gossh.ResourceShortage, fmt.Sprintf("chatd: at most %d sessions per connection", maxSessionsPerConn))
		return
	}
	sc := &sessionChannel{NewChannel: newChan, conn: cl, startLimit: s.cfg.HandshakeTimeout, windows: newWindowFeed()}
	defer sc.gone()
	ssh.DefaultSessionHandler(srv, conn, sc, &sessionContext{Context: ctx, sc: sc})
}

// sessionContext is a session's view of its connection's context: the same
// values, plus the session's own sessionChannel, which the handler finds
// through Session.Context.
type sessionContext struct {
	ssh.Context
	sc *sessionChannel
}

type sessionChannelKey struct{}

// Value returns the session's channel for sessionChannelKey, and the
// connection's values for every other key.
func (c *sessionContext) Value(key any) any {
	if _, ok := key.(sessionChannelKey); ok {
		return c.sc
	}
	return c.Context.Value(key)
}

// channelOf returns the sessionChannel of a session opened by openSession,
// or nil.
func channelOf(sess ssh.Session) *sessionChannel {
	sc, _ := sess.Context().Value(sessionChannelKey{}).(*sessionChannel)
	return sc
}

// sessionChannel is a session channel as charm's session handler sees it:
// Accept returns the real channel with a filtered request stream.
type sessionChannel struct {
	gossh.NewChannel
	conn       *connLog // nil outside a logged connection (never in practice)
	startLimit time.Duration
	windows    *windowFeed

	ch      gossh.Channel
	timer   *time.Timer // closes the channel if no shell starts in time
	mu      sync.Mutex
	started bool // a shell, exec or subsystem was asked for
	envs    int  // env requests passed on
	done    sync.Once
}

// Accept accepts the channel and returns its requests, filtered. A channel
// whose shell has not started within startLimit is closed.
func (sc *sessionChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := sc.NewChannel.Accept()
	if err != nil {
		return nil, nil, err
	}
	sc.ch = ch
	sc.timer = time.AfterFunc(sc.startLimit, sc.closeUnstarted)
	out := make(chan *gossh.Request)
	go sc.filter(reqs, out)
	return ch, out, nil
}

// filter passes on to charm's loop the requests it handles without blocking
// (pty-req, shell, exec, and env within limits) and answers the rest
// itself: window changes go to the session's windowFeed, which never
// blocks, and everything else is refused. It ends, closing out, when the
// channel's requests end, which happens when the channel or the connection
// closes.
func (sc *sessionChannel) filter(reqs <-chan *gossh.Request, out chan<- *gossh.Request) {
	defer close(out)
	for req := range reqs {
		switch req.Type {
		case reqPty:
			if !termWithinLimit(req.Payload) {
				_ = req.Reply(false, nil)
				continue
			}
			out <- req
		case reqShell, reqExec:
			sc.markStarted()
			out <- req
		case reqSubsystem:
			// chatd has none (sftp and the like); charm would refuse it
			// too, but only after it had counted as a start.
			_ = req.Reply(false, nil)
		case reqEnv:
			if sc.keepEnv(req.Payload) {
				out <- req
				continue
			}
			_ = req.Reply(false, nil)
		case reqWindowChange:
			w, ok := parseWindowChange(req.Payload)
			if ok {
				sc.windows.put(w)
			}
			_ = req.Reply(ok, nil)
		default:
			// signal, break, auth-agent-req, x11-req, keepalives, anything
			// else: nothing here uses them.
			_ = req.Reply(false, nil)
		}
	}
}

// termWithinLimit reports whether a pty request's terminal type, the
// string its payload starts with, is at most maxTermBytes long.
func termWithinLimit(payload []byte) bool {
	if len(payload) < 4 {
		return true // charm refuses what it cannot parse
	}
	return binary.BigEndian.Uint32(payload) <= maxTermBytes
}

// markStarted notes that the session asked for something to run, so the
// start timer no longer applies.
func (sc *sessionChannel) markStarted() {
	sc.mu.Lock()
	sc.started = true
	sc.mu.Unlock()
	sc.timer.Stop()
}

// keepEnv reports whether an env request is within the limits, counting it
// if so.
func (sc *sessionChannel) keepEnv(payload []byte) bool {
	if len(payload) > maxEnvBytes+8 { // two uint32 lengths
		return false
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.started || sc.envs >= maxEnvVars {
		return false
	}
	sc.envs++
	return true
}

// closeUnstarted closes the channel if no shell has started: a session that
// only holds a channel open costs its buffers for nothing.
func (sc *sessionChannel) closeUnstarted() {
	sc.mu.Lock()
	started := sc.started
	sc.mu.Unlock()
	if started {
		return
	}
	// Done for the idle timer first: Close waits for the client's reply,
	// which a client that stopped reading never sends; the connection's
	// idle timer then closes the connection, which ends the wait.
	sc.finish()
	_ = sc.ch.Close()
}

// finish marks the session as over for its connection's idle timer: its
// handler has returned, or it was closed for never starting. Its slot under
// the connection's limit stays taken until the channel is gone.
func (sc *sessionChannel) finish() {
	sc.done.Do(func() {
		if sc.conn != nil {
			sc.conn.sessionOver()
		}
	})
}

// gone releases the channel's slot once charm's handler has returned, which
// it does when the channel's requests end.
func (sc *sessionChannel) gone() {
	if sc.timer != nil {
		sc.timer.Stop()
	}
	sc.finish()
	if sc.conn != nil {
		sc.conn.closeChannel()
	}
}

// parseWindowChange decodes a window-change request: columns, rows, and the
// size in pixels, which is ignored.
func parseWindowChange(payload []byte) (ssh.Window, bool) {
	var msg struct{ Columns, Rows, WidthPx, HeightPx uint32 }
	if err := gossh.Unmarshal(payload, &msg); err != nil {
		return ssh.Window{}, false
	}
	return ssh.Window{Width: int(min(msg.Columns, maxColumns)), Height: int(min(msg.Rows, maxRows))}, true
}

// windowFeed hands a session's window changes to its screen, keeping only
// the latest: put never blocks, however many arrive and whether or not the
// screen is running.
type windowFeed struct {
	mu      sync.Mutex
	latest  ssh.Window
	set     bool
	changed chan struct{} // one slot: a change waits to be taken
}

func newWindowFeed() *windowFeed {
	return &windowFeed{changed: make(chan struct{}, 1)}
}

// put records w as the latest size.
func (f *windowFeed) put(w ssh.Window) {
	f.mu.Lock()
	f.latest, f.set = w, true
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default: // a change is already waiting; it will read the latest
	}
}

// take returns the latest size, if any window change has arrived.
func (f *windowFeed) take() (ssh.Window, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latest, f.set
}
