package jetlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// This file is the log's health: a cheap check the room calls while it is
// read-only (room.LogChecker), and the reason a call failed, for metrics.

var _ room.LogChecker = (*Log)(nil)

// errNotConnected is wrapped by Check's error while the connection to the
// server is down (it reconnects by itself).
var errNotConnected = errors.New("not connected to the NATS server")

// WriteError is Check's error when the embedded server reports that the
// stream could not write to its store (a full or failing disk). JetStream
// does not write to a stream again after such an error until it loads the
// stream anew: Check reloads JetStream once the disk has minFreeBytes free
// (see reloadAfterWriteError).
type WriteError struct{ Detail string }

func (e *WriteError) Error() string {
	return "jetlog: the store cannot be written: " + e.Detail
}

// Check reports whether the log can store: it fails if the log is broken
// (its stream went back, or another writer shares it), the connection to
// the server is down, the stream does not answer within Options.Timeout
// (or ctx), it has no leader or one that hears from too few of its
// replicas (a NATS cluster that lost its quorum; streamAnswer), or,
// embedded, the server reports a write error on the stream.
// It stores nothing, and costs one round trip to the server; and, if the
// stream ends above the last sequence the log was acked for, it deletes
// the messages there that this log published (their appends failed, so
// nobody was shown them) or, if any is another writer's, breaks the log
// (see reconcile).
func (l *Log) Check(ctx context.Context) error {
	if err := l.brokenErr(); err != nil {
		return err
	}
	if st := l.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("jetlog: %w (%v)", errNotConnected, st)
	}
	if err := l.embeddedHealth(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err := l.checkStream(err); err != nil {
		return err
	}
	if err := streamAnswer(info, nil); err != nil { // a quorum lost, or an election under way
		return fmt.Errorf("jetlog: check: stream %s: %w", l.opts.Stream, err)
	}
	switch last := l.lastSeq.Load(); {
	case !info.Created.Equal(l.created):
		return l.breakWith(ErrStreamWentBack, fmt.Sprintf("it was created again at %s; the log opened the one created at %s",
			info.Created.UTC().Format(time.RFC3339Nano), l.created.UTC().Format(time.RFC3339Nano)))
	case info.State.LastSeq < last:
		return l.breakWith(ErrStreamWentBack, fmt.Sprintf("the stream ends at %d, but it had reached %d", info.State.LastSeq, last))
	case info.State.LastSeq > last:
		return l.reconcile(ctx, info.State.LastSeq)
	}
	return nil
}

// embeddedHealth asks the embedded server, if there is one, whether its
// JetStream and the stream are healthy (its /healthz, in process); after
// a write error it reloads JetStream if the disk has room again, and asks
// once more.
func (l *Log) embeddedHealth() error {
	if l.srv == nil {
		return nil
	}
	err := l.serverHealth()
	if err == nil || !l.reloadAfterWriteError() {
		return err
	}
	return l.serverHealth()
}

// serverHealth is the embedded server's health of JetStream and the
// stream, as a WriteError if it is not healthy.
func (l *Log) serverHealth() error {
	h := l.srv.Healthz(&server.HealthzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Stream: l.opts.Stream})
	if h.StatusCode == http.StatusOK {
		return nil
	}
	return &WriteError{Detail: fmt.Sprintf("%.300s", h.Error)}
}

// minFreeBytes is the free space the store's filesystem needs before
// Check reloads JetStream after a write error: room for a few blocks of
// records, so that the first Append after does not fail again at once.
const minFreeBytes = 4 << 20

// reloadAfterWriteError reloads the embedded server's JetStream, which
// loads the stream from its files anew and forgets its write error, if
// the store's filesystem has minFreeBytes free (or cannot tell); it
// reports whether it did. Appends do not run meanwhile (the room calls
// Check while it is read-only); a Replay may fail. If the stream loaded
// ends below what was acked, the next Append or Check breaks the log.
func (l *Log) reloadAfterWriteError() bool {
	if free, ok := freeBytes(l.opts.Dir); ok && free < minFreeBytes {
		return false
	}
	l.opts.Logger.Warn("jetlog: the store had a write error and the disk has room again: reloading JetStream", "store", l.opts.Dir)
	if err := l.srv.ShutdownJetStream(); err != nil {
		l.opts.Logger.Error("jetlog: reload JetStream: shut down", "err", err)
		return false
	}
	if err := l.srv.EnableJetStream(&server.JetStreamConfig{StoreDir: l.opts.Dir}); err != nil {
		l.opts.Logger.Error("jetlog: reload JetStream: enable", "err", err)
		return false
	}
	return true
}

// Failure says why a call of the log failed, as a metric's label.
type Failure string

// The reasons a call of the log fails.
const (
	// FailUnreachable: the connection to the server is down, or JetStream
	// did not answer (no responders).
	FailUnreachable Failure = "unreachable"
	// FailTimeout: the server did not answer within the timeout (a full
	// disk on an external server looks like this too: it does not ack).
	FailTimeout Failure = "timeout"
	// FailWrite: the embedded server cannot write the stream (WriteError).
	FailWrite Failure = "write"
	// FailBroken: the stream went back; the log refuses until chatd is
	// restarted on a sound store.
	FailBroken Failure = "broken"
	// FailOther: anything else.
	FailOther Failure = "other"
)

// FailureOf classifies an error of the log's Append, Replay or Check.
func (l *Log) FailureOf(err error) Failure {
	var we *WriteError
	switch {
	case err == nil:
		return ""
	case l.brokenErr() != nil && errors.Is(err, l.brokenErr()):
		return FailBroken
	case errors.As(err, &we):
		return FailWrite
	case errors.Is(err, ErrStreamMissing):
		return FailMissing
	case errors.Is(err, errNotConnected), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrNoServers),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return FailUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return FailTimeout
	}
	return FailOther
}
