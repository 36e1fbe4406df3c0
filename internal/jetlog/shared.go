package jetlog

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// This file is the log shared by several chatd nodes (Options.Shared): the
// stream written by all of them, each reading it back in order through
// its own feed (Follow, follow.go).
//
// Shared, an append expects no last sequence: the stream numbers it among
// the other nodes' events. Each message still carries this log's mark
// (writerHeader), now also as its Nats-Msg-Id, so that a publish the
// client library retries is stored once (the stream's duplicate window).
// Each ack must still be above the last one this log saw: the log's own
// appends are serialised, so their sequences grow, and an ack at or below
// means the stream was replaced. Reads (Replay, Before, LastSeq) see the
// whole stream, every node's events being the room's.
//
// A publish whose ack never came (a timeout) may be stored all the same.
// Its mark is remembered (unackedMarks), and Check, which the room calls
// while it is read-only, looks for it above the last sequence acked before
// it and deletes it; the other writers' messages there are the room's
// events, left as they are. The feeds may have delivered it meanwhile
// (they deliver what the stream stores, as soon as it does): the sender
// was told it failed, and Check keeps it out of the history.
//
// The in-memory recent events (recent.go) are filled, shared, from the
// feed, in the stream's order, not from this log's own appends (which the
// other nodes' events come between): Replay answers from it once the
// feed has delivered up to the stream's end, and reads the stream when
// it is behind.

// onceIDPrefix starts the Nats-Msg-Id of AppendOnce, apart from the
// writers' marks (base32, a dot, a count).
const onceIDPrefix = "chatd-once-"

// onceID is the Nats-Msg-Id of AppendOnce(ev, id): a hash of id, so that
// any id (hostile, long, with any characters) makes a bounded header of
// safe characters, the same on every node.
func onceID(id string) string {
	sum := sha256.Sum256([]byte("chatd once\x00" + id))
	return onceIDPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// ErrNotShared is returned by AppendOnce on a log that is not shared.
var ErrNotShared = errors.New("jetlog: AppendOnce needs a shared stream (Options.Shared)")

// AppendOnce appends ev as Append does, unless an event was appended with
// the same id within the stream's duplicate window (2 minutes, or MaxAge
// if shorter): then it stores nothing and returns the sequence number of
// that event. Several nodes announcing the same thing (a dead node's
// members leaving) are heard once. Shared logs only (ErrNotShared). An
// attempt of this very call whose ack was lost (retry.go) also makes a
// later one a duplicate: then too ev.Seq stays 0, seq is where it is.
func (l *Log) AppendOnce(ev *room.Event, id string) (uint64, error) {
	if !l.opts.Shared {
		return 0, ErrNotShared
	}
	data, err := encode(ev, l.opts.MaxText)
	if err != nil {
		return 0, err
	}
	if err := l.brokenErr(); err != nil {
		return 0, err
	}
	m := l.message(data)
	m.Header.Set(jetstream.MsgIDHeader, onceID(id))
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	seq, dup, err := l.publishShared(m)
	if err != nil || dup {
		return seq, err
	}
	ev.Seq = seq
	l.noteAppended(1, seq)
	return seq, nil
}

// AppendOnceBatch is AppendOnce of each of evs with the id of the same
// index in ids, published without waiting for each ack (up to maxBatch at
// a time, their acks awaited together), so that thousands cost a round
// trip each few hundred, not one each. Every event stored, or found
// stored before under its id, has its Seq set; one that was not keeps Seq
// 0, and the error names it (a retry of those alone is then enough: the
// ids make a copy stored after all harmless).
func (l *Log) AppendOnceBatch(evs []*room.Event, ids []string) error {
	if !l.opts.Shared {
		return ErrNotShared
	}
	if len(ids) != len(evs) {
		return fmt.Errorf("jetlog: AppendOnceBatch: %d events, %d ids", len(evs), len(ids))
	}
	var failed batchErrors
	for start := 0; start < len(evs); start += maxBatch {
		end := min(len(evs), start+maxBatch)
		if err := l.appendOnceChunk(evs[start:end], ids[start:end], start, &failed); err != nil {
			return err // the log broke
		}
	}
	return failed.err(len(evs))
}

// appendOnceChunk stores at most maxBatch of AppendOnceBatch's events (the
// first is the batch's number start), recording in failed those not
// stored. It returns an error only when the log broke.
func (l *Log) appendOnceChunk(evs []*room.Event, ids []string, start int, failed *batchErrors) error {
	msgs := make([]*nats.Msg, len(evs))
	for i, ev := range evs {
		data, err := encode(ev, l.opts.MaxText)
		if err != nil {
			failed.add(start+i, err)
			continue
		}
		msgs[i] = l.message(data)
		msgs[i].Header.Set(jetstream.MsgIDHeader, onceID(ids[i]))
	}
	if err := l.brokenErr(); err != nil {
		return err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	first := l.lastSeq.Load()
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		if m == nil {
			continue
		}
		// No retry of the library's: a failed one is sent again by the
		// caller, under the same id.
		f, err := l.js.PublishMsgAsync(m, jetstream.WithExpectStream(l.opts.Stream), jetstream.WithRetryAttempts(0))
		if err != nil {
			failed.add(start+i, fmt.Errorf("publish: %w", l.connErr(err)))
			continue
		}
		futures[i] = f
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	last, stored := first, uint64(0)
	defer func() {
		if last > first {
			l.lastSeq.Store(last)
		}
		if stored > 0 {
			l.noteAppended(stored, last)
		}
	}()
	for i, f := range futures {
		if f == nil {
			continue
		}
		a, err := onceAck(ctx, f)
		switch {
		case err != nil:
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) { // the server did not refuse it: it may be stored
				l.unacked.add(msgs[i].Header.Get(writerHeader), first)
			}
			failed.add(start+i, appendError(l.connErr(err)))
		case a.Duplicate: // stored before, under its id: not again
			evs[i].Seq, last = a.Sequence, max(last, a.Sequence)
		case a.Sequence <= first:
			return l.breakWith(ErrStreamWentBack, fmt.Sprintf("the server acked an event as %d after %d", a.Sequence, first))
		default:
			evs[i].Seq, last = a.Sequence, max(last, a.Sequence)
			stored++
		}
	}
	return nil
}

// onceAck waits for f's ack until ctx is done; an ack already there is
// taken even then.
func onceAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case a := <-f.Ok():
		return a, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
	}
	select {
	case a := <-f.Ok():
		return a, nil
	default:
		return nil, fmt.Errorf("no ack: %w", ctx.Err())
	}
}

