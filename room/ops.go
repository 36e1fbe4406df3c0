package room

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors of the member's operations (Say, Act, Whisper, Rename, Quit, Who,
// Help), for callers to test with errors.Is. The errors the operations
// return wrap them, with text meant for the member: the slash-line layer
// (Send) shows it as is. Besides these, Rename's errors wrap
// ErrInvalidNick, ErrNickTaken or, if the nickname store failed,
// ErrUnavailable; once the room is closing (Room.Close), every
// operation's error wraps ErrClosed.
var (
	// ErrNotInRoom: the member has left.
	ErrNotInRoom = errors.New("not in the room")
	// ErrEmpty: the text was empty once cleaned.
	ErrEmpty = errors.New("nothing to send")
	// ErrTooLong: the text is over Config.MaxLineBytes, as typed or once
	// cleaned (Clean makes each invalid byte or replaced character a
	// 3-byte U+FFFD).
	ErrTooLong = errors.New("line too long")
	// ErrFlood: flood control dropped the operation or line; the error is
	// a *FloodError.
	ErrFlood = errors.New("slow down")
	// ErrUsage: a command was run with the wrong arguments.
	ErrUsage = errors.New("usage")
	// ErrUnknownCommand: no command of that name is registered.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrOperatorOnly: the command is for operators and the member is none;
	// its text starts "permission denied".
	ErrOperatorOnly = errors.New("permission denied")
	// ErrMuted: an operator muted the member (Config.Policy), which may
	// read but not send: chat, actions, private messages and nickname
	// changes are refused.
	ErrMuted = errors.New("muted")
	// ErrNickUnchanged: the member already has that nickname.
	ErrNickUnchanged = errors.New("nickname unchanged")
	// ErrTooManyRenames: the member changed its nickname too often lately.
	ErrTooManyRenames = errors.New("too many nickname changes")
	// ErrNoSuchMember: no member has that nickname.
	ErrNoSuchMember = errors.New("no such member")
	// ErrPrivateLimit: the receiver gets too many private messages from the
	// sender; the message was not delivered.
	ErrPrivateLimit = errors.New("too many private messages")
	// ErrNotDelivered: the receiver is not keeping up with the room; the
	// message was not delivered.
	ErrNotDelivered = errors.New("not delivered")
)

// refusal is an operation's error: text for the member, wrapping the
// sentinel error a caller tests.
type refusal struct {
	kind error
	text string
}

func (e *refusal) Error() string { return e.text }
func (e *refusal) Unwrap() error { return e.kind }

// refuse returns an error wrapping kind, worded by format and args.
func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, text: fmt.Sprintf(format, args...)}
}

// cleanLine cleans a typed line as the room shows it: Clean, without the
// trailing spaces.
func cleanLine(s string) string { return strings.TrimRight(Clean(s), " ") }

// cleanArg cleans an operation's argument: Clean, trimmed both ends.
func cleanArg(s string) string { return strings.TrimSpace(Clean(s)) }

// Say sends text to everyone as chat. A front end that echoes nothing
// itself joins with JoinOptions.Echo to get its own messages back.
func (m *Member) Say(text string) error {
	text, err := m.prepare(text, cleanLine)
	if err != nil {
		return err
	}
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startOp(m, false); err != nil {
		return err
	}
	if err := r.refuseMuted(m); err != nil {
		return err
	}
	if err := r.refuseReadOnly(); err != nil {
		return err
	}
	r.say(m, text)
	return nil
}

// Act shows everyone that the member does text, as /me does.
func (m *Member) Act(text string) error {
	text, err := m.prepare(text, cleanArg)
	if err != nil {
		return err
	}
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startOp(m, false); err != nil {
		return err
	}
	if err := r.refuseMuted(m); err != nil {
		return err
	}
	if err := r.refuseReadOnly(); err != nil {
		return err
	}
	r.broadcast(&Event{Kind: Action, From: m.nick, Text: text}, m)
	return nil
}

// Whisper sends text to the member called nick only, as /msg does; the
// sender is sent a PrivateSent receipt. Both are delivered in the room's
// order, after the public events accepted before them.
func (m *Member) Whisper(nick, text string) error {
	text, err := m.prepare(text, cleanArg)
	if err != nil {
		return err
	}
	nick = cleanArg(nick)
	r := m.room
	var delivered error // set once the message is delivered, or is not
	r.mu.Lock()
	private, err := r.whisper(m, nick, text, &delivered)
	r.mu.Unlock() // delivers it, behind the work queued before it
	if errors.Is(err, errElsewhere) {
		return m.whisperAcross(private)
	}
	if err == nil {
		err = delivered
	}
	if err != nil {
		return err
	}
	r.logMessage(private)
	return nil
}

