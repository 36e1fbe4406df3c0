package jetlog

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// This file is how a shared log waits out a NATS cluster electing the
// stream's leader (Options.ElectionWait). When the server that led the
// stream dies, the others answer no publish for the stream for a few
// seconds; an append that got no answer is published again, the very
// same message (same Nats-Msg-Id: the stream's duplicate window stores it
// once, and answers a later copy with the first one's sequence, marked
// Duplicate), after a short pause growing from retryFirstPause to
// retryMaxPause, each attempt waiting at most maxAttemptWait for its ack,
// until it is acked or the budget runs out. A refusal (the server
// answered: jetstream.APIError) is not retried, nor is anything once the
// log is closing.

const (
	// retryFirstPause is the pause before the first retry; it doubles up
	// to retryMaxPause.
	retryFirstPause = 100 * time.Millisecond
	retryMaxPause   = 500 * time.Millisecond
	// maxAttemptWait bounds how long each attempt of a retried append
	// waits for its ack (Options.Timeout if shorter), so that a publish
	// lost in the election is sent again soon.
	maxAttemptWait = 2 * time.Second
)

// retry is the budget of one append (or one AppendBatch chunk) of a
// shared log for publishing again what got no answer.
type retry struct {
	life     context.Context // ends when the log is closed
	deadline time.Time       // zero: no retry
	pause    time.Duration   // before the next attempt
	attempt  time.Duration   // how long each attempt waits for its ack
	count    *atomic.Uint64  // the log's count of retries
}

// newRetry starts the budget of an append: Options.ElectionWait from now
// on a shared log, none otherwise.
func (l *Log) newRetry() *retry {
	r := &retry{life: l.lifeCtx(), attempt: l.opts.Timeout, count: &l.retried}
	if l.opts.Shared && l.opts.ElectionWait > 0 {
		r.deadline = time.Now().Add(l.opts.ElectionWait)
		r.pause = retryFirstPause
		r.attempt = min(l.opts.Timeout, maxAttemptWait)
	}
	return r
}

// lifeCtx is the log's life (Close ends it); a log made without Open
// (export) has none that ends.
func (l *Log) lifeCtx() context.Context {
	if l.life == nil {
		return context.Background()
	}
	return l.life
}

// attemptCtx is the context of one attempt: its wait for the ack, ended
// as well by Close.
func (r *retry) attemptCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.life, r.attempt)
}

// again reports whether to publish again what failed with err: err says
// the server did not answer (unanswered), the log is not closing, and the
// budget is not spent. It first waits the pause (cut short by the
// budget's end; false if the log closes meanwhile).
func (r *retry) again(err error) bool {
	if r.deadline.IsZero() || !unanswered(err) || r.life.Err() != nil {
		return false
	}
	left := time.Until(r.deadline)
	if left <= 0 {
		return false
	}
	t := time.NewTimer(min(r.pause, left))
	defer t.Stop()
	select {
	case <-r.life.Done():
		return false
	case <-t.C:
	}
	r.pause = min(2*r.pause, retryMaxPause)
	r.count.Add(1)
	return true
}

// unanswered reports whether err is a publish that got no answer from the
// stream (so that publishing it again may store it): a timeout, no
// responders, or the connection down or reconnecting. Not a refusal of
// the server (an APIError), nor the log's own end (a closed connection, a
// cancelled context).
func unanswered(err error) bool {
	var apiErr *jetstream.APIError
	if err == nil || errors.As(err, &apiErr) {
		return false
	}
	for _, e := range []error{
		context.DeadlineExceeded, nats.ErrTimeout, jetstream.ErrNoStreamResponse, nats.ErrNoResponders,
		jetstream.ErrAsyncPublishTimeout, jetstream.ErrTooManyStalledMsgs,
		nats.ErrReconnectBufExceeded, nats.ErrDisconnected, nats.ErrConnectionReconnecting,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Retried is how many times the log published again appends (or batch
// chunks) that got no answer (Options.ElectionWait).
func (l *Log) Retried() uint64 { return l.retried.Load() }
