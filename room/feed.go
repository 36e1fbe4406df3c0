package room

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file is the state behind Room.Feed (bus.go): what a room that is
// one node of several remembers of the events its feed delivers, and of
// its own members' events on their way through the shared log.

// The bounds of a node's feed state.
const (
	// maxEchoes bounds the local senders the room remembers, by the Seq
	// of their event, until the feed brings the event back (a sender that
	// asked for no echo is then skipped). Beyond it the oldest is
	// forgotten: that sender would be shown its own line, no more.
	maxEchoes = 4096
	// maxHeldFeed bounds the events the feed brings while a batch of the
	// sequencer is being stored. Beyond it they are delivered at once.
	maxHeldFeed = 4096
	// maxJoiners bounds the local joiners waiting for the feed to bring
	// their Join (awaitJoin). Beyond it the oldest is welcomed at once,
	// its Join to come live, after its member list.
	maxJoiners = 4096
	// feedCatchUp is how long ResumeFrom waits for the feed to deliver
	// the point a member resumes from, when the member was shown it on
	// another node whose events this node's feed has not brought yet.
	feedCatchUp = 3 * time.Second
)

// echo is a local member's event that its sender is not to be shown.
type echo struct {
	seq    uint64
	sender *Member
}

// feedState is what a room with Config.Bus knows of its feed. It is
// guarded by Room.mu.
type feedState struct {
	// held are the events the feed brought while a batch was being stored
	// (Room.jobs.inflight): one of them may be the batch's own, whose
	// sender the room learns only once the batch is applied. They are
	// delivered, in order, right after it.
	held []*Event
	// echoes are the local events not to be shown to their senders, in
	// the order of their Seq (the room appends in order).
	echoes []echo
	// recent are the last events delivered (Config.ResumeSize of them),
	// to complete the history of a joiner read before the last ones.
	recent history
	// evicted is the Seq of the newest event recent no longer holds.
	evicted uint64
	// joiners are the local joiners whose Join the log stored and the
	// feed has not brought yet, in the order of their Join's Seq: each is
	// a member, but is shown nothing live until the feed reaches its Join,
	// and then its history up to it, its Join, the member list, as a
	// joiner on one node is (see awaitJoin).
	joiners []*arrival
	// moved, if not nil, is closed at the next delivery: a resume waits
	// on it for the feed to reach its point.
	moved chan struct{}
	// started: the hub starts at the log's end (New or Delivered read it).
	started bool
}

// remember notes that sender, which asked for no echo, is not to be shown
// its event numbered seq. The caller holds r.mu.
func (f *feedState) remember(seq uint64, sender *Member) {
	if len(f.echoes) >= maxEchoes {
		f.echoes[0] = echo{}
		f.echoes = f.echoes[1:]
	}
	f.echoes = append(f.echoes, echo{seq: seq, sender: sender})
}

// sender returns the local sender that is not to be shown the event
// numbered seq, if any, and forgets it and every older one. The caller
// holds r.mu.
func (f *feedState) sender(seq uint64) *Member {
	i := 0
	for i < len(f.echoes) && f.echoes[i].seq < seq {
		i++
	}
	var m *Member
	if i < len(f.echoes) && f.echoes[i].seq == seq {
		m = f.echoes[i].sender
		i++
	}
	if i > 0 {
		clear(f.echoes[:i])
		f.echoes = f.echoes[i:]
	}
	return m
}

// note keeps ev among the recent events and wakes the resumes waiting.
// The caller holds r.mu.
func (f *feedState) note(ev *Event) {
	if f.recent.count == len(f.recent.ring) {
		f.evicted = f.recent.at(0).Seq
	}
	f.recent.add(ev)
	if f.moved != nil {
		close(f.moved)
		f.moved = nil
	}
}

// Feed's work, under r.mu.

// feed delivers ev, or holds it while a batch is being stored. The caller
// holds r.mu.
func (r *Room) feed(ev *Event) {
	if len(r.jobs.inflight) > 0 && len(r.feedState.held) < maxHeldFeed {
		r.feedState.held = append(r.feedState.held, ev)
		return
	}
	r.flushFeed()
	r.feedNow(ev)
}

// flushFeed delivers the events held while a batch was being stored, now
// that it has been applied. The caller holds r.mu.
func (r *Room) flushFeed() {
	f := &r.feedState
	for _, ev := range f.held {
		r.feedNow(ev)
	}
	clear(f.held)
	f.held = f.held[:0]
}

