package room

import (
	"crypto/rand"
	"errors"
	"sync"
)

// Log is the room's order and memory: the public events (Kind.Public), each
// with its sequence number, which is the room's Seq. The room appends every
// public event before any member is shown it, and replays the most recent
// ones to each joiner.
//
// A Log may be slow (a network store: every call a round trip) and may
// fail. The room never calls it while holding its member lock (see the
// package doc), and it calls Append for one room from one goroutine at a
// time, in the order the events were accepted.
//
// A Log must not call the room (any method of Room or Member), directly or
// by waiting for another goroutine that does: the room calls it while
// holding its sequencer, and such a call waits for the sequencer, so the
// room would deadlock. A store that has something to report returns it as
// an error, or reports it elsewhere.
type Log interface {
	// Append stores ev as the next public event, sets ev.Seq to its
	// sequence number, greater than any before it, and returns that
	// number. The room does not change ev afterwards; the log may keep it
	// and return it from Replay. If Append fails, ev is not stored and
	// nobody is shown it. An error that wraps ErrNotStorable says the
	// log refuses ev itself, not that it cannot store: the room refuses
	// that event alone and stays writable; any other error turns the room
	// read-only (see ErrReadOnly).
	Append(ev *Event) (seq uint64, err error)
	// Replay returns, oldest first, the last n stored events whose
	// sequence number is above after: after 0 asks for the last n events,
	// a later after only for those since. It returns fewer if the log
	// holds fewer.
	Replay(after uint64, n int) ([]*Event, error)
}

// LogNamer is implemented by a Log that can name itself: an identifier that
// stays the same as long as its sequence numbers mean the same events (a
// durable log keeps it across restarts; a log that starts its numbering
// again takes a new one). A client that resumes after a sequence number
// names the log it got it from (Room.LogID); the room resumes only in the
// same log. The identifier is 1 to 32 of A-Z a-z 0-9 _ -.
type LogNamer interface {
	LogID() string
}

// LogEnd is implemented by a Log that can tell the sequence number of its
// last event even when it no longer holds it (every event expired): 0 if
// it never held one. The room asks it while it has appended nothing
// (Room.ResumeFrom), until it answers once, so that a resume into a log
// whose events expired is told how many are gone rather than that its
// place is not in the log. It is called holding no lock of the room, one
// call at a time, possibly while an Append runs. A Log without it is asked
// for its last event instead (Replay, likewise).
type LogEnd interface {
	LastSeq() (uint64, error)
}

// LogStart is implemented by a Log that can tell the sequence number of
// the oldest event it still holds (the one after its last if it holds
// none). The room asks it when a resumed history is cut by
// Config.HistorySize, to tell the missed events the log no longer keeps
// from those it keeps but the history does not show. A Log without it
// leaves the room unable to tell them apart in that case, and it says so.
type LogStart interface {
	FirstSeq() (uint64, error)
}

// LogPager is implemented by a Log that can read back page by page: a
// screen scrolling past what it holds asks for the events before the
// oldest one it has (Member.Older).
type LogPager interface {
	// Before returns, oldest first, the last n stored events whose
	// sequence number is below seq: the page just before seq. It returns
	// fewer if the log holds fewer (none for n <= 0 or seq <= 1), and may
	// cap n (a network store reads at most its window, and a bounded size
	// of records): only an empty page means there is nothing older.
	Before(seq uint64, n int) ([]*Event, error)
}

// BatchLog is implemented by a Log that stores several events at once for
// less than one Append each (a network store: a round trip for the batch
// rather than one per event). The room's sequencer then appends each run
// of public events it takes together, up to maxAppendBatch, with one call;
// a lone event still goes through Append.
type BatchLog interface {
	Log
	// AppendBatch stores evs, in order, as the next public events, each
	// as Append would, as if appended one after the other: every event is
	// stored or not on its own. A stored event has its Seq set, greater
	// than any before it, and the Seqs grow along evs; an event not
	// stored keeps Seq 0, and nobody is shown it. AppendBatch returns nil
	// if it stored every event, else an error that says which were not
	// and why. (All or a prefix would be stricter than the room needs,
	// and a network store cannot promise it when another writer shares
	// its stream.) The error wraps ErrNotStorable if the log refused an
	// event itself (see Append): the room then appends again, one at a
	// time, the events not stored that come after every stored one, and
	// refuses alone, without turning read-only, those that come before
	// one. The room does not change the events afterwards.
	AppendBatch(evs []*Event) error
}

// ErrUnavailable is wrapped by the errors of Join when the room's Log or
// nickname store (Config.Log, Config.Nicks) failed.
var ErrUnavailable = errors.New("the room's store is unavailable")

// ErrNotStorable is wrapped by the error of a Log's Append (or
// AppendBatch) that refuses the event itself, whatever the state of its
// store: it breaks the log's rules (a text longer than the log keeps, say),
// and would be refused again. The room refuses that event alone: nobody is
// shown it, its sender (if a member) is told so in an Error event
// (NotStorableText), and the room stays writable; it is no store failure
// (neither Config.StoreFailed nor Stats.StoreErrors hears of it; it counts
// in Stats.Rejected as RejectNotStorable).
var ErrNotStorable = errors.New("the event cannot be stored")

// MemoryLog is a Log kept in memory: the most recent events, up to its
// size; older ones are forgotten. Sequence numbers start at 1. It is the
// room's Log unless Config.Log names another, and is safe for concurrent
// use.
type MemoryLog struct {
	id   string
	mu   sync.Mutex
	seq  uint64
	ring history
}

// NewMemoryLog returns an empty MemoryLog that remembers the last size
// events (at least 1), named by a new random identifier (LogID).
func NewMemoryLog(size int) *MemoryLog {
	return &MemoryLog{id: newLogID(), ring: newHistory(max(size, 1))}
}

// LogID names this log: random, new for each MemoryLog, whose sequence
// numbers start at 1 each time.
func (l *MemoryLog) LogID() string { return l.id }

// newLogID returns a random identifier of 16 letters and digits.
func newLogID() string {
	return rand.Text()[:16]
}

// LastSeq returns the sequence number of the last event appended (0 if
// none). It never fails.
func (l *MemoryLog) LastSeq() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, nil
}

// FirstSeq returns the sequence number of the oldest event remembered
// (the next one's if none). It never fails.
func (l *MemoryLog) FirstSeq() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq - uint64(l.ring.count) + 1, nil
}

// Append stores ev under the next sequence number. It never fails.
func (l *MemoryLog) Append(ev *Event) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	ev.Seq = l.seq
	l.ring.add(ev)
	return l.seq, nil
}

// Replay returns the last n remembered events after the sequence number
// after, oldest first. It never fails.
func (l *MemoryLog) Replay(after uint64, n int) ([]*Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ring.since(after, n), nil
}

// Before returns, oldest first, the last n remembered events below the
// sequence number seq. It never fails.
func (l *MemoryLog) Before(seq uint64, n int) ([]*Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ring.before(seq, n), nil
}
