// Package jetlog is the room's Log (room.Log) on NATS JetStream: the public
// events in one stream, whose sequence is the room's. By default it embeds
// the NATS server in-process (JetStream on, its store in a directory, no
// port opened); Options.URL points it at an external server instead.
package jetlog

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// Defaults for Options fields left zero.
const (
	DefaultStream   = "CHATD_ROOM"
	DefaultSubject  = "chatd.room.events"
	DefaultMaxMsgs  = 100_000
	DefaultMaxAge   = 30 * 24 * time.Hour
	DefaultTimeout  = 5 * time.Second
	DefaultMaxText  = room.DefaultMaxLineBytes
	maxReplayProbes = 1024 // messages Replay may skip (deleted, invalid) beyond n
	minWindow       = 64   // the fewest messages Replay asks for at once
	maxWindow       = 1024 // the most messages Replay asks for at once
	// MaxMaxText bounds Options.MaxText, so that a record stays well within
	// a NATS message.
	MaxMaxText = 64 << 10
	// MaxReplicas bounds Options.Replicas: the most copies JetStream keeps.
	MaxReplicas = 5
)

// Options says where the log lives and what it keeps.
type Options struct {
	// Dir is the embedded server's store directory (chatd: <data-dir>/nats).
	// It is used when URL is empty, and must then be set. With URL it is
	// optional: there the log records the external stream's creation time
	// and the sequence it reached (files chatd-created-<Stream> and
	// chatd-seq-<Stream>), and Open refuses a stream that was replaced or
	// ends below that sequence.
	Dir string
	// URL, if set, is an external NATS server (or several, comma-separated);
	// nothing is embedded. CAFile and CredsFile are its TLS CA and its
	// credentials file, both optional. The server must be nats-server 2.11
	// or later (Open refuses an older one).
	URL       string
	CAFile    string
	CredsFile string
	// CertFile and KeyFile are the TLS client certificate and key chatd
	// presents to the external server, both or neither.
	CertFile string
	KeyFile  string
	// Shared says several chatd nodes write the stream (a room served by
	// several nodes, see shared.go): each append is numbered by the
	// stream whatever the others appended, and each node reads the
	// events back through Follow. Requires URL.
	Shared bool
	// Replicas is how many servers of the cluster keep the stream
	// (default 1, at most MaxReplicas). Open updates an existing stream
	// kept by another number of servers to it, as it does its limits
	// (the NATS cluster moves the copies; see openStream).
	Replicas int
	// Stream and Subject name the stream of public events and its one
	// subject (defaults DefaultStream, DefaultSubject).
	Stream  string
	Subject string
	// MaxMsgs and MaxAge bound what the stream keeps: the oldest events
	// beyond either are removed (defaults DefaultMaxMsgs, DefaultMaxAge).
	MaxMsgs int64
	MaxAge  time.Duration
	// MaxText is the longest text or leave reason an event may have, in
	// bytes (default DefaultMaxText; chatd passes its line limit). It also
	// bounds the stream's message size.
	MaxText int // at most MaxMaxText
	// Recent is how many of the last events the log keeps in memory to
	// answer Replay without reading the stream (default DefaultRecent;
	// negative: none; at most MaxMsgs). See recent.go.
	Recent int
	// Timeout bounds each call to the server (default DefaultTimeout): an
	// Append, a look at the stream's state, each window of a Replay (at
	// most maxWindow messages), so a long Replay may take several.
	Timeout time.Duration
	// ElectionWait (shared logs only) is how long an append that got no
	// answer from the stream (a timeout, no responders, the connection
	// reconnecting: not a refusal) keeps being published again, the same
	// message under the same Nats-Msg-Id, so that the stream stores it
	// once: a NATS cluster electing the stream's new leader after a
	// server died answers nothing for a few seconds, and the room need
	// not turn read-only for that. Each attempt then waits at most
	// maxAttemptWait (or Timeout if shorter) for its ack. Only when the
	// budget runs out does the append fail. Likewise a lost connection
	// is told to the room (room.LogWatcher, watch.go) only if it is not
	// back within ElectionWait (it usually is at once, on another server
	// of the cluster). 0: 2 x Timeout; negative: no retry (each append is
	// published once, and a lost connection told at once, as when not
	// shared).
	ElectionWait time.Duration
	// Logger receives the log's warnings (skipped records) and the embedded
	// server's errors and warnings; nil: slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.MaxMsgs <= 0 {
		o.MaxMsgs = DefaultMaxMsgs
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxText <= 0 {
		o.MaxText = DefaultMaxText
	}
	if o.Recent == 0 {
		o.Recent = DefaultRecent
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ElectionWait == 0 {
		o.ElectionWait = 2 * o.Timeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
}

// check refuses options that contradict each other.
func (o *Options) check() error {
	switch {
	case o.MaxText > MaxMaxText:
		return fmt.Errorf("jetlog: the longest text, %d bytes, is over %d", o.MaxText, MaxMaxText)
	case o.Shared && o.URL == "":
		return errors.New("jetlog: a shared stream (several chatd nodes) needs an external NATS server (URL): the embedded one serves this process alone")
	case (o.CertFile == "") != (o.KeyFile == ""):
		return errors.New("jetlog: a TLS client certificate needs both its certificate file and its key file")
	case (o.CertFile != "" || o.CAFile != "") && o.URL == "":
		return errors.New("jetlog: TLS files are for an external NATS server (URL); the embedded one has no connection to secure")
	case o.Replicas < 1 || o.Replicas > MaxReplicas:
		return fmt.Errorf("jetlog: %d replicas: the stream is kept by 1 to %d servers", o.Replicas, MaxReplicas)
	case o.Replicas > 1 && o.URL == "":
		return errors.New("jetlog: replicas need an external NATS cluster (URL); the embedded server is one")
	}
	return nil
}

// Log is a room.Log on a JetStream stream. It is safe for concurrent use.
type Log struct {
	opts      Options
	maxRecord int
	srv       *server.Server // nil with an external server
	nc        *nats.Conn
	js        jetstream.JetStream
	stream    jetstream.Stream
	skipped   atomic.Uint64
	recent    recent // the last events appended, for Replay

	// reads and pages (below) are the batched reads of Replay and of
	// Before, each on its own subscription and lock (see reader).
	// appends counts Appends, to record the sequence floor every
	// floorEvery of them, or at the first after floorAfter (embedded only).
	appends atomic.Uint64
	floorAt atomic.Int64 // when the floor was last written, Unix ns
	floorMu sync.Mutex   // serialises writeFloor's read-compare-write
	// opened is set at the end of a successful Open: only then does Close
	// record the floor (a refused store's LastSeq must not become it).
	opened  bool
	lock    *os.File  // the store's lock, embedded or Options.Dir (nil elsewhere)
	id      string    // LogID, set by Open
	created time.Time // the stream's creation time, set by Open
	watch   watch     // the connection's handlers and the room's (watch.go)
	// life ends when Close is called: a shared append retrying after an
	// unanswered publish (retry.go) gives up at once then.
	life    context.Context
	stop    context.CancelFunc
	retried atomic.Uint64 // publishes made again after no answer (retry.go)

	// appendMu serialises Appends, so that each ack can be checked against
	// the one before: lastSeq is the highest sequence the stream was seen
	// to reach (at Open, by an ack). An ack or a stream state below it
	// means the stream was lost or replaced under the log: broken is then
	// set, and every Append and Replay fails with it.
	//
	// Not shared, every Append (and each event of AppendBatch) is
	// published expecting the stream to end where the log saw it end, and
	// is marked as this log's (writerHeader: writer and a count), so that
	// a message stored though its ack never came (a timeout: the room was
	// told it failed, and nobody was shown it) is found above lastSeq and
	// deleted by Check, and a message another writer stored is noticed
	// (see reconcile.go). Shared, appends expect no last sequence (the other
	// writers' come between), and Check deletes only this log's
	// never-acked messages (shared.go).
	appendMu  sync.Mutex
	lastSeq   atomic.Uint64
	broken    atomic.Pointer[error]
	writer    string        // this log's mark, random, set by Open
	published atomic.Uint64 // messages published, counted in their mark
	deleted   deletedSeqs   // the never-acked messages reconcile deleted
	unacked   unackedMarks  // shared: the marks of messages published but not acked
	follows   follows       // the feeds (Follow), told when the connection comes back

	reads reader    // Replay's reads (see reader)
	pages pageReads // Before's reads, apart from Replay's (page.go)
}

var _ room.Log = (*Log)(nil)

// Open starts the embedded server (or connects to Options.URL) and opens
// the stream of public events, creating it if the store has none. A store
// directory that is not a chatd store, or holds a stream it cannot load,
// and a stream of that name with another subject or storage, are errors:
// Open never replaces what it finds.
func Open(ctx context.Context, opts Options) (*Log, error) {
	l, err := openLog(ctx, opts)
	if err != nil {
		// No credential of the URL in what Open says, whichever part of
		// it failed (nats.go or the server may quote the URL).
		return nil, redactErr(err, opts.URL)
	}
	return l, nil
}

// openLog is Open, its errors not yet redacted.
func openLog(ctx context.Context, opts Options) (*Log, error) {
	opts.setDefaults()
	if err := opts.check(); err != nil {
		return nil, err
	}
	l := &Log{opts: opts, maxRecord: maxRecordBytes(opts.MaxText), writer: rand.Text()}
	l.life, l.stop = context.WithCancel(context.Background())
	l.recent.size = int(max(0, min(int64(opts.Recent), opts.MaxMsgs)))
	var err error
	if opts.URL == "" {
		l.srv, l.nc, err = l.embed(opts)
	} else {
		if l.lock, err = lockDir(opts.Dir); err == nil {
			l.nc, err = dial(opts)
		}
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	l.watchConn()
	if err := l.openStream(ctx); err != nil {
		l.Close()
		return nil, err
	}
	if l.srv == nil && opts.Dir != "" {
		if err := l.checkCreated(); err != nil {
			l.Close()
			return nil, err
		}
	}
	if l.floorPath() != "" {
		if err := l.checkFloor(ctx); err != nil {
			l.Close()
			return nil, err
		}
	}
	if l.srv != nil {
		dropAside(opts.Dir)
	}
	if err := l.reads.subscribe(l.nc); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.pages.subscribe(l.nc); err != nil {
		l.Close()
		return nil, err
	}
	// Room for a read and the rest of one that gave up; beyond it the
	// connection drops replies, and the read fails (a slow consumer), never
	// passing a dropped message for a deleted one.
	for _, sub := range []*nats.Subscription{l.reads.sub, l.pages.sub} {
		if err := sub.SetPendingLimits(readPendingMsgs, readPendingBytes); err != nil {
			l.Close()
			return nil, fmt.Errorf("jetlog: %w", err)
		}
	}
	info := l.stream.CachedInfo()
	l.lastSeq.Store(info.State.LastSeq)
	l.id = logID(info.Config.Name+copySuffix(l.copyMark()), info.Created.UnixNano())
	l.created = info.Created
	if evs, err := l.Replay(0, l.recent.size); err == nil {
		for _, ev := range evs {
			l.recent.add(ev)
		}
	}
	l.opened = true
	return l, nil
}

// lockDir (external server) locks dir, if set, as embed locks the store:
// two logs on one Dir (two chatds on one data directory and --nats) would
// share the stream, and Dir's records of it. It returns nil without Dir.
func lockDir(dir string) (*os.File, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jetlog: %w", err)
	}
	return lockStore(dir)
}

// connOptions are the options of the connection, embedded or external.
// No reconnect buffer: a publish made while disconnected must fail at
// once, not be sent after the room was told it failed (the event would
// then be stored though nobody was shown it).
//
// The servers of Options.URL are tried in the order given, not shuffled
// (nats.go's default): a node lists the NATS server on its own machine
// first, and talks to another machine's only when that one is down, which
// spares each event half a network round trip each way.
func connOptions(opts Options) []nats.Option {
	return []nats.Option{nats.Name("chatd"), nats.MaxReconnects(-1), nats.ReconnectBufSize(-1), nats.Timeout(opts.Timeout), nats.DontRandomize()}
}

// The oldest nats-server the log works with: Replay's batched direct gets
// (batch, up_to_seq) came in 2.11; an older server ignores them and
// answers one message, so each Replay would wait out the timeout.
const minMajor, minMinor = 2, 11

// versionAtLeast reports whether the server version v ("2.11.0",
// "v2.12.1-beta") is major.minor or later.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// dial connects to an external server.
func dial(opts Options) (*nats.Conn, error) {
	copts := connOptions(opts)
	if opts.CAFile != "" {
		copts = append(copts, nats.RootCAs(opts.CAFile))
	}
	if opts.CredsFile != "" {
		copts = append(copts, nats.UserCredentials(opts.CredsFile))
	}
	if opts.CertFile != "" {
		copts = append(copts, nats.ClientCert(opts.CertFile, opts.KeyFile))
	}
	nc, err := nats.Connect(opts.URL, copts...)
	if err != nil {
		return nil, redactErr(fmt.Errorf("jetlog: connect to %s: %w", RedactURLs(opts.URL), err), opts.URL)
	}
	if v := nc.ConnectedServerVersion(); !versionAtLeast(v, minMajor, minMinor) {
		nc.Close()
		return nil, fmt.Errorf("jetlog: the NATS server at %s is version %.40q; chatd needs nats-server %d.%d or later (batched direct gets)",
			RedactURLs(opts.URL), v, minMajor, minMinor)
	}
	return nc, nil
}

// streamConfig is the stream the options ask for.
func (l *Log) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        l.opts.Stream,
		Description: "chatd: the room's public events",
		Subjects:    []string{l.opts.Subject},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     l.opts.MaxMsgs,
		MaxAge:      l.opts.MaxAge,
		Duplicates:  duplicateWindow(l.opts.MaxAge),
		MaxMsgSize:  int32(l.maxRecord),
		MaxBytes:    -1,
		Replicas:    l.opts.Replicas,
		AllowDirect: true, // Replay reads message by message: direct gets are cheaper
	}
}