// appendShared is Append on a shared stream, of ev encoded in m.
func (l *Log) appendShared(ev *room.Event, m *nats.Msg) (uint64, error) {
	if err := l.brokenErr(); err != nil {
		return 0, err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	seq, _, err := l.publishShared(m)
	if err != nil {
		return 0, err
	}
	// A duplicate here is this very message, stored by an earlier attempt
	// whose ack was lost (a retry of ours or of the client library):
	// stored, under seq.
	ev.Seq = seq
	l.noteAppended(1, seq)
	return seq, nil
}

// publishShared publishes m, holding appendMu, expecting no last sequence,
// and returns the sequence it is stored under; dup says the stream had a
// message with m's Nats-Msg-Id already, stored under seq, and stored
// nothing. A publish that got no answer is published again, the same
// message, within Options.ElectionWait (retry.go): a copy of one already
// stored is a duplicate, stored under the first one's seq. An ack (not a
// duplicate) at or below the last sequence the log saw breaks it. A
// publish that finally failed, one of its attempts without the server's
// answer, is remembered for Check (unackedMarks).
func (l *Log) publishShared(m *nats.Msg) (seq uint64, dup bool, err error) {
	last := l.lastSeq.Load()
	r := l.newRetry()
	maybeStored := false
	var ack *jetstream.PubAck
	for {
		ack, err = l.publishAttempt(r, m)
		if err == nil {
			break
		}
		var apiErr *jetstream.APIError
		maybeStored = maybeStored || !errors.As(err, &apiErr) // the server did not refuse it: it may be stored
		if !r.again(err) {
			if maybeStored {
				l.unacked.add(m.Header.Get(writerHeader), last)
			}
			return 0, false, appendError(l.connErr(err))
		}
	}
	if ack.Duplicate {
		if ack.Sequence > last {
			l.lastSeq.Store(ack.Sequence)
		}
		return ack.Sequence, true, nil
	}
	if ack.Sequence <= last {
		return 0, false, l.breakWith(ErrStreamWentBack, fmt.Sprintf("the server acked an event as %d after %d", ack.Sequence, last))
	}
	l.lastSeq.Store(ack.Sequence)
	return ack.Sequence, false, nil
}

// publishAttempt publishes m once and waits for its ack, as long as one
// attempt of r may.
func (l *Log) publishAttempt(r *retry, m *nats.Msg) (*jetstream.PubAck, error) {
	ctx, cancel := r.attemptCtx()
	defer cancel()
	return l.js.PublishMsg(ctx, m, jetstream.WithExpectStream(l.opts.Stream))
}

// maxUnackedMarks bounds the never-acked messages a shared log remembers
// for Check; beyond, it forgets the oldest (which then stay in the
// stream, as the feeds delivered them).
const maxUnackedMarks = 2 * maxBatch

// maxSharedScan bounds the messages Check reads, above the lowest
// sequence a never-acked message may have, to find them (the other
// writers' come between).
const maxSharedScan = 4 * maxWindow

// unackedMarks is what a shared log remembers of the messages it
// published without an ack: each one's mark, and the last sequence the
// log had seen when it published it (the message, if stored, is above).
type unackedMarks struct {
	mu    sync.Mutex
	marks []unackedMark
}

type unackedMark struct {
	mark  string
	above uint64
}

func (u *unackedMarks) add(mark string, above uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.marks) == maxUnackedMarks {
		u.marks = append(u.marks[:0], u.marks[1:]...)
	}
	u.marks = append(u.marks, unackedMark{mark, above})
}

