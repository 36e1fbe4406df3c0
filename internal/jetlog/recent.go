package jetlog

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// DefaultRecent is how many of the last events the log keeps in memory
// when Options.Recent is 0.
const DefaultRecent = 256

// recent is the log's memory of the last events it stored itself (or,
// shared, that its feed delivered), with
// sequence numbers one after the other: Replay answers from it, after the
// stream's state (one Info) says it holds exactly those events, instead of
// reading and decoding them from the stream. A room's joiners all ask for
// the same recent history; from here they share the events, as with
// room.MemoryLog, and a join costs no read of the stream: without it a
// storm of 2,000 joins held every joiner behind reads of 100 events each.
//
// The events are those the room appended (or Open read back), which the
// room never changes. Whatever breaks the run of numbers (a message
// another writer published, an event this log did not see) starts the
// memory afresh from the next event; a stream that lost or deleted
// messages, or holds any this log did not store, is read from the stream.
type recent struct {
	mu   sync.Mutex
	size int           // at most this many events (0: keep none)
	evs  []*room.Event // oldest first, Seq one after the other
}

// add remembers ev, just stored under ev.Seq; the oldest event goes once
// size are kept. An event not numbered right after the last remembered
// starts the memory afresh; one at or below it is remembered already.
// Shared (Options.Shared), the feed adds the events (Follow), whoever
// appended them, in the stream's order.
func (r *recent) add(ev *room.Event) {
	if r.size == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.evs); n > 0 && ev.Seq <= r.evs[n-1].Seq {
		return // remembered already (a shared log's feed, after Open's read)
	}
	if n := len(r.evs); n > 0 && r.evs[n-1].Seq+1 != ev.Seq {
		clear(r.evs)
		r.evs = r.evs[:0]
	}
	if len(r.evs) == r.size {
		copy(r.evs, r.evs[1:])
		r.evs = r.evs[:r.size-1]
	}
	r.evs = append(r.evs, ev)
}

// reset forgets every event: one of them was deleted (a shared log's
// never-acked message, which its feed delivered before Check deleted it).
func (r *recent) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.evs)
	r.evs = r.evs[:0]
}

// replay returns what Replay(after, n) returns, oldest first, if the
// memory holds all of it for a stream in state st (a state read after the
// memory's last event was stored): the last n events above after, none
// deleted. ownDeleted is how many of the messages the stream counts as
// deleted the log deleted itself (never-acked ones, see reconcile.go: never
// in the memory, which starts afresh after them); any other deletion may be
// within the memory's run, and the stream is read. ok is false if the
// stream must be read instead.
func (r *recent) replay(after uint64, n int, st jetstream.StreamState, ownDeleted int) (evs []*room.Event, ok bool) {
	if n <= 0 || st.NumDeleted != ownDeleted || after >= st.LastSeq {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) == 0 {
		return nil, false
	}
	first, last := r.evs[0].Seq, r.evs[len(r.evs)-1].Seq
	if last < st.LastSeq {
		return nil, false // the stream holds events after the memory's
	}
	start := max(after+1, st.FirstSeq)
	if st.LastSeq-start+1 > uint64(n) {
		start = st.LastSeq - uint64(n) + 1
	}
	if start < first {
		return nil, false
	}
	from, to := start-first, st.LastSeq-first+1
	return append([]*room.Event(nil), r.evs[from:to]...), true
}
