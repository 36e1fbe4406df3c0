// Package client is the client side of chatd's line protocol: it dials a
// server over TLS, verifies it (a CA, a pinned certificate, or trust on
// first use with a known-servers file), joins the room and reads the
// server's lines back as room events with package proto, and reconnects
// (Redialer) when the connection is lost. The bundled client, cmd/chat,
// wires it to the screen.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"chatd/proto"
	"chatd/room"
)

// Client defaults.
const (
	DefaultJoinTimeout = 15 * time.Second
	// clientEventBuffer is how many events wait for their reader, in a
	// Conn and again in a Redialer: enough to absorb a burst, few enough
	// that lines of maxServerLine waiting cost little memory.
	clientEventBuffer = 64
)

// What the client takes from a server. A chatd server's longest line, a
// chat message of room.DefaultMaxLineBytes or a member list naming
// room.DefaultMembersListed members, is under 3 KiB; a server configured
// for longer ones still gets through, cut.
const (
	// maxServerLine is the most of one line the client keeps, in bytes. A
	// longer line is cut to it and ends with cutMark; the rest is read and
	// thrown away, so the client's memory does not depend on it.
	maxServerLine = 8 << 10
	// maxServerLineRun is how far past maxServerLine a line may run before
	// the client gives up on the connection: a line without end.
	maxServerLineRun = 1 << 20
	// cutMark ends a line that was cut to maxServerLine.
	cutMark = "…"
	// maxJoinLines bounds the lines a server may send before it accepts the
	// nickname; chatd sends two or three (greeting, prompt, a refusal).
	maxJoinLines = 64
)

// writeTimeout bounds each line the client sends: a server that stops
// reading does not hold the client's screen.
const writeTimeout = 10 * time.Second

// ErrNickRefused is matched by Dial's error (a *NickRefusedError) when the
// server refused the nickname and asked for another.
var ErrNickRefused = errors.New("nickname refused")

// NickRefusedError is Dial's error when the server refused the nickname
// (taken, held for someone, or invalid) and asked for another, as the line
// protocol does: an error line, then the nickname prompt again. It matches
// ErrNickRefused.
type NickRefusedError struct {
	Nick   string // the nickname refused
	Reason string // the server's explanation, as it sent it
}

func (e *NickRefusedError) Error() string {
	return fmt.Sprintf("the server refused the nickname %q: %s", e.Nick, e.Reason)
}

// Is reports whether target is ErrNickRefused.
func (e *NickRefusedError) Is(target error) bool { return target == ErrNickRefused }

// Config says how to reach and verify a chatd server.
type Config struct {
	Addr string      // host:port
	Nick string      // the nickname to join as
	TLS  *tls.Config // verification policy; ServerName defaults to Addr's host
	// JoinTimeout bounds connecting, the handshake and joining together.
	JoinTimeout time.Duration
	// Now is the clock used to date server timestamps; tests may replace it.
	Now func() time.Time
	// Resume, if set, asks the server, before the nickname, to resume
	// after the public event Resume.After of the log Resume.Log (the line
	// protocol's resume extension; a zero point on a first join): the
	// server then replays only what came after it, and numbers the public
	// events it sends (room.Event.Seq). A server that does not know the
	// extension refuses the request, and the connection goes on without
	// it (Conn.Resumed says which).
	Resume *proto.ResumePoint
	// via, if set, is the network address to connect to instead of Addr:
	// an IP address Addr's host resolved to, with its port (Nodes.Dial).
	// Addr still names the server for its certificate and pins.
	via string
	// connectTimeout, if set, bounds the TCP connect alone, within
	// JoinTimeout: a node of several that does not answer at all (its
	// machine gone) is left for the next one sooner (Nodes.Dial).
	connectTimeout time.Duration
}

