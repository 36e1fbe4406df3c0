package tlsgw

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

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

	HandshakeTimeout time.Duration // for the TLS handshake
	NickTimeout      time.Duration // to choose a nickname after the handshake
	WriteTimeout     time.Duration // for each write to a client
	ReadBuffer       int           // longest run of input without a newline
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

// Server accepts TLS connections and serves each one as a room member.
type Server struct {
	cfg Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]bool // value: joined the room
	shutdown  bool
	wg        sync.WaitGroup

	// Counters, guarded by mu.
	accepted          uint64
	handshakes        map[HandshakeLabel]uint64
	handshakeFailures map[string]uint64
}

// NewServer returns a server for cfg. cfg.Room and cfg.TLS are required.
func NewServer(cfg Config) *Server {
	return &Server{
		cfg:       cfg.withDefaults(),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]bool),

		handshakes:        make(map[HandshakeLabel]uint64),
		handshakeFailures: make(map[string]uint64),
	}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("tlsgw: server closed")

// Serve accepts connections on ln until Shutdown is called, then returns
// ErrServerClosed. ln carries plain TCP; Serve does the TLS handshake.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrackListener(ln)
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.trackConn(conn) {
			conn.Close()
			continue
		}
		go s.serveConn(conn) // its session untracks it and calls wg.Done
	}
}

// isTemporary reports whether an Accept error will likely pass, such as
// running out of file descriptors.
func isTemporary(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}

// Shutdown stops accepting, closes connections that have not joined the room
// yet and waits for the others to finish; close the room first so members are
// told and their connections flushed. When ctx ends first, the remaining
// connections are closed at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c, joined := range s.conns {
		if !joined {
			c.Close()
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.closeAllConns()
		<-done
		return ctx.Err()
	}
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

func (s *Server) trackListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrackListener(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
}

func (s *Server) trackConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.conns[c] = false
	s.accepted++
	s.wg.Add(1) // under mu, so that Shutdown's Wait cannot miss it
	return true
}

// markJoined records that c is now a room member, so Shutdown leaves it to
// the room to say goodbye. It reports false if shutdown has begun.
func (s *Server) markJoined(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.conns[c] = true
	return true
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) closeAllConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}
