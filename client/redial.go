package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"chatd/certs"
	"chatd/room"
)

// Redial defaults.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
	localEventBuffer  = 32
	// sendQueue bounds the lines waiting to be written; closeFlush bounds
	// how long Close waits for them.
	sendQueue  = 64
	closeFlush = time.Second
)

// outgoing is a line for the send loop, or, with flushed set, a marker it
// closes once every line before it is written.
type outgoing struct {
	c       *Conn
	line    string
	flushed chan struct{}
}

// RedialConfig tunes a Redialer.
type RedialConfig struct {
	Conn Config
	// Trust is the policy Conn.TLS was made from; /tls explains it.
	Trust Trust
	// Reconnect dials again, with exponential backoff, when the connection
	// is lost for any reason but the user's /quit.
	Reconnect bool
	// Echo shows the user's own chat lines and actions as events, as a
	// screen needs: the server does not send them back.
	Echo       bool
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Redialer is one chat session as the user sees it, across connections: it
// forwards the current Conn's events, answers the client-side /tls
// command, and, if asked to, reconnects and rejoins under the same nickname
// after a network loss, telling the user with Notice events. It satisfies
// the interface the chat screen needs.
type Redialer struct {
	cfg    RedialConfig
	ctx    context.Context
	cancel context.CancelFunc
	out    chan *room.Event
	local  chan *room.Event // events the Redialer itself adds
	sends  chan outgoing    // lines for the send loop, so Send never blocks

	closeOnce sync.Once

	mu       sync.Mutex
	client   *Conn // nil while disconnected
	nick     string
	reason   room.Reason
	quitting bool
	closing  bool
}

// NewRedialer starts a session from a Conn that has already joined.
func NewRedialer(ctx context.Context, cfg RedialConfig, first *Conn) *Redialer {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Redialer{
		cfg: cfg, ctx: ctx, cancel: cancel,
		out:    make(chan *room.Event, clientEventBuffer),
		local:  make(chan *room.Event, localEventBuffer),
		sends:  make(chan outgoing, sendQueue),
		nick:   first.Nick(),
		client: first, // set before run starts, so Send works at once
	}
	go r.run(first)
	go r.sendLoop()
	return r
}

// Events is the session's stream of events. It is closed when the session
// is over; Reason then says why.
func (r *Redialer) Events() <-chan *room.Event { return r.out }

// Nick returns the session's nickname.
func (r *Redialer) Nick() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		r.nick = r.client.Nick()
	}
	return r.nick
}

// Reason says why the session ended, once Events is closed.
func (r *Redialer) Reason() room.Reason {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

// Connected reports whether the session has a live connection now.
func (r *Redialer) Connected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.client != nil
}

// Close ends the session, after the lines already sent are written (for
// at most a second), so that a /quit sent just before still arrives.
func (r *Redialer) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closing = true
		r.mu.Unlock()
		flushed := make(chan struct{})
		select {
		case r.sends <- outgoing{flushed: flushed}:
			select {
			case <-flushed:
			case <-time.After(closeFlush):
			}
		default:
		}
		r.cancel()
	})
}

// sendLoop writes queued lines to the connection they were sent on, so
// that a slow network never blocks the caller of Send (the chat screen).
func (r *Redialer) sendLoop() {
	for {
		select {
		case o := <-r.sends:
			if o.flushed != nil {
				close(o.flushed)
				continue
			}
			if err := o.c.Send(o.line); err != nil {
				r.tellLocal(room.Error, "could not send: "+err.Error())
			}
		case <-r.ctx.Done():
			return
		}
	}
}

// Send sends a line to the server, or answers it here if it is /tls. It
// never blocks: lines are written by a send loop, and one that does not fit
// its queue is refused with an Error event.
func (r *Redialer) Send(line string) {
	r.mu.Lock()
	c, closing := r.client, r.closing
	if isQuit(line) {
		r.quitting = true
	}
	r.mu.Unlock()
	switch {
	case strings.EqualFold(strings.TrimSpace(line), "/tls"):
		r.describeTLS(c)
	case c == nil || closing:
		r.tellLocal(room.Error, "not connected; your line was not sent")
	default:
		select {
		case r.sends <- outgoing{c: c, line: line}:
		default:
			r.tellLocal(room.Error, "the server is not taking lines; this one was not sent")
			return
		}
		if r.cfg.Echo {
			if ev := room.EchoOf(c.Nick(), line, 0); ev != nil {
				ev.Time = time.Now()
				r.addLocal(ev)
			}
		}
	}
}

// Status says, for the status line, whether the session is connected and
// how the server was verified; unverified or disconnected is a warning.
func (r *Redialer) Status() (text string, warning bool) {
	r.mu.Lock()
	c := r.client
	r.mu.Unlock()
	switch {
	case c == nil:
		return "reconnecting…", true
	case r.cfg.Trust.Insecure:
		return "NOT VERIFIED (--insecure)", true
	}
	return tls.VersionName(c.ConnectionState().Version) + " · verified", false
}

