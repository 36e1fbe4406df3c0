package jetlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// ErrNoStore is OpenReader's error when there is nothing to read: the
// embedded store's directory is missing or empty, or the stream of public
// events does not exist.
var ErrNoStore = errors.New("jetlog: no history stored there")

// What one window of Reader.Each holds at most: readWindow messages, and
// about readWindowBytes (the server stops a batch once it has sent that
// many bytes, so one record more may come).
const (
	readWindow      = 256
	readWindowBytes = 1 << 20
)

// Reader reads the stream of public events forward, for an export. It
// only reads: it never creates the stream or the store, never changes the
// stream's limits, and never records the sequence floor. An embedded store
// is locked while a Reader has it, so a running chatd's store is refused
// (an *InUseError), exactly as a second chatd would be.
type Reader struct {
	l      *Log
	prefix string // replies come to prefix.<n>, one n per window
	sub    *nats.Subscription
	n      uint64
}

// OpenReader opens the store that opts names for reading, as Open would
// (embedded in opts.Dir, or on opts.URL) but read only, and with the same
// refusals of a damaged store. The stream's own limits and records decide
// what is read; opts.MaxMsgs and MaxAge are not used, and texts are
// accepted up to MaxMaxText bytes, whatever limit the writer had.
func OpenReader(ctx context.Context, opts Options) (*Reader, error) {
	opts.setDefaults()
	opts.MaxText = MaxMaxText
	l := &Log{opts: opts, maxRecord: maxRecordBytes(opts.MaxText)}
	var err error
	if opts.URL == "" {
		if err := storeExists(opts.Dir); err != nil {
			return nil, err
		}
		l.srv, l.nc, err = l.embed(opts)
	} else {
		l.nc, err = dial(opts)
	}
	if err != nil {
		return nil, err
	}
	r := &Reader{l: l, prefix: l.nc.NewRespInbox()}
	if err := r.open(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return r, nil
}

// open finds the stream, checks the floor (embedded) and subscribes to the
// replies.
func (r *Reader) open(ctx context.Context) error {
	l := r.l
	if err := l.findStream(ctx); err != nil {
		return err
	}
	if l.srv != nil {
		if err := l.checkFloor(ctx); err != nil {
			return err
		}
		dropAside(l.opts.Dir)
	}
	var err error
	if r.sub, err = l.nc.SubscribeSync(r.prefix + ".*"); err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	return nil
}

// storeExists refuses a store directory that is missing or empty: there
// is nothing to read, and a reader must not create a store.
func storeExists(dir string) error {
	if dir == "" {
		return errors.New("jetlog: no store directory and no server URL")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && len(entries) == 0:
		return fmt.Errorf("%w: %s holds no store", ErrNoStore, dir)
	case err != nil:
		return fmt.Errorf("jetlog: store directory: %w", err)
	}
	return nil
}

// findStream looks the stream up without creating or updating it, and
// checks that it is chatd's.
func (l *Log) findStream(ctx context.Context) error {
	js, err := jetstream.New(l.nc)
	if err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	l.js = js
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	name := l.opts.Stream
	s, err := js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && l.srv != nil && storeHasStream(l.opts.Dir, name):
		return fmt.Errorf("jetlog: the store %s holds stream %s but the server could not load it (see its log); its files as they were before this start are in %s",
			l.opts.Dir, name, keepDamaged(l.opts.Dir))
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w: no stream %s", ErrNoStore, name)
	case err != nil:
		return fmt.Errorf("jetlog: open stream %s: %w", name, err)
	}
	have := s.CachedInfo().Config
	if len(have.Subjects) != 1 || have.Subjects[0] != l.opts.Subject || have.Storage != jetstream.FileStorage {
		return fmt.Errorf("jetlog: stream %s is not chatd's (subjects %.200q, %v storage; want %s, file)", name, have.Subjects, have.Storage, l.opts.Subject)
	}
	l.stream = s
	return nil
}

