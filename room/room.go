// Package room is chatd's broker: one shared broadcast room. It owns identity
// (nickname rules and uniqueness, who each member is as its gateway saw it),
// the command registry, flood control, the order of public events and their
// fan-out to local members. It knows nothing about TLS, SSH or terminals and
// imports nothing of the project.
//
// A gateway joins a member with its Identity, calls the member's typed
// operations (Say, Act, Whisper, Rename, Quit, Who, Help), or hands it a
// typed line (Send: the slash-line layer on top of the operations and the
// registry), and renders the typed Events the member takes from its queue.
// A member leaves with a typed Reason.
//
// # State and fan-out
//
// The room's order and memory are its Log's (Config.Log): every public
// event is appended to the log, which numbers it (its Seq), and members are
// shown public events in log order, a joiner the most recent ones first.
// Who owns which nickname is its Nicks' (Config.Nicks). Both default to
// memory (MemoryLog, MemoryNicks); either may be a network store, slow and
// fallible. The hub (hub.go) delivers the numbered events to the local
// members. A room whose log fails to append turns read-only until a probe
// finds the log back (ErrReadOnly, readonly.go): members stay, lines are
// refused, and nobody is shown what was not stored. A room that is one
// node of several (Config.Bus, bus.go) shares its Log with the others and
// delivers public events only as its feed brings them back (Room.Feed).
//
// # Locking
//
// Nothing slow runs under the lock that guards the local member set. The
// slow calls are Log.Append and Log.Replay, and Nicks.Claim, Release and
// Hold. Nicks.Owner must answer from memory. Member.deliver never waits.
// (MemoryLog and MemoryNicks never wait either: when the room has both, the
// member lock alone orders the queued work, which Unlock does at once
// without letting go of it or taking the sequencer; see runQueued.)
// Neither store may call the room back: the room waits for them while
// holding its sequencer, which such a call would wait for in turn.
//
// The locks, in the order they are taken:
//
//   - Room.sequencer serialises the slow work: it is held while the room
//     calls the log or the nickname store, so appends happen one at a time,
//     in the order the room accepted the events, and delivery follows that
//     order. It guards what the sequencer knows (Room.gate, Room.logged);
//     the log's last Seq as the room knows it (Room.appended) is atomic, so
//     that a resume reads it without waiting for the sequencer.
//   - Room.mu, the member lock, guards the member set, the nickname index and
//     roster, each member's room-side state (nick, reason, flood and private
//     budgets, queued lines, missed events), presence, the counters, the hub
//     and the sequencer's job queue and retry timer. Its holder does no slow
//     work: it queues it (broadcast, rename, detach, Join, Close), and
//     Room.mu.Unlock, after releasing the lock, takes the sequencer, does the
//     queued work without the member lock, then takes the member lock again to
//     deliver the outcome in order (sequencer.go). When an exported method
//     returns, what it caused has been stored and delivered. Code holding the
//     sequencer takes the member lock with Lock and gives it back with
//     release, never Unlock. (Unlock may try the sequencer while still holding
//     the member lock, with TryLock, which never waits.)
//   - Room.Feed (bus.go) takes the member lock alone, never the
//     sequencer, so that a node's feed never waits for an Append: what it
//     brings while the sequencer stores a batch (the member lock let go)
//     is held and delivered once the batch is applied (feed.go).
//   - Each member's queue lock (outbox.go), and the locks inside MemoryLog
//     and MemoryNicks, are taken last, under either of the above, and guard
//     only their own state.
//
// A joiner's history is read before any lock is taken, and completed under
// the sequencer with what was stored since; the joiner becomes a member in
// the same step that delivers its Join, so it sees its history, then every
// later public event, with no gap and no duplicate. Presence summaries,
// nickname changes and Close are queued behind the events accepted before
// them and delivered in that order, and so are the events addressed to one
// member (private messages and their receipts, member lists, help, errors):
// they never overtake a public event accepted before them. A rename is
// done in two steps, like a join: the store claims the new nickname first,
// and only then is the member renamed, its old nickname released and the
// change announced; a refused claim leaves the member as it was.
package room

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultHistorySize  = 100
	DefaultOutboxSize   = 256
	DefaultMaxLineBytes = 2048
	DefaultFloodRate    = 2.0 // lines per second, sustained
	DefaultFloodBurst   = 10  // lines at once
	DefaultFloodKick    = 20  // turns of a full queue in a row (10 s at DefaultFloodRate) before disconnecting; see also overflowKickQueues
	DefaultFloodQueue   = 64  // typed lines that wait their turn past the limit (a paste)
	DefaultNickBurst    = 3   // nickname changes at once
	DefaultNickEvery    = 10 * time.Second
	// DefaultQuietJoinsAbove keeps joins and leaves individual in rooms a
	// person can follow, and keeps a join storm from filling an outbox: a
	// member that reads nothing while the room fills gets at most this many
	// Join events, below DefaultOutboxSize.
	DefaultQuietJoinsAbove = 200
	DefaultPresenceEvery   = 10 * time.Second
	// DefaultMembersListed names about a screenful of members; a line of
	// 100 nicks is at most 2.6 KB.
	DefaultMembersListed = 100
	// DefaultPrivateRate and DefaultPrivateBurst bound the private messages
	// one member receives from one sender (its key, else its address), so
	// that no sender can fill one member's outbox with them, nor use up the
	// share of the others.
	DefaultPrivateRate  = 5.0 // per second, sustained
	DefaultPrivateBurst = 20
	// DefaultNickGrace is how long the nickname of a member who left
	// involuntarily is kept for it (see Config.NickGrace).
	DefaultNickGrace = time.Minute
	// DefaultMaxHeldNicks bounds the nicknames held at once.
	DefaultMaxHeldNicks = 10000
)