// Rename changes the member's nickname, as /nick does. The nickname store
// claims the new nickname first: if it refuses, the member keeps its
// nickname, and Rename returns the store's error.
func (m *Member) Rename(nick string) error {
	nick, err := m.prepare(nick, cleanArg)
	if err != nil && !errors.Is(err, ErrEmpty) {
		return err
	}
	r := m.room
	var stored error // set once the store claimed the nickname, or did not
	r.mu.Lock()
	err = r.rename(m, nick, &stored)
	r.mu.Unlock() // claims the nickname, then renames m or not
	if err != nil {
		return err
	}
	return stored
}

// Quit takes the member out of the room, as /quit does, with detail (which
// may be empty) as its parting message. It is exempt from flood control,
// and a parting message over Config.MaxLineBytes once cleaned is cut to
// that length; a muted member (Config.Policy) leaves without one.
// Typed lines still waiting their turn (see Config.FloodQueue) are not
// sent; the member is told how many, ahead of its goodbye. (A /quit typed
// while lines wait takes its turn instead: see Send.)
func (m *Member) Quit(detail string) error {
	r := m.room
	detail = r.boundDetail(detail)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startOp(m, true); err != nil {
		return err
	}
	if n := m.waiting(); n > 0 {
		// At once, not in the room's order (reply): m is removed next, and
		// nothing queued behind would reach it.
		r.tell(m, notSentNotice(n))
	}
	r.remove(m, r.parting(m, Reason{Kind: ReasonQuit, Detail: detail}))
	return nil
}

// Who sends the member a Members event, as /who does.
func (m *Member) Who() error {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startOp(m, false); err != nil {
		return err
	}
	r.reply(m, r.membersEvent())
	return nil
}

// Help sends the member the room's commands as Notice events, as /help
// does.
func (m *Member) Help() error {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startOp(m, false); err != nil {
		return err
	}
	for _, text := range r.cmds.helpLines(m.operator()) {
		r.reply(m, &Event{Kind: Notice, Text: text})
	}
	return nil
}

// MaxDescriptionLines bounds the lines /crypto shows of a member's
// connection (JoinOptions.Describe).
const MaxDescriptionLines = 32

// NoDescription is what /crypto says to a member whose gateway describes
// nothing of its connection.
const NoDescription = "this connection has nothing to describe"

// DescribeConnection sends the member what its gateway says of its own
// connection (JoinOptions.Describe) as Notice events, as /crypto does:
// each line cleaned and cut to MaxLineBytes, at most MaxDescriptionLines.
func (m *Member) DescribeConnection() error {
	lines := []string{NoDescription}
	if m.describe != nil {
		lines = boundLines(m.describe(), m.room.cfg.MaxLineBytes) // outside the lock: the gateway's work
	}
	return m.room.replyLines(m, lines)
}

// boundLines cleans lines, cuts each to size bytes and keeps at most
// MaxDescriptionLines of them.
func boundLines(lines []string, size int) []string {
	return boundLinesTo(lines, size, MaxDescriptionLines)
}

// prepare checks the size of an operation's text and cleans it with clean,
// before the room's lock is taken: cleaning costs the room nothing. Text
// over the line limit, as given or once cleaned (cleaning can make it up
// to three times longer), is refused (and counts as a line for flood
// control, like any refusal): the room never stores or shows more than
// MaxLineBytes of it. Text that is empty once cleaned is ErrEmpty.
func (m *Member) prepare(text string, clean func(string) string) (string, error) {
	if len(text) > m.room.cfg.MaxLineBytes {
		return "", m.refuseTooLong(len(text), false)
	}
	text = clean(text)
	if len(text) > m.room.cfg.MaxLineBytes {
		return "", m.refuseTooLong(len(text), true)
	}
	if strings.TrimSpace(text) == "" {
		return "", ErrEmpty
	}
	return text, nil
}

// boundDetail cleans a leave reason's detail and cuts it to MaxLineBytes,
// at a rune boundary: cut before cleaning too, so that cleaning costs at
// most a line's work, and after, because cleaning can make text longer.
func (r *Room) boundDetail(detail string) string {
	n := r.cfg.MaxLineBytes
	return strings.TrimSpace(cutBytes(cleanArg(cutBytes(detail, n)), n))
}

// cutBytes returns s cut to at most n bytes, at a rune boundary.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// refuseTooLong refuses size bytes of text (cleaned: the size once
// cleaned): it counts as a line for flood control, and, if it passes that,
// is refused as too long.
func (m *Member) refuseTooLong(size int, cleaned bool) error {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tooLong(m, size, cleaned)
}

