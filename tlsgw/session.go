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
	"unicode/utf8"

	"chatd/certs"
	"chatd/connlimit"
	"chatd/proto"
	"chatd/room"
)

// noNewline is why a client that sent more than the line limit without a
// newline is disconnected.
var noNewline = room.Reason{Kind: room.ReasonProtocol, Detail: proto.DetailNoNewline}

// writeBuffers are shared by every connection's writer, so that an idle
// connection holds none; maxPooledBuffer keeps huge ones out of the pool.
var writeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuffer = 64 << 10

// lingerTimeout is how long a closing connection waits for the client to
// close its side after the server closed its own (see finish).
const lingerTimeout = 2 * time.Second

// session serves one client connection. Once the client has joined, it
// costs one goroutine, the reader; the member's pump runs a writer
// goroutine only while events wait to be written (see room.Pump).
type session struct {
	srv   *Server
	raw   net.Conn
	conn  *tls.Conn
	lines *proto.LineReader
	start time.Time

	notes handshakeNotes // what the handshake presented and was offered, for /crypto

	member *room.Member // set before the pump starts
	pump   *room.Pump   // made before the member joins

	// resume is the client's resume request (proto.ParseResume), set at
	// the nickname prompt; with it, the public events it is sent carry
	// their sequence numbers (proto.AppendEventSeq).
	resume *proto.ResumePoint

	// wmu serialises writes: the pump's writer and the reader answering
	// an older-page request (older.go), whose block is written whole
	// under it so that no live event falls inside. It guards what
	// follows.
	wmu         sync.Mutex
	deadlineSet time.Time // when the write deadline was last moved
	writeFailed bool

	olderRefused int // older-page requests refused in a row (older.go); the reader's
}

// serveConn serves one connection from handshake to close, and logs one
// record when it opens and one, with everything learned, when it closes.
// The handshake and the nickname exchange need a deep stack; once the client
// has joined, a fresh goroutine takes over, so that an idle connection keeps
// a small stack rather than that one. The session ends the connection's
// tracking (untrackConn) when it closes.
func (s *Server) serveConn(raw net.Conn) {
	conn := tls.Server(raw, s.cfg.TLS)
	sess := &session{srv: s, raw: raw, conn: conn, lines: proto.NewLineReader(conn, s.cfg.ReadBuffer), start: time.Now()}
	sess.logger().Info("connection opened")
	m, reason := sess.open()
	if m == nil {
		sess.close("", reason)
		return
	}
	go sess.serve(m)
}

// open does the TLS handshake, asks the door (Config.Door) and does the
// nickname exchange. It returns the member, or nil and why the client did
// not join.
func (s *session) open() (*room.Member, string) {
	if err := s.handshake(); err != nil {
		s.srv.countHandshakeFailure(err)
		explainNotTLS(err, s.srv.cfg.WriteTimeout)
		return nil, "tls handshake failed: " + err.Error()
	}
	if refused := s.admit(); refused != "" {
		return nil, refused
	}
	m, err := s.join()
	if err != nil {
		s.finish()
		s.drain()
		var refused *joinRefused
		if errors.As(err, &refused) {
			return nil, refused.reason
		}
		return nil, "did not join: " + err.Error()
	}
	if !s.srv.markJoined(s.raw) {
		m.Leave(room.Reason{Kind: room.ReasonShutdown})
	}
	s.logger().Info("joined", "nick", m.Nick(), "identity", s.identity())
	return m, ""
}

// serve relays between the connection and the member until either side
// ends, then closes the connection.
func (s *session) serve(m *room.Member) {
	s.chat(m)
	s.close(m.Nick(), m.Reason().String())
}

// close logs the connection's end, closes it and stops tracking it.
func (s *session) close(nick, reason string) {
	in, out := connlimit.Bytes(s.raw)
	s.logger().Info("connection closed", "nick", nick, "reason", reason,
		"duration", time.Since(s.start).Round(time.Millisecond), "bytes_in", in, "bytes_out", out)
	s.raw.Close()
	s.srv.untrackConn(s.raw)
}

// logger returns a logger with what is known of the connection: its remote
// address and, once the handshake is done, what was negotiated. It is built
// for each of the few records a connection logs rather than kept, because a
// kept one costs an idle connection about a kilobyte.
func (s *session) logger() *slog.Logger {
	args := []any{"transport", "tls", "remote", s.raw.RemoteAddr().String()}
	if s.srv.cfg.KeyLog != "" {
		args = append(args, "keylog", s.srv.cfg.KeyLog)
	}
	if p := s.srv.cfg.Profile; p != ProfileIntermediate {
		args = append(args, "tls_profile", p.String())
	}
	if st := s.conn.ConnectionState(); st.HandshakeComplete {
		args = append(args, "tls_version", tls.VersionName(st.Version),
			"cipher", tls.CipherSuiteName(st.CipherSuite), "group", groupLabel(st.CurveID),
			"sni", cutForLog(st.ServerName), "alpn", st.NegotiatedProtocol)
	}
	return s.srv.cfg.Logger.With(args...)
}

