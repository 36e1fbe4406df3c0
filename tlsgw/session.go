package tlsgw

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"chatd/connlimit"
	"chatd/room"
)

// Reasons a TLS member leaves, besides the room's own.
const (
	reasonClosed      = "connection closed"
	reasonWriteFailed = "connection lost"
	reasonNoNewline   = "sent too much without a newline"
)

// writeBuffers are shared by every connection's writer, so that an idle
// connection holds none; maxPooledBuffer keeps huge ones out of the pool.
var writeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuffer = 64 << 10

// lingerTimeout is how long a closing connection waits for the client to
// close its side after the server closed its own (see finish).
const lingerTimeout = 2 * time.Second

// session serves one client connection.
type session struct {
	srv   *Server
	raw   net.Conn
	conn  *tls.Conn
	lines *lineReader
	log   *slog.Logger

	deadlineSet time.Time // when the write deadline was last moved
}

// serveConn runs one connection from handshake to close, and logs one
// record when it opens and one, with everything learned, when it closes.
func (s *Server) serveConn(raw net.Conn) {
	start := time.Now()
	defer raw.Close()
	conn := tls.Server(raw, s.cfg.TLS)
	sess := &session{
		srv:   s,
		raw:   raw,
		conn:  conn,
		lines: newLineReader(conn, s.cfg.ReadBuffer),
		log:   s.cfg.Logger.With("transport", "tls", "remote", raw.RemoteAddr().String()),
	}
	sess.log.Info("connection opened")
	var nick, reason string
	defer func() {
		in, out := connlimit.Bytes(raw)
		sess.log.Info("connection closed", "nick", nick, "reason", reason,
			"duration", time.Since(start).Round(time.Millisecond), "bytes_in", in, "bytes_out", out)
	}()
	if err := sess.handshake(); err != nil {
		s.countHandshakeFailure(err)
		reason = "tls handshake failed: " + err.Error()
		explainNotTLS(err, s.cfg.WriteTimeout)
		return
	}
	m, err := sess.join()
	if err != nil {
		reason = "did not join: " + err.Error()
		sess.finish()
		sess.drain()
		return
	}
	if !s.markJoined(raw) {
		m.Leave(room.ReasonShutdown)
	}
	sess.log.Info("joined", "nick", m.Nick())
	sess.chat(m)
	nick, reason = m.Nick(), m.Reason()
}

// handshake completes the TLS handshake within the handshake timeout and
// records what was negotiated in the session's logger.
func (s *session) handshake() error {
	s.conn.SetDeadline(time.Now().Add(s.srv.cfg.HandshakeTimeout))
	if err := s.conn.Handshake(); err != nil {
		return err
	}
	s.conn.SetDeadline(time.Time{})
	st := s.conn.ConnectionState()
	s.srv.countHandshake(st)
	s.log = s.log.With("tls_version", tls.VersionName(st.Version),
		"cipher", tls.CipherSuiteName(st.CipherSuite), "group", st.CurveID.String(),
		"sni", st.ServerName, "alpn", st.NegotiatedProtocol)
	return nil
}

// closeWrite half-closes conn if it supports that, as TCP connections do.
func closeWrite(conn net.Conn) error {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// notTLSHint answers a client that spoke plain text to the TLS port.
const notTLSHint = "This is chatd's TLS port: plain text and HTTP are not spoken here.\n" +
	"Connect with: openssl s_client -quiet -connect HOST:PORT -CAfile cert.pem\n"

// explainNotTLS tells a client whose first bytes were not TLS, such as a
// browser or `nc`, what this port is, in plain text (as an HTTP response if
// it sent an HTTP request), before the connection is closed.
func explainNotTLS(err error, timeout time.Duration) {
	var rhe tls.RecordHeaderError
	if !errors.As(err, &rhe) || rhe.Conn == nil {
		return
	}
	msg := notTLSHint
	if looksLikeHTTP(rhe.RecordHeader[:]) {
		msg = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + msg
	}
	rhe.Conn.SetWriteDeadline(time.Now().Add(timeout))
	io.WriteString(rhe.Conn, msg)
}

func looksLikeHTTP(head []byte) bool {
	for _, method := range []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "} {
		if strings.HasPrefix(method, string(head)) || strings.HasPrefix(string(head), method) {
			return true
		}
	}
	return false
}

// join greets the client and asks for a nickname until the room accepts one,
// within the nickname timeout.
func (s *session) join() (*room.Member, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.NickTimeout))
	if err := s.send(s.greeting(), prompt()); err != nil {
		return nil, err
	}
	for range maxNickAttempts {
		line, err := s.lines.ReadLine()
		if err != nil {
			if isTimeout(err) {
				s.send(&room.Event{Kind: room.Error, Text: "no nickname chosen in time; goodbye"})
			}
			return nil, fmt.Errorf("read nickname: %w", err)
		}
		nick := strings.TrimSpace(room.Clean(line))
		if nick == "" {
			s.send(prompt())
			continue
		}
		m, err := s.srv.cfg.Room.Join(nick, room.JoinOptions{})
		if err == nil {
			s.conn.SetReadDeadline(time.Time{})
			return m, nil
		}
		if errors.Is(err, room.ErrClosed) {
			s.send(&room.Event{Kind: room.Error, Text: "the server is shutting down"})
			return nil, err
		}
		if err := s.send(&room.Event{Kind: room.Error, Text: err.Error()}, prompt()); err != nil {
			return nil, err
		}
	}
	s.send(&room.Event{Kind: room.Error, Text: "too many attempts; goodbye"})
	return nil, errors.New("too many nickname attempts")
}

