package client

import (
	"strings"
	"time"
	"unsafe"

	"chatd/proto"
	"chatd/room"
)

// What a rejoin shows. With a server that knows the resume extension
// (docs/PROTOCOL.md, "Resuming"), the session remembers the sequence
// number of the last public event it passed on and the name of the log it
// came from, asks on rejoining for what came after it, and the server
// replays exactly that (and says how many it no longer keeps). The replay
// is still held and framed as history; a replayed event numbered at or
// below the last one shown, from a server that replays too much, is left
// out, and so are the user's own lines (below). Live events are never
// left out by number: within a connection the server's order is taken as
// it comes, so that a wild number cannot hide what follows it. A server
// that acknowledges another point than the one asked for (another log, or
// 0 for a point it does not have) makes the session forget its numbers. The rest of this comment is the older
// way, kept for servers without the extension and for a server whose log
// changed (a restart with a memory log): a server greets every connection and replays its
// recent history to every joiner, so a session that rejoins would show
// again what it already showed: the greeting, the history up to the moment
// the connection was lost, and its own join. The session remembers the
// last public events it passed on (their wire lines, timestamps included)
// and finds where the replay catches up with them; only what comes after,
// what happened while it was away, is shown, framed as history.
//
// The server never sends the user's own lines back, but its replay holds
// them. A replayed line is taken for the user's own only by what was
// recorded when the screen showed it: each own line is remembered with the
// nickname it was sent under. Finding the place leaves out of the replay
// the lines that match one of those; after the place, a line is left out
// only if it comes from the nickname the session held when the link was
// lost, before the replay says that nickname left or changed, and matches
// one of those lines (each match used once). So a line said under the
// nickname by whoever took it meanwhile is always shown, and taking a
// nickname someone used earlier does not make their lines the user's.
const (
	// seenKept is how many of the last public events are remembered to
	// find that place.
	seenKept = 16
	// echoesKept and echoBytesKept bound the user's own lines remembered
	// (like the held replay, which cannot hold more): a monologue of any
	// length the server replays is recognised.
	echoesKept    = maxHeldReplay
	echoBytesKept = maxHeldBytes
	// greetingKept and greetingMax bound the greeting lines remembered.
	greetingKept = 8
	greetingMax  = 512
	// maxHeldReplay and maxHeldBytes bound the replayed events held until
	// the replay ends (chatd replays 100 events of at most a few KiB); a
	// longer replay is passed on as it is. The bytes are estimated with
	// what each event costs in memory (heldSize).
	maxHeldReplay = 1024
	maxHeldBytes  = 512 << 10
)

// ring is a bounded list of strings, oldest first; adding to a full ring
// drops its oldest. With maxBytes set, the strings' total length stays
// within it too.
type ring struct {
	items    []string
	max      int
	maxBytes int
	bytes    int
}

func (r *ring) add(s string) {
	if r.maxBytes > 0 && len(s) > r.maxBytes {
		return
	}
	for len(r.items) > 0 && (len(r.items) == r.max || (r.maxBytes > 0 && r.bytes+len(s) > r.maxBytes)) {
		r.bytes -= len(r.items[0])
		copy(r.items, r.items[1:])
		r.items[len(r.items)-1] = ""
		r.items = r.items[:len(r.items)-1]
	}
	r.items = append(r.items, s)
	r.bytes += len(s)
}

func (r *ring) has(s string) bool {
	for _, item := range r.items {
		if item == s {
			return true
		}
	}
	return false
}

// take removes the oldest s, reporting whether it was there.
func (r *ring) take(s string) bool {
	for i, item := range r.items {
		if item == s {
			r.items = append(r.items[:i], r.items[i+1:]...)
			r.bytes -= len(s)
			return true
		}
	}
	return false
}

// seenLog is what a session has shown, as far as a rejoin needs to know.
// Only the session's run goroutine uses it.
type seenLog struct {
	// lastSeq is the sequence number of the last public event passed on,
	// in the log named logID (the resume extension); 0 if none. last is
	// that event, for its stamp (proto.EventStamp), nil if none.
	lastSeq  uint64
	last     *room.Event
	logID    string
	public   ring   // wire lines of the last public events the server sent
	echoes   ring   // the user's own lines, without timestamps, each with its nickname
	nick     string // the session's nickname as the server last said it
	greeting ring   // the first connection's greeting lines
}

func newSeenLog() *seenLog {
	return &seenLog{
		public:   ring{max: seenKept},
		echoes:   ring{max: echoesKept, maxBytes: echoBytesKept},
		greeting: ring{max: greetingKept},
	}
}

// wireKey is ev as the server wrote it, timestamp included.
func wireKey(ev *room.Event) string { return string(proto.AppendEvent(nil, ev)) }

// echoKey is ev without its time: the user's own line as the screen showed
// it (stamped by the client) and as a replay shows it (stamped by the
// server) differ only there. It holds the nickname the line was sent under.
func echoKey(ev *room.Event) string {
	bare := *ev
	bare.Time = time.Time{}
	return string(proto.AppendEvent(nil, &bare))
}

