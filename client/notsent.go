package client

import (
	"slices"
	"strings"
	"sync"
	"time"

	"chatd/room"
)

// Lines shown before the room stored them. The screen shows the user's
// own chat lines and actions as they are sent (RedialConfig.Echo): the
// server never sends them back. A room whose store has just failed
// refuses them (an Error whose Store is room.StoreReadOnly) after they
// were shown; until the room's read-only notice arrives the session
// cannot know. So the session remembers the lines the room may refuse
// for that (chat lines, actions, nickname changes) that it sent while it
// took the room for writable, and pairs each such refusal with one of
// them: the room refuses everything from the moment its store failed, so
// the refused lines are the latest ones sent, and each refusal takes the
// latest not yet taken. The screen marks the line it showed "(not sent)"
// (Redialer.NotSent). A refusal does not take a line sent longer ago than
// refusalWindow (a store call's timeout and then some), and none is
// taken once a refusable line was sent while the room was known to be
// read-only (that line, not shown, may be the one refused), until the room
// is writable again or the session reconnects.
const (
	// maxPending bounds the lines remembered, the latest kept.
	maxPending = 16
	// maxNotSent bounds the refused lines remembered for the screen.
	maxNotSent = 64
	// refusalWindow is how old a line may be and still be the one a
	// refusal is for.
	refusalWindow = 15 * time.Second
	// nickCommand is the room's command whose line the room refuses while
	// read-only, like chat and actions, though the screen shows nothing
	// of it.
	nickCommand = "/nick"
	// msgCommand is the room's command for a private message, which a
	// muted member is refused, though the screen shows nothing of it.
	msgCommand = "/msg"
)

// sentLine is a line sent that the room may refuse for its store or a
// mute: echo is what the screen showed of it, nil for a nickname change or
// a private message. A private message (whisper) is refused for a mute
// only: the room does not store it.
type sentLine struct {
	echo    *room.Event
	at      time.Time
	whisper bool
}

// unsent pairs the room's read-only refusals with the lines sent. It is
// safe for concurrent use: Send records, the run goroutine pairs, the
// screen asks.
type unsent struct {
	mu      sync.Mutex
	pending []sentLine    // oldest first
	blind   bool          // a refusable line was sent, not shown, while read-only
	notSent []*room.Event // shown and refused, oldest first
}

// sent remembers a line sent while the room seemed writable.
func (u *unsent) sent(line sentLine) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) == maxPending {
		u.pending = slices.Delete(u.pending, 0, 1)
	}
	u.pending = append(u.pending, line)
}

// unsend forgets the line sent last, which did not go out after all.
func (u *unsent) unsend() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n := len(u.pending); n > 0 {
		u.pending = u.pending[:n-1]
	}
}

// sentBlind notes a refusable line sent while the room was known to be
// read-only: the refusals that follow cannot be paired.
func (u *unsent) sentBlind() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.blind, u.pending = true, nil
}

// refused pairs a refusal, which arrived at now, with the latest line not
// yet paired that the room refuses for it (a mute refuses private messages
// too, the read-only room does not), and returns what the screen showed of
// it (nil if nothing, or if it cannot be paired).
func (u *unsent) refused(now time.Time, mute bool) *room.Event {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := len(u.pending)
	if !mute {
		for n > 0 && u.pending[n-1].whisper {
			n-- // never refused for the store: not this one
		}
	}
	if u.blind || n == 0 {
		return nil
	}
	last := u.pending[n-1]
	u.pending = slices.Delete(u.pending, n-1, n)
	if now.Sub(last.at) > refusalWindow {
		u.pending = nil // all older still
		return nil
	}
	if last.echo != nil {
		if len(u.notSent) == maxNotSent {
			u.notSent = slices.Delete(u.notSent, 0, 1)
		}
		u.notSent = append(u.notSent, last.echo)
	}
	return last.echo
}

// reset forgets the lines sent: the room is writable again, or the
// session is on a new connection, where nothing sent before is refused.
func (u *unsent) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending, u.blind = nil, false
}

// isNotSent reports whether ev, a line the screen showed, was refused.
func (u *unsent) isNotSent(ev *room.Event) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Contains(u.notSent, ev)
}

// NotSent reports whether ev, one of the user's own lines the session
// passed on as it was sent (RedialConfig.Echo), was refused by the room
// because its store had failed: the screen then marks it "(not sent)".
// The session knows it by the time it passes on the refusal.
func (r *Redialer) NotSent(ev *room.Event) bool { return r.unsent.isNotSent(ev) }

// trackSend records line, about to be sent on c, if the room may refuse
// it for its store, and returns what the screen shows of it (nil if
// nothing) and whether it was recorded.
func (r *Redialer) trackSend(c *Conn, line string) (echo *room.Event, tracked bool) {
	echo = room.EchoOf(c.Nick(), line, 0)
	cmd, _, isCmd := room.LookupCommand(line)
	whisper := isCmd && cmd.Name == msgCommand
	refusable := echo != nil || isCmd && cmd.Name == nickCommand
	switch {
	case !refusable && !whisper:
		return echo, false
	case refusable && r.readOnly.Load():
		r.unsent.sentBlind()
		return nil, false // nobody is shown it: it is not shown here either
	}
	now := time.Now()
	if echo != nil {
		echo.Time = now
	}
	r.unsent.sent(sentLine{echo: echo, at: now, whisper: whisper})
	return echo, true
}

// muteRefusalPrefix and muteRefusalSuffix begin and end the error with
// which the room refuses a muted member's line (docs/PROTOCOL.md:
// "you are muted by an operator until ...: you can read, but not send").
const (
	muteRefusalPrefix = "you are muted by an operator"
	muteRefusalSuffix = ": you can read, but not send"
)

// IsMuteRefusal reports whether text, an Error's, is the room refusing a
// line because an operator muted the sender. Like a read-only refusal, it
// is paired with the latest line sent, which the screen then marks
// "(not sent)": the room refuses every line of a muted member, and
// answers each in turn.
func IsMuteRefusal(text string) bool {
	return strings.HasPrefix(text, muteRefusalPrefix) && strings.HasSuffix(text, muteRefusalSuffix)
}