// greeting welcomes the client and tells it what TLS it got.
func (s *session) greeting() *room.Event {
	st := s.conn.ConnectionState()
	return &room.Event{Kind: room.Notice, Text: fmt.Sprintf(
		"Welcome to chatd. You are connected with %s, %s, key exchange %s.",
		tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID)}
}

// NickPrompt is the notice that asks a new connection for its nickname.
const NickPrompt = "Choose a nickname (" + room.NickRules + "):"

func prompt() *room.Event {
	return &room.Event{Kind: room.Notice, Text: NickPrompt}
}

// chat relays between the connection and the member until either side ends.
func (s *session) chat(m *room.Member) {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeEvents(m)
	}()
	for {
		line, err := s.lines.ReadLine()
		if err != nil {
			reason := reasonClosed
			if errors.Is(err, ErrNoNewline) {
				reason = reasonNoNewline
			}
			m.Leave(reason)
			break
		}
		m.Send(line)
	}
	<-writerDone
}

// writeEvents writes the member's events as they come, coalescing whatever
// is queued into one write, then says goodbye and ends the server's side of
// the connection; the reader sees the client close its side.
func (s *session) writeEvents(m *room.Member) {
	defer s.finish()
	events := m.Events()
	failed := false
	for ev := range events {
		if failed {
			continue // drain until the room closes the stream
		}
		bp := writeBuffers.Get().(*[]byte)
		buf := appendQueued(AppendEvent((*bp)[:0], ev), events)
		if err := s.write(buf); err != nil {
			failed = true
			m.Leave(reasonWriteFailed)
		}
		if cap(buf) <= maxPooledBuffer {
			*bp = buf[:0]
			writeBuffers.Put(bp)
		}
	}
	if ev := farewell(m.Reason()); ev != nil && !failed {
		s.send(ev)
	}
}

// finish ends the server's side of the connection gracefully: a TLS
// close_notify, then a TCP half-close, then up to lingerTimeout for the
// client to close its side while its input is still read. Closing at once
// instead would make the kernel answer the client's last packets with a
// reset, which can destroy what the client has received but not yet read.
func (s *session) finish() {
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	s.deadlineSet = time.Now()
	s.conn.CloseWrite()
	closeWrite(s.raw)
	s.conn.SetReadDeadline(time.Now().Add(lingerTimeout))
}

// drain reads and discards input until the client closes or the linger
// deadline set by finish passes.
func (s *session) drain() {
	io.Copy(io.Discard, s.conn)
}

// appendQueued appends events already waiting in the stream, up to a batch,
// without blocking. If the stream is closed it stops; the caller's range over
// the stream then ends too.
func appendQueued(buf []byte, events <-chan *room.Event) []byte {
	for range maxWriteBatch {
		select {
		case ev, ok := <-events:
			if !ok {
				return buf
			}
			buf = AppendEvent(buf, ev)
		default:
			return buf
		}
	}
	return buf
}

// farewell is the last line a member is sent, given why it left; nil if
// there is nothing to add or no one to read it.
func farewell(reason string) *room.Event {
	switch {
	case reason == room.ReasonQuit || strings.HasPrefix(reason, room.ReasonQuit+":"):
		return &room.Event{Kind: room.Notice, Text: "Goodbye."}
	case reason == room.ReasonSlowConsumer:
		return &room.Event{Kind: room.Error, Text: "disconnected: you were not reading fast enough (slow consumer)"}
	case reason == reasonNoNewline:
		return &room.Event{Kind: room.Error, Text: "disconnected: " + reason}
	case reason == room.ReasonFlood:
		return &room.Event{Kind: room.Error, Text: "disconnected: flooding (too many lines too fast)"}
	}
	return nil
}

// send encodes events and writes them at once.
func (s *session) send(events ...*room.Event) error {
	var buf []byte
	for _, ev := range events {
		buf = AppendEvent(buf, ev)
	}
	return s.write(buf)
}

// write writes b within the write timeout. The deadline is moved at most
// once a second (moving it costs a timer update), so a write gets between
// the timeout and a second less.
func (s *session) write(b []byte) error {
	if now := time.Now(); now.Sub(s.deadlineSet) > time.Second {
		s.conn.SetWriteDeadline(now.Add(s.srv.cfg.WriteTimeout))
		s.deadlineSet = now
	}
	_, err := s.conn.Write(b)
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
