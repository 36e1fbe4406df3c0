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
//
// A release or hold of a nickname that the store failed to write is kept
// on a retry list (at most maxRetryJobs) and written again before any later
// job about the same nickname, and otherwise after a backoff (retryEvery,
// doubling up to maxRetryWait), until it succeeds: a member that has left
// cannot be told, and its nickname must not stay taken.

// jobKind says what a job does.
type jobKind uint8

const (
	// publishJob appends a public event to the log, then delivers it.
	publishJob jobKind = iota + 1
	// renameJob claims a member's new nickname (Nicks.Claim), then, if the
	// store agreed, renames the member, releases its old nickname and
	// announces the change; if not, the member keeps its nickname.
	renameJob
	// releaseJob and holdJob end a member's claim to a nickname (Nicks.Release
	// and Hold); one that fails is retried (see the top of this file).
	releaseJob
	holdJob
	// arriveJob lets a joiner in: claims its nickname, completes its
	// history and appends its Join, then adds it to the room.
	arriveJob
	// closeJob tells every member the room's closing notice and removes
	// them all.
	closeJob
	// tellJob stores nothing: it delivers an event addressed to one member
	// (a reply, an error) behind the work queued before it.
	tellJob
	// privateJob stores nothing: it delivers a private message and its
	// receipt behind the work queued before it.
	privateJob
	// storeBackJob opens the read-only room's gate: a probe found the
	// store back (readonly.go).
	storeBackJob
)

// job is one piece of the sequencer's work.
type job struct {
	kind jobKind
	// ev is the event: publishJob, closeJob, tellJob, privateJob.
	ev *Event
	// member is the sender of a publishJob (nil for the room's own events)
	// or privateJob, the member of a nickname job, the receiver of a
	// tellJob.
	member  *Member
	to      *Member   // privateJob: the receiver
	nick    string    // nickname jobs: the nickname (renameJob: the new one)
	key     string    // nickname jobs: its nickKey
	until   time.Time // holdJob: when the hold ends, as the room reckons it
	arrival *arrival  // arriveJob
	// result is where apply tells the operation waiting for a renameJob or
	// privateJob how it went.
	result  *error
	err     error // what the log or the store said
	retried bool  // releaseJob, holdJob: it failed before
	turn    turn  // the room turned read-only or writable doing it (readonly.go)
}

// jobQueue is the sequencer's work: what is queued, the batch being done
// and the nickname jobs to retry. It is guarded by Room.mu. Every caller
// that queues work waits for it to be done before its call returns
// (Room.mu.Unlock), so the queue holds at most a few jobs for each
// goroutine in the room at once; the retry list is bounded by
// maxRetryJobs.
type jobQueue struct {
	pending  []job // queued, oldest first
	inflight []job // the batch being stored and applied
	retry    []job // failed releases and holds, oldest first
	retryDue bool  // the retry timer fired: retry with the next batch
}

// maxKeptJobs is the largest job buffer kept once done; a bigger one (after
// Close of a big room) is released.
const maxKeptJobs = 64

// The bounds of the retries of failed releases and holds: at most
// maxRetryJobs wait at once (beyond that the oldest is given up, and its
// nickname stays taken in the store until the store itself frees it); the
// first retry comes after retryEvery, each later one waits twice as long as
// the one before, up to maxRetryWait. A job about the same nickname has
// them retried at once, before it.
const (
	maxRetryJobs = 256
	retryEvery   = 250 * time.Millisecond
	maxRetryWait = time.Minute
)

// take ends the batch in flight, if any, and makes the queued jobs the
// next one, which it returns; the two buffers take turns. The jobs to
// retry come first in the batch if they are due or if a queued job is
// about one of their nicknames.
func (q *jobQueue) take() []job {
	done := q.inflight
	clear(done) // let go of events and members
	if cap(done) > maxKeptJobs {
		done = nil
	}
	q.inflight, q.pending = q.pending, done[:0]
	if len(q.retry) > 0 && (q.retryDue || q.touchesRetry(q.inflight)) {
		q.inflight = append(q.retry, q.inflight...)
		q.retry = nil
	}
	q.retryDue = false
	return q.inflight
}

// touchesRetry reports whether a job of batch is about a nickname that a
// job to retry is about.
func (q *jobQueue) touchesRetry(batch []job) bool {
	for i := range batch {
		if batch[i].key == "" {
			continue
		}
		for j := range q.retry {
			if q.retry[j].key == batch[i].key {
				return true
			}
		}
	}
	return false
}

// idle reports whether no work is queued or in flight.
func (q *jobQueue) idle() bool { return len(q.pending) == 0 && len(q.inflight) == 0 }

