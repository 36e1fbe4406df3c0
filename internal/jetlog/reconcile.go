package jetlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// This file keeps the stream to what the room was told. An Append whose
// ack was lost (the server stalled past the timeout: a slow disk, a
// stopped process) returns an error, and the room tells the sender that
// nobody was shown it; but the server may store the message later. So
// every message the log publishes expects the stream to end where the log
// last saw it end (lastSeq), and carries this log's mark (writerHeader).
// Reads (Replay, Before, LastSeq, FirstSeq) never look above lastSeq, and
// Check, which the room calls while it is read-only, reconciles a stream
// found above it: messages there that carry this log's mark were never
// acked, so never shown, and are deleted; one that does not means another
// writer shares the stream, and the log breaks (ErrSharedStream), deleting
// nothing.

// writerHeader is the header that marks a message as published by one
// Log: its writer mark, a dot and the count of the message.
const writerHeader = "Chatd-Writer"

// ErrStreamAhead is wrapped by the error of an Append (or of an event of
// AppendBatch) refused because the stream no longer ends where the log saw
// it end: a message the log was not acked for was stored (an earlier
// publish that timed out, or another writer's). Check reconciles it.
var ErrStreamAhead = errors.New("the stream holds messages above the last one this log was acked for")

// message is the message that publishes data as the next event, with this
// log's mark.
func (l *Log) message(data []byte) *nats.Msg {
	m := nats.NewMsg(l.opts.Subject)
	m.Data = data
	mark := l.writer + "." + strconv.FormatUint(l.published.Add(1), 10)
	m.Header.Set(writerHeader, mark)
	if l.opts.Shared {
		// The stream drops a retry of this very message (the client
		// library retries a publish JetStream did not answer) within its
		// duplicate window, rather than store it twice.
		m.Header.Set(jetstream.MsgIDHeader, mark)
	}
	return m
}

// ours reports whether a stored message with header h was published by
// this log (since Open: the mark is new at each Open).
func (l *Log) ours(h nats.Header) bool {
	mark, _, _ := strings.Cut(h.Get(writerHeader), ".")
	return mark == l.writer
}

// appendError is the error of a publish that failed with err: one refused
// for its expected last sequence wraps ErrStreamAhead too.
func appendError(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return fmt.Errorf("jetlog: append: %w: %w", ErrStreamAhead, err)
	}
	return fmt.Errorf("jetlog: append: %w", err)
}

// checkWentBack is called, holding appendMu, after a publish expecting the
// stream to end at last was refused: if the stream ends below last (it
// was lost or replaced), it breaks the log and returns its error; else
// (the stream is ahead, or did not answer) it returns nil.
func (l *Log) checkWentBack(last uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil || info.State.LastSeq >= last {
		return nil
	}
	return l.breakWith(ErrStreamWentBack, fmt.Sprintf("the stream ends at %d, but it had reached %d", info.State.LastSeq, last))
}

// maxUnacked is the most messages of this log the stream may hold above
// lastSeq: one AppendBatch chunk (an Append publishes one). More than that
// cannot all be this log's.
const maxUnacked = maxBatch

// reconcile deals with a stream found ending at end, above lastSeq: it
// reads the messages above lastSeq and, if every one is this log's, deletes
// them (they were never acked, so never shown), logs it, and takes end as
// the last sequence; if any is not this log's, it breaks the log
// (ErrSharedStream) and deletes nothing. Appends wait meanwhile.
func (l *Log) reconcile(ctx context.Context, end uint64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.opts.Shared {
		return l.reconcileShared(ctx, end)
	}
	last := l.lastSeq.Load()
	if end <= last {
		return nil // an Append took the stream there meanwhile
	}
	if end-last > maxUnacked {
		return l.breakWith(ErrSharedStream, fmt.Sprintf("it ends at %d, %d messages above the last this log was acked for, %d; this log leaves at most %d unacked",
			end, end-last, last, maxUnacked))
	}
	msgs, err := l.getRange(ctx, &l.reads, last+1, end)
	if err != nil {
		return fmt.Errorf("jetlog: check the messages above %d: %w", last, err)
	}
	for _, m := range msgs {
		if !l.ours(m.header) {
			return l.breakWith(ErrSharedStream, fmt.Sprintf("message %d, above the last this log was acked for, %d, is not this log's (%s %.60q)",
				m.seq, last, writerHeader, m.header.Get(writerHeader)))
		}
	}
	seqs := make([]uint64, 0, len(msgs))
	for _, m := range msgs {
		if err := l.stream.DeleteMsg(ctx, m.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("jetlog: delete message %d, stored though its ack never came: %w", m.seq, err)
		}
		seqs = append(seqs, m.seq)
		l.deleted.add(m.seq)
	}
	if len(seqs) > 0 {
		l.opts.Logger.Warn("jetlog: deleted events stored after their append had failed (the room was told they were not stored, and nobody was shown them)",
			"stream", l.opts.Stream, "seqs", seqs)
	}
	l.lastSeq.Store(end)
	return nil
}

// maxDeletedKept bounds the sequences deletedSeqs remembers; it forgets
// the oldest beyond (then it counts too few, and Replay reads the stream
// rather than answer from memory: slower, never wrong).
const maxDeletedKept = 1024

// deletedSeqs is the sequences of the messages reconcile deleted, so that
// Replay may still answer from its memory of recent events when those are
// the stream's only deleted messages.
type deletedSeqs struct {
	mu   sync.Mutex
	seqs []uint64 // ascending
}

func (d *deletedSeqs) add(seq uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seqs) == maxDeletedKept {
		d.seqs = append(d.seqs[:0], d.seqs[1:]...)
	}
	d.seqs = append(d.seqs, seq)
}

// countFrom is how many of the deleted sequences are first or above.
func (d *deletedSeqs) countFrom(first uint64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, s := range d.seqs {
		if s >= first {
			n++
		}
	}
	return n
}