// isQuit reports whether line runs a command that leaves the room, as the
// server's room would see it.
func isQuit(line string) bool {
	cmd, _, found := room.LookupCommand(line)
	return found && cmd.Leaves
}

func (r *Redialer) describeTLS(c *Conn) {
	if c == nil {
		r.tellLocal(room.Error, "not connected")
		return
	}
	cs := c.ConnectionState()
	for _, line := range certs.DescribeTLS(cs, time.Now()) {
		r.tellLocal(room.Notice, line)
	}
	r.tellLocal(room.Notice, "verification: "+r.cfg.Trust.Explain(cs))
}

// tellLocal adds a notice or error of the Redialer's own.
func (r *Redialer) tellLocal(kind room.Kind, text string) {
	r.addLocal(&room.Event{Kind: kind, Time: time.Now(), Text: text})
}

// addLocal adds an event of the Redialer's own; if the user is far behind
// reading, it is dropped rather than block the caller.
func (r *Redialer) addLocal(ev *room.Event) {
	select {
	case r.local <- ev:
	default:
	}
}

func (r *Redialer) setClient(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		r.nick = r.client.Nick()
	}
	r.client = c
}

func (r *Redialer) finish(reason room.Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reason = reason
}

// run forwards events from one connection after another.
func (r *Redialer) run(c *Conn) {
	defer close(r.out)
	for {
		r.forward(c)
		r.setClient(nil)
		reason := c.Reason()
		r.mu.Lock()
		quitting := r.quitting
		r.mu.Unlock()
		switch {
		case r.ctx.Err() != nil:
			r.finish(closedByClient)
			return
		case !r.cfg.Reconnect || quitting || reason.Kind == room.ReasonQuit:
			r.finish(reason)
			return
		}
		if c = r.redial(reason); c == nil {
			return
		}
	}
}

// forward passes on c's events and local ones until c's stream ends.
func (r *Redialer) forward(c *Conn) {
	defer c.Close()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				r.flushLocal()
				return
			}
			if !r.emit(ev) {
				return
			}
		case ev := <-r.local:
			if !r.emit(ev) {
				return
			}
		case <-r.ctx.Done():
			return
		}
	}
}

// flushLocal passes on local events already waiting.
func (r *Redialer) flushLocal() {
	for {
		select {
		case ev := <-r.local:
			if !r.emit(ev) {
				return
			}
		default:
			return
		}
	}
}

func (r *Redialer) emit(ev *room.Event) bool {
	select {
	case r.out <- ev:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// redial dials until it rejoins, with exponential backoff and jitter. It
// gives up, returning nil, when the session is closed or the server's
// certificate is no longer trusted.
func (r *Redialer) redial(lost room.Reason) *Conn {
	backoff := r.cfg.MinBackoff
	why := lost.String()
	for attempt := 1; ; attempt++ {
		wait := backoff/2 + rand.N(backoff/2+1)
		r.emit(&room.Event{Kind: room.Notice, Time: time.Now(), Text: fmt.Sprintf("disconnected (%s); reconnecting in %s", why, wait.Round(100*time.Millisecond))})
		if !r.sleep(wait) {
			r.finish(closedByClient)
			return nil
		}
		cfg := r.cfg.Conn
		cfg.Nick = r.Nick()
		c, err := Dial(r.ctx, cfg)
		if err == nil {
			// Connected before the user is told so: a line sent after the
			// notice must go out on the new connection.
			r.setClient(c)
			r.emit(&room.Event{Kind: room.Notice, Time: time.Now(), Text: fmt.Sprintf("reconnected after %d attempt(s)", attempt)})
			return c
		}
		var unknown *UnknownCertError
		var changed *CertChangedError
		if errors.As(err, &unknown) || errors.As(err, &changed) {
			r.finish(room.Reason{Kind: room.ReasonOther, Detail: err.Error()})
			return nil
		}
		if r.ctx.Err() != nil {
			r.finish(closedByClient)
			return nil
		}
		why = err.Error()
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
}

// sleep waits d, passing on local events meanwhile; false if closed.
func (r *Redialer) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return true
		case ev := <-r.local:
			r.emit(ev)
		case <-r.ctx.Done():
			return false
		}
	}
}

// Explain says how the server of this connection was verified.
func (t Trust) Explain(cs tls.ConnectionState) string {
	switch {
	case t.Insecure:
		return "NOT VERIFIED (--insecure): anyone on the path could read and change this chat"
	case t.CAFile != "":
		return "chain verified against " + t.CAFile + ", host name checked"
	case t.Known != nil && len(cs.PeerCertificates) > 0 && !t.systemTrusts(cs):
		return "trusted on first use: fingerprint remembered in " + t.Known.Path + ", host name checked"
	}
	return "chain verified against the system's certificate authorities, host name checked"
}