// ErrClosed is returned by Join once the room has been closed, and wrapped
// by the errors of the member's operations from then on (see ErrNotInRoom).
var ErrClosed = errors.New("room is closed")

// Config tunes a Room. The zero value is usable.
type Config struct {
	// HistorySize is how many recent public events a joining member is shown.
	HistorySize int
	// ResumeSize is how many of the events it missed a resuming member
	// (JoinOptions.Resume) is shown at most, the latest of them, and no
	// more than 256 KiB of their text beyond the latest HistorySize; its
	// outbox is sized for them. Zero means DefaultResumeSize; it is at
	// least HistorySize.
	ResumeSize int
	// OutboxSize bounds the events queued for one member. An event that
	// does not fit is skipped for that member, who is told how many it
	// missed once there is room again; the room never disconnects a member
	// for falling behind (its front end does, if the member stops reading).
	// It is raised if needed so that a joiner's history replay, its framing,
	// its own Join, the member list and the greeting (Greeting) always fit,
	// next to the places
	// public events leave free for replies (an eighth of the outbox, at
	// least 4).
	OutboxSize int
	// MaxLineBytes is the longest input line accepted; longer ones are refused
	// with an Error to the sender.
	MaxLineBytes int
	// FloodRate and FloodBurst are each member's token bucket: FloodBurst
	// lines at once, FloodRate lines per second after that. The lines a
	// member types (Send) beyond that wait their turn in its queue, up to
	// FloodQueue lines and 512 bytes a line on average, and go out
	// at FloodRate, in order; the member is told once how many wait. A
	// line that does not fit in the queue is dropped, and the member is
	// told once how many were. One burst never disconnects: a member whose
	// queue was full each time lines went out of it, FloodKick times in a
	// row (FloodKick/FloodRate seconds), and which still sends, is
	// disconnected. The operations (Say, Act...) called directly are not
	// queued: beyond the bucket, or while lines wait, they are dropped,
	// and FloodKick of them dropped since the member was last within its
	// limit disconnect it.
	FloodRate  float64
	FloodBurst int
	FloodKick  int
	FloodQueue int
	// NickBurst nickname changes are allowed at once, then one per NickEvery.
	NickBurst int
	NickEvery time.Duration
	// QuietJoinsAbove is the room size above which joins and leaves are not
	// announced one by one: while the room, counting the member who comes or
	// goes, has more members than this, they are counted instead, and one
	// Presence event sums them up at most every PresenceEvery. A joiner is
	// still sent its own Join.
	QuietJoinsAbove int
	PresenceEvery   time.Duration
	// PrivateRate and PrivateBurst limit the private messages one member
	// receives from one sender (see Identity; at most 64 senders are
	// tracked per member); a message over the limit is refused with an
	// Error to its sender.
	PrivateRate  float64
	PrivateBurst int
	// NickGrace is how long the nickname of a member who left involuntarily
	// (anything but /quit, shutdown and a removal by an operator: a lost
	// connection, a slow or flooding client) stays reserved for the same Identity, so that the
	// owner gets it back on reconnecting and nobody else can take it
	// meanwhile. At most MaxHeldNicks are held at once, and 3 for one
	// owner; beyond that the oldest hold (of that owner) ends early.
	NickGrace    time.Duration
	MaxHeldNicks int
	// MembersListed caps the nicknames a Members event lists: the first ones
	// in case-insensitive order. Its Count says how many members there are.
	MembersListed int
	// MessageLog, if set, records every chat message, action and private
	// message with its text. Leave it nil to keep message bodies out of logs.
	// It is called without the member lock (public events by the goroutine
	// storing them, holding the sequencer), before the operation that sent
	// the message returns.
	MessageLog *slog.Logger
	// Policy says who may join, who governs the room and who may not
	// speak in it; nil: anyone may join, nobody is an operator and nobody
	// is muted.
	Policy Policy
	// Greeting, if set, is what every joiner is told once it is in, after
	// the member list: the message of the day. It gets the joiner's
	// nickname and identity, is called outside the room's locks, must
	// answer from memory and must not call the room. The room cleans each
	// line and shows at most MaxDescriptionLines of at most MaxLineBytes.
	Greeting func(nick string, id Identity) []string
	// Log stores the room's public events: their order, and the history a
	// joiner is shown (its last HistorySize). Nil means a MemoryLog of
	// HistorySize events. An Append that fails turns the room read-only
	// until the log is back (ErrReadOnly; a Log that implements
	// LogChecker is probed in the background, any other by an Append at
	// most once per backoff interval).
	Log Log
	// Nicks records who owns which nickname, and the nicknames held after
	// an involuntary leave. Nil means a MemoryNicks that holds at most
	// MaxHeldNicks. A release or hold it fails to write is retried, before
	// any later claim of the same nickname and otherwise after a backoff
	// (a quarter of a second, doubling up to a minute), until it succeeds;
	// at most 256 wait at once, beyond that the oldest is given up (its
	// nickname stays taken until the store frees it). Each failure counts
	// in Stats.StoreErrors.
	Nicks Nicks
	// Bus, if set, makes the room one node of several that share Log
	// (see bus.go): public events reach the local members only through
	// Feed, and /who, the member list and /msg take in the members of
	// the other nodes. Nicks must then be shared by the nodes too. New
	// then reads the log's end (slow), where the feed starts (Delivered).
	Bus Bus
	// Logger receives what the room has to say about its store: once
	// when it turns read-only (with the error) and once when it is
	// writable again. Nil means slog.Default().
	Logger *slog.Logger
	// StoreFailed, if set, is called with each error of a call to the
	// Log that failed, an Append or a probe (LogChecker.Check), for
	// metrics; while the room is read-only the probes are bounded by their
	// backoff. It is called without the member lock, must not block and
	// must not call the room.
	StoreFailed func(err error)
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// probeFirst is how long a read-only room waits before its first
	// probe of the store (default probeFirst); tests shorten it.
	probeFirst time.Duration
	// feedCatchUp is how long a resume waits for the feed (default
	// feedCatchUp; see resumeFromPeer); tests shorten it.
	feedCatchUp time.Duration
	// joinWait is how long a joiner waits, parked, for the feed to bring
	// its Join before it is welcomed without it (default feedCatchUp; see
	// welcomeLate); tests shorten it.
	joinWait time.Duration
	// afterFunc calls f after d, as time.AfterFunc does: the timers that
	// send a member's queued lines and welcome a parked joiner late
	// (welcomeLate). Tests replace it to drive that timer
	// with their clock.
	afterFunc func(d time.Duration, f func()) stopper
}