// take returns the marks remembered and forgets them.
func (u *unackedMarks) take() []unackedMark {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.marks
	u.marks = nil
	return out
}

// reconcileShared is reconcile on a shared stream found ending at end,
// above the last sequence this log saw, holding appendMu: it deletes the
// messages of this log that were never acked (unackedMarks), found among
// the maxSharedScan messages above the lowest place they may be; the
// other writers' messages are the room's, left as they are. It then takes
// end as the last sequence seen.
func (l *Log) reconcileShared(ctx context.Context, end uint64) error {
	if end <= l.lastSeq.Load() {
		return nil
	}
	if marks := l.unacked.take(); len(marks) > 0 {
		if err := l.deleteUnacked(ctx, marks, end); err != nil {
			for _, m := range marks {
				l.unacked.add(m.mark, m.above) // for the next Check
			}
			return err
		}
	}
	l.lastSeq.Store(end)
	return nil
}

// deleteUnacked deletes the messages carrying one of marks, this log's
// never-acked messages, reading the stream from the lowest place they may
// be, at most maxSharedScan messages and not above end. A mark not found
// there was not stored (or is beyond reach, and stays).
func (l *Log) deleteUnacked(ctx context.Context, marks []unackedMark, end uint64) error {
	want := make(map[string]bool, len(marks))
	lowest := end
	for _, m := range marks {
		want[m.mark] = true
		lowest = min(lowest, m.above+1)
	}
	top := min(end, lowest+maxSharedScan-1)
	var seqs []uint64
	for bottom := lowest; bottom <= top && len(want) > 0; bottom += maxWindow {
		msgs, err := l.getRange(ctx, &l.reads, bottom, min(top, bottom+maxWindow-1))
		if err != nil {
			return fmt.Errorf("jetlog: check the messages above %d: %w", lowest-1, err)
		}
		for _, m := range msgs {
			mark := m.header.Get(writerHeader)
			if !l.ours(m.header) || !want[mark] {
				continue // another writer's, or one of ours that was acked
			}
			if err := l.stream.DeleteMsg(ctx, m.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("jetlog: delete message %d, stored though its ack never came: %w", m.seq, err)
			}
			delete(want, mark)
			seqs = append(seqs, m.seq)
			l.deleted.add(m.seq)
		}
	}
	if len(seqs) > 0 {
		l.recent.reset() // the feed may have put them there
		l.opts.Logger.Warn("jetlog: deleted events stored after their append had failed (the sender was told they were not stored)",
			"stream", l.opts.Stream, "seqs", seqs)
	}
	return nil
}
