package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// The accept loop's wait after an error that will likely pass (see
// isTemporary): it doubles from minBackoff up to maxBackoff, and starts
// over after a successful Accept.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Options configures a Lifecycle. Every field may be left zero.
type Options struct {
	// Logger is warned of every accept error that is retried; nil
	// discards the warnings.
	Logger *slog.Logger
	// EndSessions asks every live session to end. Shutdown calls it once
	// new connections and sessions are refused, and then waits for the
	// sessions; it must not block for long. Nil leaves the sessions to end
	// by themselves (for example because the room was closed).
	EndSessions func()
	// Linger is how long Shutdown, once every session has ended, gives the
	// clients to close their connections themselves before it closes them.
	Linger time.Duration
	// Cut, if set, is called when Shutdown runs out of time with sessions
	// still live, before every connection is closed: it stops at once what
	// the gateway runs besides its connections (such as screens).
	Cut func()
}

// Lifecycle is a gateway's listeners, connections and live sessions, and
// whether it is shutting down. Its Serve runs the accept loop and its
// Shutdown the shutdown order; what a connection and a session do is the
// gateway's.
//
// A connection is tracked from Accept until the gateway calls Release. A
// session is whatever the gateway wants Shutdown to wait for, from
// StartSession to EndSession: a connection (TLS), or a chat screen (SSH).
type Lifecycle struct {
	opts Options

	mu        sync.Mutex
	closing   bool
	done      chan struct{} // closed when closing becomes true
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	accepted  uint64
	sessions  int
	started   uint64
	// Added to under mu while not closing, so that Shutdown, which waits
	// once closing is set, cannot miss one.
	connsLive    sync.WaitGroup
	sessionsLive sync.WaitGroup
}

// New returns a Lifecycle that is not serving yet.
func New(opts Options) *Lifecycle {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Lifecycle{
		opts:      opts,
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
}

// Counts is a snapshot of a Lifecycle's counters.
type Counts struct {
	Conns    int    // connections open now: accepted and not yet released
	Accepted uint64 // connections accepted
	Sessions int    // sessions live now
	Started  uint64 // sessions started
}

// Counts returns a snapshot of the counters.
func (l *Lifecycle) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Counts{Conns: len(l.conns), Accepted: l.accepted, Sessions: l.sessions, Started: l.started}
}

// Serve accepts connections on ln until Shutdown, then returns
// ErrServerClosed; it returns at once if Shutdown has begun already. Each
// connection is tracked and handed to handle on a goroutine of its own;
// handle, or whatever it passes the connection on to, must call Release
// once the connection is closed. Accept errors that will likely pass,
// such as running out of file descriptors, are retried after a growing
// pause; any other ends Serve. Serve closes ln when it returns.
func (l *Lifecycle) Serve(ln net.Listener, handle func(net.Conn)) error {
	if !l.trackListener(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer l.untrackListener(ln)
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if l.Closing() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			l.opts.Logger.Warn("accept failed; retrying", "err", err, "backoff", backoff)
			l.pause(backoff)
			continue
		}
		backoff = 0
		if !l.trackConn(conn) {
			conn.Close()
			continue
		}
		go handle(conn)
	}
}

// pause waits for d, or until Shutdown begins.
func (l *Lifecycle) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.done:
	}
}

// isTemporary reports whether an Accept error will likely pass, such as
// running out of file descriptors.
func isTemporary(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}

// Release ends the tracking of a connection that Serve handed out, once
// it is closed. Releasing one that is not tracked does nothing.
func (l *Lifecycle) Release(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; ok {
		delete(l.conns, c)
		l.connsLive.Done()
	}
}

// StartSession counts a new session, which Shutdown will wait for. It
// reports false, counting nothing, if Shutdown has begun: the session must
// not start. Each started session must be ended with EndSession.
func (l *Lifecycle) StartSession() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.sessions++
	l.started++
	l.sessionsLive.Add(1)
	return true
}

// EndSession counts a session started with StartSession as ended.
func (l *Lifecycle) EndSession() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions--
	l.sessionsLive.Done()
}

// Closing reports whether Shutdown has begun. Once it reports true, it
// always will, and it does before Shutdown calls Options.EndSessions.
func (l *Lifecycle) Closing() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Shutdown shuts the gateway down in this order:
//
//  1. It stops accepting: the listeners are closed, so that Serve returns
//     ErrServerClosed, and new connections and sessions are refused.
//  2. It asks the live sessions to end (Options.EndSessions).
//  3. It waits for the sessions to end until ctx is done.
//  4. If they all ended, it gives the clients up to Options.Linger to close
//     their connections; if ctx ran out first, it calls Options.Cut.
//  5. It closes every connection still open and waits for the gateway to
//     release them and end its sessions.
//
// It returns ctx's error if ctx ran out before the sessions ended, and nil
// otherwise.
func (l *Lifecycle) Shutdown(ctx context.Context) error {
	l.stopAccepting()
	if l.opts.EndSessions != nil {
		l.opts.EndSessions()
	}
	sessionsDone := waitDone(&l.sessionsLive)
	connsDone := waitDone(&l.connsLive)
	var err error
	select {
	case <-sessionsDone:
		l.linger(ctx, connsDone)
	case <-ctx.Done():
		err = ctx.Err()
		if l.opts.Cut != nil {
			l.opts.Cut()
		}
	}
	l.closeConns()
	<-connsDone
	<-sessionsDone
	return err
}

// stopAccepting marks the Lifecycle as closing and closes its listeners.
func (l *Lifecycle) stopAccepting() {
	l.mu.Lock()
	if !l.closing {
		l.closing = true
		close(l.done)
	}
	lns := make([]net.Listener, 0, len(l.listeners))
	for ln := range l.listeners {
		lns = append(lns, ln)
	}
	l.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
}

// linger waits up to Options.Linger, and no longer than ctx, for every
// connection to be released.
func (l *Lifecycle) linger(ctx context.Context, connsDone <-chan struct{}) {
	if l.opts.Linger <= 0 {
		return
	}
	t := time.NewTimer(l.opts.Linger)
	defer t.Stop()
	select {
	case <-connsDone:
	case <-t.C:
	case <-ctx.Done():
	}
}

// closeConns closes every tracked connection.
func (l *Lifecycle) closeConns() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// waitDone returns a channel closed once wg's count is zero.
func waitDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

func (l *Lifecycle) trackListener(ln net.Listener) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.listeners[ln] = struct{}{}
	return true
}

// untrackListener forgets ln and closes it.
func (l *Lifecycle) untrackListener(ln net.Listener) {
	l.mu.Lock()
	delete(l.listeners, ln)
	l.mu.Unlock()
	ln.Close()
}

func (l *Lifecycle) trackConn(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.conns[c] = struct{}{}
	l.accepted++
	l.connsLive.Add(1)
	return true
}