// stopper is a timer that afterFunc started.
type stopper interface{ Stop() bool }

// realAfterFunc is time.AfterFunc, as Config.afterFunc.
func realAfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

func (c Config) withDefaults() Config {
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.OutboxSize <= 0 {
		c.OutboxSize = DefaultOutboxSize
	}
	if c.ResumeSize <= 0 {
		c.ResumeSize = DefaultResumeSize
	}
	c.ResumeSize = max(c.ResumeSize, c.HistorySize)
	// A joiner gets the history, its framing, its own join, the member
	// list and the greeting: need places, all but the Join at spare 0; the Join, a public
	// event, also leaves replyRoom free, OutboxSize/8 (at least 4). So
	// OutboxSize is at least need+4, and need+OutboxSize/8, which holds
	// once 7/8 of it is need.
	need := c.HistorySize + 16 + c.greetingRoom()
	c.OutboxSize = max(c.OutboxSize, need+4, (8*need+6)/7)
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	c.withFloodDefaults()
	if c.NickBurst <= 0 {
		c.NickBurst = DefaultNickBurst
	}
	if c.NickEvery <= 0 {
		c.NickEvery = DefaultNickEvery
	}
	c.withPresenceDefaults()
	c.withLimitDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.afterFunc == nil {
		c.afterFunc = realAfterFunc
	}
	if c.probeFirst <= 0 {
		c.probeFirst = probeFirst
	}
	if c.feedCatchUp <= 0 {
		c.feedCatchUp = feedCatchUp
	}
	if c.joinWait <= 0 {
		c.joinWait = feedCatchUp
	}
	return c
}

// greetingRoom is how many places of a joiner's outbox its greeting may
// take (Greeting): none in a room without one.
func (c Config) greetingRoom() int {
	if c.Greeting == nil {
		return 0
	}
	return MaxDescriptionLines
}

// replyRoom is how many places of each outbox public events leave free for
// what is addressed to the member alone (see Member.deliver).
func (c Config) replyRoom() int { return max(4, c.OutboxSize/8) }

// withFloodDefaults fills in the fields about flood control.
func (c *Config) withFloodDefaults() {
	if c.FloodRate <= 0 {
		c.FloodRate = DefaultFloodRate
	}
	if c.FloodBurst <= 0 {
		c.FloodBurst = DefaultFloodBurst
	}
	if c.FloodKick <= 0 {
		c.FloodKick = DefaultFloodKick
	}
	if c.FloodQueue <= 0 {
		c.FloodQueue = DefaultFloodQueue
	}
}

// floodQueueBytes bounds the text a member's queue holds: 512 bytes a line
// on average (32 KiB for DefaultFloodQueue), and at least one line of
// MaxLineBytes.
func (c Config) floodQueueBytes() int { return max(c.FloodQueue*512, c.MaxLineBytes) }

// withPresenceDefaults fills in the fields about member lists and presence.
func (c *Config) withPresenceDefaults() {
	if c.QuietJoinsAbove <= 0 {
		c.QuietJoinsAbove = DefaultQuietJoinsAbove
	}
	if c.PresenceEvery <= 0 {
		c.PresenceEvery = DefaultPresenceEvery
	}
	if c.MembersListed <= 0 {
		c.MembersListed = DefaultMembersListed
	}
}

// withLimitDefaults fills in the fields about private messages and held
// nicknames.
func (c *Config) withLimitDefaults() {
	if c.PrivateRate <= 0 {
		c.PrivateRate = DefaultPrivateRate
	}
	if c.PrivateBurst <= 0 {
		c.PrivateBurst = DefaultPrivateBurst
	}
	if c.NickGrace <= 0 {
		c.NickGrace = DefaultNickGrace
	}
	if c.MaxHeldNicks <= 0 {
		c.MaxHeldNicks = DefaultMaxHeldNicks
	}
}

