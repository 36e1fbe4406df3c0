package room

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// This file is the room's read-only state: what it does while its Log
// cannot store.
//
// When an Append fails, the room turns read-only: the event is shown to
// nobody, its sender is told ErrReadOnly, every member is told once (a
// Notice with Store set to StoreReadOnly), and the failure is logged once.
// From then on the room does not call Append for each event (a hanging
// store would hold the sequencer for its whole timeout per line): chat,
// actions and nickname changes are refused with ErrReadOnly at once; joins
// and leaves are not announced (they cannot be stored), but a joiner gets
// in, is shown the history the log can still replay, its own Join (to it
// alone, as in a room too big for announcements) and the read-only Notice;
// private messages, which are never stored, still go through.
//
// A breaker finds out when the store is back. A Log that implements
// LogChecker is probed in the background, after probeFirst, then waiting
// twice as long after each failed probe, up to probeMaxWait; once a Check
// succeeds, the room is writable again: every member is told once (a Notice
// with Store set to StoreWritable), and it is logged. A Log without
// LogChecker is probed by an Append of the next public event, at most once
// per backoff interval; the other events are refused without calling it.
// A store that fails again within flapWindow of coming back (its check
// passes but it cannot write) is first probed twice as late as the last
// time, up to maxFlapWait: a store that flaps costs its members a pair of
// notices, and the room one failed Append, per maxFlapWait at most.

// ErrReadOnly is wrapped by the errors of the operations (Say, Act,
// Rename) refused because the room is read-only: its Log cannot store.
var ErrReadOnly = errors.New(ReadOnlyText)

// The words the room tells its members about its store: ReadOnlyText is
// the Error a refused line gets; ReadOnlyNotice and WritableNotice the
// Notices every member gets when the room turns read-only and writable
// again. Compare Event.Store, not these words.
const (
	ReadOnlyText   = "the room is read-only: storage unavailable"
	ReadOnlyNotice = ReadOnlyText + "; you can read, but nothing is sent until it is back"
	WritableNotice = "the room is writable again: storage is back"
)

// StoreState says what a Notice or Error event tells about the room's
// store (Event.Store); most events tell nothing about it.
type StoreState uint8

const (
	// StoreNoState: the event is not about the store.
	StoreNoState StoreState = iota
	// StoreReadOnly: the room is read-only, its store unavailable (the
	// Notice when it turns so, the Error of a refused line).
	StoreReadOnly
	// StoreWritable: the room is writable again.
	StoreWritable
)

// LogChecker is implemented by a Log that can tell cheaply, without
// storing anything, whether it can store again. The room calls Check while
// it is read-only, from a goroutine of its own, holding no lock, with a
// context that ends when the room closes or after probeTimeout; Check must
// return by then.
type LogChecker interface {
	Check(ctx context.Context) error
}

// The breaker's bounds: the first probe comes probeFirst after the room
// turned read-only, each later one waits twice as long, up to probeMaxWait;
// a probe of a LogChecker may take probeTimeout. A store that fails again
// within flapWindow of coming back has its first probe twice as late as
// the last outage's, up to maxFlapWait.
const (
	probeFirst   = 250 * time.Millisecond
	probeMaxWait = 10 * time.Second
	probeTimeout = 5 * time.Second
	flapWindow   = time.Minute
	maxFlapWait  = 5 * time.Minute
)

// turn is a change of the room's read-only state that a job caused, for
// apply to tell the members.
type turn uint8

const (
	noTurn       turn = iota
	turnReadOnly      // the job's Append failed: the room is read-only
	turnWritable      // the job found the store back
)

// storeGate is the sequencer's side of the read-only state: whether to
// call Append at all. It is guarded by Room.sequencer (by Room.mu when the
// room is inMemory, whose log never fails).
type storeGate struct {
	down    bool
	why     error         // the failure that turned the room read-only
	since   time.Time     // when it did
	first   time.Duration // the wait before this outage's first probe
	wait    time.Duration // the wait before the next probe
	nextTry time.Time     // a Log without LogChecker: when an Append may probe it
	upAt    time.Time     // when the store last came back
}

// nextWait is the wait after w before the next probe of an outage whose
// first probe waited first.
func nextWait(w, first time.Duration) time.Duration {
	return min(2*w, max(probeMaxWait, first))
}

