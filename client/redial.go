package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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
	// is lost for any reason but the user's /quit and a Final one: the
	// server sent the user away (kicked, banned, refused at the door),
	// and the session says so (FinalText) and ends.
	Reconnect bool
	// Echo shows the user's own chat lines and actions as events, as a
	// screen needs: the server does not send them back.
	Echo bool
	// AskNick, if set, is called (from the Redialer's own goroutine) when
	// the server refuses the session's nickname on a rejoin, for instance
	// because someone took it while the session was away; refused says
	// why. The session then stays disconnected until Rejoin brings a
	// nickname the server accepts, or until it is closed. Without AskNick
	// such a refusal ends the session.
	AskNick func(refused error)
	// Block makes Send wait for room in the send queue instead of
	// refusing a line that does not fit, so that every line is written
	// (standard input in plain mode waits for the network).
	Block bool
	// KeyLog names the file Conn.TLS.KeyLogWriter writes the session's TLS
	// secrets to (chat --keylog or SSLKEYLOGFILE), "" when it is off. While
	// it is on, Status and /tls say the session can be decrypted.
	KeyLog string
	// Nodes, if set, are the servers of the room (Conn.Addr and Conn.TLS
	// are then each node's): after a loss the session tries each in turn,
	// starting after the one it lost, backing off between full rounds;
	// it names the node it is on in Status and in the notice that it is
	// back. Nil means Conn.Addr alone.
	Nodes      *Nodes
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Redialer is one chat session as the user sees it, across connections: it
// forwards the current Conn's events, answers the client-side /tls
// command, and, if asked to, reconnects and rejoins under the same nickname
// after a network loss. While it is away, Link says so and when it tries
// again (LinkChanged signals each change); once back, one Notice says so,
// and of what the server replays only what happened meanwhile is passed
// on (see rejoinFilter). It satisfies the interface the chat screen needs.
type Redialer struct {
	cfg    RedialConfig
	ctx    context.Context
	cancel context.CancelFunc
	out    chan *room.Event
	local  chan *room.Event // events the Redialer itself adds
	sends  chan outgoing    // lines for the send loop, so Send never blocks
	// rejoins carries Rejoin's nicknames to the run goroutine while it
	// waits for one (askNick).
	rejoins chan rejoinRequest
	// linkChanged holds a signal that Link changed, until it is taken.
	linkChanged chan struct{}
	seen        *seenLog // what the session showed; the run goroutine's
	// firstLog names the log the first connection's numbers came from:
	// Older pages only in it (older.go).
	firstLog string
	// nodes are the servers dialled (RedialConfig.Nodes, or Conn.Addr
	// alone); at is the network address of the last one joined, or of the
	// one that refused a nickname, and after says whether the next round
	// starts after it (it was lost) or at it; told holds the nodes the
	// user was told were skipped since the loss. The run goroutine's.
	nodes *Nodes
	at    string
	after bool
	told  map[string]bool

	closeOnce sync.Once
	// readOnly: the server said its room is read-only (a Notice whose
	// Store is room.StoreReadOnly) and not yet that it is writable again;
	// lines typed meanwhile are not echoed, since nobody is shown them.
	readOnly atomic.Bool
	// unsent pairs the room's read-only refusals with the lines echoed
	// before the session knew (notsent.go).
	unsent unsent

	mu       sync.Mutex
	client   *Conn // nil while disconnected
	nick     string
	kind     TrustKind // how the server of client was trusted
	several  bool      // several servers to choose from: Status names the one of client
	link     Link
	asking   bool // waiting for Rejoin
	reason   room.Reason
	quitting bool
	quitAway bool  // the user quit while disconnected: Close was a quit
	trustErr error // the certificate error that ended the session, if one did
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
	nodes := cfg.Nodes
	if nodes == nil {
		// One address cannot be wrong here: first was dialled with it.
		nodes, _ = NewNodes([]Node{{Addr: cfg.Conn.Addr, TLS: cfg.Conn.TLS}}, nil, false)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Redialer{
		nodes: nodes, at: first.dialAddr(), several: nodes.Several(), told: map[string]bool{},
		cfg: cfg, ctx: ctx, cancel: cancel,
		out:         make(chan *room.Event, clientEventBuffer),
		local:       make(chan *room.Event, localEventBuffer),
		sends:       make(chan outgoing, sendQueue),
		rejoins:     make(chan rejoinRequest),
		linkChanged: make(chan struct{}, 1),
		seen:        newSeenLog(),
		firstLog:    first.resumed.Log,
		nick:        first.Nick(),
		client:      first, // set before run starts, so Send works at once
		kind:        cfg.Trust.Kind(first.ConnectionState()),
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

// TrustFailure returns the error that ended the session because the
// server's certificate was no longer trusted when it reconnected (it holds
// a *CertChangedError or an *UnknownCertError; with several servers, a
// *DialError that wraps one for each), or nil.
func (r *Redialer) TrustFailure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trustErr
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

// Send sends a line to the server, or answers it here if it is /crypto
// (or /tls). It
// never blocks unless RedialConfig.Block says so: lines are written by a
// send loop, and one that does not fit its queue is refused with an Error
// event. A line typed while disconnected is refused too, except a command
// that leaves the room: that ends the session at once, as a quit.
func (r *Redialer) Send(line string) {
	r.mu.Lock()
	c, closing := r.client, r.closing
	r.mu.Unlock()
	quit := isQuit(line)
	switch {
	case isCrypto(line):
		r.describeTLS(c)
	case isClientCommand(line):
		r.tellLocal(room.Error, ErrClientCommand.Error())
	case closing:
		r.tellLocal(room.Error, "not connected; your line was not sent")
	case c == nil && quit:
		r.quitWhileAway()
	case c == nil:
		r.tellLocal(room.Error, "not connected; your line was not sent")
	default:
		var echo *room.Event
		tracked := false
		if r.cfg.Echo {
			// Recorded before it can be refused: the refusal is paired
			// with it (notsent.go).
			echo, tracked = r.trackSend(c, line)
		}
		if !r.queue(outgoing{c: c, line: line}, quit) {
			if tracked {
				r.unsent.unsend()
			}
			return
		}
		if echo != nil {
			r.addLocal(echo)
		}
	}
}

// queue hands o to the send loop, waiting for room if RedialConfig.Block
// says so; a line that leaves the room (quit) marks the session as
// quitting once it is queued, not before. It reports whether o was queued,
// and says so if not.
func (r *Redialer) queue(o outgoing, quit bool) bool {
	var wait <-chan struct{} // nil: never
	if r.cfg.Block {
		wait = r.ctx.Done()
	}
	if quit {
		// Marked before the send loop can write it, so that the end of
		// the connection it causes is taken for the quit; unmarked if it
		// does not go.
		r.setQuitting(true)
	}
	select {
	case r.sends <- o:
		return true
	default:
	}
	if wait != nil {
		select {
		case r.sends <- o:
			return true
		case <-wait:
		}
	}
	if quit {
		r.setQuitting(false)
	}
	r.tellLocal(room.Error, "the server is not taking lines; this one was not sent")
	return false
}

func (r *Redialer) setQuitting(q bool) {
	r.mu.Lock()
	r.quitting = q
	r.mu.Unlock()
}

// quitWhileAway ends a session that is disconnected, as the user's quit.
func (r *Redialer) quitWhileAway() {
	r.mu.Lock()
	r.quitting, r.quitAway = true, true
	r.mu.Unlock()
	r.cancel()
}

// Status says, for the status line, whether the session is connected and
// how the server was trusted (a TrustKind: "TLS 1.3 · pinned"), after the
// server it is on if there are several ("host2:7443 · TLS 1.3 · pinned");
// disconnected or not verified is a warning. Link says more about a
// session that is away.
func (r *Redialer) Status() (text string, warning bool) {
	r.mu.Lock()
	c, kind, several := r.client, r.kind, r.several
	r.mu.Unlock()
	keyLog := ""
	if r.cfg.KeyLog != "" {
		keyLog = " · " + KeyLogStatus
	}
	node := ""
	if c != nil && several {
		node = c.Server() + " · "
	}
	switch {
	case c == nil:
		return "disconnected" + keyLog, true
	case kind == NotVerified:
		return node + "NOT VERIFIED (--insecure)" + keyLog, true
	}
	return node + tls.VersionName(c.ConnectionState().Version) + " · " + kind.String() + keyLog, keyLog != ""
}

// KeyLogStatus ends the status line while the session's TLS secrets are
// logged: a warning.
const KeyLogStatus = "KEY LOG ON (decryptable)"

// TrustKind says how the server of the current connection was trusted.
func (r *Redialer) TrustKind() TrustKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kind
}

// isCrypto reports whether line is /crypto or its alias /tls, which the
// client answers itself: it knows what it verified, the server does not.
func isCrypto(line string) bool {
	cmd, _, found := room.LookupCommand(line)
	return found && cmd.Name == room.CryptoCommand
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
	r.tellLocal(room.Notice, OwnCertificateLine(r.cfg.Conn.TLS))
	r.tellLocal(room.Notice, "verification: "+r.cfg.Trust.Explain(cs))
	if r.cfg.KeyLog != "" {
		r.tellLocal(room.Error, "key log: ON, this session's TLS secrets go to "+r.cfg.KeyLog+
			"; whoever has that file and a capture can decrypt it")
	}
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

// setClient makes c the session's connection; nil while it is away.
func (r *Redialer) setClient(c *Conn) {
	var kind TrustKind
	if c != nil {
		kind = r.cfg.Trust.Kind(c.ConnectionState())
	}
	r.mu.Lock()
	if r.client != nil {
		r.nick = r.client.Nick()
	}
	r.client = c
	if c != nil {
		r.nick, r.kind, r.link = c.Nick(), kind, Link{}
		r.readOnly.Store(false) // a joiner is told again if it still is
		r.unsent.reset()
	}
	r.mu.Unlock()
	if c != nil {
		r.signalLink()
	}
}

// finish sets the Reason the session ended with; a session closed after
// the user quit while disconnected ended with a quit.
func (r *Redialer) finish(reason room.Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason == closedByClient && r.quitAway {
		reason = room.Reason{Kind: room.ReasonQuit}
	}
	r.reason = reason
}

// run forwards events from one connection after another.
func (r *Redialer) run(c *Conn) {
	defer close(r.out)
	for rejoin := false; ; rejoin = true {
		var f *rejoinFilter // nothing to leave out of a session that never rejoins
		if r.cfg.Reconnect {
			resumed, ok := c.Resumed()
			f = newRejoinFilter(r.seen, c.Nick(), rejoin, resumed, ok)
		}
		r.forward(c, f)
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
		case reason.Final():
			// Kicked or banned: the server wants the user out. Its
			// farewell has been passed on, after notFinalNotice.
			r.finish(reason)
			return
		}
		if c = r.redial(reason); c == nil {
			r.flushLocal() // what the last round said of each node
			return
		}
	}
}

// forward passes on c's events, through f if not nil, and local ones until
// c's stream ends.
func (r *Redialer) forward(c *Conn, f *rejoinFilter) {
	defer c.Close()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				r.flushLocal()
				return
			}
			if f == nil {
				if !r.emit(ev) {
					return
				}
				continue
			}
			if ev.Kind == room.Bye && ev.Reason.Final() && !r.emitLocal(finalNotice()) {
				return
			}
			for _, ev := range f.pass(ev) {
				if !r.emit(ev) {
					return
				}
			}
		case ev := <-r.local:
			if !r.emitLocal(ev) {
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
			if !r.emitLocal(ev) {
				return
			}
		default:
			return
		}
	}
}