// maxDuplicateWindow is the stream's duplicate window (NATS's default)
// when MaxAge allows it.
const maxDuplicateWindow = 2 * time.Minute

// duplicateWindow is the stream's duplicate window for maxAge: NATS's
// default, 2 minutes, or maxAge if shorter, since the server refuses a
// window longer than the stream's MaxAge (a store created with the
// default could otherwise not be reopened with a shorter MaxAge).
func duplicateWindow(maxAge time.Duration) time.Duration {
	return min(maxDuplicateWindow, maxAge)
}

// openStream opens the stream, checking that it is ours, and updates its
// limits to the options; or creates it if there is none (and, embedded,
// the store never had one).
func (l *Log) openStream(ctx context.Context) error {
	// Acks of AppendBatch's publishes that never come are forgotten
	// after the timeout.
	js, err := jetstream.New(l.nc, jetstream.WithPublishAsyncTimeout(l.opts.Timeout))
	if err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	l.js = js
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	want := l.streamConfig()
	s, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if err := l.refuseMissing(); err != nil {
			return err
		}
		if l.srv != nil && storeHasStream(l.opts.Dir, want.Name) {
			return fmt.Errorf("jetlog: the store %s holds stream %s but the server could not load it (see its log); %s",
				l.opts.Dir, want.Name, keepDamaged(l.opts.Dir))
		}
		if s, err = js.CreateStream(ctx, want); errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && l.opts.Shared {
			// Another node created it meanwhile: check it as one found.
			if s, err = js.Stream(ctx, want.Name); err != nil {
				return fmt.Errorf("jetlog: open stream %s: %w", want.Name, err)
			}
			if s, err = l.checkFound(ctx, s); err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("jetlog: create stream %s: %w", want.Name, err)
		}
	case err != nil:
		return fmt.Errorf("jetlog: open stream %s: %w", want.Name, err)
	default:
		if s, err = l.checkFound(ctx, s); err != nil {
			return err
		}
	}
	l.stream = s
	return nil
}