// nickOwner returns who has the nickname with key once the queued and
// in-flight nickname jobs are written, if any of them is about it: known
// is false if none is. The last job about a nickname decides; the jobs to
// retry come before the others.
func (q *jobQueue) nickOwner(key string, now time.Time) (owner NickOwner, ok, known bool) {
	for _, batch := range [3][]job{q.retry, q.inflight, q.pending} {
		for i := range batch {
			j := &batch[i]
			if j.key != key {
				continue
			}
			switch j.kind {
			case renameJob:
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

// inOrder has j, a job that stores nothing (tellJob, privateJob), done in
// the room's order: at once if no work is queued or in flight, else queued
// behind that work, so that what is addressed to one member does not
// overtake the public events accepted before it. The caller holds r.mu and
// is not applying a batch.
func (r *Room) inOrder(j job) {
	if r.jobs.idle() {
		r.apply(&j)
		return
	}
	r.queue(j)
}

// reply tells m ev in the room's order (see inOrder). The caller holds r.mu
// and is not applying a batch.
func (r *Room) reply(m *Member, ev *Event) {
	r.inOrder(job{kind: tellJob, member: m, ev: ev})
}

// runQueued does the queued work, waiting for the sequencer if another
// goroutine is doing it: when it returns, everything queued before the
// call has been done. It is Room.mu's run: the caller holds r.mu, which
// runQueued releases. If the sequencer is free, runQueued takes it without
// letting go of r.mu first (TryLock never waits, so this cannot deadlock
// with the sequencer's order, sequencer then r.mu).
//
// With the memory stores (Room.inMemory) the member lock alone orders the
// work, which then never waits: runQueued does it at once, under r.mu,
// without the sequencer, so that a busy room's senders do not queue twice.
func (r *Room) runQueued() {
	if r.inMemory {
		r.processLocked()
		return
	}
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
// order. The messages delivered are written to Config.MessageLog without
// r.mu. The caller holds r.sequencer and not r.mu.
func (r *Room) process() {
	r.mu.Lock()
	r.processLocked()
}

// processLocked is process for a caller that holds r.mu already; it
// releases it.
//
// With the memory log and nickname store (Room.inMemory), which never wait,
// the batch is stored without letting go of the member lock: letting go
// would make the work queue up again for the member lock behind every
// sender, which cost a room of 800 busy members tens of milliseconds of
// latency (docs/PERFORMANCE.md), and buys nothing.
func (r *Room) processLocked() {
	for batch := r.jobs.take(); len(batch) > 0; batch = r.jobs.take() {
		if !r.inMemory {
			r.mu.release()
			r.logMessages()
		}
		r.storeAll(batch)
		if !r.inMemory {
			r.mu.Lock()
		}
		for i := range batch {
			r.apply(&batch[i])
		}
		if len(r.feedState.held) > 0 {
			r.flushFeed() // fed while the batch was stored
		}
	}
	r.mu.release()
	r.logMessages()
}

// maxAppendBatch bounds the events the room hands a BatchLog at once.
const maxAppendBatch = 256

// storeAll does the slow part of every job of batch, in order: each run of
// publish jobs (up to maxAppendBatch) in one AppendBatch if the log is a
// BatchLog, the other jobs, and a lone publish job, one at a time. The
// caller holds r.sequencer and not r.mu (or r.mu too when r.inMemory).
func (r *Room) storeAll(batch []job) {
	bl, batches := r.log.(BatchLog)
	for i := 0; i < len(batch); {
		end := i
		for batches && r.batchable() && end < len(batch) && end-i < maxAppendBatch && batch[end].kind == publishJob { // no runs while read-only
			end++
		}
		if end-i < 2 {
			r.store(&batch[i])
			i++
			continue
		}
		r.appendRun(bl, batch[i:end])
		r.afterRun(batch[i:end]) // a failed run turns the room read-only
		i = end
	}
}

// appendRun appends the events of run, publish jobs all, with one
// AppendBatch: an event stored has a Seq above the one before it (the
// last the room appended, then the run's); the job of any other has the
// log's error, or, if the log refused an event itself (ErrNotStorable),
// is refused alone or appended again alone (see BatchLog). The caller
// holds r.sequencer and not r.mu.
func (r *Room) appendRun(bl BatchLog, run []job) {
	evs := make([]*Event, len(run))
	for i := range run {
		evs[i] = run[i].ev
	}
	err := bl.AppendBatch(evs)
	if err == nil {
		err = errors.New("the log did not store it and did not say why")
	}
	start := r.appended.Load()
	last, stored := start, -1 // stored: the index of the last event stored
	for i := range run {
		if seq := run[i].ev.Seq; seq > last {
			last, stored = seq, i
			continue
		}
		run[i].err = err
	}
	if last > start {
		r.noteEnd(last)
	}
	if !errors.Is(err, ErrNotStorable) {
		return // afterRun turns the room read-only
	}
	// The log refused an event itself, which says nothing of the store.
	// Those not stored before the last one stored are refused alone (the
	// store took a later event; appending them now would break the
	// order); the others are appended again, one at a time, which tells
	// them apart: one refused alone again, or the store's failure.
	for i := range run {
		j := &run[i]
		switch {
		case j.err == nil:
		case i < stored:
			r.refuseEvent(j.ev, err)
		default:
			_, j.err = r.appendGated(j, j.ev)
		}
	}
}

// store does the slow part of j: the calls to the log or the nickname
// store. The caller holds r.sequencer and not r.mu.
func (r *Room) store(j *job) {
	switch j.kind {
	case publishJob:
		_, j.err = r.appendGated(j, j.ev)
	case storeBackJob:
		r.storeBack(j)
	case renameJob:
		j.err = r.nicks.Claim(j.nick, claimOf(j.member))
	case releaseJob:
		j.err = r.nicks.Release(j.nick, claimOf(j.member))
	case holdJob:
		j.err = r.nicks.Hold(j.nick, claimOf(j.member), r.cfg.NickGrace)
	case arriveJob:
		r.storeArrival(j)
	}
}

// apply makes j's outcome known to the members. The caller holds
// r.sequencer and r.mu, or, for a job that stores nothing, r.mu alone (see
// inOrder).
func (r *Room) apply(j *job) {
	r.applyTurn(j)
	switch j.kind {
	case publishJob:
		r.deliverStored(j.ev, j.member, j.err)
	case renameJob:
		*j.result = r.applyRename(j)
	case releaseJob, holdJob:
		if j.err != nil {
			r.retryLater(j)
		}
	case arriveJob:
		r.arrive(j.arrival)
	case closeJob:
		r.shutDown(j.ev)
	case tellJob:
		r.tell(j.member, j.ev)
	case privateJob:
		*j.result = r.deliverPrivate(j.member, j.to, j.ev)
	}
}

// applyRename renames j.member once the store has given it its new
// nickname, j.nick: it updates the index, releases the old nickname and
// announces the change. If the store refused, the member keeps its
// nickname, and applyRename returns the store's error for Rename. The
// caller holds r.sequencer and r.mu.
func (r *Room) applyRename(j *job) error {
	m := j.member
	if j.err != nil {
		if !errors.Is(j.err, ErrNickTaken) {
			r.counts.storeErrors++
		}
		return storeError(j.err, "your new nickname could not be recorded")
	}
	if _, present := r.members[m]; !present {
		// m left under its old nickname while the store gave it the new
		// one, which nobody else may have until it is released.
		r.queue(job{kind: releaseJob, member: m, nick: j.nick, key: j.key})
		return ErrNotInRoom
	}
	old := m.nick
	if old == j.nick {
		return nil // renamed to it already, by a rename queued before
	}
	r.dropIndex(m)
	m.nick = j.nick
	r.held.release(j.key)
	r.addIndex(m)
	if nickKey(old) != j.key {
		r.queue(job{kind: releaseJob, member: m, nick: old, key: nickKey(old)})
	}
	r.broadcast(&Event{Kind: NickChange, From: old, To: j.nick}, m)
	return nil
}

// retryLater keeps a release or hold that the store failed to write on the
// retry list, counting the failure, and tells the member the first time if
// it is still here (it rarely is). When the list is full the oldest job is
// given up. The caller holds r.mu.
func (r *Room) retryLater(j *job) {
	r.counts.storeErrors++
	if !j.retried {
		r.tellError(j.member, fmt.Sprintf("the room could not record your nickname (%v)", j.err))
	}
	retry := *j
	retry.err, retry.retried = nil, true
	q := &r.jobs
	if len(q.retry) >= maxRetryJobs {
		q.retry = q.retry[:copy(q.retry, q.retry[1:])]
	}
	q.retry = append(q.retry, retry)
	r.retrier.arm(r)
}

// retrier is the timer that retries failed releases and holds when no
// later job about their nicknames comes along. It is guarded by Room.mu.
type retrier struct {
	timer *time.Timer
	wait  time.Duration // until the next retry; 0 before the first
	armed bool
}

// arm has the jobs to retry retried after the current backoff, unless that
// is planned already; each retry that finds jobs still failing waits twice
// as long. The caller holds r.mu.
func (t *retrier) arm(r *Room) {
	if t.armed {
		return
	}
	t.armed = true
	if t.wait == 0 {
		t.wait = retryEvery
	} else {
		t.wait = min(2*t.wait, maxRetryWait)
	}
	if t.timer == nil {
		t.timer = time.AfterFunc(t.wait, r.retryDue)
		return
	}
	t.timer.Reset(t.wait)
}

// retryDue has the jobs to retry written with the next batch, which it
// starts. It is the retrier's timer function.
func (r *Room) retryDue() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retrier.armed = false
	if len(r.jobs.retry) == 0 {
		r.retrier.wait = 0 // all written meanwhile: the next failure starts afresh
		return
	}
	r.jobs.retryDue = true
	r.mu.queued = true
}

// deliverStored delivers a public event the log has stored, or, if it
// did not store it (err: the room is read-only, or the log refused this
// event, ErrNotStorable), tells its sender that nobody was shown it. The
// caller holds r.mu.
func (r *Room) deliverStored(ev *Event, sender *Member, err error) {
	if err == nil {
		if r.countMessage(ev) && r.cfg.MessageLog != nil {
			r.logged = append(r.logged, ev)
		}
		if r.cfg.Bus != nil { // the feed delivers it
			r.awaitFeed(ev, sender)
			return
		}
		r.hub.deliver(r, ev, sender)
		return
	}
	if sender == nil {
		return
	}
	if _, present := r.members[sender]; !present {
		return
	}
	if errors.Is(err, ErrNotStorable) { // the log refused this event alone
		r.counts.rejected[RejectNotStorable]++
		r.tell(sender, &Event{Kind: Error, Text: NotStorableText})
		return
	}
	r.counts.rejected[RejectReadOnly]++ // err is ErrReadOnly (appendGated, afterRun)
	r.tell(sender, readOnlyError())
}

// arrival is a joiner on its way in, from Join to the sequencer and back.
type arrival struct {
	m     *Member
	join  *Event // its Join event
	quiet bool   // the room is too big to announce it (Config.QuietJoinsAbove)
	seq   uint64 // the Seq the log gave its Join; 0 if it was not stored
	// late welcomes the joiner, parked (awaitJoin), if the feed has not
	// brought its Join within Config.joinWait; nil unless parked.
	late stopper
	// past is the history the joiner is shown, or why there is none.
	past    []*Event
	pastErr error
	// after is the resume point (JoinOptions.ResumeAfter): past holds the
	// events after it; 0 for the recent history. reset: the point asked
	// for was not in the log, and after was set to 0.
	after uint64
	reset bool
	end   uint64 // the log's last Seq when past was completed: what a resume missed ends there
	// first is the Seq of the oldest event the log held when Join read
	// past, if the log says (LogStart) and the resumed history was cut by
	// Config.HistorySize; 0 if unknown.
	first   uint64
	claimed bool // the nickname store gave m its nickname
	// unstored: the room is read-only and its Join was not stored; m
	// gets in unannounced, and is told so.
	unstored bool
	err      error    // why m could not join
	greeting []string // what m is told once in (Config.Greeting)
}

// storeArrival claims the joiner's nickname, completes its history with
// what the log stored since Join read it and appends its Join event, which
// the joiner's history therefore ends just before. The caller holds
// r.sequencer and not r.mu.
func (r *Room) storeArrival(j *job) {
	a := j.arrival
	if err := r.nicks.Claim(a.m.nick, claimOf(a.m)); err != nil {
		a.err = storeError(err, "your nickname could not be recorded")
		return
	}
	a.claimed = true
	if !r.gate.down || a.pastErr == nil { // read-only: no second try under the sequencer
		a.past, a.pastErr = r.completeHistory(a.past, a.pastErr, a.after)
	}
	a.end = r.appended.Load()
	if a.quiet {
		return
	}
	seq, err := r.appendGated(j, a.join)
	if err != nil {
		a.unstored = true // read-only, or refused by the log: the joiner gets in unannounced
	}
	a.seq = seq
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
// was held, the events the log stored since, keeping the last
// HistorySize (ResumeSize for a resume: replayLimit);
// if reading past failed it reads it all again. past holds events after
// floor only (a resume point; 0 for the recent history). The caller holds
// r.sequencer.
func (r *Room) completeHistory(past []*Event, err error, floor uint64) ([]*Event, error) {
	after := floor
	if err != nil {
		past = nil
	} else if len(past) > 0 {
		after = past[len(past)-1].Seq
	}
	if err == nil && r.appended.Load() <= after {
		return past, nil
	}
	more, err := r.log.Replay(after, r.replayLimit(floor))
	if err != nil {
		return nil, err
	}
	past = slices.Concat(past, more)
	return past[max(0, len(past)-r.replayLimit(floor)):], nil
}