// Conn is a joined line-protocol session: the server's lines arrive as
// room events, parsed by the same codec that wrote them.
type Conn struct {
	conn      *tls.Conn
	events    chan *room.Event
	closed    chan struct{} // closed by Close, so a reader blocked on events ends
	closeOnce sync.Once
	now       func() time.Time

	writeMu sync.Mutex
	mu      sync.Mutex
	nick    string
	reason  room.Reason

	// resumed is the server's acknowledgement of the resume request, if
	// it sent one; seqs is then set, and every line may carry "#SEQ ".
	// Both are set during the join, before readEvents starts.
	resumed proto.ResumePoint
	seqs    bool

	// addr and via are Config's: where the connection went.
	addr, via string

	ended chan struct{} // closed when readEvents returns
	page  *pageWait     // the older-page request waiting for its answer (older.go); guarded by mu
	stray strayPage     // a page answer nobody asked for, being dropped (older.go); readEvents' own
}

// Dial connects to a chatd server, verifies it according to cfg.TLS, and
// joins as cfg.Nick. Everything the server sent up to and including the
// join (greeting, history replay) is delivered first on Events.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	conn, err := dialTLS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c := &Conn{conn: conn, events: make(chan *room.Event, clientEventBuffer), closed: make(chan struct{}), ended: make(chan struct{}), now: cfg.Now, nick: cfg.Nick, addr: cfg.Addr, via: cfg.via}
	r := proto.NewLineReader(conn, maxServerLine)
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// A cancelled ctx (the user quit while reconnecting) ends the nickname
	// exchange at once rather than at its deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	early, err := c.join(r, cfg.Nick, cfg.Resume)
	stop()
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	go c.readEvents(r, early)
	return c, nil
}

func dialTLS(ctx context.Context, cfg Config) (*tls.Conn, error) {
	tlsCfg := cfg.TLS.Clone()
	if tlsCfg == nil {
		tlsCfg = &tls.Config{}
	}
	if tlsCfg.ServerName == "" {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("server address %q: %w", cfg.Addr, err)
		}
		tlsCfg.ServerName = host
	}
	d := tls.Dialer{Config: tlsCfg, NetDialer: &net.Dialer{Timeout: cfg.connectTimeout}}
	to := cfg.Addr
	if cfg.via != "" {
		to = cfg.via
	}
	conn, err := d.DialContext(ctx, "tcp", to)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", serverName(cfg), err)
	}
	return conn.(*tls.Conn), nil
}

// serverName names the server cfg dials for the user: its address, and
// the IP address dialled if that was looked up (as target.String does).
func serverName(cfg Config) string {
	ip, _, err := net.SplitHostPort(cfg.via)
	if err != nil {
		return cfg.Addr
	}
	return cfg.Addr + " (" + ip + ")"
}

// Server names the server of the connection: the address it was dialled
// by (host:port, as the user gave it), followed by the IP address
// connected to in brackets when the host was a name looked up
// (Nodes.Dial): "chat.example.org:7443 (192.0.2.7)".
func (c *Conn) Server() string { return serverName(Config{Addr: c.addr, via: c.via}) }

// dialAddr is the network address c connected to (an IP address and port
// when the host was a name looked up by Nodes), where a round after it
// was lost starts.
func (c *Conn) dialAddr() string {
	if c.via != "" {
		return c.via
	}
	return c.addr
}

// join sends the resume request, if any, and the nickname, and reads until
// the server accepts it: the first room event (a history replay or the
// client's own join) means it did. The first answer to a resume request is
// its acknowledgement, or an error from a server that does not know it,
// which is passed over. It returns the events read on the way.
func (c *Conn) join(r *proto.LineReader, nick string, resume *proto.ResumePoint) ([]*room.Event, error) {
	if resume != nil {
		if err := c.writeLine(strings.TrimSuffix(string(proto.AppendResume(nil, *resume)), "\n")); err != nil {
			return nil, fmt.Errorf("send resume request: %w", err)
		}
	}
	if err := c.writeLine(nick); err != nil {
		return nil, fmt.Errorf("send nickname: %w", err)
	}
	awaitingResume := resume != nil
	var early []*room.Event
	for range maxJoinLines {
		line, err := readServerLine(r)
		if err != nil {
			return nil, fmt.Errorf("join as %s: %w", nick, err)
		}
		ev := c.parse(line)
		if ev.Kind == room.Notice && ev.Text == proto.NickPrompt {
			continue // answered already
		}
		if awaitingResume {
			if p, ok := proto.ParseResumeAck(ev); ok {
				c.resumed, c.seqs, awaitingResume = p, true, false
				continue
			}
			if ev.Kind == room.Error {
				awaitingResume = false // a server without the extension
				continue
			}
		}
		early = append(early, ev)
		switch ev.Kind {
		case room.Bye: // turned away before joining (ByeError)
			return nil, &ByeError{Nick: nick, Reason: byeReason(ev)}
		case room.Error:
			return nil, refusal(r, nick, ev.Text, c.now)
		case room.HistoryBegin, room.Join:
			return early, nil
		}
	}
	return nil, fmt.Errorf("join as %s: the server sent %d lines without accepting the nickname", nick, maxJoinLines)
}

