package room

import (
	"fmt"
	"strings"
	"time"
)

// This file is flood control for the lines a member types (Send): each
// member's token bucket (Config.FloodRate, FloodBurst), the queue where
// the lines beyond it wait their turn (FloodQueue), and the disconnection
// of a member that keeps flooding (FloodKick). A paste is delivered at the
// flood rate, in order, with one notice; a member that goes on sending
// faster than that overflows its queue and is disconnected.

// backlog holds the lines a member typed beyond its flood limit, oldest
// first, until their turn comes: a timer sends each one when the member's
// bucket has a token for it. A member has a backlog only while lines wait:
// it is made for the first one and dropped once the last went out or the
// member left, so an idle member holds none, and no goroutine runs for it
// but the timer's, briefly, twice a second. It is guarded by Room.mu.
//
// The lines keep their order without a lock of their own: a line goes out
// at once only if the member has no backlog, and a backlog stays until its
// timer has run its last line (even while a command of it runs without
// Room.mu), so a line typed meanwhile waits behind; one timer runs at a
// time, each set by the one before.
//
// A backlog also says how the member leaves once its lines have gone out,
// if it asked to: a /quit typed while lines waited (quit), or the end of
// its input (leave, see Member.LeaveWhenSent).
type backlog struct {
	lines []typedLine
	bytes int       // the text the lines hold, bounded by Config.floodQueueBytes
	total int       // the lines queued since the backlog began
	since time.Time // when it began, as the room's clock tells
	told  bool      // the member was told that its lines wait
	timer stopper   // sends the next line when its turn comes

	quit  *typedLine // a /quit that takes its turn after the lines
	leave *Reason    // the member's input ended: it leaves after the lines
	after int        // lines typed after quit, which are not sent

	overflow
}

// overflow is what a backlog knows of the lines dropped because it was
// full, and of how long it has stayed full. A member is flooding, and is
// disconnected, if its queue was full each time lines went out of it,
// FloodKick turns of its timer in a row (one a line, at the flood rate),
// and it still sends; or if it sends more than overflowKickQueues queues'
// worth of lines that are dropped before a turn finds its queue not full.
// The second rule is for a client that writes as fast as it can: every
// line it sends costs the room a lock and the cleaning of the line, so it
// must not go on for FloodKick turns.
type overflow struct {
	full      bool      // the queue was full since a line last went out of it
	fullRuns  int       // turns of the timer in a row that sent lines out of a full queue
	dropped   int       // lines dropped since a turn last found the queue not full
	lost      int       // lines dropped and not yet told
	lostSince time.Time // when the first of them was dropped
	lostBytes bool      // the byte bound dropped some of them
	lostLines bool      // the line bound dropped some of them
	lostTold  bool      // the member was told of this overflow; later drops of it are not counted
}

// typedLine is a line a member typed, as Send keeps it: its text, cleaned,
// or, for a line over Config.MaxLineBytes, which is refused when its turn
// comes, only its size.
type typedLine struct {
	text    string
	tooLong int  // the size of a line over the limit; 0 for the others
	cleaned bool // tooLong is the size once cleaned, which made it longer
}

// noticeAfter is how long after its first line waited a member whose
// lines still wait is told so: by then a paste has arrived whole, so the
// notice can count it, and a short one has gone out at a fast flood rate
// and needs no notice. Lines dropped are told as long after the first was.
const noticeAfter = 500 * time.Millisecond

// overflowKickQueues is how many queues' worth of lines (Config.FloodQueue
// each) a member may have dropped in one overflow before it is
// disconnected for flooding: 1,024 lines at the defaults, far more than a
// paste, and a few milliseconds' worth for a client that writes as fast
// as it can.
const overflowKickQueues = 16

