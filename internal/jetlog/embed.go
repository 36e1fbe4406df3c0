package jetlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// markerName is the file that says a directory is a chatd store; Open
// writes it into an empty directory before the server first starts there,
// and refuses a directory with other files and without it.
const markerName = "chatd-store"

// markerText is the marker's content, format 1.
const markerText = "chatd JetStream store, format 1\n"

// lockName is the file in the store that the log holding it has locked.
const lockName = "chatd-lock"

// embed locks the store in opts.Dir (l.lock, released by Close), starts a
// NATS server in-process with JetStream on and its store there, opening no
// port, and connects to it.
func (l *Log) embed(opts Options) (*server.Server, *nats.Conn, error) {
	if opts.Dir == "" {
		return nil, nil, errors.New("jetlog: no store directory and no server URL")
	}
	if err := checkStore(opts.Dir); err != nil {
		return nil, nil, err
	}
	lock, err := lockStore(opts.Dir)
	if err != nil {
		return nil, nil, err
	}
	srv, nc, err := startEmbedded(opts)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, nil, err
	}
	l.lock = lock
	return srv, nc, nil
}

// startEmbedded starts the server of embed, the store being locked.
func startEmbedded(opts Options) (*server.Server, *nats.Conn, error) {
	if err := copyAside(opts.Dir, opts.Stream, opts.Logger); err != nil {
		return nil, nil, err
	}
	return startServer(opts)
}

// MinPayload is the least the embedded server takes in a message (beyond
// 4 KiB of headers), whatever the log's own records need: the connection
// is shared with the access records (internal/jetkv), whose values are up
// to 16 KiB.
const MinPayload = 32 << 10

// startServer starts the embedded server on the store opts.Dir, as it is,
// and connects to it.
func startServer(opts Options) (*server.Server, *nats.Conn, error) {
	srv, err := server.NewServer(&server.Options{
		ServerName:      "chatd",
		JetStream:       true,
		StoreDir:        opts.Dir,
		DontListen:      true,
		NoSigs:          true,
		NoSystemAccount: true,
		MaxPayload:      int32(max(maxRecordBytes(opts.MaxText), MinPayload)) + 4096,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("jetlog: embedded NATS server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{opts.Logger}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, nil, errors.New("jetlog: the embedded NATS server did not start (see its log)")
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, nil, fmt.Errorf("jetlog: JetStream did not start on the store %s (see the log)", opts.Dir)
	}
	nc, err := nats.Connect("", append(connOptions(opts), nats.InProcessServer(srv))...)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, nil, fmt.Errorf("jetlog: connect to the embedded server: %w", err)
	}
	return srv, nc, nil
}

// checkStore makes sure dir is a chatd store: it creates it if missing,
// marks it if empty, and refuses one that holds anything without the
// marker, or a marker of another format.
func checkStore(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("jetlog: store directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("jetlog: store directory: %w", err)
	}
	marker := filepath.Join(dir, markerName)
	if len(entries) == 0 {
		if err := os.WriteFile(marker, []byte(markerText), 0o600); err != nil {
			return fmt.Errorf("jetlog: mark the store: %w", err)
		}
		return nil
	}
	fi, err := os.Lstat(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("jetlog: %s is not a chatd store (it holds files but no %s); move them away or name another directory", dir, markerName)
	}
	if err != nil {
		return fmt.Errorf("jetlog: store directory: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > 1024 {
		return fmt.Errorf("jetlog: %s: not a chatd store marker", marker)
	}
	b, err := os.ReadFile(marker)
	if err != nil {
		return fmt.Errorf("jetlog: store directory: %w", err)
	}
	if string(b) != markerText {
		return fmt.Errorf("jetlog: %s: unknown store format %.40q", marker, strings.TrimSpace(string(b)))
	}
	// A store refused as damaged stays refused until the operator has
	// dealt with it: a restart must not accept what the last start refused.
	if kept, _ := filepath.Glob(filepath.Join(dir, damagedPrefix+"*")); len(kept) > 0 {
		return fmt.Errorf("jetlog: the store %s was refused as damaged and its files as they were are kept in %s: restore a backup, or move the store away to start afresh; to accept what is left (sequence numbers may then repeat ones members were shown), remove %s and %s",
			dir, kept[0], kept[0], filepath.Join(dir, floorName))
	}
	return nil
}

// storeHasStream reports whether the store in dir holds files of the
// stream name (in the global account, where the embedded server keeps it).
func storeHasStream(dir, name string) bool {
	_, err := os.Stat(streamDir(dir, name))
	return err == nil
}

// serverLogger passes the embedded server's notices, warnings and errors
// to slog; debug and trace lines are off.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(format string, v ...any) {
	s.l.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (s serverLogger) Warnf(format string, v ...any) { s.l.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (s serverLogger) Fatalf(format string, v ...any) {
	s.l.Error("nats: " + fmt.Sprintf(format, v...))
}
func (s serverLogger) Errorf(format string, v ...any) {
	s.l.Error("nats: " + fmt.Sprintf(format, v...))
}
func (s serverLogger) Debugf(string, ...any) {}
func (s serverLogger) Tracef(string, ...any) {}

// The sequence floor: the embedded server recovers a damaged stream by
// dropping what it cannot read, warning in its log, and would then number
// new events from a lower sequence than members were shown. So the log
// keeps, next to the store, a sequence the stream reached (written at
// Close, every floorEvery appends, and at the first append floorAfter
// since the last write; after a kill it is behind, never ahead), and Open
// refuses a stream that ends below it.
const (
	floorName  = "chatd-seq"
	floorEvery = 1024
	floorAfter = time.Second
)

// writeFloor records seq as the floor, atomically (a new temporary file
// renamed over it), unless the recorded
// floor is already higher (the floor is never lowered); a failure is
// logged.
func (l *Log) writeFloor(seq uint64) {
	l.floorMu.Lock()
	defer l.floorMu.Unlock()
	path := l.floorPath()
	if path == "" {
		return
	}
	have, err := readFloor(path)
	if err != nil {
		l.opts.Logger.Warn("jetlog: could not record the sequence floor", "err", err)
		return
	}
	if seq <= have {
		return
	}
	// A new file of its own (O_EXCL, a random name), renamed over the
	// floor: never a fixed name, which a planted symbolic link could send
	// to another file.
	tmp, err := os.CreateTemp(filepath.Dir(path), floorName+".tmp-*")
	if err != nil {
		l.opts.Logger.Warn("jetlog: could not record the sequence floor", "err", err)
		return
	}
	_, err = tmp.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		l.opts.Logger.Warn("jetlog: could not record the sequence floor", "err", err)
	}
}

// readFloor reads the floor recorded at path; 0 if there is none.
func readFloor(path string) (uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jetlog: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0, fmt.Errorf("jetlog: %w", err)
	}
	floor, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("jetlog: %s: not a sequence number: %.32q", path, b)
	}
	return floor, nil
}

