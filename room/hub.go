package room

// hub fans sequenced public events out to the room's local members, in
// sequence order. The room's sequencer feeds it each event the log has
// just stored (see the package doc); a room that is one node of several
// (Config.Bus) feeds it the events its feed brings instead (Room.Feed),
// every node's hub delivering the same stream to its own members.
type hub struct {
	last uint64 // Seq of the last event delivered
}

// deliver offers ev, which the log has numbered, to every local member
// without waiting: a member whose outbox is full skips it (see
// Member.deliver), keeping places free for what is addressed to it alone.
// A sender that asked for no echo does not get its own chat or action back;
// sender is nil for the room's own events and for those of other nodes.
// A member still waiting for its own Join from the feed (Member.awaiting)
// is skipped: it is shown the events before it as its history; so is a
// member for its own Join, told to it by its welcome (Member.shownJoin).
// An event numbered at or below the last one delivered is not delivered
// again, and deliver reports false: no member is shown an event twice, or
// out of order, whatever feeds the hub. The caller holds r.mu.
func (h *hub) deliver(r *Room, ev *Event, sender *Member) bool {
	if ev.Seq <= h.last {
		return false
	}
	h.last = ev.Seq
	skip := sender != nil && !sender.echo && (ev.Kind == Chat || ev.Kind == Action)
	spare := r.cfg.replyRoom()
	for m := range r.members {
		if skip && m == sender || m.awaiting || m.shownJoin == ev.Seq {
			continue
		}
		r.count(m.deliver(ev, spare))
	}
	return true
}