// pace applies flood control to a line m typed. It reports true if the
// line may run now: its command is exempt (/quit with no line waiting, or
// a second /quit), or no line waits and m's bucket paid for this one
// (m.paid), or m cannot send at all (runLine says why). Otherwise the line
// waits its turn in m's backlog, or, if that is full, is dropped (see
// enqueue); a line typed after a /quit that waits its turn is not sent.
// The caller holds r.mu.
func (r *Room) pace(m *Member, l typedLine) bool {
	if _, present := r.members[m]; !present || r.closed {
		return true
	}
	b := m.backlog
	if cmd, _, _ := r.cmds.lookup(l.text); cmd != nil && cmd.ExemptFromFlood {
		if !cmd.Leaves || b == nil || b.quit != nil || len(b.lines) == 0 {
			return true
		}
		b.quit = &l
		r.reply(m, leavingNotice(len(b.lines)))
		return false
	}
	if b != nil && b.quit != nil {
		b.after++
		return false
	}
	if b == nil && m.lines.AllowN(r.cfg.Now(), 1) {
		m.dropped = 0
		m.paid = true
		return true
	}
	r.enqueue(m, l)
	return false
}

// leavingNotice tells a member that typed /quit while n lines waited that
// it leaves after them.
func leavingNotice(n int) *Event {
	text := "leaving after the queued line; /quit again to leave now"
	if n > 1 {
		text = fmt.Sprintf("leaving after the %d queued lines; /quit again to leave now", n)
	}
	return &Event{Kind: Notice, Text: text}
}

// enqueue queues l behind the lines waiting in m's backlog, making the
// backlog and its timer if no line waits. If l does not fit, it is
// dropped (see drop). The caller holds r.mu.
func (r *Room) enqueue(m *Member, l typedLine) {
	b := m.backlog
	if b == nil {
		b = &backlog{since: r.cfg.Now()}
		m.backlog = b
		r.setBacklogTimer(m, b)
	}
	linesFull := len(b.lines) >= r.cfg.FloodQueue
	if linesFull || b.bytes+len(l.text) > r.cfg.floodQueueBytes() {
		r.drop(m, b, linesFull)
		return
	}
	b.lines = append(b.lines, l)
	b.bytes += len(l.text)
	b.total++
	b.full = b.full || len(b.lines) == r.cfg.FloodQueue
	r.counts.queued++
}

// drop drops a line that did not fit in m's backlog b, full of lines
// (linesFull) or of bytes. One overflow is told once, with the lines it
// dropped (see tellDropped); if b was full each time lines went out of
// it, FloodKick times in a row, m is flooding and is disconnected. The
// caller holds r.mu.
func (r *Room) drop(m *Member, b *backlog, linesFull bool) {
	r.counts.rejected[RejectFlood]++
	b.full = true
	b.dropped++
	if b.fullRuns >= r.cfg.FloodKick || b.dropped > overflowKickQueues*r.cfg.FloodQueue {
		if b.lost > 0 {
			// At once, not in the room's order (reply): m is removed next.
			r.tell(m, r.droppedNotice(b))
		}
		r.remove(m, Reason{Kind: ReasonFlood})
		return
	}
	if b.lostTold {
		return
	}
	if b.lost == 0 {
		b.lostSince = r.cfg.Now()
	}
	b.lost++
	b.lostLines = b.lostLines || linesFull
	b.lostBytes = b.lostBytes || !linesFull
}

// setBacklogTimer sets the timer of m's backlog b for when the next line's
// turn comes, or, if sooner, when m is to be told that its lines wait or
// were dropped. The caller holds r.mu.
func (r *Room) setBacklogTimer(m *Member, b *backlog) {
	next := r.untilToken(m)
	if !b.told {
		next = min(next, max(b.since.Add(noticeAfter).Sub(r.cfg.Now()), time.Millisecond))
	}
	if b.lost > 0 {
		next = min(next, max(b.lostSince.Add(noticeAfter).Sub(r.cfg.Now()), time.Millisecond))
	}
	b.timer = r.cfg.afterFunc(next, func() { m.sendQueued(b) })
}