// feedNow delivers ev to the local members, but not to a local sender
// that asked for no echo. A local joiner whose Join ev is, or precedes,
// is welcomed first (welcomeBefore, welcomeWith). The caller holds r.mu.
func (r *Room) feedNow(ev *Event) {
	f := &r.feedState
	if ev.Seq <= r.hub.last {
		return
	}
	if len(f.joiners) > 0 {
		r.welcomeBefore(ev.Seq)
		r.welcomeWith(ev)
	}
	r.hub.deliver(r, ev, f.sender(ev.Seq))
	r.noteEnd(ev.Seq)
	f.note(ev)
}

// joinToCome reports whether a, arriving in a room with Config.Bus, is to
// wait for the feed to bring its Join, stored and not fed yet. The
// caller holds r.mu.
func (r *Room) joinToCome(a *arrival) bool {
	return r.cfg.Bus != nil && !a.quiet && !a.unstored && a.seq > r.hub.last
}

// awaitJoin has a, a member now, wait for the feed to bring its Join
// before it is shown anything live: then it is shown its history up to
// its Join, its Join, the member list and its greeting, as on one node,
// and the events after. Shown at once, it would be shown the events the
// feed brings before its Join (the other nodes' lag behind the log's
// end, hundreds of events in a join storm) after its history and member
// list, into an outbox sized for those alone: its own Join, last, did
// not fit. The caller holds r.mu.
func (r *Room) awaitJoin(a *arrival) {
	f := &r.feedState
	if len(f.joiners) >= maxJoiners {
		old := f.popJoiner()
		old.m.awaiting = false
		if _, present := r.members[old.m]; present {
			r.welcome(old, nil) // its Join comes live
		}
	}
	a.m.awaiting = true
	f.joiners = append(f.joiners, a)
	a.late = r.cfg.afterFunc(r.cfg.joinWait, func() { r.welcomeLate(a) })
}

// welcomeLate welcomes a, parked, if the feed has still not brought its
// Join (the feed stalls: quorum lost, a connection down): rather than be
// shown nothing, not even that the room is read-only, and hold its
// nickname meanwhile, a is shown its history up to the last event
// delivered, its Join, the member list. The hub skips its Join when the
// feed brings it (Member.shownJoin); the events stored before its Join
// and not fed yet then come after it.
func (r *Room) welcomeLate(a *arrival) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := &r.feedState
	i := slices.Index(f.joiners, a)
	if i < 0 || r.closed {
		return
	}
	f.joiners = slices.Delete(f.joiners, i, i+1)
	if len(f.joiners) == 0 {
		f.joiners = nil
	}
	a.m.awaiting = false
	if _, present := r.members[a.m]; present {
		a.m.shownJoin = a.seq
		r.welcome(a, a.join)
	}
}

// stopJoinWaits stops the timers of the parked joiners (welcomeLate):
// the room is closing. The caller holds r.mu.
func (f *feedState) stopJoinWaits() {
	for _, a := range f.joiners {
		if a.late != nil {
			a.late.Stop()
		}
	}
}

// popJoiner takes the first of the joiners waiting for their Join.
func (f *feedState) popJoiner() *arrival {
	a := f.joiners[0]
	if a.late != nil {
		a.late.Stop()
	}
	f.joiners[0] = nil
	f.joiners = f.joiners[1:]
	if len(f.joiners) == 0 {
		f.joiners = nil
	}
	return a
}

// welcomeBefore welcomes the local joiners whose Join comes before seq,
// which the feed did not bring (the hub was moved past it): each is
// shown its Join itself, after its history. The caller holds r.mu.
func (r *Room) welcomeBefore(seq uint64) {
	f := &r.feedState
	for len(f.joiners) > 0 && f.joiners[0].seq < seq {
		a := f.popJoiner()
		a.m.awaiting = false
		if _, present := r.members[a.m]; present {
			r.welcome(a, a.join)
		}
	}
}

// welcomeWith welcomes the local joiner whose Join ev is, if any: the
// hub, about to deliver ev, skips it (Member.shownJoin). The caller holds
// r.mu.
func (r *Room) welcomeWith(ev *Event) {
	f := &r.feedState
	if len(f.joiners) == 0 || f.joiners[0].seq != ev.Seq {
		return
	}
	a := f.popJoiner()
	a.m.awaiting = false
	if _, present := r.members[a.m]; present {
		a.m.shownJoin = ev.Seq
		r.welcome(a, ev)
	}
}