// Room is one broadcast room. All its methods are safe for concurrent use.
type Room struct {
	cfg   Config
	log   Log
	logID string // names log for resuming clients (LogID)
	// checker probes log while the room is read-only, if log can be
	// probed (LogChecker); nil if not.
	checker LogChecker
	nicks   Nicks

	sequencer sync.Mutex // see the package doc
	gate      storeGate  // whether to call Append (readonly.go); guarded by sequencer (by mu when inMemory)
	logged    []*Event   // messages delivered, for Config.MessageLog; guarded by sequencer
	// appended is the Seq of the log's last event as the room knows it:
	// the last it appended, or the log's end as read (lastSeq); it only
	// grows (noteEnd). endKnown: appended is known to be the log's end
	// (the room appended, or read it). Both are read and written without
	// a lock, so that a resume never waits for the sequencer.
	appended atomic.Uint64
	endKnown atomic.Bool
	endRead  endRead // the single read of the log's end, and its backoff

	pages roomPages // the room-wide budget of Member.Older (page.go)

	mu         memberLock // see the package doc; it guards what follows
	jobs       jobQueue
	retrier    retrier
	ro         readOnly // the read-only state the operations see (readonly.go)
	closed     bool
	members    map[*Member]struct{}
	arriving   map[*Member]struct{}
	byNick     map[string]*Member // keyed by nickKey
	roster     roster             // everyone's nick, in the order Members lists them
	hub        hub
	counts     counters
	presence   presence
	held       heldView
	lastMember uint64 // the number of the last member admitted (NickClaim.Member)
	// inMemory: the log and the nickname store are the memory ones, which
	// never wait, so the queued work is done under the member lock alone
	// (see runQueued).
	inMemory bool
	cmds     registry // the commands Send runs; see Register
	// feedState is what the room knows of its feed, with Config.Bus
	// (feed.go); guarded by mu.
	feedState feedState
}

// New returns an open, empty room.
func New(cfg Config) *Room {
	cfg = cfg.withDefaults()
	r := &Room{
		cfg:     cfg,
		log:     cfg.Log,
		nicks:   cfg.Nicks,
		members: make(map[*Member]struct{}),
		byNick:  make(map[string]*Member),
		cmds:    builtinRegistry(),
		counts:  counters{leaves: make(map[string]uint64), rejected: make(map[string]uint64)},
	}
	r.arriving = make(map[*Member]struct{})
	if r.log == nil {
		r.log = NewMemoryLog(cfg.HistorySize)
		r.endKnown.Store(true) // empty
	}
	if r.nicks == nil {
		r.nicks = NewMemoryNicks(cfg.MaxHeldNicks, cfg.Now)
	}
	r.checker, _ = r.log.(LogChecker)
	r.logID = newLogID()
	if n, ok := r.log.(LogNamer); ok {
		r.logID = n.LogID()
	}
	_, memoryLog := r.log.(*MemoryLog)
	_, memoryNicks := r.nicks.(*MemoryNicks)
	r.inMemory = memoryLog && memoryNicks
	r.mu.run = r.runQueued
	r.watchStore()
	if cfg.Bus != nil {
		r.feedState.recent = newHistory(cfg.ResumeSize)
		_ = r.startFeed() // slow: reads the log's end; Delivered reads it again if this failed
	}
	return r
}

// JoinOptions says how a member wants to be served.
type JoinOptions struct {
	// Echo delivers the member's own chat messages and actions back to it.
	// Line-protocol clients leave it off: their terminal already shows what
	// they typed. Screen-based front ends turn it on.
	Echo bool
	// Wake tells the front end that events wait: every member pulls its
	// events with Member.Take, so that an idle member needs no goroutine.
	// The room calls Wake when an event arrives after a Take found none,
	// and when the member leaves. It is called with the room's lock held:
	// it must not block or call the room; typically it is a Pump's Wake,
	// which starts a goroutine that calls Take until Take returns nothing.
	// Left nil, the front end must poll Take.
	Wake func()
	// Identity is who the member is, as far as its transport can tell. It
	// decides who gets a held nickname back (see Config.NickGrace).
	Identity Identity
	// Describe tells the member about its own connection, for /crypto
	// (also /tls): what its gateway negotiated, one line each, in the
	// gateway's words (the room knows no transport). It is called without
	// the room's lock held, on the member's /crypto only, and must not
	// block. The room cleans each line and shows at most
	// MaxDescriptionLines of at most MaxLineBytes. Left nil, /crypto says
	// the connection has nothing to describe.
	Describe func() []string
	// Resume asks that the history the member is shown be the public
	// events after ResumeAfter, those it missed since it was last shown
	// the event numbered ResumeAfter (by a member of this room, whose log
	// is named LogID), rather than the most recent ones: at most
	// Config.ResumeSize, the latest of them. If more were missed than the
	// log still holds or than that, a Notice before the history says how
	// many are not shown. A ResumeAfter of 0 asks for the recent history,
	// as without Resume; one beyond the log's last event (the log was
	// replaced, or the number is made up) does too, with a Notice saying
	// so. The caller checks that the member's number came from this log.
	Resume      bool
	ResumeAfter uint64
}