// isLine reports whether ev is a line someone said: a chat line or action.
func isLine(ev *room.Event) bool { return ev.Kind == room.Chat || ev.Kind == room.Action }

// echoed remembers a line of the user's own that the screen showed.
func (s *seenLog) echoed(ev *room.Event) {
	if isLine(ev) {
		s.echoes.add(echoKey(ev))
	}
}

// catchUp returns the events of a replay that the session has not shown:
// those after the last public events it saw, without the user's own lines
// it showed already. If the replay does not hold those events (the server
// lost its history, or the session was away for longer than the replay
// reaches back), it is all new.
func (s *seenLog) catchUp(replay []*room.Event) []*room.Event {
	at := s.anchor(replay)
	if at < 0 {
		return replay
	}
	return s.withoutOwn(replay[at+1:])
}

// since returns the events of a resumed replay numbered after the last
// one the session passed on, without the user's own lines it showed
// already.
func (s *seenLog) since(replay []*room.Event, after uint64) []*room.Event {
	newer := make([]*room.Event, 0, len(replay))
	for _, ev := range replay {
		if ev.Seq > after {
			newer = append(newer, ev)
		}
	}
	return s.withoutOwn(newer)
}

// withoutOwn returns the events of a replay that follow what the session
// saw, without the user's own lines that it showed already: those from the
// nickname the session held when the link was lost, until the replay says
// that nickname left or changed, that match one of its remembered lines
// (each match used once).
func (s *seenLog) withoutOwn(replay []*room.Event) []*room.Event {
	self := s.nick   // the user's, until the replay says it left or changed
	mine := s.echoes // each own line matches once; the log keeps them all
	mine.items = append([]string(nil), s.echoes.items...)
	var fresh []*room.Event
	for _, ev := range replay {
		switch {
		case self == "":
		case isLine(ev) && strings.EqualFold(ev.From, self):
			if mine.take(echoKey(ev)) {
				continue
			}
		case ev.Kind == room.NickChange && strings.EqualFold(ev.From, self):
			self = ev.To
		case (ev.Kind == room.Leave || ev.Kind == room.Join) && strings.EqualFold(ev.From, self):
			self = "" // from here on, whoever speaks as it is someone else
		}
		fresh = append(fresh, ev)
	}
	return fresh
}

// anchor is the index in replay of the last public event the session saw,
// found where the replay's events, the user's own lines left out (the
// server never sent those back), end with the same run as what the session
// saw; -1 if they never do.
func (s *seenLog) anchor(replay []*room.Event) int {
	seen := s.public.items
	if len(seen) == 0 {
		return -1
	}
	own := make(map[string]bool, len(s.echoes.items))
	for _, e := range s.echoes.items {
		own[e] = true
	}
	var idx []int // indexes of the replay's events the session could have seen live
	var keys []string
	for i, ev := range replay {
		if !isLine(ev) || !own[echoKey(ev)] {
			idx = append(idx, i)
			keys = append(keys, wireKey(ev))
		}
	}
	for j := len(keys) - 1; j >= 0; j-- {
		n := min(len(seen), j+1)
		if equalRuns(keys[j-n+1:j+1], seen[len(seen)-n:]) {
			return idx[j]
		}
	}
	return -1
}

