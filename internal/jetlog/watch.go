package jetlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// This file is the log's watch over its server: the connection's
// handlers, which log a lost and a regained server at once and tell the
// room (room.LogWatcher), so that a quiet room does not look writable
// while its store is gone; the words of a call made while disconnected;
// and a stream missing on an external server, at Open and while running.

var _ room.LogWatcher = (*Log)(nil)

// ErrStreamMissing is wrapped by the errors of Open and Check when the
// room's stream is not on the external server although chatd created it
// there before (it recorded that in Options.Dir): the server lost it, or
// it was deleted. Open refuses then rather than create an empty stream in
// its place; Check fails until it is back.
var ErrStreamMissing = errors.New("the room's stream is missing on the NATS server")

// FailMissing: the stream is missing on the server (ErrStreamMissing).
const FailMissing Failure = "missing"

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
	missing atomic.Bool            // Check found the stream missing, and said so

	// grace (shared, Options.ElectionWait): the timer that tells the
	// room of a lost connection if it is not back before it fires.
	graceMu sync.Mutex
	grace   *time.Timer
	// silentSince (shared, Options.ElectionWait) is when the stream
	// stopped answering the feeds' watchdog (Unix ns; 0: it answers), and
	// silentTold says the room was told so (noteStreamAnswer).
	silentSince atomic.Int64
	silentTold  atomic.Bool
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
// closing. A shared log waiting out elections (Options.ElectionWait)
// tells it only if the connection is not back within that wait: it
// usually comes back at once, on another server of the cluster, and
// appends meanwhile are retried (retry.go), so the room need not turn
// read-only for that.
func (l *Log) onDisconnect(_ *nats.Conn, err error) {
	if l.watch.closing.Load() {
		return
	}
	server := l.serverName()
	down := fmt.Errorf("jetlog: %w %s (%v); reconnecting", errNotConnected, server, cmp.Or[error](err, errors.New("disconnected")))
	if wait := l.downGrace(); wait > 0 {
		l.opts.Logger.Warn("jetlog: lost the NATS server; reconnecting (appends wait meanwhile)", "server", server, "err", err, "wait", wait)
		l.watch.graceMu.Lock()
		defer l.watch.graceMu.Unlock()
		if l.watch.grace == nil {
			l.watch.grace = time.AfterFunc(wait, func() { l.graceOver(down) })
		}
		return
	}
	l.opts.Logger.Warn("jetlog: lost the NATS server; reconnecting (the room is read-only meanwhile)", "server", server, "err", err)
	l.tellDown(down)
}

// downGrace is how long a lost connection may take to come back before
// the room is told: Options.ElectionWait, shared; none otherwise.
func (l *Log) downGrace() time.Duration {
	if l.opts.Shared && l.opts.ElectionWait > 0 {
		return l.opts.ElectionWait
	}
	return 0
}

// graceOver is the grace timer's end: the room is told the store is
// unreachable (down) unless the connection came back meanwhile or the
// log is closing.
func (l *Log) graceOver(down error) {
	if !l.stopGrace() || l.watch.closing.Load() || l.nc.IsConnected() {
		return
	}
	l.opts.Logger.Warn("jetlog: the NATS server is still lost (the room is read-only meanwhile)", "server", l.serverName())
	l.tellDown(down)
}

// stopGrace stops the grace timer, if one runs, and reports whether one
// did.
func (l *Log) stopGrace() bool {
	l.watch.graceMu.Lock()
	defer l.watch.graceMu.Unlock()
	if l.watch.grace == nil {
		return false
	}
	l.watch.grace.Stop()
	l.watch.grace = nil
	return true
}

// noteStreamAnswer is told by the feeds' watchdog (Follower.watch) what
// the stream answered to its look (streamAnswer), err nil if it did and
// can store (shared logs waiting out elections only). A stream that
// answers no look for ElectionWait, or whose leader answers that it lost
// its quorum (errNoQuorum: the connection is up, but nothing can be
// stored until a server is back), is told to the room (its down) once;
// the first good answer after that tells its up, and its probe checks the
// log at once. Without it, a room whose connection stayed up would learn
// only from an append, ElectionWait later.
func (l *Log) noteStreamAnswer(err error) {
	if l.downGrace() == 0 || l.watch.closing.Load() || errors.Is(err, context.Canceled) {
		return
	}
	if err == nil {
		l.watch.silentSince.Store(0)
		if l.watch.silentTold.CompareAndSwap(true, false) {
			l.opts.Logger.Info("jetlog: the stream answers again", "stream", l.opts.Stream)
			if fns := l.watch.fns.Load(); fns != nil {
				fns.up()
			}
		}
		return
	}
	now := time.Now().UnixNano()
	l.watch.silentSince.CompareAndSwap(0, now)
	since := l.watch.silentSince.Load()
	// No quorum is no election: none can end before a server is back.
	wait := l.downGrace()
	if errors.Is(err, errNoQuorum) {
		wait = 0
	}
	if time.Duration(now-since) < wait || !l.watch.silentTold.CompareAndSwap(false, true) {
		return
	}
	l.opts.Logger.Warn("jetlog: the stream has not answered for a while (the room is read-only meanwhile)",
		"stream", l.opts.Stream, "for", time.Duration(now-since), "err", err)
	l.tellDown(fmt.Errorf("jetlog: the stream %s does not answer (%w)", l.opts.Stream, err))
}

