package client

import (
	"errors"
	"time"
)

// Link is the state of a session's connection, for a screen to show while
// the session is away.
type Link struct {
	// Down reports that the connection was lost and the session is
	// reconnecting, or waiting for a nickname (RedialConfig.AskNick).
	Down bool
	// Why is why the connection was lost or, after a failed attempt, why
	// that failed: a few words ("connection refused").
	Why string
	// RetryAt is when the next attempt starts; zero while an attempt is
	// under way or while the session waits for a nickname.
	RetryAt time.Time
}

// Link returns the state of the session's connection now.
func (r *Redialer) Link() Link {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.link
}

// LinkChanged receives a value after Link changes. Changes in quick
// succession may be signalled once: read Link after each signal.
func (r *Redialer) LinkChanged() <-chan struct{} { return r.linkChanged }

func (r *Redialer) setLink(l Link) {
	r.mu.Lock()
	r.link = l
	r.mu.Unlock()
	r.signalLink()
}

func (r *Redialer) signalLink() {
	select {
	case r.linkChanged <- struct{}{}:
	default: // a signal is already waiting
	}
}

// ErrNotAsking is Rejoin's error when the session is not waiting for a
// nickname.
var ErrNotAsking = errors.New("the session is not waiting for a nickname")

// ErrSessionClosed is Rejoin's error when the session was closed.
var ErrSessionClosed = errors.New("the session is closed")

// rejoinRequest is a nickname from Rejoin, and where to answer it.
type rejoinRequest struct {
	nick   string
	answer chan error
}

// Rejoin tries nick for a session that waits for a nickname, after
// RedialConfig.AskNick was called. It returns the server's refusal (a
// *NickRefusedError) if it refuses nick too: ask again. It returns nil
// once the session has rejoined under nick, and also when the attempt
// failed for another reason: the session then reconnects under nick on its
// own (Link), or, if the failure ended it, its Events end. Call it from one
// goroutine at a time; it returns ErrNotAsking when no nickname is awaited.
func (r *Redialer) Rejoin(nick string) error {
	r.mu.Lock()
	asking := r.asking
	r.mu.Unlock()
	if !asking {
		return ErrNotAsking
	}
	req := rejoinRequest{nick: nick, answer: make(chan error, 1)}
	select {
	case r.rejoins <- req:
	case <-r.ctx.Done():
		return ErrSessionClosed
	}
	select {
	case err := <-req.answer:
		return err
	case <-r.ctx.Done():
		return ErrSessionClosed
	}
}

// askNick asks for another nickname (AskNick) after the server refused the
// session's on a rejoin, and tries each one Rejoin brings. It returns the
// connection once one is accepted; or nil and true to go on reconnecting
// under the last nickname brought, after an attempt that failed for
// another reason (failed); or nil and false once the session is over.
func (r *Redialer) askNick(refused error) (c *Conn, goOn bool, failed error) {
	r.setLink(Link{Down: true, Why: "nickname refused"})
	r.mu.Lock()
	r.asking = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.asking = false
		r.mu.Unlock()
	}()
	r.cfg.AskNick(refused)
	for {
		select {
		case req := <-r.rejoins:
			c, err := r.dial(req.nick)
			switch {
			case err == nil:
				req.answer <- nil
				return c, false, nil
			case errors.Is(err, ErrNickRefused):
				req.answer <- err
				continue
			}
			r.setNick(req.nick)
			req.answer <- nil
			if r.fatal(err) {
				return nil, false, err
			}
			return nil, true, err
		case ev := <-r.local:
			r.emitLocal(ev)
		case <-r.ctx.Done():
			r.finish(closedByClient)
			return nil, false, nil
		}
	}
}

// setNick sets the nickname the session rejoins as while it is away.
func (r *Redialer) setNick(nick string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nick = nick
}