func equalRuns(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rejoinFilter passes on one connection's events, and on a rejoin leaves
// out what the session showed already: the greeting, the replayed history
// it saw, and its own join.
type rejoinFilter struct {
	seen   *seenLog
	rejoin bool
	// bySeq: the server acknowledged a resume after the last public event
	// the session passed on, after, so its replay is what was missed.
	bySeq bool
	after uint64
	nick  string // the nickname this connection joined as
	phase filterPhase
	held  []*room.Event // the replay so far, while phase is replaying
	bytes int           // about how much held holds
	begin *room.Event   // the replay's HistoryBegin
	one   [1]*room.Event
}

// just returns ev alone, without allocating.
func (f *rejoinFilter) just(ev *room.Event) []*room.Event {
	f.one[0] = ev
	return f.one[:]
}

// filterPhase is where a connection's events are.
type filterPhase int

const (
	greeting  filterPhase = iota // before the history and the join
	replaying                    // between HistoryBegin and HistoryEnd
	joining                      // after the history, before the own join
	live
)

// newRejoinFilter starts the filter of a connection that joins as nick; on
// a rejoin, seen still holds the nickname the session had when the link
// was lost, until this connection's own join.
//
// resumed is the server's acknowledgement of the connection's resume
// request, if ok: a rejoin that resumed after the last public event the
// session passed on shows the replay by sequence number; one whose log
// changed forgets the old log's numbers and matches lines instead.
func newRejoinFilter(seen *seenLog, nick string, rejoin bool, resumed proto.ResumePoint, ok bool) *rejoinFilter {
	if !rejoin {
		seen.nick = nick
	}
	f := &rejoinFilter{seen: seen, nick: nick, rejoin: rejoin}
	if ok {
		f.bySeq = rejoin && resumed.Log == seen.logID && resumed.After > 0 && resumed.After == seen.lastSeq
		f.after = seen.lastSeq
		if !f.bySeq {
			// The server resumes from elsewhere (another log, or its
			// recent history after a point it does not have): the old
			// numbers mean nothing on this connection.
			f.after = 0
			seen.logID, seen.lastSeq, seen.last = resumed.Log, 0, nil
		}
	}
	return f
}

// pass takes the connection's next event and returns those to show now,
// valid until the next call.
func (f *rejoinFilter) pass(ev *room.Event) []*room.Event {
	switch f.phase {
	case greeting:
		return f.greet(ev)
	case replaying:
		return f.replay(ev)
	case joining:
		if ev.Kind == room.Join && strings.EqualFold(ev.From, f.nick) {
			f.phase = live
			f.seen.nick = f.nick
			f.record(ev)
			if f.rejoin {
				return nil // "reconnected" says it
			}
			return f.just(ev)
		}
	}
	if ev.Kind == room.NickChange && strings.EqualFold(ev.From, f.seen.nick) {
		f.seen.nick = ev.To
	}
	f.record(ev)
	return f.just(ev)
}

// greet handles the events before the history and the join: on a rejoin
// the greeting the first connection showed is left out.
func (f *rejoinFilter) greet(ev *room.Event) []*room.Event {
	switch ev.Kind {
	case room.HistoryBegin:
		f.phase = replaying
		if f.rejoin {
			f.begin = ev
			return nil
		}
		return f.just(ev)
	case room.Join:
		f.phase = joining
		return f.pass(ev)
	case room.Notice:
		if f.rejoin && f.seen.greeting.has(ev.Text) {
			return nil
		}
		if !f.rejoin && len(ev.Text) <= greetingMax {
			f.seen.greeting.add(ev.Text)
		}
	}
	return f.just(ev)
}

// replay handles the history: the first connection shows it as it comes;
// a rejoin holds it until its end and shows only what is new.
func (f *rejoinFilter) replay(ev *room.Event) []*room.Event {
	if ev.Kind == room.HistoryEnd {
		f.phase = joining
		if !f.rejoin {
			return f.just(ev)
		}
		var fresh []*room.Event
		if f.bySeq {
			fresh = f.seen.since(f.held, f.after)
		} else {
			fresh = f.seen.catchUp(f.held)
		}
		f.held, f.bytes = nil, 0
		for _, e := range fresh {
			f.record(e)
		}
		if len(fresh) == 0 {
			return nil
		}
		begin := *f.begin
		begin.Count = len(fresh)
		return append(append([]*room.Event{&begin}, fresh...), ev)
	}
	if !f.rejoin {
		if f.bySeq && ev.Seq <= f.after {
			return nil // passed on before this connection
		}
		f.record(ev)
		return f.just(ev)
	}
	if size := heldSize(ev); len(f.held) < maxHeldReplay && f.bytes+size <= maxHeldBytes {
		f.held = append(f.held, ev)
		f.bytes += size
		return nil
	}
	// Longer than any replay the session could match: pass it all on
	// (what a resume numbered as shown already, left out).
	f.rejoin = false
	held := f.held
	if f.bySeq {
		held = held[:0]
		for _, e := range f.held {
			if e.Seq > f.after {
				held = append(held, e)
			}
		}
	}
	out := append([]*room.Event{f.begin}, held...)
	f.held, f.bytes = nil, 0
	if !f.bySeq || ev.Seq > f.after {
		out = append(out, ev)
	}
	for _, e := range out[1:] {
		f.record(e)
	}
	return out
}

// heldSize estimates, in bytes, what holding ev costs: the event itself
// and each of its strings, a member list's nicknames included (a string's
// header, its bytes, and the separator it was cut from).
func heldSize(ev *room.Event) int {
	const stringSize = int(unsafe.Sizeof(""))
	size := int(unsafe.Sizeof(*ev)) + len(ev.From) + len(ev.To) + len(ev.Text) + len(ev.Reason.Detail)
	for _, nick := range ev.Nicks {
		size += stringSize + len(nick) + 2
	}
	return size
}

// record remembers a public event the server sent (the user's own lines
// are remembered as the screen shows them: seenLog.echoed).
func (f *rejoinFilter) record(ev *room.Event) {
	if ev.Kind.Public() {
		f.seen.public.add(wireKey(ev))
		// The last one passed on, as the server numbered it: never the
		// largest seen, so that one wild number is forgotten with the
		// next event.
		f.seen.lastSeq, f.seen.last = ev.Seq, ev
	}
}

// resumePoint is where the session asks to resume: after the last public
// event it passed on, in its log, with that event's stamp, so that a log
// rolled back since (a restored backup) that numbered another event the
// same is told apart.
func (s *seenLog) resumePoint() proto.ResumePoint {
	p := proto.ResumePoint{After: s.lastSeq, Log: s.logID}
	if s.last != nil && s.last.Seq == s.lastSeq && s.lastSeq > 0 && s.logID != "" {
		p.Stamp = proto.EventStamp(s.last)
	}
	return p
}