// errNoQuorum: the stream's leader has heard from too few of its
// replicas lately to store anything (streamAnswer).
var errNoQuorum = errors.New("the stream's servers lost their quorum: nothing can be stored until one is back")

// errNoLeader: the stream has no leader (a replica answered its info):
// an election, or no quorum to hold one.
var errNoLeader = errors.New("the stream has no leader")

// quorumSilence is how long a replica may go unheard by the stream's
// leader (its heartbeats come every second) before it counts as gone.
const quorumSilence = 3 * time.Second

// streamAnswer is what a look at the stream (its info, or err) says about
// storing: nil if it answered and its leader hears from a quorum of its
// replicas; err, errNoLeader, or errNoQuorum.
func streamAnswer(info *jetstream.StreamInfo, err error) error {
	if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) == 0 {
		return err
	}
	if info.Cluster.Leader == "" { // a replica answered for a leaderless stream
		return errNoLeader
	}
	live := 1 // the leader, which answered
	for _, p := range info.Cluster.Replicas {
		if p != nil && !p.Offline && p.Active < quorumSilence {
			live++
		}
	}
	if live < (len(info.Cluster.Replicas)+1)/2+1 {
		return errNoQuorum
	}
	return nil
}

// onReconnect is the connection's reconnect handler: it logs the server
// regained and tells the room (its up).
func (l *Log) onReconnect(*nats.Conn) {
	l.stopGrace()
	if l.watch.closing.Load() {
		return
	}
	l.noteServer()
	l.opts.Logger.Info("jetlog: reconnected to the NATS server", "server", l.serverName())
	l.follows.kick()
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

// createdPath is the record of the external stream's creation time that
// checkCreated keeps in Dir.
func (l *Log) createdPath() string {
	return filepath.Join(l.opts.Dir, "chatd-created-"+l.opts.Stream)
}

// refuseMissing is Open's check, before it creates the stream on an
// external server that has none: if chatd recorded that it created the
// stream there before (createdPath), the server lost it, and Open refuses
// (ErrStreamMissing), naming the server and what to do, rather than
// create an empty stream on the operator's server.
func (l *Log) refuseMissing() error {
	if l.srv != nil || l.opts.Dir == "" {
		return nil
	}
	path := l.createdPath()
	_, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // never created by chatd: create it
	case err != nil:
		return fmt.Errorf("jetlog: %w", err)
	}
	return fmt.Errorf("jetlog: %w: stream %s is not on %s, but chatd created it there before (%s records when); chatd does not create an empty one in its place: restore the stream on that server (from its backup), or, to start an empty history, remove %s and %s",
		ErrStreamMissing, l.opts.Stream, l.serverName(), path, path, l.floorPath())
}

// checkStream is Check's verdict on err, the error of asking the server
// for the stream's info: a stream not found is ErrStreamMissing, logged
// once until it is found again; other errors are wrapped.
func (l *Log) checkStream(err error) error {
	switch {
	case err == nil:
		if l.watch.missing.CompareAndSwap(true, false) {
			l.opts.Logger.Info("jetlog: the room's stream is back on the NATS server", "stream", l.opts.Stream, "server", l.serverName())
		}
		return nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		err = fmt.Errorf("jetlog: check: %w: stream %s is gone from %s (the server lost it, or it was deleted); the room stays read-only until it is restored there, or chatd is restarted on a new one (see the README, History)",
			ErrStreamMissing, l.opts.Stream, l.serverName())
		if l.watch.missing.CompareAndSwap(false, true) {
			l.opts.Logger.Error(err.Error())
		}
		return err
	}
	return fmt.Errorf("jetlog: check: %w", l.connErr(err))
}
