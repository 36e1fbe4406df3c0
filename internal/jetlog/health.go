package jetlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"

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
// stream could not write to its store (a full or failing disk). It stays
// until the server restarts: JetStream does not write to a stream again
// after such an error.
type WriteError struct{ Detail string }

func (e *WriteError) Error() string {
	return "jetlog: the store cannot be written: " + e.Detail
}

// Check reports whether the log can store: it fails if the log is broken
// (its stream went back), the connection to the server is down, the
// stream does not answer within Options.Timeout (or ctx), or, embedded,
// the server reports a write error on the stream. It stores nothing, and
// costs one round trip to the server.
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
	if err != nil {
		return fmt.Errorf("jetlog: check: %w", err)
	}
	if last := l.lastSeq.Load(); info.State.LastSeq < last {
		return l.breakWith(fmt.Sprintf("the stream ends at %d, but it had reached %d", info.State.LastSeq, last))
	}
	return nil
}

// embeddedHealth asks the embedded server, if there is one, whether its
// JetStream and the stream are healthy (its /healthz, in process).
func (l *Log) embeddedHealth() error {
	if l.srv == nil {
		return nil
	}
	h := l.srv.Healthz(&server.HealthzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Stream: l.opts.Stream})
	if h.StatusCode == http.StatusOK {
		return nil
	}
	return &WriteError{Detail: fmt.Sprintf("%.300s", h.Error)}
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