// checkFloor refuses a stream whose last sequence is below the floor.
func (l *Log) checkFloor(ctx context.Context) error {
	floor, err := readFloor(l.floorPath())
	if err != nil || floor == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	if last := info.State.LastSeq; last < floor && l.srv == nil {
		return fmt.Errorf("jetlog: stream %s on %s ends at event %d, but it had reached %d (%s): it lost events, and new ones would repeat sequences members were shown; restore it, or remove %s to accept it as it is",
			l.opts.Stream, RedactURLs(l.opts.URL), last, floor, l.floorPath(), l.floorPath())
	} else if last < floor {
		return fmt.Errorf("jetlog: the store %s is damaged: stream %s ends at event %d, but it had reached %d (the NATS warnings above may say why); %s: restore a backup, or move the store away to start afresh",
			l.opts.Dir, l.opts.Stream, last, floor, keepDamaged(l.opts.Dir))
	}
	return nil
}

// streamDir is where the embedded server keeps the files of stream name
// (in the global account).
func streamDir(dir, name string) string {
	return filepath.Join(dir, server.JetStreamStoreDir, server.DEFAULT_GLOBAL_ACCOUNT, "streams", name)
}

// floorPath is the file of the sequence floor: in the store when embedded,
// chatd-seq-<Stream> in Dir with an external server, "" (none) with an
// external server and no Dir.
func (l *Log) floorPath() string {
	switch {
	case l.srv != nil:
		return filepath.Join(l.opts.Dir, floorName)
	case l.opts.Dir != "":
		return filepath.Join(l.opts.Dir, floorName+"-"+l.opts.Stream)
	}
	return ""
}

// checkCreated (external server, Dir set) records the stream's creation
// time in Dir/chatd-created-<Stream> at the first Open, and refuses a
// stream created at another time: it was lost and created again (or
// replaced), and would number events from 1 again.
func (l *Log) checkCreated() error {
	if err := os.MkdirAll(l.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	path := filepath.Join(l.opts.Dir, "chatd-created-"+l.opts.Stream)
	created := l.stream.CachedInfo().Created.UTC().Format(time.RFC3339Nano)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(path, []byte(created+"\n"), 0o600); err != nil {
			return fmt.Errorf("jetlog: record the stream's creation: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	if had := strings.TrimSpace(string(b)); had != created {
		return fmt.Errorf("jetlog: stream %s on %s was replaced: it was created at %s, the one chatd used at %.40s (%s); its sequences would repeat ones members were shown; restore it, or remove %s and %s to start with this one",
			l.opts.Stream, RedactURLs(l.opts.URL), created, had, path, path, l.floorPath())
	}
	return nil
}
