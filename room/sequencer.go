package room

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The sequencer does the room's slow work, the calls to its Log and its
// nickname store, outside the member lock and in the order the room decided
// on it (see the package doc). Work is queued as jobs under the member lock;
// Room.mu.Unlock then runs them: one goroutine at a time, holding
// Room.sequencer, takes the queued jobs as a batch, stores them without the
// member lock, then applies the outcomes (delivery, errors) under it.

// jobKind says what a job does.
type jobKind uint8

const (
	// publishJob appends a public event to the log, then delivers it.
	publishJob jobKind = iota + 1
	// claimJob, releaseJob and holdJob write a member's nickname to the
	// nickname store (Nicks.Claim, Release and Hold).
	claimJob
	releaseJob
	holdJob
	// arriveJob lets a joiner in: claims its nickname, completes its
	// history and appends its Join, then adds it to the room.
	arriveJob
	// closeJob tells every member the room's closing notice and removes
	// them all.
	closeJob
)

// job is one piece of the sequencer's work.
type job struct {
	kind    jobKind
	ev      *Event    // publishJob, closeJob: the event
	member  *Member   // publishJob: the sender (nil for the room's own events); nickname jobs: the member
	nick    string    // nickname jobs: the nickname
	key     string    // nickname jobs: its nickKey
	until   time.Time // holdJob: when the hold ends, as the room reckons it
	arrival *arrival  // arriveJob
	err     error     // what the log or the store said
}

// jobQueue is the sequencer's work: what is queued and the batch being
// done. It is guarded by Room.mu. Every caller that queues work waits for
// it to be done before its call returns (Room.mu.Unlock), so the queue
// holds at most a few jobs for each goroutine in the room at once.
type jobQueue struct {
	pending  []job // queued, oldest first
	inflight []job // the batch being stored and applied
}

// maxKeptJobs is the largest job buffer kept once done; a bigger one (after
// Close of a big room) is released.
const maxKeptJobs = 64

// take ends the batch in flight, if any, and makes the queued jobs the
// next one, which it returns; the two buffers take turns.
func (q *jobQueue) take() []job {
	done := q.inflight
	clear(done) // let go of events and members
	if cap(done) > maxKeptJobs {
		done = nil
	}
	q.inflight, q.pending = q.pending, done[:0]
	return q.inflight
}

// nickOwner returns who has the nickname with key once the queued and
// in-flight nickname jobs are written, if any of them is about it: known
// is false if none is. The last job about a nickname decides.
func (q *jobQueue) nickOwner(key string, now time.Time) (owner NickOwner, ok, known bool) {
	for _, batch := range [2][]job{q.inflight, q.pending} {
		for i := range batch {
			j := &batch[i]
			if j.key != key {
				continue
			}
			switch j.kind {
			case claimJob:
				owner, ok, known = NickOwner{Claim: claimOf(j.member)}, true, true
			case arriveJob:
				owner, ok, known = NickOwner{Claim: claimOf(j.arrival.m)}, true, true
			case releaseJob:
				owner, ok, known = NickOwner{}, false, true
			case holdJob:
				owner, ok, known = NickOwner{Claim: claimOf(j.member), HeldUntil: j.until}, now.Before(j.until), true
			}
		}
	}
	return owner, ok, known
}

// memberLock is Room.mu, the lock that guards the local member set and
// everything decided with it. Its holder never calls the Log or the
// nickname store: it queues that work, and Unlock has it done, without the
// lock, before returning.
type memberLock struct {
	mu     sync.Mutex
	queued bool   // the holder queued work; guarded by mu
	run    func() // does the queued work; called with mu, which it releases
}

// Lock takes the member lock.
func (l *memberLock) Lock() { l.mu.Lock() }

// Unlock releases the member lock and, if its holder queued work, has it
// done: stored without the lock, then applied under it again. So when a
// method that took the lock returns, what it caused has been stored and
// delivered. Unlock must not be called with Room.sequencer held; the
// sequencer itself uses release.
func (l *memberLock) Unlock() {
	if !l.queued {
		l.mu.Unlock()
		return
	}
	l.queued = false
	l.run()
}

// release releases the member lock without doing the queued work, for the
// sequencer, which is doing it.
func (l *memberLock) release() {
	l.queued = false
	l.mu.Unlock()
}

// queue adds a job to the sequencer's work. The caller holds r.mu.
func (r *Room) queue(j job) {
	r.jobs.pending = append(r.jobs.pending, j)
	r.mu.queued = true
}

// queueNick queues a nickname job of kind for m's nickname. The caller
// holds r.mu.
func (r *Room) queueNick(kind jobKind, m *Member) {
	j := job{kind: kind, member: m, nick: m.nick, key: nickKey(m.nick)}
	if kind == holdJob {
		j.until = r.cfg.Now().Add(r.cfg.NickGrace)
	}
	r.queue(j)
}

