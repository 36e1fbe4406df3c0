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
type backlog struct {
	lines []typedLine
	bytes int       // the text the lines hold, bounded by Config.floodQueueBytes
	total int       // the lines queued since the backlog began
	since time.Time // when it began, as the room's clock tells
	told  bool      // the member was told that its lines wait
	timer stopper   // sends the next line when its turn comes
}

// typedLine is a line a member typed, as Send keeps it: its text, cleaned,
// or, for a line over Config.MaxLineBytes, which is refused when its turn
// comes, only its size.
type typedLine struct {
	text    string
	tooLong int // the size of a line over the limit; 0 for the others
}

// noticeAfter is how long after its first line waited a member whose
// lines still wait is told so: by then a paste has arrived whole, so the
// notice can count it, and a short one has gone out at a fast flood rate
// and needs no notice.
const noticeAfter = 500 * time.Millisecond

// pace applies flood control to a line m typed. It reports true if the
// line may run now: its command is exempt (/quit), or no line waits and
// m's bucket paid for this one (m.paid), or m cannot send at all (runLine
// says why). Otherwise the line waits its turn in m's backlog or, if that
// is full, is dropped as a flood, the first drop explained. The caller
// holds r.mu.
func (r *Room) pace(m *Member, l typedLine) bool {
	if _, present := r.members[m]; !present || r.closed {
		return true
	}
	if cmd, _, _ := r.cmds.lookup(l.text); cmd != nil && cmd.ExemptFromFlood {
		return true
	}
	if m.backlog == nil && m.lines.AllowN(r.cfg.Now(), 1) {
		m.dropped = 0
		m.paid = true
		return true
	}
	if !r.enqueue(m, l) {
		r.explain(m, r.dropLine(m, r.cfg.FloodQueue))
	}
	return false
}

// enqueue queues l behind the lines waiting in m's backlog, making the
// backlog and its timer if no line waits; it reports false, queuing
// nothing, if l does not fit. The caller holds r.mu.
func (r *Room) enqueue(m *Member, l typedLine) bool {
	b := m.backlog
	if b != nil && (len(b.lines) >= r.cfg.FloodQueue || b.bytes+len(l.text) > r.cfg.floodQueueBytes()) {
		return false
	}
	if b == nil {
		b = &backlog{since: r.cfg.Now()}
		m.backlog = b
		r.setBacklogTimer(m, b)
	}
	b.lines = append(b.lines, l)
	b.bytes += len(l.text)
	b.total++
	r.counts.queued++
	return true
}

// setBacklogTimer sets the timer of m's backlog b for when the next line's
// turn comes, or, if sooner, when m is to be told that its lines wait. The
// caller holds r.mu.
func (r *Room) setBacklogTimer(m *Member, b *backlog) {
	next := r.untilToken(m)
	if !b.told {
		next = min(next, max(b.since.Add(noticeAfter).Sub(r.cfg.Now()), time.Millisecond))
	}
	b.timer = r.cfg.afterFunc(next, func() { m.sendQueued(b) })
}

// sendQueued is the timer of m's backlog b. It sends the lines whose turn
// has come, each paid for by a token of m's bucket, in order, as Send
// would have; if lines still wait noticeAfter after the first did, it
// tells m once how many; then it sets the timer for the next line, or
// drops the backlog once it is empty: m is back within its limit.
func (m *Member) sendQueued(b *backlog) {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.backlog != b {
		return // m left, which dropped the backlog
	}
	for len(b.lines) > 0 && m.backlog == b && m.lines.AllowN(r.cfg.Now(), 1) {
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
		m.backlog = nil
		m.dropped = 0
	default:
		r.tellQueued(m, b)
		r.setBacklogTimer(m, b)
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

// untilToken is how long m's bucket takes to hold a token again. The
// caller holds r.mu.
func (r *Room) untilToken(m *Member) time.Duration {
	missing := 1 - m.lines.TokensAt(r.cfg.Now())
	return max(time.Duration(missing/r.cfg.FloodRate*float64(time.Second)), time.Millisecond)
}

// waiting is how many of m's lines wait their turn. The caller holds r.mu.
func (m *Member) waiting() int {
	if m.backlog == nil {
		return 0
	}
	return len(m.backlog.lines)
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
	return r.dropLine(m, 0)
}

// dropLine drops a line or operation of m for flooding and returns why:
// a *FloodError whose text names queue, the lines that may wait their
// turn (0 for an operation, which does not wait). The FloodKick-th drop
// since m was last within its limit disconnects m. The caller holds r.mu.
func (r *Room) dropLine(m *Member, queue int) *FloodError {
	m.dropped++
	r.counts.rejected[RejectFlood]++
	err := &FloodError{Dropped: m.dropped, burst: r.cfg.FloodBurst, rate: r.cfg.FloodRate, queue: queue}
	if m.dropped >= r.cfg.FloodKick {
		err.Disconnected = true
		r.remove(m, Reason{Kind: ReasonFlood})
	}
	return err
}

// FloodError is the error of a line or operation that flood control
// dropped (Config.FloodRate, FloodBurst, FloodQueue, FloodKick). It wraps
// ErrFlood.
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
	queue        int // lines that may wait their turn; 0 for an operation
}

// Error explains the limits to the member.
func (e *FloodError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "slow down: you may send %d lines at once and %g per second after that", e.burst, e.rate)
	if e.queue > 0 {
		fmt.Fprintf(&b, ", and %d more wait their turn; lines beyond that are dropped", e.queue)
	} else {
		b.WriteString("; lines over the limit are dropped")
	}
	b.WriteString(", and a flood disconnects you")
	return b.String()
}

// Unwrap returns ErrFlood.
func (e *FloodError) Unwrap() error { return ErrFlood }