// readOnly is the member lock's side of the read-only state: what the
// operations refuse, and the background probe. It is guarded by Room.mu.
type readOnly struct {
	on    bool
	turns uint64 // times the room turned read-only
	probe *prober
}

// prober is a running background probe of a LogChecker.
type prober struct {
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{} // check now: the log says the store is back (storewatch.go)
}

// logger is where the room says why its store failed: Config.Logger, or
// slog's default.
func (r *Room) logger() *slog.Logger {
	if r.cfg.Logger != nil {
		return r.cfg.Logger
	}
	return slog.Default()
}

// noteFailure reports a failed call of the store to Config.StoreFailed.
// The caller holds no member lock.
func (r *Room) noteFailure(err error) {
	if r.cfg.StoreFailed != nil {
		r.cfg.StoreFailed(err)
	}
}

// appendGated appends ev unless the room is read-only, and tells j what
// the store's state became. While read-only, a Log without LogChecker is
// probed by the Append of the first event after the backoff; other events
// are refused with ErrReadOnly without calling it. An event the log
// refuses itself (ErrNotStorable) is refused alone with the log's error,
// which the store's state does not follow. The caller holds r.sequencer
// and not r.mu.
func (r *Room) appendGated(j *job, ev *Event) (seq uint64, err error) {
	g := &r.gate
	if g.down && (r.checker != nil || r.cfg.Now().Before(g.nextTry)) {
		return 0, ErrReadOnly
	}
	seq, err = r.log.Append(ev)
	if errors.Is(err, ErrNotStorable) {
		r.refuseEvent(ev, err) // this event alone: the store is no worse for it
		return 0, err
	}
	if err != nil {
		r.noteFailure(err)
		now := r.cfg.Now()
		if !g.down {
			r.turnReadOnly(j, err, now)
		} else {
			g.wait = nextWait(g.wait, g.first)
			g.nextTry = now.Add(g.wait)
		}
		return 0, ErrReadOnly
	}
	r.noteEnd(seq)
	if g.down {
		r.turnWritable(j, r.cfg.Now())
	}
	return seq, nil
}

// batchable reports whether the sequencer may hand the log a run of
// events at once (a BatchLog): not while the room is read-only, when each
// event goes through appendGated, refused at once or probing the log
// alone. The caller holds r.sequencer.
func (r *Room) batchable() bool { return !r.gate.down }

// afterRun is the gate of a run of publish jobs appended together (a
// BatchLog): the first job whose event was not stored (its err the log's)
// turns the room read-only, as a failed Append does, and every such job is
// refused with ErrReadOnly; StoreFailed hears the run's failure once. A
// job refused alone (ErrNotStorable: see appendRun) is left as it is. The
// caller holds r.sequencer and not r.mu.
func (r *Room) afterRun(run []job) {
	noted := false
	for i := range run {
		j := &run[i]
		if j.err == nil || errors.Is(j.err, ErrReadOnly) || errors.Is(j.err, ErrNotStorable) {
			continue // stored, or refused already
		}
		if !noted {
			r.noteFailure(j.err)
			noted = true
		}
		if !r.gate.down {
			r.turnReadOnly(j, j.err, r.cfg.Now())
		}
		j.err = ErrReadOnly
	}
}

// turnReadOnly makes the gate read-only after the failure err, logs why,
// and marks j as the job that turned it. The caller holds r.sequencer.
func (r *Room) turnReadOnly(j *job, err error, now time.Time) {
	g := &r.gate
	if g.upAt.IsZero() || now.Sub(g.upAt) > flapWindow {
		g.first = r.cfg.probeFirst // not a flap: start afresh
	} else {
		g.first = min(2*max(g.first, r.cfg.probeFirst), maxFlapWait)
	}
	g.wait = g.first
	g.down, g.why, g.since, g.nextTry = true, err, now, now.Add(g.wait)
	j.turn = turnReadOnly
	r.logger().Error("the room is read-only: its store failed; messages are refused until it is back", "err", err)
}

// turnWritable opens the gate again and logs it, marking j as the job
// that turned it. The caller holds r.sequencer.
func (r *Room) turnWritable(j *job, now time.Time) {
	g := &r.gate
	r.logger().Info("the room is writable again: its store is back",
		"read_only_seconds", now.Sub(g.since).Round(time.Millisecond).Seconds(), "failure", g.why)
	g.down, g.why, g.upAt = false, nil, now
	j.turn = turnWritable
}