// runQueued does the queued work, waiting for the sequencer if another
// goroutine is doing it: when it returns, everything queued before the
// call has been done. It is Room.mu's run: the caller holds r.mu, which
// runQueued releases. If the sequencer is free, runQueued takes it without
// letting go of r.mu first (TryLock never waits, so this cannot deadlock
// with the sequencer's order, sequencer then r.mu).
func (r *Room) runQueued() {
	if r.sequencer.TryLock() {
		defer r.sequencer.Unlock()
		r.processLocked()
		return
	}
	r.mu.release()
	r.sequencer.Lock()
	defer r.sequencer.Unlock()
	r.process()
}

// process does the queued work in batches until none is left: stores each
// batch without r.mu, in order, then applies it under r.mu, in the same
// order. The caller holds r.sequencer and not r.mu.
func (r *Room) process() {
	r.mu.Lock()
	r.processLocked()
}

// processLocked is process for a caller that holds r.mu already; it
// releases it.
func (r *Room) processLocked() {
	for batch := r.jobs.take(); len(batch) > 0; batch = r.jobs.take() {
		r.mu.release()
		for i := range batch {
			r.store(&batch[i])
		}
		r.mu.Lock()
		for i := range batch {
			r.apply(&batch[i])
		}
	}
	r.mu.release()
}

// store does the slow part of j: the calls to the log or the nickname
// store. The caller holds r.sequencer and not r.mu.
func (r *Room) store(j *job) {
	switch j.kind {
	case publishJob:
		var seq uint64
		if seq, j.err = r.log.Append(j.ev); j.err == nil {
			r.appended = seq
		}
	case claimJob:
		j.err = r.nicks.Claim(j.nick, claimOf(j.member))
	case releaseJob:
		j.err = r.nicks.Release(j.nick, claimOf(j.member))
	case holdJob:
		j.err = r.nicks.Hold(j.nick, claimOf(j.member), r.cfg.NickGrace)
	case arriveJob:
		r.storeArrival(j.arrival)
	}
}

// apply makes j's outcome known to the members. The caller holds
// r.sequencer and r.mu.
func (r *Room) apply(j *job) {
	switch j.kind {
	case publishJob:
		r.deliverStored(j.ev, j.member, j.err)
	case claimJob, releaseJob, holdJob:
		if j.err != nil {
			r.counts.storeErrors++
			r.tellError(j.member, fmt.Sprintf("the room could not record your nickname (%v)", j.err))
		}
	case arriveJob:
		r.arrive(j.arrival)
	case closeJob:
		r.shutDown(j.ev)
	}
}

// deliverStored delivers a public event the log has stored, or, if it
// could not store it (err), tells whoever the event was about that nobody
// was shown it. The caller holds r.mu.
func (r *Room) deliverStored(ev *Event, sender *Member, err error) {
	if err == nil {
		r.countMessage(ev)
		r.hub.deliver(r, ev, sender)
		return
	}
	r.counts.storeErrors++
	what := "your message was not sent"
	if ev.Kind == NickChange {
		what = "your new nickname was not announced"
		sender = r.byNick[nickKey(ev.To)]
	}
	if sender != nil {
		r.tellError(sender, fmt.Sprintf("%s: the room could not store it (%v)", what, err))
	}
}

// arrival is a joiner on its way in, from Join to the sequencer and back.
type arrival struct {
	m     *Member
	join  *Event // its Join event
	quiet bool   // the room is too big to announce it (Config.QuietJoinsAbove)
	// past is the history the joiner is shown, or why there is none.
	past    []*Event
	pastErr error
	claimed bool  // the nickname store gave m its nickname
	err     error // why m could not join
}

// storeArrival claims the joiner's nickname, completes its history with
// what the log stored since Join read it and appends its Join event, which
// the joiner's history therefore ends just before. The caller holds
// r.sequencer and not r.mu.
func (r *Room) storeArrival(a *arrival) {
	if err := r.nicks.Claim(a.m.nick, claimOf(a.m)); err != nil {
		a.err = storeError(err, "your nickname could not be recorded")
		return
	}
	a.claimed = true
	a.past, a.pastErr = r.completeHistory(a.past, a.pastErr)
	if a.quiet {
		return
	}
	seq, err := r.log.Append(a.join)
	if err != nil {
		a.err = storeError(err, "your arrival could not be recorded")
		return
	}
	r.appended = seq
}

// storeError is the error Join returns when the store refused what: a
// refused nickname as the store worded it, anything else as ErrUnavailable.
func storeError(err error, what string) error {
	if errors.Is(err, ErrNickTaken) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, what, err)
}

// completeHistory adds to past, read from the log before the sequencer
// was held, the events the log stored since, keeping the last HistorySize;
// if reading past failed it reads it all again. The caller holds
// r.sequencer.
func (r *Room) completeHistory(past []*Event, err error) ([]*Event, error) {
	var after uint64
	if err != nil {
		past = nil
	} else if len(past) > 0 {
		after = past[len(past)-1].Seq
	}
	if err == nil && r.appended <= after {
		return past, nil
	}
	more, err := r.log.Replay(after, r.cfg.HistorySize)
	if err != nil {
		return nil, err
	}
	past = slices.Concat(past, more)
	return past[max(0, len(past)-r.cfg.HistorySize):], nil
}
