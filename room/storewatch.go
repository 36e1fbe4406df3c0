package room

import "time"

// This file is what the room learns from its Log without calling it: a
// store that tells at once when it is lost and when it is back
// (LogWatcher), so that a quiet room is not shown as writable while its
// store is gone; and the members' leaves that Close stores, so that the
// history of a room that was stopped does not show members who never
// left.

// LogWatcher is implemented by a Log that learns by itself when its store
// becomes unreachable and reachable again (a network store whose
// connection drops and comes back), without waiting for the room to call
// it. The room registers once, when it is made (New): the log calls down,
// with why the store is unreachable, when it loses it, and up when it has
// it back. The room then turns read-only at once (everyone told once, as
// when an Append fails) and, told up, probes the log (LogChecker) at once
// rather than at its next backoff: it is writable again only once a Check
// succeeds.
//
// The log calls down and up from a goroutine of its own, never from
// within a method the room called (they wait for the room's sequencer,
// which such a call holds), one at a time. They return once the room has
// done what they caused; after the room is closed they do nothing.
type LogWatcher interface {
	WatchStore(down func(err error), up func())
}

// watchStore registers the room with its log, if the log is a LogWatcher.
// It is called once, by New.
func (r *Room) watchStore() {
	if w, ok := r.log.(LogWatcher); ok {
		w.WatchStore(r.storeDown, r.storeUp)
	}
}

// isClosed reports whether the room is closed. The caller holds r.sequencer
// or nothing, and not r.mu.
func (r *Room) isClosed() bool {
	r.mu.Lock()
	defer r.mu.release() // nothing queued: no work to run
	return r.closed
}

// storeDown is the LogWatcher's down: the store is unreachable (err says
// why). Unless it is read-only already, the room turns read-only now, as
// if an Append had failed with err: it is logged once, counted
// (Config.StoreFailed, Stats), every member is told once, and the
// background probe starts. The caller holds no lock.
func (r *Room) storeDown(err error) {
	r.noteFailure(err)
	r.sequencer.Lock()
	defer r.sequencer.Unlock()
	if r.gate.down || r.isClosed() {
		return
	}
	var j job
	r.turnReadOnly(&j, err, r.cfg.Now())
	r.mu.Lock()
	r.applyTurn(&j)
	r.processLocked() // anything queued meanwhile; releases r.mu
}

// storeUp is the LogWatcher's up: the store is reachable again. The
// running probe, if any, checks the log at once (the room is writable
// again once that check succeeds), unless the store is flapping: then the
// probe keeps its backoff (readonly.go), so that a store that comes and
// goes costs its members a pair of notices per backoff at most. The
// caller holds no lock.
func (r *Room) storeUp() {
	r.sequencer.Lock()
	flapping := r.gate.down && r.gate.first > r.cfg.probeFirst
	r.sequencer.Unlock()
	if flapping {
		return
	}
	r.mu.Lock()
	defer r.mu.release() // nothing queued
	if p := r.ro.probe; p != nil {
		select {
		case p.kick <- struct{}{}:
		default: // kicked already
		}
	}
}

// shutdownLeaves returns the Leave events (reason shutdown) of the members
// present, for Close to store after it has told them goodbye: a history
// read after a restart then shows them leave. It returns none while the
// room is read-only (they could not be stored) and when the room is too
// big to announce leaves (Config.QuietJoinsAbove: its joins were not
// stored one by one either), so there are at most QuietJoinsAbove. The
// caller holds r.mu.
func (r *Room) shutdownLeaves(now time.Time) []*Event {
	if r.ro.on || len(r.members) == 0 || r.quiet(len(r.members)) {
		return nil
	}
	leaves := make([]*Event, 0, len(r.members))
	for _, nick := range r.roster {
		leaves = append(leaves, &Event{Kind: Leave, Time: now, From: nick, Reason: Reason{Kind: ReasonShutdown}})
	}
	return leaves
}

// storeLeaves has the sequencer store leaves, Close's shutdownLeaves,
// after the work queued before (Close's goodbye): one run of public
// events, which a BatchLog stores with one call, so that a store that
// fails then holds Close for its own timeout at most once (an Append that
// fails turns the room read-only, and the rest are refused at once).
// Nobody is shown them: every member has been removed. The caller holds
// no lock.
func (r *Room) storeLeaves(leaves []*Event) {
	if len(leaves) == 0 {
		return
	}
	r.mu.Lock()
	for _, ev := range leaves {
		r.queue(job{kind: publishJob, ev: ev})
	}
	r.mu.Unlock() // stores them, in order
}