// LogID names the room's log, for a client that resumes (JoinOptions.Resume):
// its sequence numbers are good for a resume only in the log they came
// from. A log that does not name itself (LogNamer) is named anew for each
// Room.
func (r *Room) LogID() string { return r.logID }

// Join adds a member under nick. The member's event stream starts with a
// replay of recent history, if there is any, framed by HistoryBegin and
// HistoryEnd; then its own Join event, then a Members list; live events
// follow. Join fails with an error wrapping ErrInvalidNick, ErrNickTaken,
// ErrClosed or ErrUnavailable, or with Config.Policy's refusal
// (Policy.Admit), returned as is: a gateway tells it and lets the joiner
// try no other nickname. In a read-only room (see ErrReadOnly) it
// succeeds, but the Join is shown to the joiner alone, then a Notice that
// the room is read-only. With Config.Bus, a joiner whose Join the log
// stored is shown all that (in the same order) once the node's feed
// brings its Join, and nothing before: Join may return first.
func (r *Room) Join(nick string, opts JoinOptions) (*Member, error) {
	if err := ValidateNick(nick); err != nil {
		return nil, err
	}
	a := &arrival{}
	if opts.Resume && opts.ResumeAfter > 0 {
		a.after, a.reset, a.pastErr = r.ResumeFrom(opts.ResumeAfter)
	}
	limit := r.replayLimit(a.after)
	if a.pastErr == nil {
		a.past, a.pastErr = r.log.Replay(a.after, limit) // slow: before any lock
	}
	if l, ok := r.log.(LogStart); ok && a.after > 0 && a.pastErr == nil && len(a.past) >= limit && a.past[0].Seq > a.after && a.past[0].Seq-a.after > 1 {
		// Cut by ResumeSize: which of those not shown does the log keep?
		// (Slow, one more read, only for a resume that missed more than
		// a resume shows.)
		if first, err := l.FirstSeq(); err == nil {
			a.first = max(first, 1)
		}
	}
	a.greeting = r.greeting(nick, opts.Identity)
	if err := r.admit(nick, opts, a); err != nil {
		return nil, err
	}
	if a.err != nil {
		return nil, a.err
	}
	if a.pastErr != nil {
		// The joiner is told plainly (historyUnavailableText); the
		// store's words are for the host.
		r.logger().Warn("a joiner's history could not be read", "nick", nick, "err", a.pastErr)
	}
	return a.m, nil
}

// ResumeFrom returns the point a resume after the sequence number after,
// in this room's log, will be served from: after itself if the log has
// reached it, else 0 with reset set (the point is beyond the log's last
// event: the log lost its tail, or the number is made up; the member is
// then shown the recent history, and told so). A gateway acknowledges the
// point it returns, which a later Join with that point keeps: the log only
// grows while the room runs. It decides from the last sequence number the
// room appended; only a room that has appended nothing yet (a durable log
// just opened) asks its log for its last event, without holding any lock
// of the room (the room's work goes on meanwhile), one read at a time,
// until a read succeeds (see lastSeq). It fails, wrapping ErrUnavailable,
// if that read fails, and at once, with the same error, for a while after
// (a second, doubling up to a minute while the reads keep failing).
// With Config.Bus, a point is served only once the room's feed has
// delivered it (the member may have been shown it on another node): it
// waits a few seconds at most for the feed, then fails, wrapping
// ErrUnavailable.
func (r *Room) ResumeFrom(after uint64) (from uint64, reset bool, err error) {
	if after == 0 {
		return 0, false, nil
	}
	last, err := r.lastSeq()
	if err != nil {
		return 0, false, fmt.Errorf("%w: the room's history could not be read: %v", ErrUnavailable, err)
	}
	if r.cfg.Bus != nil {
		return r.resumeFromPeer(after, last)
	}
	if after > last {
		return 0, true, nil
	}
	return after, false, nil
}

// The bounds of the read of the log's end (lastSeq) after it failed: the
// reads that come within endRetryFirst fail at once with the same error,
// and each failure in a row doubles that wait, up to endRetryMax.
const (
	endRetryFirst = time.Second
	endRetryMax   = time.Minute
)

// endRead is the read of the log's end that lastSeq makes: one at a time,
// and not again for a while after one failed. Its mu is a leaf lock,
// taken under no other and held for no call.
type endRead struct {
	mu      sync.Mutex
	reading chan struct{} // closed when the read in flight ends; nil if none
	err     error         // why the last read failed; nil after a success
	retryAt time.Time     // after a failure: no read before then
	wait    time.Duration // the backoff after the next failure; 0 before the first
}

// noteEnd records that the log's last event is at least seq, and that
// the room knows its end.
func (r *Room) noteEnd(seq uint64) {
	for {
		cur := r.appended.Load()
		if seq <= cur || r.appended.CompareAndSwap(cur, seq) {
			break
		}
	}
	r.endKnown.Store(true)
}