// refusal reads what follows an error line during the join: the nickname
// prompt again means the nickname was refused (a *NickRefusedError); the end
// of the connection or anything else means the server refused the client
// for another reason, such as shutting down.
func refusal(r *proto.LineReader, nick, text string, now func() time.Time) error {
	line, err := readServerLine(r)
	if err == nil {
		if ev := proto.ParseLine(line, now()); ev.Kind == room.Notice && ev.Text == proto.NickPrompt {
			return &NickRefusedError{Nick: nick, Reason: text}
		}
	}
	return fmt.Errorf("join as %s: %s", nick, text)
}

// readServerLine reads one line, without its line ending, cut to
// maxServerLine.
func readServerLine(r *proto.LineReader) (string, error) {
	line, cut, err := r.ReadLineCut(maxServerLineRun)
	if err != nil {
		if errors.Is(err, proto.ErrLineTooLong) {
			return "", errEndlessLine
		}
		return "", err
	}
	if cut > 0 {
		line += cutMark
	}
	return line, nil
}

// errEndlessLine ends a connection whose server sent a line without end.
var errEndlessLine = fmt.Errorf("the server sent a line of over %d KiB", (maxServerLine+maxServerLineRun)>>10)

// readEvents delivers events until the connection ends, then closes Events.
func (c *Conn) readEvents(r *proto.LineReader, early []*room.Event) {
	defer close(c.ended)
	defer close(c.events)
	defer c.conn.Close()
	var w joinWatch // renames before the own join are others' doing
	for _, ev := range early {
		w.see(c, ev)
		if !c.deliver(ev) {
			return
		}
	}
	var last *room.Event
	for {
		line, err := readServerLine(r)
		if err != nil {
			c.setReason(endReason(last, err))
			return
		}
		ev := c.parse(line)
		if c.seqs && c.takePage(ev) {
			continue // part of the answer to Older, not a live event
		}
		if w.joined {
			c.track(ev)
		} else {
			w.see(c, ev)
		}
		if !c.deliver(ev) {
			return
		}
		last = ev
	}
}

// parse turns a server line into an event, with its sequence number if
// the server numbers this connection's events (a resume was acknowledged).
func (c *Conn) parse(line string) *room.Event {
	if !c.seqs {
		return proto.ParseLine(line, c.now())
	}
	seq, rest := proto.CutSeq(line)
	ev := proto.ParseLine(rest, c.now())
	if ev.Kind.Public() {
		ev.Seq = seq
	}
	return ev
}

// Resumed returns the server's acknowledgement of the resume request
// (Config.Resume): the point it resumed from (After 0 if it replayed its
// recent history instead) and the name of its log; ok is false if the
// client did not ask or the server does not know the extension.
func (c *Conn) Resumed() (p proto.ResumePoint, ok bool) { return c.resumed, c.seqs }

// deliver hands ev to the reader of Events; it reports false if the client
// was closed meanwhile.
func (c *Conn) deliver(ev *room.Event) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.closed:
		c.setReason(closedByClient)
		return false
	}
}

// closedByClient is the reason of a connection the client closed itself.
var closedByClient = room.Reason{Kind: room.ReasonClosed, Detail: "closed"}

