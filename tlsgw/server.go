package tlsgw

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"chatd/access"
	"chatd/gateway"
	"chatd/room"
)

// Defaults for Config fields left zero.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultNickTimeout      = 60 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	// DefaultReadBuffer bounds how much a client may send without a newline
	// before it is disconnected. It exceeds room.DefaultMaxLineBytes so that
	// a too-long line is refused politely rather than cut off.
	DefaultReadBuffer = 4096
	// maxWriteBatch bounds how many queued events one write coalesces.
	maxWriteBatch = 64
	// maxNickAttempts bounds the nickname prompt.
	maxNickAttempts = 10
)

// Config tunes a Server.
type Config struct {
	Room   *room.Room
	TLS    *tls.Config
	Logger *slog.Logger
	// Profile is the TLS profile TLS was made for (ServerConfig): the
	// session logs name it unless it is the default, and a weak one is
	// announced in each member's greeting.
	Profile Profile

	HandshakeTimeout time.Duration // for the TLS handshake
	NickTimeout      time.Duration // to choose a nickname after the handshake
	WriteTimeout     time.Duration // for each write to a client
	ReadBuffer       int           // longest run of input without a newline

	// KeyLog names the file TLS.KeyLogWriter writes the sessions' secrets
	// to (--keylog), "" when it is off. While it is on, every log record
	// about a connection carries keylog=NAME and every client's greeting
	// says its session can be decrypted.
	KeyLog string

	// Door, if set, is asked after the handshake, before the nickname
	// prompt, whether the client (its address and its certificate, if it
	// presented one) may come in; a refused client is told why, as its
	// last line, and the connection is closed. nil admits everyone.
	Door access.Door
}

func (c Config) withDefaults() Config {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.NickTimeout <= 0 {
		c.NickTimeout = DefaultNickTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = DefaultReadBuffer
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server accepts TLS connections and serves each one as a room member. It
// is a gateway.Server: each connection is one of its sessions, from Accept
// until it closes, and Shutdown closes at once those that have not joined
// the room (joined ones are ended by the room's goodbye).
type Server struct {
	cfg  Config
	life *gateway.Lifecycle

	mu sync.Mutex
	// pending are the connections that have not joined the room yet (the
	// handshake and the nickname prompt).
	pending map[net.Conn]struct{}

	// Counters, guarded by mu.
	handshakes        map[HandshakeLabel]uint64
	handshakeFailures map[string]uint64
	refused           map[string]uint64 // refusals at the door, by class (access.RefusalClass)
}

// NewServer returns a server for cfg. cfg.Room and cfg.TLS are required.
func NewServer(cfg Config) *Server {
	s := &Server{
		cfg:     cfg.withDefaults(),
		pending: make(map[net.Conn]struct{}),

		handshakes:        make(map[HandshakeLabel]uint64),
		handshakeFailures: make(map[string]uint64),
		refused:           make(map[string]uint64),
	}
	s.life = gateway.New(gateway.Options{Logger: s.cfg.Logger, EndSessions: s.closePending})
	return s
}

// ErrServerClosed is returned by Serve after Shutdown. It is
// gateway.ErrServerClosed.
var ErrServerClosed = gateway.ErrServerClosed

var _ gateway.Server = (*Server)(nil)

// Name names the server in logs: "TLS".
func (s *Server) Name() string { return "TLS" }

// Serve accepts connections on ln until Shutdown is called, then returns
// ErrServerClosed. ln carries plain TCP; Serve does the TLS handshake.
func (s *Server) Serve(ln net.Listener) error {
	return s.life.Serve(ln, s.accept)
}

// accept starts serving a connection that Serve accepted, as a session
// that is pending until it joins. The session ends when it closes (see
// untrackConn).
func (s *Server) accept(c net.Conn) {
	s.mu.Lock()
	started := s.life.StartSession()
	if started {
		s.pending[c] = struct{}{}
	}
	s.mu.Unlock()
	if !started {
		c.Close()
		s.life.Release(c)
		return
	}
	s.serveConn(c)
}

// Shutdown stops accepting, closes connections that have not joined the room
// yet and waits for the others to finish; close the room first so members are
// told and their connections flushed. When ctx ends first, the remaining
// connections are closed at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.life.Shutdown(ctx)
}

// closePending closes the connections that have not joined the room; it is
// how Shutdown asks the sessions to end (the room tells the others).
func (s *Server) closePending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.pending {
		c.Close()
	}
}

// markJoined records that c is now a room member, so Shutdown leaves it to
// the room to say goodbye. It reports false if shutdown has begun.
func (s *Server) markJoined(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.life.Closing() {
		return false
	}
	delete(s.pending, c)
	return true
}

// untrackConn ends the session of c, which is closed.
func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	delete(s.pending, c)
	s.mu.Unlock()
	s.life.Release(c)
	s.life.EndSession()
}