// lastSeq returns the sequence number of the log's last event, as the room
// knows it: the last one it appended, or, until it appended one, the log's
// last event, read (slow): LogEnd.LastSeq if the log has it (a log whose
// events all expired still knows its last number), else its last event.
// The read takes no lock of the room: the sequencer goes on with the
// room's work meanwhile. One read runs at a time, the callers that come
// meanwhile wait for its outcome; once one succeeded, the room knows its
// end and never reads it again; after a failure, the callers that come
// within a backoff (endRetryFirst, doubling up to endRetryMax) get the
// same error at once. The caller holds no lock.
func (r *Room) lastSeq() (last uint64, err error) {
	e := &r.endRead
	for {
		if r.endKnown.Load() {
			return r.appended.Load(), nil
		}
		e.mu.Lock()
		if r.endKnown.Load() {
			e.mu.Unlock()
			continue
		}
		if e.err != nil && r.cfg.Now().Before(e.retryAt) {
			err := e.err
			e.mu.Unlock()
			return 0, err
		}
		if wait := e.reading; wait != nil {
			e.mu.Unlock()
			<-wait // the read in flight: bounded by the log's own timeout
			e.mu.Lock()
			err := e.err
			e.mu.Unlock()
			if err != nil && !r.endKnown.Load() {
				return 0, err
			}
			continue
		}
		done := make(chan struct{})
		e.reading = done
		e.mu.Unlock()
		end, err := r.readEnd()
		e.mu.Lock()
		e.reading = nil
		if err != nil {
			e.wait = min(max(2*e.wait, endRetryFirst), endRetryMax)
			e.err, e.retryAt = err, r.cfg.Now().Add(e.wait)
		} else {
			e.err, e.wait = nil, 0
			r.noteEnd(end)
		}
		close(done)
		e.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
}

// readEnd reads the sequence number of the log's last event: LogEnd's
// LastSeq, or its last event's (0 if it holds none). It is slow: the
// caller holds no lock.
func (r *Room) readEnd() (uint64, error) {
	if l, ok := r.log.(LogEnd); ok {
		return l.LastSeq()
	}
	evs, err := r.log.Replay(0, 1)
	if err != nil || len(evs) != 1 {
		return 0, err
	}
	return evs[0].Seq, nil
}

// admit checks that a member may join as nick and queues its arrival,
// which the sequencer completes (storeArrival, arrive) before admit
// returns.
func (r *Room) admit(nick string, opts JoinOptions, a *arrival) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := r.admitPolicy(opts.Identity); err != nil {
		return err
	}
	if err := r.nickFree(nick, opts.Identity, nil); err != nil {
		return err
	}
	m := newMember(r, nick, opts)
	if a.after > 0 {
		m.outbox.limit = r.cfg.resumeOutbox() // m is no one else's yet
	}
	r.lastMember++
	m.no = r.lastMember
	a.m = m
	r.arriving[m] = struct{}{} // admitted, its Join being stored: Remove sees it
	a.join = &Event{Kind: Join, From: nick, Time: r.cfg.Now()}
	a.quiet = r.quiet(len(r.members) + 1)
	r.queue(job{kind: arriveJob, nick: nick, key: nickKey(nick), arrival: a})
	return nil
}

// arrive makes a joiner a member, once the store has its nickname and the
// log its Join, and shows it its history, its Join and the member list. If
// the store refused, it undoes the arrival. The caller holds r.sequencer
// and r.mu.
func (r *Room) arrive(a *arrival) {
	m := a.m
	delete(r.arriving, m)
	if a.err != nil {
		if !errors.Is(a.err, ErrNickTaken) {
			r.counts.storeErrors++
		}
		if a.claimed {
			r.queueNick(releaseJob, m)
		}
		return
	}
	r.members[m] = struct{}{}
	r.addIndex(m)
	r.counts.joins++
	if r.joinToCome(a) {
		r.awaitJoin(a) // welcomed when the feed brings its Join (feed.go)
	} else {
		r.welcome(a, nil)
	}
	if m.removal != (Reason{}) { // removed on its way in
		r.removeNow(m, m.removal)
	}
}

// welcome shows a new member its history, its own Join, the member list
// and its greeting, in that order. own is its Join as the feed brought
// it, for a room with Config.Bus that waited for it (awaitJoin): m is
// shown it here, and the hub skips m when it delivers it to the others.
// The caller holds r.mu.
func (r *Room) welcome(a *arrival, own *Event) {
	m := a.m
	if r.cfg.Bus != nil {
		r.alignHistory(a)
	}
	r.replayHistory(m, a)
	r.announceJoin(m, a, own)
	r.tell(m, r.membersEvent())
	for _, text := range a.greeting {
		r.tell(m, &Event{Kind: Notice, Text: text})
	}
	if r.ro.on {
		r.tell(m, &Event{Kind: Notice, Text: ReadOnlyNotice, Store: StoreReadOnly})
	}
	r.unpark(m)
}

// announceJoin tells everyone that m joined or, in a room too big for that,
// tells m alone and counts the join for the next Presence summary; in a
// read-only room whose log did not store the join, it tells m alone. With
// Config.Bus the feed tells everyone; m is told own, if the caller has it
// (see welcome). The caller holds r.mu.
func (r *Room) announceJoin(m *Member, a *arrival, own *Event) {
	if a.unstored { // read-only: m alone is told
		r.tell(m, a.join)
		return
	}
	if !a.quiet {
		switch {
		case r.cfg.Bus == nil:
			r.hub.deliver(r, a.join, nil)
		case own != nil:
			r.tell(m, own) // the feed brings it to the others
		}
		return
	}
	r.notePresence(1, 0)
	r.tell(m, a.join)
}