// sendQueued is the timer of m's backlog b. It sends the lines whose turn
// has come, each paid for by a token of m's bucket, in order, as Send
// would have; if lines still wait noticeAfter after the first did, it
// tells m once how many, and so for lines dropped; then it sets the timer
// for the next line, or, once the last went out, ends the backlog (see
// endBacklog).
func (m *Member) sendQueued(b *backlog) {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.backlog != b {
		return // m left, which dropped the backlog
	}
	counted := false
	for len(b.lines) > 0 && m.backlog == b && m.lines.AllowN(r.cfg.Now(), 1) {
		if !counted {
			b.countRun()
			counted = true
		}
		l := b.lines[0]
		b.lines[0] = typedLine{}
		b.lines = b.lines[1:]
		b.bytes -= len(l.text)
		m.paid = true
		r.runLine(m, l) // may release r.mu while a command runs
	}
	switch {
	case m.backlog != b: // m left meanwhile
	case len(b.lines) == 0:
		r.endBacklog(m, b)
	default:
		r.tellQueued(m, b)
		r.tellDropped(m, b, false)
		r.setBacklogTimer(m, b)
	}
}

// countRun counts a turn of b's timer that sends lines (one, at the flood
// rate): one more in a row out of a full queue, or, if it was not full
// since the last, the end of an overflow.
func (b *backlog) countRun() {
	if b.full {
		b.fullRuns++
	} else {
		b.fullRuns = 0
		b.dropped = 0
		b.lostTold = false
	}
	b.full = false
}

// endBacklog ends m's backlog b, whose last line has gone out: m is back
// within its limit. Lines dropped are told now if they were not yet; then
// a /quit that waited its turn runs, or m leaves if its input ended. The
// caller holds r.mu, which a /quit releases while it runs.
func (r *Room) endBacklog(m *Member, b *backlog) {
	r.tellDropped(m, b, true)
	m.dropped = 0
	switch {
	case b.quit != nil:
		r.runLine(m, *b.quit) // removes m, which drops b
		if m.backlog == b {   // the room is closing, which removes m
			m.backlog = nil
		}
	case b.leave != nil:
		m.backlog = nil
		r.remove(m, *b.leave)
	default:
		m.backlog = nil
	}
}

// tellQueued tells m, once per backlog and not before noticeAfter, how
// many of its lines were queued and when the last will have gone out. The
// caller holds r.mu.
func (r *Room) tellQueued(m *Member, b *backlog) {
	if b.told || r.cfg.Now().Sub(b.since) < noticeAfter {
		return
	}
	b.told = true
	last := r.untilToken(m) + time.Duration(float64(len(b.lines)-1)/r.cfg.FloodRate*float64(time.Second))
	last = max(last.Round(time.Second), time.Second)
	text := fmt.Sprintf("1 line queued; it goes out in about %s", last)
	if b.total > 1 {
		text = fmt.Sprintf("%d lines queued; they go out at %g per second, the last in about %s", b.total, r.cfg.FloodRate, last)
	}
	r.reply(m, &Event{Kind: Notice, Text: text})
}

// tellDropped tells m, noticeAfter after the first was dropped (or now,
// if now), how many of its lines were dropped because its queue was full,
// and which bound the queue reached. The caller holds r.mu.
func (r *Room) tellDropped(m *Member, b *backlog, now bool) {
	if b.lost == 0 || !now && r.cfg.Now().Sub(b.lostSince) < noticeAfter {
		return
	}
	r.reply(m, r.droppedNotice(b))
}

// droppedNotice tells how many of the lines in m's backlog b were dropped
// because it was full, and which bound it reached; the lines are then
// told. The caller holds r.mu.
func (r *Room) droppedNotice(b *backlog) *Event {
	var bound string
	lines, bytes := r.cfg.FloodQueue, sizeText(r.cfg.floodQueueBytes())
	switch {
	case b.lostLines && b.lostBytes:
		bound = fmt.Sprintf("%d lines and %s", lines, bytes)
	case b.lostBytes:
		bound = bytes + " of lines"
	case lines == 1:
		bound = "1 line"
	default:
		bound = fmt.Sprintf("%d lines", lines)
	}
	verb := "wait their turn"
	if !b.lostBytes && lines == 1 {
		verb = "waits its turn"
	}
	text := fmt.Sprintf("%d lines dropped: at most %s %s; paste less at once", b.lost, bound, verb)
	if b.lost == 1 {
		text = fmt.Sprintf("1 line dropped: at most %s %s; paste less at once", bound, verb)
	}
	b.lost, b.lostLines, b.lostBytes, b.lostTold = 0, false, false, true
	return &Event{Kind: Error, Text: text}
}