// emitLocal passes on an event of the Redialer's own, remembering the
// user's own lines for a rejoin.
func (r *Redialer) emitLocal(ev *room.Event) bool {
	r.seen.echoed(ev)
	return r.emit(ev)
}

func (r *Redialer) emit(ev *room.Event) bool {
	switch {
	case ev.Kind == room.Notice && ev.Store == room.StoreReadOnly:
		r.readOnly.Store(true)
	case ev.Kind == room.Error && ev.Store == room.StoreReadOnly:
		// A line refused: the room is read-only, and the line may be one
		// the screen showed, which it marks before it shows the refusal.
		r.readOnly.Store(true)
		r.unsent.refused(time.Now(), false)
	case ev.Kind == room.Error && IsMuteRefusal(ev.Text):
		// A line refused: an operator muted the user, who sent it
		// taking it to be heard.
		r.unsent.refused(time.Now(), true)
	case ev.Store == room.StoreWritable:
		r.readOnly.Store(false)
		r.unsent.reset()
	}
	select {
	case r.out <- ev:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// redial dials until it rejoins, with exponential backoff and jitter,
// keeping Link up to date. It gives up, returning nil, when the session is
// closed or the server's certificate is no longer trusted, or when the
// server refuses the nickname and no one can be asked for another.
func (r *Redialer) redial(lost room.Reason) *Conn {
	since := time.Now()
	backoff := r.cfg.MinBackoff
	why := lost.String()
	r.after = true // the node just lost is likely down: the next first
	clear(r.told)
	for {
		wait := backoff/2 + rand.N(backoff/2+1)
		r.setLink(Link{Down: true, Why: why, RetryAt: time.Now().Add(wait)})
		if !r.sleep(wait) {
			r.finish(closedByClient)
			return nil
		}
		r.setLink(Link{Down: true, Why: why})
		c, err := r.dial(r.Nick())
		if err == nil {
			r.rejoined(c, since, lost)
			return c
		}
		if errors.Is(err, ErrNickRefused) {
			if r.cfg.AskNick == nil {
				r.finish(room.Reason{Kind: room.ReasonOther, Detail: err.Error()})
				return nil
			}
			c, goOn, failed := r.askNick(err)
			if c != nil {
				r.rejoined(c, since, lost)
				return c
			}
			if !goOn {
				return nil
			}
			err = failed
		} else if r.fatal(err) || r.turnedAway(err) {
			return nil
		}
		why = ShortError(err)
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
}

// dial makes one attempt to join as nick; if the session asks to resume
// (Config.Resume), after the last public event it passed on, which it
// names by its stamp (seenLog.resumePoint).
func (r *Redialer) dial(nick string) (*Conn, error) {
	cfg := r.cfg.Conn
	cfg.Nick = nick
	if cfg.Resume != nil {
		p := r.seen.resumePoint()
		cfg.Resume = &p
	}
	c, end, err := r.nodes.dialFrom(r.ctx, cfg, start{at: r.at, after: r.after}, r.skipped)
	if end.targets > 1 {
		r.mu.Lock()
		r.several = true
		r.mu.Unlock()
	}
	if c != nil || errors.Is(err, ErrNickRefused) {
		// Joined there, or asked for another nickname there: try that
		// node first next time.
		r.at, r.after = end.last, false
	}
	return c, err
}

// skipped tells the user, once per node while the session is away, that a
// node failed and the next is tried: an error if its certificate is not
// trusted (never accepted silently), a notice if it did not answer.
func (r *Redialer) skipped(node string, err error) {
	if r.told[node] {
		return
	}
	r.told[node] = true
	if IsTrustError(err) {
		r.tellLocal(room.Error, "skipped "+node+": "+err.Error())
		return
	}
	r.tellLocal(room.Notice, "could not join through "+node+" ("+ShortError(err)+"); trying the next server")
}

// fatal reports whether a failed attempt ends the session: the session was
// closed, or the server's certificate is no longer trusted (the Reason
// says so). It sets the Reason then.
func (r *Redialer) fatal(err error) bool {
	var unknown *UnknownCertError
	var changed *CertChangedError
	switch {
	case r.ctx.Err() != nil:
		r.finish(closedByClient)
	case everyAttempt(err, func(err error) bool { return errors.As(err, &unknown) || errors.As(err, &changed) }):
		r.mu.Lock()
		r.trustErr = err
		r.mu.Unlock()
		r.finish(room.Reason{Kind: room.ReasonOther, Detail: err.Error()})
	default:
		return false
	}
	return true
}

// ByeError is Dial's error when the server said goodbye (a room.Bye) before
// accepting the nickname: it turned the client away at the door (a
// room.ReasonRefused: its access policy, or a ban), or is shutting down.
type ByeError struct {
	Nick   string      // the nickname the client asked for
	Reason room.Reason // why, as the farewell said
}

func (e *ByeError) Error() string {
	return fmt.Sprintf("join as %s: the server turned the connection away (%s)", e.Nick, e.Reason)
}

// FinalText is what the Redialer tells the user when the server sent it
// away for good (a Final reason: kicked, banned, refused at the door),
// before the server's farewell: it does not reconnect by itself.
const FinalText = "The server sent you away; chat will not reconnect by itself."

// finalNotice is the Notice that says FinalText.
func finalNotice() *room.Event {
	return &room.Event{Kind: room.Notice, Time: time.Now(), Text: FinalText}
}

// turnedAway reports whether a failed attempt ends the session because
// the server refused it for good at the door (a ByeError with a Final
// reason: a ban, the access policy). The user is told so, then the
// farewell is passed on, and the Reason set.
func (r *Redialer) turnedAway(err error) bool {
	var bye *ByeError
	if !errors.As(err, &bye) || !bye.Reason.Final() {
		return false
	}
	r.emitLocal(finalNotice())
	r.emit(&room.Event{Kind: room.Bye, Time: time.Now(), Reason: bye.Reason})
	r.finish(bye.Reason)
	return true
}

// rejoined makes c the session's connection and says so, with how long the
// session was away and why.
func (r *Redialer) rejoined(c *Conn, since time.Time, lost room.Reason) {
	// Connected before the user is told so: a line sent after the notice
	// must go out on the new connection.
	r.setClient(c)
	to := ""
	r.mu.Lock()
	if r.several {
		to = " to " + c.Server()
	}
	r.mu.Unlock()
	r.emit(&room.Event{Kind: room.Notice, Time: time.Now(), Text: fmt.Sprintf("reconnected%s after %s (%s)", to, awayFor(time.Since(since)), lost)})
}

// awayFor words how long a session was away: tenths of a second under ten
// seconds, whole seconds after.
func awayFor(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
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
			r.emitLocal(ev)
		case <-r.ctx.Done():
			return false
		}
	}
}