// maxLoggedSNI bounds the server name a log record carries: a client may
// send up to about 3 KB of it, on every record about its connection.
const maxLoggedSNI = 255

// cutForLog cuts a server name the client chose to maxLoggedSNI bytes (at
// a rune boundary), marking the cut with the full length.
func cutForLog(s string) string {
	if len(s) <= maxLoggedSNI {
		return s
	}
	cut := maxLoggedSNI
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(cut, %d bytes)", s[:cut], len(s))
}

// handshake completes the TLS handshake within the handshake timeout and
// counts what was negotiated.
func (s *session) handshake() error {
	s.conn.SetDeadline(time.Now().Add(s.srv.cfg.HandshakeTimeout))
	if err := s.conn.HandshakeContext(handshakeContext(&s.notes)); err != nil {
		return err
	}
	s.conn.SetDeadline(time.Time{})
	s.srv.countHandshake(s.conn.ConnectionState())
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
	"Connect with: openssl s_client -quiet -verify_return_error -verify_hostname HOST -servername HOST -connect HOST:PORT -CAfile cert.pem\n"

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
// within the nickname timeout. Before that, the client may list the
// members or leave (see beforeJoin); every line it sends counts as one of
// its maxNickAttempts, and the timeout runs from the start.
func (s *session) join() (*room.Member, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.NickTimeout))
	if err := s.send(append(s.greeting(), prompt())...); err != nil {
		return nil, err
	}
	s.pump = room.NewPump(room.PumpConfig{Write: s.writeEvents, Left: s.goodbye, Batch: maxWriteBatch, Linger: writerLinger})
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
		if proto.IsResume(nick) {
			if err := s.askResume(nick); err != nil {
				return nil, err
			}
			continue
		}
		if cmd, found := room.LookupVisitorCommand(nick); found {
			if err := s.beforeJoin(cmd); err != nil {
				return nil, err
			}
			continue
		}
		opts := room.JoinOptions{Wake: s.pump.Wake, Identity: s.identity(), Describe: s.describe}
		if s.resume != nil {
			opts.Resume, opts.ResumeAfter = true, s.resume.After
		}
		m, err := s.srv.cfg.Room.Join(nick, opts)
		if err == nil {
			s.conn.SetReadDeadline(time.Time{})
			return m, nil
		}
		if errors.Is(err, room.ErrClosed) {
			s.send(&room.Event{Kind: room.Error, Text: "the server is shutting down"})
			return nil, err
		}
		if final := s.refuseJoin(err); final != nil {
			return nil, final
		}
		if err := s.send(&room.Event{Kind: room.Error, Text: err.Error()}, prompt()); err != nil {
			return nil, err
		}
	}
	s.send(&room.Event{Kind: room.Error, Text: "too many attempts; goodbye"})
	return nil, errors.New("too many nickname attempts")
}

// askResume answers a resume request typed at the nickname prompt (the
// extension of docs/PROTOCOL.md, "Resuming"): a well-formed one is
// acknowledged, with the point the server will resume from, and the
// prompt again; from then on the connection's public events carry their
// sequence numbers. The point is 0 (the joiner is then shown the recent
// history, and told why if it had a point: room.ResumeReset) if the
// request named no log or another log than the room's, a point beyond
// the log's last event, or a stamp that is not the one of the log's event
// at that point (the log was rolled back, as by restoring a backup). A
// malformed request, or a second one, is refused with an error and the
// prompt. Like any line at the prompt it is one of the client's attempts,
// and the nickname timeout runs on; it costs the room a look at the last
// sequence number it appended (Room.ResumeFrom: no read of the log once
// the room has appended), one read of one event if it has a stamp
// (Room.ResumeAt), and on joining no more than a resume's history
// (room.Config.ResumeSize).
func (s *session) askResume(line string) error {
	if s.resume != nil {
		return s.send(&room.Event{Kind: room.Error, Text: "resume already asked for; choose a nickname"}, prompt())
	}
	p, err := proto.ParseResume(line)
	if err != nil {
		return s.send(&room.Event{Kind: room.Error, Text: err.Error()}, prompt())
	}
	logID := s.srv.cfg.Room.LogID()
	var reset room.ResumeReset
	switch {
	case p.After == 0:
	case p.Log == "":
		reset = room.ResetNoLog
	case p.Log != logID:
		reset = room.ResetOtherLog // numbers from another log (a restarted memory log) mean nothing here
	}
	if reset != room.ResumeKept {
		p.After = 0
	}
	if p.After > 0 {
		// The point acknowledged is the one Join will use: beyond the
		// log's end (its tail was lost, or the number is made up), or at
		// another event than the client was shown, the recent history
		// instead. If the log cannot say, the recent history too; Join
		// will say what is wrong with the log.
		var shown func(*room.Event) bool
		if stamp := p.Stamp; stamp != "" {
			shown = func(ev *room.Event) bool { return proto.EventStamp(ev) == stamp }
		}
		from, why, err := s.srv.cfg.Room.ResumeAt(p.After, shown)
		p.After, reset = from, why
		if err != nil {
			p.After, reset = 0, room.ResumeKept
		}
	}
	reply := []*room.Event{nil, prompt()}
	if notice := reset.Notice(); notice != "" {
		// The client is shown the recent history, and told why.
		reply = []*room.Event{nil, {Kind: room.Notice, Text: notice}, prompt()}
	}
	p.Log, p.Stamp = logID, ""
	s.resume = &p
	reply[0] = proto.ResumeAck(p)
	return s.send(reply...)
}