// checkFound checks that the stream s, found on the server, is chatd's,
// and updates its limits and replicas to the options if they differ; it
// returns the stream as updated.
func (l *Log) checkFound(ctx context.Context, s jetstream.Stream) (jetstream.Stream, error) {
	want := l.streamConfig()
	have := s.CachedInfo().Config
	if len(have.Subjects) != 1 || have.Subjects[0] != want.Subjects[0] ||
		have.Storage != want.Storage || have.Retention != want.Retention {
		return nil, fmt.Errorf("jetlog: stream %s is not chatd's (subjects %s, %v storage, %v retention; want %s, file, limits); it is left as it is",
			want.Name, strings.Join(have.Subjects, " "), have.Storage, have.Retention, want.Subjects[0])
	}
	if have.Replicas != want.Replicas {
		l.opts.Logger.Warn("jetlog: the stream is kept by another number of servers than asked: updating it (the NATS cluster moves the copies)",
			"stream", want.Name, "replicas", have.Replicas, "want", want.Replicas)
	}
	if have.MaxMsgs == want.MaxMsgs && have.MaxAge == want.MaxAge && have.MaxMsgSize == want.MaxMsgSize &&
		have.Discard == want.Discard && have.AllowDirect == want.AllowDirect && have.Duplicates == want.Duplicates &&
		have.Replicas == want.Replicas {
		return s, nil
	}
	upd := have
	upd.MaxMsgs, upd.MaxAge, upd.MaxMsgSize, upd.Discard = want.MaxMsgs, want.MaxAge, want.MaxMsgSize, want.Discard
	upd.AllowDirect, upd.Duplicates, upd.Replicas = want.AllowDirect, want.Duplicates, want.Replicas
	s, err := l.js.UpdateStream(ctx, upd)
	if err != nil {
		return nil, fmt.Errorf("jetlog: update the limits of stream %s: %w", want.Name, err)
	}
	return s, nil
}

