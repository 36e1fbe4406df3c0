package room

import "maps"

// Stats is a snapshot of what has happened in the room since it was made,
// for metrics.
type Stats struct {
	Members    int               // members present now
	Joins      uint64            // members that joined
	Messages   uint64            // chat messages, actions and private messages accepted
	Deliveries uint64            // events queued for members
	Skipped    uint64            // events skipped for members that had fallen behind
	Leaves     map[string]uint64 // members that left, by Reason.Class
	Rejected   map[string]uint64 // input lines refused, by reason
}

// Reasons input lines are refused, as counted in Stats.Rejected.
const (
	RejectTooLong = "too long"
	RejectFlood   = "flood"
	RejectCommand = "bad command"
	RejectPrivate = "private limit" // too many private messages to one member from one sender
)

// counters are the room's running totals. They are guarded by Room.mu.
type counters struct {
	joins, messages, deliveries, skipped uint64
	leaves, rejected                     map[string]uint64
}

// Stats returns a snapshot of the room's counters.
func (r *Room) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{
		Members:    len(r.members),
		Joins:      r.counts.joins,
		Messages:   r.counts.messages,
		Deliveries: r.counts.deliveries,
		Skipped:    r.counts.skipped,
		Leaves:     maps.Clone(r.counts.leaves),
		Rejected:   maps.Clone(r.counts.rejected),
	}
}
