package room

import "time"

// This file is the members' leaves that Close stores, so that the
// history of a room that was stopped does not show members who never
// left.

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