// sizeText words n bytes: in KiB if whole.
func sizeText(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}

// untilToken is how long m's bucket takes to hold a token again. The
// caller holds r.mu.
func (r *Room) untilToken(m *Member) time.Duration {
	missing := 1 - m.lines.TokensAt(r.cfg.Now())
	return max(time.Duration(missing/r.cfg.FloodRate*float64(time.Second)), time.Millisecond)
}

// waiting is how many of m's lines wait their turn, or were typed after
// a /quit that waits its turn. The caller holds r.mu.
func (m *Member) waiting() int {
	if m.backlog == nil {
		return 0
	}
	return len(m.backlog.lines) + m.backlog.after
}

// LeaveWhenSent removes the member with reason once the lines it typed
// that wait their turn (see Config.FloodQueue) have gone out, or at once
// if none wait: a front end calls it when the member's input has ended
// (its client half-closed the connection) and nothing else is wrong. The
// wait is bounded: FloodQueue lines at FloodRate. Leave, the room's
// Close, or a /quit that waits its turn, still end it sooner.
func (m *Member) LeaveWhenSent(reason Reason) {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := m.backlog; b != nil {
		if b.leave == nil {
			b.leave = &reason
		}
		return
	}
	r.remove(m, reason)
}

// dropBacklog forgets the lines waiting for m, which is leaving, and stops
// their timer. The caller holds r.mu.
func (m *Member) dropBacklog() {
	if b := m.backlog; b != nil {
		b.timer.Stop()
		m.backlog = nil
	}
}

// notSentNotice tells a member that leaves with n lines waiting that they
// were not sent.
func notSentNotice(n int) *Event {
	text := "1 queued line was not sent"
	if n > 1 {
		text = fmt.Sprintf("%d queued lines were not sent", n)
	}
	return &Event{Kind: Notice, Text: text}
}

// allowLine applies flood control to one operation of m that is not a
// typed line (an operation called directly, or the second operation of a
// command): it returns nil if m's bucket has a token and no typed line
// waits, else the *FloodError of a dropped line. The caller holds r.mu.
func (r *Room) allowLine(m *Member) error {
	if m.waiting() == 0 && m.lines.AllowN(r.cfg.Now(), 1) {
		m.dropped = 0
		return nil
	}
	return r.dropLine(m)
}

// dropLine drops an operation of m for flooding and returns why. The
// FloodKick-th drop since m was last within its limit disconnects m. The
// caller holds r.mu.
func (r *Room) dropLine(m *Member) *FloodError {
	m.dropped++
	r.counts.rejected[RejectFlood]++
	err := &FloodError{Dropped: m.dropped, burst: r.cfg.FloodBurst, rate: r.cfg.FloodRate}
	if m.dropped >= r.cfg.FloodKick {
		err.Disconnected = true
		r.remove(m, Reason{Kind: ReasonFlood})
	}
	return err
}

// FloodError is the error of an operation that flood control dropped
// (Config.FloodRate, FloodBurst, FloodKick): one called beyond the
// member's limit, or while typed lines wait their turn. (A typed line that
// does not fit in the queue is told of otherwise: see Member.Send.) It
// wraps ErrFlood.
type FloodError struct {
	// Dropped counts the lines and operations dropped since the member
	// was last within its limit, this one included. The slash-line layer
	// explains the first and drops the others silently.
	Dropped int
	// Disconnected reports that this drop, the FloodKick-th, removed the
	// member from the room (ReasonFlood).
	Disconnected bool
	burst        int
	rate         float64
}

// Error explains the limits to the member.
func (e *FloodError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "slow down: you may send %d lines at once and %g per second after that", e.burst, e.rate)
	b.WriteString("; lines over the limit are dropped, and a flood disconnects you")
	return b.String()
}

// Unwrap returns ErrFlood.
func (e *FloodError) Unwrap() error { return ErrFlood }