// storeBack is the store step of a storeBackJob: a probe found the store
// back. The caller holds r.sequencer and not r.mu.
func (r *Room) storeBack(j *job) {
	if r.gate.down {
		r.turnWritable(j, r.cfg.Now())
	}
}

// applyTurn tells every member that the room turned read-only or writable
// again, if j turned it, and starts or forgets the background probe. The
// caller holds r.sequencer and r.mu.
func (r *Room) applyTurn(j *job) {
	switch j.turn {
	case turnReadOnly:
		r.ro.on = true
		r.ro.turns++
		r.counts.storeErrors++
		r.tellAll(&Event{Kind: Notice, Text: ReadOnlyNotice, Store: StoreReadOnly})
		r.startProbe(r.gate.first)
	case turnWritable:
		r.ro.on = false
		r.ro.probe = nil // it has ended, or ends without effect
		r.tellAll(&Event{Kind: Notice, Text: WritableNotice, Store: StoreWritable})
	}
}

// tellAll tells every member ev, addressed to each alone. The caller holds
// r.mu.
func (r *Room) tellAll(ev *Event) {
	ev.Time = r.cfg.Now()
	for m := range r.members {
		r.tell(m, ev)
	}
}

// refuseReadOnly returns ErrReadOnly, worded for the member, if the room
// is read-only and probes its Log with LogChecker; a Log without it is
// probed by the Appends of chat and actions, which the sequencer refuses
// in between (appendGated). The caller holds r.mu.
func (r *Room) refuseReadOnly() error {
	if !r.ro.on || r.checker == nil {
		return nil
	}
	return r.refuseStored()
}

// refuseStored returns ErrReadOnly, worded for the member, if the room is
// read-only: for what cannot wait for a probe (a nickname change, which
// would be made and not announced). The caller holds r.mu.
func (r *Room) refuseStored() error {
	if !r.ro.on {
		return nil
	}
	r.counts.rejected[RejectReadOnly]++
	return refuse(ErrReadOnly, "%s", ReadOnlyText)
}

// readOnlyError is the Error event a member is told when the room refused
// what it said because it is read-only.
func readOnlyError() *Event {
	return &Event{Kind: Error, Text: ReadOnlyText, Store: StoreReadOnly}
}

// NotStorableText is the Error a member is told when the room's log
// refused what it sent as an event it cannot store (ErrNotStorable): that
// one event, not the store; the room stays writable.
const NotStorableText = "the room's log cannot store what you sent (it breaks the log's rules, such as its length limit); nobody was shown it"

// refuseEvent logs that the log refused ev itself (err wraps
// ErrNotStorable), without its text. The caller holds r.sequencer.
func (r *Room) refuseEvent(ev *Event, err error) {
	r.logger().Warn("the room's log refused an event; it was not sent", "kind", ev.Kind.String(), "from", ev.From, "err", err)
}

// startProbe starts the background probe of a LogChecker, first after
// first, unless one runs or the room is closed. The caller holds r.mu.
func (r *Room) startProbe(first time.Duration) {
	if r.checker == nil || r.ro.probe != nil || r.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1)}
	r.ro.probe = p
	go r.probe(ctx, p, r.checker, first)
}

// probe checks the store with backoff until a check succeeds, then has
// the sequencer open the gate (storeBackJob), or until ctx ends.
func (r *Room) probe(ctx context.Context, p *prober, checker LogChecker, first time.Duration) {
	defer close(p.done)
	wait := first
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.kick:
		}
		cctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := checker.Check(cctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		r.noteFailure(err)
		wait = nextWait(wait, first)
		timer.Reset(wait)
	}
	r.mu.Lock()
	defer r.mu.Unlock() // the sequencer opens the gate, and tells everyone
	if r.ro.probe == p && !r.closed {
		r.queue(job{kind: storeBackJob})
	}
}

// stopProbe stops the background probe, if one runs, and waits for it to
// end. The caller holds no lock.
func (r *Room) stopProbe() {
	r.mu.Lock()
	p := r.ro.probe
	r.ro.probe = nil
	r.mu.release()
	if p != nil {
		p.cancel()
		<-p.done
	}
}
