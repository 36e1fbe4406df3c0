// Package jetlog is the room's Log (room.Log) on NATS JetStream: the public
// events in one stream, whose sequence is the room's. By default it embeds
// the NATS server in-process (JetStream on, its store in a directory, no
// port opened); Options.URL points it at an external server instead.
package jetlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
)

// Options says where the log lives and what it keeps.
type Options struct {
	// Dir is the embedded server's store directory (chatd: <data-dir>/nats).
	// It is used when URL is empty, and must then be set.
	Dir string
	// URL, if set, is an external NATS server (or several, comma-separated);
	// nothing is embedded. CAFile and CredsFile are its TLS CA and its
	// credentials file, both optional.
	URL       string
	CAFile    string
	CredsFile string
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
	MaxText int
	// Timeout bounds each call to the server (default DefaultTimeout).
	Timeout time.Duration
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
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
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
}

var _ room.Log = (*Log)(nil)

// Open starts the embedded server (or connects to Options.URL) and opens
// the stream of public events, creating it if the store has none. A store
// directory that is not a chatd store, or holds a stream it cannot load,
// and a stream of that name with another subject or storage, are errors:
// Open never replaces what it finds.
func Open(ctx context.Context, opts Options) (*Log, error) {
	opts.setDefaults()
	l := &Log{opts: opts, maxRecord: maxRecordBytes(opts.MaxText)}
	var err error
	if opts.URL == "" {
		l.srv, l.nc, err = embed(opts)
	} else {
		l.nc, err = dial(opts)
	}
	if err != nil {
		return nil, err
	}
	if err := l.openStream(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// dial connects to an external server.
func dial(opts Options) (*nats.Conn, error) {
	// No reconnect buffer: a publish made while disconnected must fail at
	// once, not be sent after the room was told it failed (the event
	// would then be stored though nobody was shown it).
	copts := []nats.Option{nats.Name("chatd"), nats.MaxReconnects(-1), nats.ReconnectBufSize(-1), nats.Timeout(opts.Timeout)}
	if opts.CAFile != "" {
		copts = append(copts, nats.RootCAs(opts.CAFile))
	}
	if opts.CredsFile != "" {
		copts = append(copts, nats.UserCredentials(opts.CredsFile))
	}
	nc, err := nats.Connect(opts.URL, copts...)
	if err != nil {
		return nil, fmt.Errorf("jetlog: connect to %s: %w", opts.URL, err)
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
		MaxMsgSize:  int32(l.maxRecord),
		MaxBytes:    -1,
		Replicas:    1,
		AllowDirect: true, // Replay reads message by message: direct gets are cheaper
	}
}

// openStream opens the stream, checking that it is ours, and updates its
// limits to the options; or creates it if there is none (and, embedded,
// the store never had one).
func (l *Log) openStream(ctx context.Context) error {
	js, err := jetstream.New(l.nc)
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
		if l.srv != nil && storeHasStream(l.opts.Dir, want.Name) {
			return fmt.Errorf("jetlog: the store %s holds stream %s but the server could not load it (see its log); it is left as it is", l.opts.Dir, want.Name)
		}
		if s, err = js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("jetlog: create stream %s: %w", want.Name, err)
		}
	case err != nil:
		return fmt.Errorf("jetlog: open stream %s: %w", want.Name, err)
	default:
		have := s.CachedInfo().Config
		if len(have.Subjects) != 1 || have.Subjects[0] != want.Subjects[0] ||
			have.Storage != want.Storage || have.Retention != want.Retention {
			return fmt.Errorf("jetlog: stream %s is not chatd's (subjects %s, %v storage, %v retention; want %s, file, limits); it is left as it is",
				want.Name, strings.Join(have.Subjects, " "), have.Storage, have.Retention, want.Subjects[0])
		}
		if have.MaxMsgs != want.MaxMsgs || have.MaxAge != want.MaxAge || have.MaxMsgSize != want.MaxMsgSize ||
			have.Discard != want.Discard || have.AllowDirect != want.AllowDirect {
			upd := have
			upd.MaxMsgs, upd.MaxAge, upd.MaxMsgSize, upd.Discard = want.MaxMsgs, want.MaxAge, want.MaxMsgSize, want.Discard
			upd.AllowDirect = want.AllowDirect
			if s, err = js.UpdateStream(ctx, upd); err != nil {
				return fmt.Errorf("jetlog: update the limits of stream %s: %w", want.Name, err)
			}
		}
	}
	l.stream = s
	return nil
}

// Append publishes ev to the stream and waits for the server's ack; the
// stream sequence is ev's Seq. While an external server is unreachable it
// fails at once (nothing is buffered for later). One case stays ambiguous,
// as with any acknowledged write: a publish that reached the server just
// before the connection failed, whose ack was lost, returns an error but
// may be stored.
func (l *Log) Append(ev *room.Event) (uint64, error) {
	data, err := encode(ev, l.opts.MaxText)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	ack, err := l.js.Publish(ctx, l.opts.Subject, data, jetstream.WithExpectStream(l.opts.Stream))
	if err != nil {
		return 0, fmt.Errorf("jetlog: append: %w", err)
	}
	ev.Seq = ack.Sequence
	return ack.Sequence, nil
}

// Replay returns, oldest first, the last n valid events above after. It
// reads them one by one backwards from the newest, so it holds at most n
// events whatever the stream's size, and gives up after skipping
// maxReplayProbes messages that are gone or invalid. Invalid records are
// skipped, counted (Skipped) and logged.
func (l *Log) Replay(after uint64, n int) ([]*room.Event, error) {
	if n <= 0 {
		return nil, nil
	}
	n = int(min(int64(n), l.opts.MaxMsgs))
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetlog: replay: %w", err)
	}
	first, last := max(info.State.FirstSeq, after+1), info.State.LastSeq
	if info.State.Msgs == 0 || last < first {
		return nil, nil
	}
	out := make([]*room.Event, 0, min(uint64(n), last-first+1))
	skips, bad := 0, 0
	for seq := last; seq >= first && len(out) < n && skips <= maxReplayProbes; seq-- {
		msg, err := l.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			skips++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jetlog: replay: read %d: %w", seq, err)
		}
		ev, err := decode(msg.Data, seq, l.opts.MaxText, l.maxRecord)
		if err != nil || msg.Subject != l.opts.Subject {
			skips++
			bad++
			l.opts.Logger.Warn("jetlog: stored record skipped", "stream", l.opts.Stream, "seq", seq, "err", err)
			continue
		}
		out = append(out, ev)
	}
	if bad > 0 {
		l.skipped.Add(uint64(bad))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Skipped is how many invalid stored records Replay has skipped.
func (l *Log) Skipped() uint64 { return l.skipped.Load() }

// Conn is the log's NATS connection, for the other stores on the same
// server (KV buckets) and for tests.
func (l *Log) Conn() *nats.Conn { return l.nc }

// Close closes the connection and, if embedded, shuts the server down.
func (l *Log) Close() error {
	if l.nc != nil {
		l.nc.Close()
	}
	if l.srv != nil {
		l.srv.Shutdown()
		l.srv.WaitForShutdown()
	}
	return nil
}