// Append publishes ev to the stream and waits for the server's ack; the
// stream sequence is ev's Seq. While an external server is unreachable it
// fails at once (nothing is buffered for later). A publish whose ack was
// lost (a timeout) returns an error but may be stored all the same: it is
// then above the last sequence the log acked, where no Replay, Before or
// LastSeq looks, and Check deletes it (see reconcile.go); until then every
// Append fails, since each expects the stream to end at the last sequence
// acked (ErrStreamAhead). Appends are serialised: an ack not above the last
// one seen (the stream was lost or replaced) fails, and breaks the log.
func (l *Log) Append(ev *room.Event) (uint64, error) {
	data, err := encode(ev, l.opts.MaxText)
	if err != nil {
		return 0, err
	}
	if err := l.brokenErr(); err != nil {
		return 0, err
	}
	if l.opts.Shared {
		return l.appendShared(ev, l.message(data))
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	last := l.lastSeq.Load()
	ack, err := l.js.PublishMsg(ctx, l.message(data), jetstream.WithExpectStream(l.opts.Stream), jetstream.WithExpectLastSequence(last))
	if err != nil {
		err = appendError(l.connErr(err))
		if errors.Is(err, ErrStreamAhead) {
			if broken := l.checkWentBack(last); broken != nil {
				return 0, broken
			}
		}
		return 0, err
	}
	if ack.Sequence <= last {
		return 0, l.breakWith(ErrStreamWentBack, fmt.Sprintf("the server acked an event as %d after %d", ack.Sequence, last))
	}
	l.lastSeq.Store(ack.Sequence)
	ev.Seq = ack.Sequence
	l.recent.add(ev)
	l.noteAppended(1, ack.Sequence)
	return ack.Sequence, nil
}

// Replay returns, oldest first, the last n valid events above after. It
// reads windows of the stream backwards from the newest, each in one
// batched direct get of at most maxWindow messages under its own Timeout,
// so it holds at most n events (and the window being read) whatever the
// stream's size, and gives up, with a warning, once it has looked at
// maxReplayProbes messages more than n. Invalid records are skipped,
// counted (Skipped) and logged.
func (l *Log) Replay(after uint64, n int) ([]*room.Event, error) {
	if n <= 0 {
		return nil, nil
	}
	n = int(min(int64(n), l.opts.MaxMsgs))
	st, err := l.state()
	if err != nil {
		return nil, fmt.Errorf("jetlog: replay: %w", err)
	}
	first, last := bounds(st)
	if after >= last {
		return nil, nil // nothing above after (and after+1 below would wrap at the largest seq)
	}
	if evs, ok := l.recent.replay(after, n, st, l.deleted.countFrom(st.FirstSeq)); ok {
		return evs, nil
	}
	r := replay{l: l, n: n, lowest: max(first, after+1), top: last}
	if err := r.run(); err != nil {
		return nil, fmt.Errorf("jetlog: replay: %w", err)
	}
	r.report()
	slices.Reverse(r.out)
	return r.out, nil
}

// replay is one Replay under way: the events found so far, newest first,
// and what was looked at and skipped.
type replay struct {
	l           *Log
	n           int
	lowest, top uint64 // the window still to read: lowest..top
	out         []*room.Event
	looked, bad int
	firstBad    error
}

// run reads windows from the top down until n events are found, the
// bottom is reached, or too many messages were looked at.
func (r *replay) run() error {
	for r.top >= r.lowest && len(r.out) < r.n {
		if r.looked > r.n+maxReplayProbes {
			r.l.opts.Logger.Warn("jetlog: replay gave up: too many deleted or invalid records", "stream", r.l.opts.Stream,
				"found", len(r.out), "wanted", r.n, "looked_at", r.looked, "stopped_below", r.top+1)
			return nil
		}
		// At least minWindow at a time, so that a run of invalid records
		// costs few round trips; at most maxWindow, so that each window is
		// bounded in time and memory.
		want := uint64(min(max(r.n-len(r.out), minWindow), maxWindow))
		bottom := r.lowest
		if r.top-r.lowest+1 > want {
			bottom = r.top - want + 1
		}
		if err := r.window(bottom, r.top); err != nil {
			return err
		}
		r.looked += int(r.top - bottom + 1)
		if bottom == 0 {
			break
		}
		r.top = bottom - 1
	}
	return nil
}

// window reads the messages bottom..top, under its own deadline, and keeps
// the valid events, newest first, up to n.
func (r *replay) window(bottom, top uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.l.opts.Timeout)
	defer cancel()
	msgs, err := r.l.getRange(ctx, &r.l.reads, bottom, top)
	if err != nil {
		return err
	}
	for i := len(msgs) - 1; i >= 0 && len(r.out) < r.n; i-- {
		m := msgs[i]
		ev, err := r.l.decodeMsg(m)
		if err != nil {
			if r.bad++; r.firstBad == nil {
				r.firstBad = fmt.Errorf("seq %d: %w", m.seq, err)
			}
			continue
		}
		r.out = append(r.out, ev)
	}
	return nil
}