// tooLong refuses size bytes of text from m (cleaned: the size the text
// grew to once cleaned), charged as an operation unless m's line paid
// already (see startOp). The caller holds r.mu.
func (r *Room) tooLong(m *Member, size int, cleaned bool) error {
	if err := r.startOp(m, false); err != nil {
		return err
	}
	r.counts.rejected[RejectTooLong]++
	if cleaned {
		return refuse(ErrTooLong, "line too long once cleaned (%d bytes: each invalid or unprintable character becomes U+FFFD, 3 bytes; the limit is %d); it was not sent", size, r.cfg.MaxLineBytes)
	}
	return refuse(ErrTooLong, "line too long (%d bytes, the limit is %d); it was not sent", size, r.cfg.MaxLineBytes)
}

// startOp starts every operation of m: m must be present, the room not
// closing, and the operation passes flood control unless it is exempt or
// its typed line paid for it already (m.paid: see pace; a command's line
// pays for its first operation, see Command.Handler). The caller holds
// r.mu.
func (r *Room) startOp(m *Member, exempt bool) error {
	if _, present := r.members[m]; !present {
		return ErrNotInRoom
	}
	if r.closed {
		return refuse(ErrClosed, "the room is closing; nothing more is sent")
	}
	paid := m.paid
	m.paid = false
	if exempt || paid {
		return nil
	}
	return r.allowLine(m)
}

// say broadcasts text from m as chat. The caller holds r.mu.
func (r *Room) say(m *Member, text string) {
	r.broadcast(&Event{Kind: Chat, From: m.nick, Text: text}, m)
}

// whisper starts m's private message text to the member called nick and
// has it delivered in the room's order (see inOrder), which sets
// *delivered; it returns the message. The caller holds r.mu; the message
// is delivered once it is released, if not at once.
func (r *Room) whisper(m *Member, nick, text string, delivered *error) (*Event, error) {
	if err := r.startOp(m, false); err != nil {
		return nil, err
	}
	if err := r.refuseMuted(m); err != nil {
		return nil, err
	}
	target := r.byNick[nickKey(nick)]
	if target == nil && r.cfg.Bus != nil && ValidateNick(nick) == nil {
		return &Event{Kind: Private, From: m.nick, To: nick, Text: text}, errElsewhere
	}
	if target == nil {
		return nil, refuse(ErrNoSuchMember, "no one called %q is here; /who lists the members", nick)
	}
	if !r.allowPrivate(target, m.id) {
		r.counts.rejected[RejectPrivate]++
		return nil, refuse(ErrPrivateLimit, "%s is receiving too many private messages; yours was not delivered, try again later", target.nick)
	}
	private := &Event{Kind: Private, From: m.nick, To: target.nick, Text: text}
	r.inOrder(job{kind: privateJob, member: m, to: target, ev: private, result: delivered})
	return private, nil
}

// deliverPrivate delivers a private message from m to target, and its
// receipt to m, or returns why not; m is nil for a message from another
// node (DeliverPrivate), whose receipt that node delivers. The caller
// holds r.mu.
func (r *Room) deliverPrivate(m, target *Member, private *Event) error {
	if _, present := r.members[target]; !present {
		return refuse(ErrNoSuchMember, "%s left; your message was not delivered", private.To)
	}
	if !r.tell(target, private) {
		return refuse(ErrNotDelivered, "%s is not keeping up with the room; your message was not delivered", private.To)
	}
	r.countMessage(private)
	if m == nil {
		return nil
	}
	r.tell(m, &Event{Kind: PrivateSent, From: private.From, To: private.To, Text: private.Text})
	return nil
}

// rename starts m's change of nickname to nick: it checks it, then queues
// the claim of the new nickname, which the sequencer follows with the
// rename itself (applyRename) and sets *stored. The caller holds r.mu; the
// nickname is claimed, and m renamed, once it is released.
func (r *Room) rename(m *Member, nick string, stored *error) error {
	if err := r.startOp(m, false); err != nil {
		return err
	}
	if err := r.refuseMuted(m); err != nil {
		return err
	}
	if err := r.refuseStored(); err != nil {
		return err // the change could not be announced
	}
	if err := ValidateNick(nick); err != nil {
		return err
	}
	if err := r.nickFree(nick, m.id, m); err != nil {
		return err
	}
	if nick == m.nick {
		return refuse(ErrNickUnchanged, "you are already %s", nick)
	}
	if !m.nicks.AllowN(r.cfg.Now(), 1) {
		return refuse(ErrTooManyRenames, "too many nickname changes; you may change it %d times at once, then once every %s", r.cfg.NickBurst, r.cfg.NickEvery)
	}
	r.queue(job{kind: renameJob, member: m, nick: nick, key: nickKey(nick), result: stored})
	return nil
}
