package room

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// Member is one person in the room, as seen by the front end serving them.
type Member struct {
	room     *Room
	echo     bool
	outbox   queue
	lines    *rate.Limiter // flood control for everything the member sends
	nicks    *rate.Limiter // nickname changes
	id       Identity
	describe func() []string // JoinOptions.Describe
	no       uint64          // the member's number in the room (NickClaim.Member)
	joined   time.Time       // when it was admitted
	pages    pager           // reads of the log for Older (page.go)

	// Guarded by room.mu.
	nick        string
	reason      Reason
	backlog     *backlog      // typed lines waiting their turn; nil if none
	dropped     int           // lines dropped since the member was last within its flood limit
	paid        bool          // the line running a command covers its first operation (see startOp)
	private     privateBudget // private messages the member receives
	missed      int           // events that did not fit in the outbox since the last report
	catchUp     *time.Timer   // retries the report of missed events; nil until first needed
	catchUpWait time.Duration // until the next retry
	// removal is why an operator removed the member while it was still
	// arriving (Room.Remove); it leaves as soon as it has arrived.
	removal Reason
	// awaiting: with Config.Bus, the member has arrived but the feed has
	// not brought its Join yet; the hub skips it until then (awaitJoin).
	awaiting bool
	// parked are the events told to the member alone while it was
	// awaiting (replies, private messages), at most maxParked, shown
	// right after its welcome; parkedLost counts those that did not fit.
	parked     []*Event
	parkedLost int
	// shownJoin is the Seq of the member's own Join, told to it by its
	// welcome before the feed delivered it: the hub skips it for the
	// member (see welcomeWith, welcomeLate).
	shownJoin uint64
}

// catchUpEvery is how soon the room first retries telling a member that
// fell behind what it missed, when no new event for it comes along; each
// retry that finds it still behind waits twice as long, up to
// maxCatchUpWait.
const (
	catchUpEvery   = 100 * time.Millisecond
	maxCatchUpWait = 2 * time.Second
)

func newMember(r *Room, nick string, opts JoinOptions) *Member {
	c := r.cfg
	return &Member{
		room:     r,
		echo:     opts.Echo,
		nick:     nick,
		outbox:   queue{limit: c.OutboxSize, wake: opts.Wake},
		lines:    rate.NewLimiter(rate.Limit(c.FloodRate), c.FloodBurst),
		nicks:    rate.NewLimiter(rate.Every(c.NickEvery), c.NickBurst),
		id:       opts.Identity,
		describe: opts.Describe,
		joined:   c.Now(),
		pages:    newPager(),
	}
}

// Take is how the member's front end receives its events, in order: it
// appends up to n of the events queued for the member, oldest first, to dst
// and returns it, without waiting. When it returns no events, open tells
// whether more may come: if so, the room calls JoinOptions.Wake at the next
// one; if not, the member has left (Reason says why) and everything has been
// taken. The events queued by Join are not announced: the front end takes
// them after Join. The front end should take promptly: what does not fit
// in the outbox is skipped for the member, which is then told how many
// events it missed (see deliver). Take must not be called concurrently with
// itself. A Pump does all this for a front end that writes batches.
func (m *Member) Take(dst []*Event, n int) (events []*Event, open bool) {
	return m.outbox.take(dst, n, false)
}

// deliver queues ev for the member without waiting, leaving spare places
// of its outbox free; it reports false if ev did not fit. Public events
// leave places for what is addressed to the member alone (replies to its
// commands, private messages, the report below), so that a member that
// falls behind the room still hears those.
//
// An event that does not fit is skipped and counted, never waited for: the
// member is told how many it missed, with a fresh member list, ahead of the
// first event that fits again or once it has caught up (see missedReport).
// Falling behind never costs a member its place: only its front end can
// tell that it stopped reading (a write that times out). The caller holds
// room.mu.
func (m *Member) deliver(ev *Event, spare int) bool {
	if m.missed == 0 {
		if m.offer(spare, ev) {
			return true
		}
		m.scheduleCatchUp()
	} else if m.hasRoom(3 + spare) { // the report, then ev
		m.offer(0, m.missedReport()...)
		m.offer(0, ev)
		m.missed = 0
		return true
	}
	m.missed++
	return false
}

// scheduleCatchUp makes sure that a member that has just fallen behind is
// told what it missed once it catches up, even if the room falls silent.
// The caller holds room.mu.
func (m *Member) scheduleCatchUp() {
	m.catchUpWait = catchUpEvery
	if m.catchUp == nil {
		m.catchUp = time.AfterFunc(m.catchUpWait, m.reportMissed)
		return
	}
	m.catchUp.Reset(m.catchUpWait)
}

// reportMissed tells the member what it missed if there is room for it
// now, or tries again later while the member is present and behind.
func (m *Member) reportMissed() {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, present := r.members[m]; !present || m.missed == 0 {
		return
	}
	if m.hasRoom(2) {
		m.offer(0, m.missedReport()...)
		m.missed = 0
		return
	}
	// Still behind: a member that stopped reading is dropped by its front
	// end within its write timeout; until then, ask less and less often.
	m.catchUpWait = min(2*m.catchUpWait, maxCatchUpWait)
	m.catchUp.Reset(m.catchUpWait)
}

// stopCatchUp cancels a pending report. The caller holds room.mu.
func (m *Member) stopCatchUp() {
	if m.catchUp != nil {
		m.catchUp.Stop()
	}
}

// missedReport tells a member that fell behind how much it missed and who
// is here now, since it may have missed joins and leaves. The caller holds
// room.mu.
func (m *Member) missedReport() []*Event {
	r := m.room
	text := fmt.Sprintf("you fell behind: %d events were skipped", m.missed)
	return []*Event{{Kind: Notice, Time: r.cfg.Now(), Text: text}, r.membersEvent()}
}

// hasRoom reports whether n more events fit in the outbox. Only the room
// adds to it, under room.mu, so the answer holds until the caller, which
// holds room.mu, adds them.
func (m *Member) hasRoom(n int) bool {
	return m.outbox.free() >= n
}

// offer queues events if they all fit with spare places left, or none of
// them. The caller holds room.mu.
func (m *Member) offer(spare int, events ...*Event) bool {
	return m.outbox.push(spare, events...)
}

// closeOutbox ends the member's event stream: what is queued can still be
// taken. The caller holds room.mu.
func (m *Member) closeOutbox() {
	m.outbox.close()
}

// Nick returns the member's current nickname.
func (m *Member) Nick() string {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.nick
}

// Reason says why the member left, once it has (Take reports the end of its
// events); the zero Reason before that.
func (m *Member) Reason() Reason {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.reason
}

// Leave removes the member and announces it with reason, whose Detail is
// cleaned and cut to Config.MaxLineBytes (a muted member's /quit has no
// parting message: it would be heard). Later calls, and calls after the
// room removed the member itself, do nothing.
func (m *Member) Leave(reason Reason) {
	r := m.room
	reason.Detail = r.boundDetail(reason.Detail)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remove(m, r.parting(m, reason))
}