// report logs the invalid records skipped, if any.
func (r *replay) report() {
	if r.bad == 0 {
		return
	}
	total := r.l.skipped.Add(uint64(r.bad))
	r.l.opts.Logger.Warn("jetlog: invalid stored records skipped", "stream", r.l.opts.Stream,
		"skipped", r.bad, "skipped_total", total, "first", r.firstBad)
}

// rawMsg is one stored message as a direct get returns it.
type rawMsg struct {
	seq     uint64
	subject string
	header  nats.Header // as stored, with the direct get's own
	data    []byte
}

// The bounds of reading the stream. A stored record may be as long as
// storedRecordMax, whatever Options.MaxText is now (it may have been
// written under a larger one); a direct get asks for at most readMaxBytes
// of them (the server sends one more record at most beyond that), and a
// window of more is read in several; the reply subscription holds at most
// two such answers.
const (
	storedRecordMax  = 2*(2*MaxMaxText) + 1024 // maxRecordBytes(MaxMaxText)
	readMsgOverhead  = 1024                    // headers and subject of one reply, at most
	readMaxBytes     = 4 << 20                 // the most a direct get asks for
	readPendingMsgs  = 2 * (maxWindow + 2)
	readPendingBytes = 2 * (readMaxBytes + storedRecordMax + readMsgOverhead)
)