// addIndex and dropIndex update the local index of m's nickname alone. The
// caller holds r.mu.
func (r *Room) addIndex(m *Member) {
	r.byNick[nickKey(m.nick)] = m
	r.roster.add(m.nick)
	if r.cfg.Bus != nil {
		r.cfg.Bus.MembersChanged()
	}
}

func (r *Room) dropIndex(m *Member) {
	delete(r.byNick, nickKey(m.nick))
	r.roster.remove(m.nick)
	if r.cfg.Bus != nil {
		r.cfg.Bus.MembersChanged()
	}
}

// nickOwner returns who has nick (whose nickKey is key) as the room sees
// it: the nickname store, as it will be once the nickname jobs queued or
// in flight are written. The caller holds r.mu.
func (r *Room) nickOwner(nick, key string) (NickOwner, bool) {
	if owner, ok, known := r.jobs.nickOwner(key, r.cfg.Now()); known {
		return owner, ok
	}
	return r.nicks.Owner(nick)
}

// claimOf is m's claim to its nickname.
func claimOf(m *Member) NickClaim { return NickClaim{Member: m.no, Identity: m.id} }

// membersEvent lists the first MembersListed members and counts them all:
// with Config.Bus, those of every node. The caller holds r.mu.
func (r *Room) membersEvent() *Event {
	if r.cfg.Bus != nil {
		return r.clusterMembers()
	}
	listed := r.roster[:min(len(r.roster), r.cfg.MembersListed)]
	return &Event{Kind: Members, Count: len(r.roster), Nicks: slices.Clone(listed)}
}

// goneNotice tells a resuming member how many of the events it missed it
// is not shown.
func goneNotice(n uint64) string {
	if n == 1 {
		return "1 event was missed and is no longer kept"
	}
	return fmt.Sprintf("%d events were missed and are no longer kept", n)
}

// cutNotice tells a resuming member how many of the events it missed are
// not shown because a resume shows at most size (and maxResumeBytes of
// text); some of them may be gone too if the log cannot say (maybeGone).
func cutNotice(n uint64, size int, maybeGone bool) string {
	verb := "events were missed and are"
	if n == 1 {
		verb = "event was missed and is"
	}
	limit := fmt.Sprintf("a resume shows at most %d events and %d KiB", size, maxResumeBytes>>10)
	if maybeGone {
		return fmt.Sprintf("%d %s not shown (%s; the log may no longer keep some)", n, verb, limit)
	}
	return fmt.Sprintf("%d %s not shown: %s", n, verb, limit)
}

// historyUnavailableText is the Error a joiner is shown when its history
// could not be read; the error itself goes to the room's Logger.
const historyUnavailableText = "the history cannot be read now: storage unavailable"

// replayHistory queues the recent public events, if any, for a new member
// (those after its resume point, if it resumes, after a Notice of how many
// it missed are not shown), or tells it that the log could not replay
// them. The outbox is sized so that this always fits. The caller holds
// r.mu.
func (r *Room) replayHistory(m *Member, a *arrival) {
	past, err := a.past, a.pastErr
	now := r.cfg.Now()
	if a.reset {
		m.deliver(&Event{Kind: Notice, Time: now, Text: ResumeResetNotice}, 0)
	}
	if err == nil && a.after > 0 {
		// Only what follows the point, whatever the log returned (a log
		// whose after+1 wraps returns its latest events for MaxUint64).
		past = slices.DeleteFunc(slices.Clone(past), func(ev *Event) bool { return ev.Seq <= a.after })
		full := len(past) >= r.cfg.ResumeSize // the log may keep more than it was asked for
		// Missed and not read: those before the first read, or, if the
		// log holds none after the point (they expired), up to its end.
		oldest := a.end + 1
		if len(past) > 0 {
			oldest = past[0].Seq
		}
		var trimmed int // read, kept by the log, and not shown for their size
		past, trimmed = trimResumed(past, r.cfg.HistorySize)
		var unread uint64
		if oldest > a.after { // no wrap
			unread = oldest - a.after - 1
		}
		if unread > 0 || trimmed > 0 {
			var gone, cut uint64
			switch {
			case !full:
				gone = unread // the read would have returned any the log kept
			case a.first > 0:
				gone = min(unread, max(a.first, a.after+1)-a.after-1)
				cut = unread - gone
			default:
				cut = unread // the log cannot say which
			}
			cut += uint64(trimmed)
			if gone > 0 {
				m.deliver(&Event{Kind: Notice, Time: now, Text: goneNotice(gone)}, 0)
			}
			if cut > 0 {
				m.deliver(&Event{Kind: Notice, Time: now, Text: cutNotice(cut, r.cfg.ResumeSize, full && a.first == 0)}, 0)
			}
		}
	}
	if err != nil {
		r.counts.storeErrors++
		m.deliver(&Event{Kind: Error, Time: now, Text: historyUnavailableText}, 0)
		return
	}
	if len(past) == 0 {
		return
	}
	m.deliver(&Event{Kind: HistoryBegin, Time: now, Count: len(past)}, 0)
	for _, ev := range past {
		m.deliver(ev, 0)
	}
	m.deliver(&Event{Kind: HistoryEnd, Time: now}, 0)
}

// Members returns the nicknames present, sorted case-insensitively.
func (r *Room) Members() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.roster)
}