// endReason explains why the connection ended, from the last event the
// server sent and the read error: the server's farewell (a Bye) says why it
// disconnected the client, and an Error just before the end may.
func endReason(last *room.Event, err error) room.Reason {
	switch {
	case errors.Is(err, errEndlessLine):
		return room.Reason{Kind: room.ReasonProtocol, Detail: err.Error()}
	case last != nil && last.Kind == room.Bye:
		return byeReason(last)
	case last != nil && last.Kind == room.Error:
		return room.Reason{Kind: room.ReasonOther, Detail: last.Text}
	case errors.Is(err, io.EOF):
		return room.Reason{Kind: room.ReasonClosed, Detail: "the server closed the connection"}
	}
	return room.Reason{Kind: room.ReasonLost, Detail: ShortError(err)}
}

// ShortError is the heart of a network error, for a status line: the
// innermost error it wraps ("connection refused", "connection reset by
// peer", "i/o timeout") rather than the operation and both addresses, and
// "the server closed the connection" for an end of file. Errors that wrap
// nothing are returned whole. A round of several servers that all failed
// (a DialError) is "all 3 servers failed (last: connection refused)".
func ShortError(err error) string {
	if errors.Is(err, io.EOF) {
		return "the server closed the connection"
	}
	var round *DialError
	if errors.As(err, &round) {
		return round.short()
	}
	inner := err
	for {
		next := errors.Unwrap(inner)
		if next == nil {
			break
		}
		inner = next
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error() // names the host, which the user needs to see
	}
	return inner.Error()
}

// byeReason is the reason a farewell gives. When the server disconnected
// the client against its will, the server's words ("disconnected: ...")
// say why, to the user, better than the reason's own; but a final reason
// (kicked, banned, refused) is kept as parsed, its Detail being the
// server's words already.
func byeReason(bye *room.Event) room.Reason {
	reason := bye.Reason
	if reason.Involuntary() && !reason.Final() && bye.Text != "" {
		reason.Detail = bye.Text
	}
	return reason
}

// joinWatch finds the client's own join among the events that come
// before it: a join under its nickname outside the history replay (which
// may hold the join of someone who had the nickname earlier).
type joinWatch struct {
	replaying, joined bool
}

func (w *joinWatch) see(c *Conn, ev *room.Event) {
	switch ev.Kind {
	case room.HistoryBegin:
		w.replaying = true
	case room.HistoryEnd:
		w.replaying = false
	case room.Join:
		w.joined = w.joined || (!w.replaying && strings.EqualFold(ev.From, c.Nick()))
	}
}

// track follows changes to the client's own nickname, once joined: a
// replayed rename of someone who had the nickname earlier is not one.
func (c *Conn) track(ev *room.Event) {
	if ev.Kind != room.NickChange {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.EqualFold(ev.From, c.nick) {
		c.nick = ev.To
	}
}

func (c *Conn) setReason(reason room.Reason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reason = reason
}

// Send sends one line, a chat message or a command, to the server. The
// commands the client sends itself, /older and /resume, are refused with
// ErrClientCommand: typed by a user they would put old events among the
// live ones and move the point a resume starts from.
func (c *Conn) Send(line string) error {
	if isClientCommand(line) {
		return ErrClientCommand
	}
	return c.writeLine(line)
}

func (c *Conn) writeLine(line string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := io.WriteString(c.conn, strings.NewReplacer("\r", "", "\n", " ").Replace(line)+"\n")
	return err
}

// Events is the stream of what the server says. It is closed when the
// connection ends; Reason then says why.
func (c *Conn) Events() <-chan *room.Event { return c.events }

// Nick returns the client's current nickname.
func (c *Conn) Nick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick
}

// Reason says why the connection ended, once Events is closed.
func (c *Conn) Reason() room.Reason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// ConnectionState reports what TLS negotiated.
func (c *Conn) ConnectionState() tls.ConnectionState { return c.conn.ConnectionState() }

// Close ends the connection; Events is closed soon after, whether or not
// anyone is reading it.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.conn.Close()
}