// getRange reads the stored messages with sequence numbers from bottom to
// top, oldest first, on rd, in batched direct gets of at most readMaxBytes each;
// deleted ones are missing. An answer out of that range, out of order or
// repeated is an error.
func (l *Log) getRange(ctx context.Context, rd *reader, bottom, top uint64) ([]rawMsg, error) {
	var out []rawMsg
	for next := bottom; next <= top; {
		got, err := l.getBatch(ctx, rd, next, top, out)
		if err != nil {
			return nil, err
		}
		if len(got) == len(out) {
			return out, nil // nothing more up to top
		}
		out = got
		last := out[len(out)-1].seq
		if last >= top {
			break
		}
		// The answer ended below top: the rest was deleted, or did not fit
		// in readMaxBytes; ask again from there.
		next = last + 1
	}
	return out, nil
}

// getBatch reads, in one batched direct get of at most readMaxBytes, the
// stored messages from bottom up to top, appending them to out (what was
// read of the window so far), and returns it.
func (l *Log) getBatch(ctx context.Context, rd *reader, bottom, top uint64, out []rawMsg) ([]rawMsg, error) {
	count := top - bottom + 1
	req, err := json.Marshal(struct {
		Seq      uint64 `json:"seq"`
		Batch    int    `json:"batch"`
		UpToSeq  uint64 `json:"up_to_seq"`
		MaxBytes int    `json:"max_bytes"`
	}{bottom, int(count), top, int(min(count*uint64(storedRecordMax+readMsgOverhead), readMaxBytes))})
	if err != nil {
		return nil, err
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.n++
	inbox := rd.prefix + "." + strconv.FormatUint(rd.n, 10)
	sub := rd.sub
	if err := l.nc.PublishRequest("$JS.API.DIRECT.GET."+l.opts.Stream, inbox, req); err != nil {
		return nil, err
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %d-%d: %w", bottom, top, err)
		}
		if m.Subject != inbox {
			continue // the rest of an earlier read that gave up
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204", "404": // end of the batch; nothing (more) stored
			return out, nil
		default:
			return nil, fmt.Errorf("read %d-%d: status %.10s %.80s", bottom, top, status, m.Header.Get("Description"))
		}
		raw := m.Header.Get("Nats-Sequence")
		if seq, err := strconv.ParseUint(raw, 10, 64); err == nil && seq > top {
			// A batch past a deleted message runs on above up_to_seq
			// (nats-server 2.15 ignores it there): the window is read; the
			// rest of the batch is dropped as an earlier read's.
			return out, nil
		}
		seq, err := nextSeq(raw, bottom, top, out)
		if err != nil {
			return nil, err
		}
		out = append(out, rawMsg{seq: seq, subject: m.Header.Get("Nats-Subject"), header: m.Header, data: m.Data})
	}
}