// Each calls fn with every valid event stored at or after since (the
// stream's own timestamps, found by its time index; zero since: from the
// first event kept), oldest first, up to the last event stored when Each
// began. It reads windows of at most readWindow messages and about
// readWindowBytes, each within Options.Timeout, and holds one window at a
// time: a whole window is read before fn is called, so a slow fn (a
// reader of the output that pauses) does not make a read time out.
// Invalid records are skipped, counted (Skipped) and logged once. Each
// stops at fn's first error and returns it as it is.
func (r *Reader) Each(ctx context.Context, since time.Time, fn func(*room.Event) error) error {
	ictx, cancel := context.WithTimeout(ctx, r.l.opts.Timeout)
	info, err := r.l.stream.Info(ictx)
	cancel()
	if err != nil {
		return fmt.Errorf("jetlog: export: %w", err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	req := getRequest{Seq: info.State.FirstSeq}
	if !since.IsZero() {
		t := since.UTC()
		req = getRequest{StartTime: &t}
	}
	var sk skips
	defer sk.report(r.l)
	prev := uint64(0)
	for {
		window, err := r.window(ctx, req, prev, last)
		if err != nil {
			return err
		}
		for _, m := range window {
			if ev, ok := sk.check(r.l, m); ok {
				if err := fn(ev); err != nil {
					return err
				}
			}
		}
		if len(window) == 0 {
			return nil
		}
		prev = window[len(window)-1].seq
		if prev >= last {
			return nil
		}
		req = getRequest{Seq: prev + 1}
	}
}

// getRequest is a batched direct get from Seq, or from the first message
// stored at or after StartTime.
type getRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	Batch     int        `json:"batch"`
	MaxBytes  int        `json:"max_bytes"`
}

// window reads one batch from req, oldest first, keeping the messages
// numbered above prev and up to last. A server that answers out of order,
// repeats a message or sends more than was asked is an error.
func (r *Reader) window(ctx context.Context, req getRequest, prev, last uint64) ([]rawMsg, error) {
	req.Batch, req.MaxBytes = readWindow, readWindowBytes
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.l.opts.Timeout)
	defer cancel()
	r.n++
	inbox := r.prefix + "." + strconv.FormatUint(r.n, 10)
	if err := r.l.nc.PublishRequest("$JS.API.DIRECT.GET."+r.l.opts.Stream, inbox, body); err != nil {
		return nil, fmt.Errorf("jetlog: export: %w", err)
	}
	var out []rawMsg
	size := 0
	for {
		m, err := r.sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("jetlog: export: read after %d: %w", prev, err)
		}
		if m.Subject != inbox {
			continue // the rest of an earlier window, beyond last
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204", "404": // end of the batch; nothing (more) stored
			return out, nil
		default:
			return nil, fmt.Errorf("jetlog: export: read after %d: status %.10s %.80s", prev, status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		size += len(m.Data)
		if err != nil || seq <= prev || len(out) >= readWindow || size > readWindowBytes+r.l.maxRecord {
			return nil, fmt.Errorf("jetlog: export: read after %d: unexpected message %.20q", prev, m.Header.Get("Nats-Sequence"))
		}
		if seq <= last {
			out = append(out, rawMsg{seq: seq, subject: m.Header.Get("Nats-Subject"), data: m.Data})
		}
		prev = seq
	}
}

// skips counts the invalid records an export skipped.
type skips struct {
	n     uint64
	first error
}

// check decodes m; an invalid record is counted and reported false.
func (s *skips) check(l *Log, m rawMsg) (*room.Event, bool) {
	ev, err := decode(m.data, m.seq, l.opts.MaxText, l.maxRecord)
	if err == nil && m.subject != l.opts.Subject {
		err = fmt.Errorf("%w: subject %.40q", errRecord, m.subject)
	}
	if err != nil {
		if s.n++; s.first == nil {
			s.first = fmt.Errorf("seq %d: %w", m.seq, err)
		}
		return nil, false
	}
	return ev, true
}

// report adds the skips to the log's count and logs them, if any.
func (s *skips) report(l *Log) {
	if s.n == 0 {
		return
	}
	total := l.skipped.Add(s.n)
	l.opts.Logger.Warn("jetlog: invalid stored records skipped", "stream", l.opts.Stream,
		"skipped", s.n, "skipped_total", total, "first", s.first)
}

// Skipped is how many invalid stored records Each has skipped.
func (r *Reader) Skipped() uint64 { return r.l.Skipped() }

// Close ends the reading: it closes the connection and, if embedded, shuts
// the server down and releases the store's lock. It records nothing.
func (r *Reader) Close() error {
	if r.sub != nil {
		r.sub.Unsubscribe()
	}
	return r.l.Close()
}
