package jetlog

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"chatd/room"
)

// This file is the log's watch over its server: the connection's
// handlers, which log a lost and a regained server at once and tell the
// room (room.LogWatcher), so that a quiet room does not look writable
// while its store is gone; the words of a call made while disconnected;
// and a stream missing on an external server, at Open and while running.

var _ room.LogWatcher = (*Log)(nil)

// NotConnectedError is the error of a call made while the connection to
// the server is down (it reconnects by itself), in place of nats.go's
// words for it ("outbound buffer limit exceeded": the log buffers nothing
// while disconnected, see connOptions). It wraps errNotConnected and
// nats.go's error.
type NotConnectedError struct {
	Server string // the server, credentials removed
	Err    error  // nats.go's error
}

func (e *NotConnectedError) Error() string {
	return "not connected to the NATS server " + e.Server + " (reconnecting)"
}

// Unwrap returns errNotConnected and nats.go's error.
func (e *NotConnectedError) Unwrap() []error { return []error{errNotConnected, e.Err} }

// watch is the log's side of room.LogWatcher and of the connection's
// handlers.
type watch struct {
	fns     atomic.Pointer[watchFns]
	server  atomic.Pointer[string] // the server last connected to, credentials removed
	closing atomic.Bool            // Close was called: the connection's end is the log's own
}

// watchFns are the room's down and up (room.LogWatcher).
type watchFns struct {
	down func(error)
	up   func()
}

// WatchStore registers the room's down and up (room.LogWatcher): down is
// called, from the connection's callback goroutine, as soon as the
// connection to the server is lost (or closed other than by Close), with
// a NotConnectedError-like error naming the server; up once it is back.
func (l *Log) WatchStore(down func(error), up func()) {
	l.watch.fns.Store(&watchFns{down: down, up: up})
}

// watchConn notes the server connected to and sets the connection's
// handlers. Open calls it once connected.
func (l *Log) watchConn() {
	l.noteServer()
	l.nc.SetDisconnectErrHandler(l.onDisconnect)
	l.nc.SetReconnectHandler(l.onReconnect)
	l.nc.SetClosedHandler(l.onClosed)
}

// noteServer notes the server the connection is on now, if it is on one.
func (l *Log) noteServer() {
	s := "(embedded)"
	if l.srv == nil {
		s = redactServer(l.nc.ConnectedUrl())
	}
	if s != "" {
		l.watch.server.Store(&s)
	}
}

// serverName names the server the log is, or was last, connected to,
// without credentials.
func (l *Log) serverName() string {
	if p := l.watch.server.Load(); p != nil {
		return *p
	}
	return redactServer(l.opts.URL)
}

// redactServer returns u, a server URL or a comma-separated list of them,
// without the credentials any may carry (user, password or token):
// scheme, host and port only. What does not parse is replaced by
// "(a server URL)".
func redactServer(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		pu, err := url.Parse(p)
		if err != nil || pu.Host == "" {
			parts[i] = "(a server URL)"
			continue
		}
		parts[i] = pu.Scheme + "://" + pu.Host
	}
	return strings.Join(parts, ",")
}

// onDisconnect is the connection's disconnect handler: it logs the loss,
// naming the server, and tells the room (its down), unless the log is
// closing.
func (l *Log) onDisconnect(_ *nats.Conn, err error) {
	if l.watch.closing.Load() {
		return
	}
	server := l.serverName()
	l.opts.Logger.Warn("jetlog: lost the NATS server; reconnecting (the room is read-only meanwhile)", "server", server, "err", err)
	l.tellDown(fmt.Errorf("jetlog: %w %s (%v); reconnecting", errNotConnected, server, cmp.Or[error](err, errors.New("disconnected"))))
}

// onReconnect is the connection's reconnect handler: it logs the server
// regained and tells the room (its up).
func (l *Log) onReconnect(*nats.Conn) {
	if l.watch.closing.Load() {
		return
	}
	l.noteServer()
	l.opts.Logger.Info("jetlog: reconnected to the NATS server", "server", l.serverName())
	if fns := l.watch.fns.Load(); fns != nil {
		fns.up()
	}
}

// onClosed is the connection's closed handler: a connection closed other
// than by Close will not come back, which is logged and told to the room.
func (l *Log) onClosed(*nats.Conn) {
	if l.watch.closing.Load() {
		return
	}
	server := l.serverName()
	l.opts.Logger.Error("jetlog: the connection to the NATS server was closed for good; restart chatd", "server", server)
	l.tellDown(fmt.Errorf("jetlog: %w %s (the connection was closed; restart chatd)", errNotConnected, server))
}

// tellDown tells the room, if it watches, that the store is unreachable.
func (l *Log) tellDown(err error) {
	if fns := l.watch.fns.Load(); fns != nil {
		fns.down(err)
	}
}

// connErr is err, an error of a call to the server, as a
// NotConnectedError if it failed because the connection is down.
func (l *Log) connErr(err error) error {
	if errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrConnectionClosed) {
		return &NotConnectedError{Server: l.serverName(), Err: err}
	}
	return err
}
