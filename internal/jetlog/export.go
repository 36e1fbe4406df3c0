package jetlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/minio/highwayhash"
	"github.com/nats-io/nats-server/v2/server"
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
// stream's limits, and never records the sequence floor. An embedded
// store is never opened in place: the stream's files are copied to a
// temporary directory (under os.TempDir, so TMPDIR), where the server
// loads them with no age limit, so that neither the server's expiry nor
// its repairs touch the store, and events older than the stream's max age
// are read too. The store is locked (shared, without writing) while it is
// copied, so a running chatd's store is refused (an *InUseError), exactly
// as a second chatd would be.
type Reader struct {
	l      *Log
	prefix string // replies come to prefix.<n>, one n per window
	sub    *nats.Subscription
	n      uint64

	tmp    string        // the temporary copy of an embedded store; "" elsewhere
	maxAge time.Duration // the stream's own max age; 0: none
	stored uint64        // messages the stream held when Each began
}

// ErrNoRoom is OpenReader's error when the temporary copy of an embedded
// store would not fit in the free space of os.TempDir.
var ErrNoRoom = errors.New("jetlog: no room for a copy of the store")

// copyMargin is the free space the temporary copy leaves, for the files
// the server writes there (its index) and for the rest of the system.
const copyMargin = 16 << 20

// tempFree is freeBytes, a variable for tests.
var tempFree = freeBytes