// alignHistory makes a joiner's history end exactly at the last event the
// feed delivered, which its live events follow: the events read past it
// are dropped (the feed brings them), and those between the end read and
// it are taken from the recent ones. If they are no longer all there, the
// history starts after the gap: a resume is then told how many it
// missed. The caller holds r.mu.
func (r *Room) alignHistory(a *arrival) {
	if a.pastErr != nil {
		return
	}
	f := &r.feedState
	last := r.hub.last
	limit := r.replayLimit(a.after)
	past := a.past
	if i := slices.IndexFunc(past, func(ev *Event) bool { return ev.Seq > last }); i >= 0 {
		past = past[:i]
	}
	end := a.after
	if len(past) > 0 {
		end = max(end, past[len(past)-1].Seq)
	}
	if end < last {
		more := f.recent.since(end, limit)
		if f.evicted > end || len(more) == limit {
			past = nil // a gap before them: the history starts after it
		}
		past = slices.Concat(past, more)
	}
	a.past = past[max(0, len(past)-limit):]
	a.end = max(last, a.after)
}

// waitFeed waits, at most feedCatchUp, until the feed has delivered seq;
// it reports whether it has. The caller holds no lock.
func (r *Room) waitFeed(seq uint64) bool {
	deadline := time.NewTimer(r.cfg.feedCatchUp)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if r.hub.last >= seq || r.closed {
			ok := r.hub.last >= seq
			r.mu.Unlock()
			return ok
		}
		f := &r.feedState
		if f.moved == nil {
			f.moved = make(chan struct{})
		}
		moved := f.moved
		r.mu.Unlock()
		select {
		case <-moved:
		case <-deadline.C:
			return false
		}
	}
}

// awaitFeed notes that the local event ev, stored, reaches the members
// when the feed brings it, and that its sender is then to be skipped if
// it asked for no echo. The caller holds r.mu.
func (r *Room) awaitFeed(ev *Event, sender *Member) {
	r.noteEnd(ev.Seq)
	if sender != nil && !sender.echo && (ev.Kind == Chat || ev.Kind == Action) {
		r.feedState.remember(ev.Seq, sender)
	}
}

// resumeFromPeer is ResumeFrom with Config.Bus, last being the log's end
// as the room knows it. A member is served from a point only once the
// feed has delivered it, so that the live events it is shown next follow
// it: another node may have shown the member events this node's feed has
// not brought yet. A point beyond last is checked against the log's end,
// read again: beyond it, it is reset, as on one node. ResumeFrom waits up
// to feedCatchUp for the feed, and fails, wrapping ErrUnavailable, if it
// is still behind. The caller holds no lock.
func (r *Room) resumeFromPeer(after, last uint64) (from uint64, reset bool, err error) {
	if after > last {
		end, err := r.readEnd()
		if err != nil {
			return 0, false, fmt.Errorf("%w: the room's history could not be read: %v", ErrUnavailable, err)
		}
		if after > end {
			return 0, true, nil
		}
	}
	if !r.waitFeed(after) {
		return 0, false, fmt.Errorf("%w: this node has not caught up with the room yet; try again", ErrUnavailable)
	}
	return after, false, nil
}

// clusterMembers is membersEvent with Config.Bus: the local members and
// those of the other nodes (Bus.Peers, sorted as the roster is), the
// first MembersListed of them in that order, by a merge of the two
// sorted lists that stops there, and how many in all: the local members
// plus the peers. A nickname that is not valid, or listed twice (a
// look-alike on two nodes, for a moment), is left out and not counted
// among the ones listed; beyond them it would cost a pass over every
// peer, under the room's lock, to find them, so Count may count one twice.
// The caller holds r.mu.
func (r *Room) clusterMembers() *Event {
	peers := r.cfg.Bus.Peers()
	peers = peers[:min(len(peers), MaxPeers)]
	local := r.roster
	count, limit := len(local)+len(peers), r.cfg.MembersListed
	listed := make([]string, 0, min(limit, count))
	lastLow := ""
	for i, j := 0, 0; len(listed) < limit && (i < len(local) || j < len(peers)); {
		var nick string
		if j == len(peers) || i < len(local) && CompareNicks(local[i], peers[j].Nick) <= 0 {
			nick, i = local[i], i+1
		} else {
			nick, j = peers[j].Nick, j+1
			if ValidateNick(nick) != nil {
				count--
				continue
			}
		}
		low := strings.ToLower(nick)
		if len(listed) > 0 && low == lastLow {
			count--
			continue
		}
		lastLow = low
		listed = append(listed, nick)
	}
	return &Event{Kind: Members, Count: count, Nicks: listed}
}