// errLeftBeforeJoining is why a client that typed /quit at the nickname
// prompt did not join.
var errLeftBeforeJoining = errors.New("quit before joining")

// beforeJoin answers a command typed at the nickname prompt, which joins
// nothing and announces nothing: /who shows the member list, and the
// prompt again; /crypto (/tls) describes the connection, and the prompt
// again; /quit says goodbye (errLeftBeforeJoining); any other
// command is refused with the prompt again. The nickname phase's bounds
// hold: each of these lines is one of the client's attempts, and the
// nickname timeout keeps running. A /who costs the room a look at its
// roster, and the client a member list of at most Config.MembersListed
// names.
func (s *session) beforeJoin(cmd room.VisitorCommand) error {
	switch cmd {
	case room.VisitorWho:
		return s.send(s.srv.cfg.Room.Who(), prompt())
	case room.VisitorDescribe:
		return s.send(append(notices(s.describe()), prompt())...)
	case room.VisitorQuit:
		s.send(&room.Event{Kind: room.Bye, Reason: room.Reason{Kind: room.ReasonQuit}})
		return errLeftBeforeJoining
	}
	return s.send(&room.Event{Kind: room.Error, Text: room.VisitorRefusal}, prompt())
}

// identity is who the client is, as far as TLS can tell: its address and,
// if it presented one, the fingerprint of its certificate (asked for but
// not required or verified; see ServerConfig), whose key the handshake
// proved it holds.
func (s *session) identity() room.Identity {
	id := room.Identity{Transport: room.TransportTLS, Address: connlimit.Source(s.raw.RemoteAddr())}
	if peer := s.conn.ConnectionState().PeerCertificates; len(peer) > 0 {
		id.CertFingerprint = certs.Fingerprint(peer[0].Raw)
	}
	return id
}

// greeting welcomes the client and tells it what TLS it got, with a
// warning when the server's TLS profile is a weak one and when the server
// logs TLS keys (its session can then be decrypted).
func (s *session) greeting() []*room.Event {
	st := s.conn.ConnectionState()
	text := fmt.Sprintf("Welcome to chatd. You are connected with %s, %s, key exchange %s.",
		tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), groupName(st.CurveID))
	if s.srv.cfg.KeyLog != "" {
		text += " " + KeyLogGreeting
	}
	events := []*room.Event{{Kind: room.Notice, Text: text}}
	if s.srv.cfg.Profile.Weak() {
		events = append(events, &room.Event{Kind: room.Notice, Text: WeakWarning})
	}
	return events
}

// KeyLogGreeting ends the greeting while the server logs TLS keys.
const KeyLogGreeting = "WARNING: this server logs its TLS keys (--keylog, a lab setting): whoever has that file and a capture can read this session."

// notices turns lines into Notice events.
func notices(lines []string) []*room.Event {
	events := make([]*room.Event, len(lines))
	for i, text := range lines {
		events[i] = &room.Event{Kind: room.Notice, Text: text}
	}
	return events
}

func prompt() *room.Event {
	return &room.Event{Kind: room.Notice, Text: proto.NickPrompt}
}