// OpenReader opens the store that opts names for reading: embedded, a
// copy of the stream in opts.Dir (see Reader), or the stream on opts.URL.
// A store that is not chatd's, or was refused as damaged, is refused as
// Open would. The stream's own records decide what is read; opts.MaxMsgs
// and MaxAge are not used, and texts are accepted up to MaxMaxText bytes,
// whatever limit the writer had.
func OpenReader(ctx context.Context, opts Options) (*Reader, error) {
	opts.setDefaults()
	opts.MaxText = MaxMaxText
	l := &Log{opts: opts, maxRecord: maxRecordBytes(opts.MaxText)}
	r := &Reader{l: l}
	var err error
	if opts.URL == "" {
		err = r.openCopy()
	} else {
		l.nc, err = dial(opts)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	r.prefix = l.nc.NewRespInbox()
	if err := r.open(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// openCopy copies the stream of the embedded store l.opts.Dir to a new
// temporary directory, under the store's lock, lifts the copy's age limit
// and starts the server on the copy.
func (r *Reader) openCopy() error {
	opts := r.l.opts
	if err := storeExists(opts.Dir); err != nil {
		return err
	}
	if err := checkStore(opts.Dir); err != nil { // the directory exists: this only reads
		return err
	}
	if !storeHasStream(opts.Dir, opts.Stream) {
		return fmt.Errorf("%w: no stream %s", ErrNoStore, opts.Stream)
	}
	release, err := lockShared(opts.Dir)
	if err != nil {
		return err
	}
	r.tmp, err = copyStream(opts.Dir, opts.Stream)
	release()
	if err != nil {
		return err
	}
	if r.maxAge, err = keepEverything(streamDir(r.tmp, opts.Stream), opts.Stream); err != nil {
		return err
	}
	opts.Dir = r.tmp
	r.l.srv, r.l.nc, err = startServer(opts)
	return err
}

// copyStream copies the files of the stream name in the store dir, and
// the store's sequence floor, to a new directory under os.TempDir, which
// it returns. A copy that would not leave copyMargin free there is
// ErrNoRoom, and nothing is copied.
func copyStream(dir, name string) (string, error) {
	src := streamDir(dir, name)
	size := treeSize(src)
	root := os.TempDir()
	if free, ok := tempFree(root); ok && free < size+copyMargin {
		return "", fmt.Errorf("%w: the stream's files are %d MiB and %s has %d MiB free (the copy leaves %d MiB); set TMPDIR to a directory with room",
			ErrNoRoom, size>>20, root, free>>20, copyMargin>>20)
	}
	tmp, err := os.MkdirTemp(root, "chatd-export-")
	if err != nil {
		return "", fmt.Errorf("jetlog: a temporary copy of the store: %w", err)
	}
	err = copyTree(src, streamDir(tmp, name))
	if err == nil {
		err = copyFloor(dir, tmp)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("jetlog: a temporary copy of the store in %s: %w", tmp, err)
	}
	return tmp, nil
}

// copyFloor copies the sequence floor of the store dir, if it has one, to
// the store to.
func copyFloor(dir, to string) error {
	err := copyFile(filepath.Join(dir, floorName), filepath.Join(to, floorName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// maxMetaBytes bounds the stream's meta file that keepEverything reads.
const maxMetaBytes = 1 << 20

// keepEverything rewrites the configuration of the stream name whose files
// are in sdir (a copy) so that the server keeps every message it loads: no
// max age, which it would otherwise apply as it loads them. It returns the
// max age the stream had (0: none).
func keepEverything(sdir, name string) (time.Duration, error) {
	if _, err := os.Stat(filepath.Join(sdir, server.JetStreamMetaFileKey)); err == nil {
		return 0, fmt.Errorf("jetlog: stream %s is encrypted: it is not chatd's", name)
	}
	path := filepath.Join(sdir, server.JetStreamMetaFile)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("jetlog: stream %s: %w", name, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxMetaBytes+1))
	f.Close()
	if err == nil && len(b) > maxMetaBytes {
		err = fmt.Errorf("over %d bytes", maxMetaBytes)
	}
	var meta map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(b, &meta)
	}
	var maxAge time.Duration
	if raw, ok := meta["max_age"]; ok && err == nil {
		err = json.Unmarshal(raw, &maxAge)
	}
	if err != nil {
		return 0, fmt.Errorf("jetlog: stream %s: its configuration %s: %w", name, path, err)
	}
	meta["max_age"] = json.RawMessage("0")
	if b, err = json.Marshal(meta); err != nil {
		return 0, err
	}
	// The server loads a stream only if meta.sum is the meta file's
	// HighwayHash-64, keyed with the SHA-256 of the stream's name.
	key := sha256.Sum256([]byte(name))
	hh, err := highwayhash.NewDigest64(key[:])
	if err != nil {
		return 0, err
	}
	hh.Write(b)
	sum := hex.EncodeToString(hh.Sum(nil))
	err = os.WriteFile(path, b, 0o600)
	if err == nil {
		err = os.WriteFile(filepath.Join(sdir, server.JetStreamMetaFileSum), []byte(sum), 0o600)
	}
	if err != nil {
		return 0, fmt.Errorf("jetlog: stream %s: %w", name, err)
	}
	return maxAge, nil
}

// open finds the stream, checks it against the floor (embedded) and
// subscribes to the replies.
func (r *Reader) open(ctx context.Context) error {
	l := r.l
	if err := l.findStream(ctx); err != nil {
		return err
	}
	if r.tmp != "" {
		r.checkFloor(ctx)
	}
	var err error
	if r.sub, err = l.nc.SubscribeSync(r.prefix + ".*"); err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	return nil
}

// checkFloor warns if the stream ends below the store's sequence floor:
// it lost its last events (chatd refuses such a store at start), and the
// export holds what is left.
func (r *Reader) checkFloor(ctx context.Context) {
	l := r.l
	floor, err := readFloor(filepath.Join(r.tmp, floorName))
	if err != nil || floor == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil || info.State.LastSeq >= floor {
		return
	}
	l.opts.Logger.Warn("jetlog: the store is damaged: its stream lost its last events (chatd refuses it at start); exporting what is left",
		"store", l.opts.Dir, "stream", l.opts.Stream, "ends_at", info.State.LastSeq, "had_reached", floor)
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
	case errors.Is(err, jetstream.ErrStreamNotFound) && l.srv != nil:
		return fmt.Errorf("jetlog: the store %s holds stream %s but the server could not load it (see its log); the store is left as it is",
			l.opts.Dir, name)
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
	r.stored = info.State.Msgs
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

// MaxAge is the stream's own max age (0: none), for an embedded store;
// Each reads events older than that too. 0 with an external server, which
// applies it.
func (r *Reader) MaxAge() time.Duration { return r.maxAge }

// Stored is how many messages the stream held when Each began.
func (r *Reader) Stored() uint64 { return r.stored }

// Close ends the reading: it closes the connection and, if embedded, shuts
// the server down and removes the temporary copy. It records nothing.
func (r *Reader) Close() error {
	if r.sub != nil {
		r.sub.Unsubscribe()
	}
	err := r.l.Close()
	if r.tmp != "" {
		if rerr := os.RemoveAll(r.tmp); rerr != nil && err == nil {
			err = fmt.Errorf("jetlog: remove the temporary copy of the store: %w", rerr)
		}
		r.tmp = ""
	}
	return err
}
