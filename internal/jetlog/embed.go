package jetlog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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

// embed starts a NATS server in-process with JetStream on and its store in
// opts.Dir, opening no port, and connects to it.
func embed(opts Options) (*server.Server, *nats.Conn, error) {
	if opts.Dir == "" {
		return nil, nil, errors.New("jetlog: no store directory and no server URL")
	}
	if err := checkStore(opts.Dir); err != nil {
		return nil, nil, err
	}
	srv, err := server.NewServer(&server.Options{
		ServerName:      "chatd",
		JetStream:       true,
		StoreDir:        opts.Dir,
		DontListen:      true,
		NoSigs:          true,
		NoSystemAccount: true,
		MaxPayload:      int32(maxRecordBytes(opts.MaxText)) + 4096,
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
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("chatd"))
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
	return nil
}

// storeHasStream reports whether the store in dir holds files of the
// stream name (in the global account, where the embedded server keeps it).
func storeHasStream(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, server.JetStreamStoreDir, server.DEFAULT_GLOBAL_ACCOUNT, "streams", name))
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