// chat relays between the connection and the member until either side
// ends. When the client's input ends (it half-closed the connection, with
// a TLS close_notify or a bare TCP FIN) while lines it typed wait their
// turn, the member stays until they have gone out (room's
// Member.LeaveWhenSent, bounded by the flood queue); a write failure, or
// the room's Close, ends it at once.
func (s *session) chat(m *room.Member) {
	s.member = m
	s.pump.Start(m) // writes what Join queued
	for {
		line, err := s.lines.ReadLine()
		if err != nil {
			closed := room.Reason{Kind: room.ReasonClosed}
			switch {
			case errors.Is(err, proto.ErrNoNewline):
				m.Leave(noNewline)
			case endOfInput(err):
				m.LeaveWhenSent(closed)
			default:
				m.Leave(closed)
			}
			break
		}
		if s.resume != nil && proto.IsOlder(line) {
			s.older(m, line)
			continue
		}
		m.Send(line)
	}
	<-s.pump.Done()
}

// endOfInput reports whether err, from reading the connection, is the end
// of the client's input rather than a broken connection: io.EOF after a
// TLS close_notify, io.ErrUnexpectedEOF after a TCP half-close without
// one.
func endOfInput(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// writerLinger is how long the writer goroutine of a member in a flow of
// events waits for more before it ends (room.PumpConfig.Linger). Starting a
// goroutine costs growing its stack for the TLS write path, about a tenth
// of the CPU of a delivery, so a member of an active room keeps its writer;
// a one-off event (a presence summary in an idle room) is written by a
// goroutine that ends at once, and an idle connection has none.
const writerLinger = time.Second

// maxWriteBytes bounds one write: each write must finish within the write
// timeout, so a client on a slow link that keeps reading is never taken
// for one that stopped, however long the lines queued for it are.
const maxWriteBytes = 16 << 10

// writeEvents is the pump's Write: it writes events, coalesced into writes
// of about maxWriteBytes at most. After a failed write it writes nothing
// more: the events are dropped until the room closes the stream.
func (s *session) writeEvents(events []*room.Event) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.writeFailed {
		return
	}
	bp := writeBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	for i, ev := range events {
		buf = s.appendEvent(buf, ev)
		if len(buf) < maxWriteBytes && i < len(events)-1 {
			continue
		}
		if err := s.write(buf); err != nil {
			s.writeFailed = true
			s.member.Leave(writeFailure(err))
			break
		}
		buf = buf[:0]
	}
	if cap(buf) <= maxPooledBuffer {
		*bp = buf[:0]
		writeBuffers.Put(bp)
	}
}

// goodbye is the pump's Left: once the member has left and everything is
// written, it tells the client why it was disconnected, if it should know,
// and ends the server's side of the connection; the reader then sees the
// client close its side.
func (s *session) goodbye() {
	s.wmu.Lock()
	failed := s.writeFailed
	s.wmu.Unlock()
	if ev := farewell(s.member.Reason()); ev != nil && !failed {
		s.send(ev)
	}
	s.finish()
}

// finish ends the server's side of the connection gracefully: a TLS
// close_notify, then a TCP half-close, then up to lingerTimeout for the
// client to close its side while its input is still read. Closing at once
// instead would make the kernel answer the client's last packets with a
// reset, which can destroy what the client has received but not yet read.
func (s *session) finish() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
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

// farewell is the last event a member is sent, given why it left (the
// codec words it); nil if there is nothing to add (the room said goodbye
// at shutdown) or no one to read it (the connection closed or failed).
func farewell(reason room.Reason) *room.Event {
	switch reason.Kind {
	case room.ReasonQuit, room.ReasonSlowConsumer, room.ReasonFlood, room.ReasonProtocol, room.ReasonKicked, room.ReasonBanned, room.ReasonRefused:
		return &room.Event{Kind: room.Bye, Reason: reason}
	}
	return nil
}

// send encodes events and writes them at once.
func (s *session) send(events ...*room.Event) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var buf []byte
	for _, ev := range events {
		buf = s.appendEvent(buf, ev)
	}
	return s.write(buf)
}

// appendEvent encodes ev for this client: with its sequence number if the
// client asked to resume.
func (s *session) appendEvent(dst []byte, ev *room.Event) []byte {
	if s.resume != nil {
		return proto.AppendEventSeq(dst, ev)
	}
	return proto.AppendEvent(dst, ev)
}

// write writes b within the write timeout; the caller holds wmu. The deadline is moved at most
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

// writeFailure is why a member whose write failed with err leaves: a write
// that timed out means the client stopped reading (a slow consumer), any
// other failure that the connection was lost.
func writeFailure(err error) room.Reason {
	if isTimeout(err) {
		return room.Reason{Kind: room.ReasonSlowConsumer}
	}
	return room.Reason{Kind: room.ReasonLost}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