// Who returns the member list /who shows, for someone who has not joined:
// the first Config.MembersListed nicknames, sorted, and how many members
// there are, as a Members event stamped now. It joins nothing and
// announces nothing.
func (r *Room) Who() *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.membersEvent()
	ev.Time = r.cfg.Now()
	return ev
}

// Len returns how many members are present.
func (r *Room) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

// Close tells every member notice (a Bye event; ShutdownNotice is chatd's),
// removes them all with a reason of kind ReasonShutdown and refuses later
// joins. The public events accepted before are delivered first. Then it
// stores the members' leaves (storewatch.go), shown to nobody, so that the
// history shows them leave. It is safe to call more than once.
func (r *Room) Close(notice string) {
	defer r.stopProbe()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.presence.stop()
	r.feedState.stopJoinWaits()
	now := r.cfg.Now()
	leaves := r.shutdownLeaves(now)
	r.queue(job{kind: closeJob, ev: &Event{Kind: Bye, Time: now, Text: notice, Reason: Reason{Kind: ReasonShutdown}}})
	r.mu.Unlock()
	r.storeLeaves(leaves)
}

// shutDown tells every member ev, Close's Bye, and removes them all. The
// caller holds r.mu.
func (r *Room) shutDown(ev *Event) {
	for m := range r.members {
		m.deliver(ev, 0) // best effort: a full outbox goes without
		r.detach(m, ev.Reason)
	}
}

// broadcast stamps a public event with the time and queues it for the log
// and then every member, who is offered it without waiting (a member whose
// outbox is full skips it; see hub.deliver). A sender that asked for no
// echo does not get its own chat or action back. Once the room is closed
// it does nothing. The caller holds r.mu; the event is stored and delivered
// once it is released.
func (r *Room) broadcast(ev *Event, sender *Member) {
	if r.closed {
		return
	}
	ev.Time = r.cfg.Now()
	r.queue(job{kind: publishJob, ev: ev, member: sender})
}

// count counts one delivery, or one event skipped for a member that fell
// behind. The caller holds r.mu.
func (r *Room) count(delivered bool) {
	if delivered {
		r.counts.deliveries++
	} else {
		r.counts.skipped++
	}
}

// leaveEvent removes m and returns the Leave event to announce, or nil if m
// had already been removed or the room is too big to announce it (the leave
// is then counted for the next Presence summary). The caller holds r.mu.
func (r *Room) leaveEvent(m *Member, reason Reason) *Event {
	if !r.detach(m, reason) {
		return nil
	}
	if r.quiet(len(r.members) + 1) {
		r.notePresence(0, 1)
		return nil
	}
	return &Event{Kind: Leave, From: m.nick, Reason: reason}
}

// remove takes m out of the room and announces it. The caller holds r.mu.
func (r *Room) remove(m *Member, reason Reason) {
	if ev := r.leaveEvent(m, reason); ev != nil {
		r.broadcast(ev, nil)
	}
}

// detach takes m out of the room's indexes, records why and closes its event
// stream; its nickname is released, or held for it if it left against its
// will and the room's (not removed by an operator: see Reason.Final). It
// reports false if m was already gone. The caller holds r.mu.
func (r *Room) detach(m *Member, reason Reason) bool {
	if _, ok := r.members[m]; !ok {
		return false
	}
	delete(r.members, m)
	r.dropIndex(m)
	if reason.Involuntary() && !reason.Final() && !r.closed && m.id.owner() != "" {
		r.queueNick(holdJob, m)
	} else {
		r.queueNick(releaseJob, m)
	}
	m.reason = reason
	m.stopCatchUp()
	m.dropBacklog()
	r.counts.leaves[reason.Class()]++
	m.closeOutbox()
	return true
}

// countMessage counts chat, actions and private messages, and reports
// whether ev is one. A public event is counted once the log has stored it.
// The caller holds r.mu.
func (r *Room) countMessage(ev *Event) bool {
	if !(ev.Kind == Chat || ev.Kind == Action || ev.Kind == Private) {
		return false
	}
	r.counts.messages++
	return true
}

// logMessage records a message delivered in the message log, if there is
// one. The caller does not hold r.mu.
func (r *Room) logMessage(ev *Event) {
	if r.cfg.MessageLog == nil {
		return
	}
	r.cfg.MessageLog.Info("message", "kind", ev.Kind.String(), "seq", ev.Seq, "from", ev.From, "to", ev.To, "text", ev.Text)
}

// logMessages records the public messages delivered since the last call
// in the message log. The caller holds r.sequencer, not r.mu.
func (r *Room) logMessages() {
	if len(r.logged) == 0 {
		return
	}
	for _, ev := range r.logged {
		r.logMessage(ev)
	}
	clear(r.logged)
	r.logged = r.logged[:0]
}

// tell queues an event for one member; it reports false if the member has
// left or the event did not fit (see Member.deliver). A member still
// awaiting its Join has it held until its welcome (park). The caller
// holds r.mu.
func (r *Room) tell(m *Member, ev *Event) bool {
	if _, present := r.members[m]; !present {
		return false // removed meanwhile; its stream is closed
	}
	if ev.Time.IsZero() {
		ev.Time = r.cfg.Now()
	}
	if m.awaiting {
		return r.park(m, ev)
	}
	ok := m.deliver(ev, 0)
	r.count(ok)
	return ok
}