// nextSeq parses the sequence number raw of the next message of a read of
// bottom..top, after the messages got so far. The server's answer is input
// too: the number must be within the window and above the one before (no
// repeat, no reordering), so there are never more messages than asked for.
func nextSeq(raw string, bottom, top uint64, got []rawMsg) (uint64, error) {
	seq, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || seq < bottom || seq > top || len(got) > 0 && seq <= got[len(got)-1].seq {
		return 0, fmt.Errorf("read %d-%d: unexpected message %.20q", bottom, top, raw)
	}
	return seq, nil
}

// The causes of a broken log (breakWith), for errors.Is.
var (
	// ErrStreamWentBack: the stream ends below a sequence the log saw, or
	// acked an event at or below it: it was lost or replaced under the
	// log, and its sequences would repeat ones members were shown.
	ErrStreamWentBack = errors.New("the stream went back: it was lost or replaced, and its sequences would repeat ones members were shown")
	// ErrSharedStream: the stream holds a message this log did not publish,
	// above the last it acked: another writer (a second chatd on the same
	// --nats stream, or another program) appends to it, and the two would
	// number their rooms' events in one sequence. One chatd per stream.
	ErrSharedStream = errors.New("another writer appends to the stream (a second chatd on the same stream, or another program): its events and this room's would share one sequence; run one chatd per stream")
)

// breakWith marks the log broken, for cause (ErrStreamWentBack or
// ErrSharedStream; why says what was seen); it returns the error every
// Append, Replay and Check now fail with.
func (l *Log) breakWith(cause error, why string) error {
	err := fmt.Errorf("jetlog: stream %s: %w (%s); the log refuses to append or replay until chatd is restarted on a sound store",
		l.opts.Stream, cause, why)
	if l.broken.CompareAndSwap(nil, &err) {
		l.opts.Logger.Error(err.Error())
	}
	return *l.broken.Load()
}

// brokenErr is the error of a broken log, or nil.
func (l *Log) brokenErr() error {
	if p := l.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// Skipped is how many invalid stored records Replay has skipped.
func (l *Log) Skipped() uint64 { return l.skipped.Load() }

// Conn is the log's NATS connection, for the other stores on the same
// server (KV buckets) and for tests.
func (l *Log) Conn() *nats.Conn { return l.nc }

// Close closes the connection and, if embedded, records the sequence
// floor and shuts the server down.
func (l *Log) Close() error {
	l.watch.closing.Store(true) // the connection's end is ours: nothing to tell
	l.stopGrace()
	if l.stop != nil {
		l.stop() // an append retrying gives up
	}
	if l.opened && l.floorPath() != "" && l.stream != nil && l.nc != nil && !l.nc.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
		if info, err := l.stream.Info(ctx); err == nil {
			l.writeFloor(info.State.LastSeq)
		}
		cancel()
	}
	if l.nc != nil {
		l.nc.Close()
	}
	if l.srv != nil {
		l.srv.Shutdown()
		l.srv.WaitForShutdown()
	}
	if l.lock != nil {
		l.lock.Close() // releases the store for the next Open
		l.lock = nil
	}
	return nil
}
