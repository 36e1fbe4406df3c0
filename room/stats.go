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
	// Queued counts the typed lines that waited their turn for flood
	// control (Config.FloodQueue) rather than going out at once.
	Queued uint64
	// StoreErrors counts what the room's Log or nickname store failed to
	// do: the Appends that turned the room read-only (the sender was told,
	// and nobody was shown the event; the lines refused while read-only
	// count in Rejected instead), histories not replayed (the joiner was told),
	// joins and renames the store failed to record (a nickname it refused
	// as taken is not counted), and every attempt at a release or hold of a
	// nickname that failed (they are retried; see Config.Nicks).
	StoreErrors uint64
	// ReadOnly: the room is read-only now, its Log unable to store (see
	// ErrReadOnly); ReadOnlyTurns counts the times it turned so.
	ReadOnly      bool
	ReadOnlyTurns uint64
}

// Reasons input lines are refused, as counted in Stats.Rejected.
const (
	RejectTooLong  = "too long"
	RejectFlood    = "flood"
	RejectCommand  = "bad command"
	RejectPrivate  = "private limit" // too many private messages to one member from one sender
	RejectReadOnly = "read only"     // the room is read-only: its store is unavailable
	// RejectNotStorable: the room's log refused the event itself
	// (ErrNotStorable); the room stayed writable.
	RejectNotStorable = "not storable"
)

// counters are the room's running totals. They are guarded by Room.mu.
type counters struct {
	joins, messages, deliveries, skipped uint64
	queued                               uint64
	leaves, rejected                     map[string]uint64
	storeErrors                          uint64
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
		Queued:     r.counts.queued,
		// failures of Config.Log and Config.Nicks
		StoreErrors:   r.counts.storeErrors,
		ReadOnly:      r.ro.on,
		ReadOnlyTurns: r.ro.turns,
	}
}
