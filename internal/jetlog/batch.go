package jetlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

var _ room.BatchLog = (*Log)(nil)

// maxBatch bounds the events AppendBatch publishes before it waits for
// their acks (and so the acks outstanding on the connection at once).
const maxBatch = 256

// AppendBatch stores evs in order as the next public events (room.BatchLog):
// it publishes up to maxBatch of them without waiting, then waits for
// every ack, so that a batch costs about one round trip rather than one
// each. The server takes one connection's messages in order, and each
// published event expects the stream to end just below it (the k-th
// published, at the log's last sequence plus k-1), so the sequences grow
// along evs and what is stored is a prefix of those published: once one
// is not acked (refused, unanswered, published while the connection was
// down), none after it in the chunk counts as stored, even if its ack
// came (it is above the last sequence acked, where reads do not look, and
// Check deletes it: see reconcile.go). An event that cannot be encoded is
// refused alone and not published. A stored event has its Seq set; one not
// stored keeps Seq 0, and err names each of those with its reason. Every
// ack is checked to be above the one before it, as in Append; one that is
// not breaks the log. Shared (Options.Shared), no event expects a last
// sequence: each is stored or not on its own, numbered among the other
// writers' events, and one not acked may still be stored (Check deletes
// it: see shared.go); the failed suffix of a chunk is sent again within
// Options.ElectionWait (retryChunk), and an event stored below one before
// it in the batch (out of order, after a lost ack) counts as not stored
// (Check deletes it); only an ack at or below the last sequence seen
// before the chunk breaks the log.
func (l *Log) AppendBatch(evs []*room.Event) error {
	var failed batchErrors
	for start := 0; start < len(evs); start += maxBatch {
		chunk := evs[start:min(len(evs), start+maxBatch)]
		if err := l.appendChunk(chunk, start, &failed); err != nil {
			return err // the log broke
		}
	}
	return failed.err(len(evs))
}

// batchErrors collects the events of a batch that were not stored.
type batchErrors struct {
	count       int
	first       []string // the first few, "event N: why"
	notStorable bool     // an event was refused itself (room.ErrNotStorable)
}

// maxNamedFailures bounds how many failed events the error names one by
// one; it counts the rest.
const maxNamedFailures = 8

func (b *batchErrors) add(i int, err error) {
	b.notStorable = b.notStorable || errors.Is(err, room.ErrNotStorable)
	if b.count++; len(b.first) < maxNamedFailures {
		b.first = append(b.first, fmt.Sprintf("event %d: %v", i+1, err))
	}
}

// err is the error of a batch of n events, nil if every one was stored.
func (b *batchErrors) err(n int) error {
	if b.count == 0 {
		return nil
	}
	more := ""
	if b.count > len(b.first) {
		more = fmt.Sprintf("; and %d more", b.count-len(b.first))
	}
	err := fmt.Errorf("jetlog: append batch: %d of %d events not stored (the others are): %s%s",
		b.count, n, strings.Join(b.first, "; "), more)
	if b.notStorable {
		err = fmt.Errorf("%w (%w)", err, room.ErrNotStorable)
	}
	return err
}

// appendChunk stores evs (at most maxBatch; the first is the batch's event
// number start) as AppendBatch does: encodes them, publishes those it
// could encode, then waits for every ack, recording in failed each event
// not stored. Shared, the events after the last one acked that got no
// answer are published again, in order, within Options.ElectionWait
// (retryChunk). It returns an error only when the log broke.
func (l *Log) appendChunk(evs []*room.Event, start int, failed *batchErrors) error {
	msgs := make([]*nats.Msg, len(evs))
	for i, ev := range evs {
		data, err := encode(ev, l.opts.MaxText)
		if err != nil {
			failed.add(start+i, err)
			continue
		}
		msgs[i] = l.message(data)
	}
	if err := l.brokenErr(); err != nil {
		return err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	first := l.lastSeq.Load()
	r := l.newRetry()
	acks := l.waitAcks(r, l.publishAll(msgs, first, all(len(msgs))))
	if l.opts.Shared {
		l.retryChunk(r, msgs, acks)
	}
	last, stored := first, 0
	defer func() {
		if stored > 0 {
			l.lastSeq.Store(last)
			l.noteAppended(uint64(stored), last)
		}
	}()
	var gap error // why the prefix stored ended, if it did
	for i, a := range acks {
		mark := ""
		if msgs[i] != nil {
			mark = msgs[i].Header.Get(writerHeader)
		}
		switch {
		case msgs[i] == nil: // not encodable: refused alone, not published
		case gap != nil && !l.opts.Shared:
			failed.add(start+i, fmt.Errorf("not stored: an event before it in the batch was not (%w)", gap))
		case a.err != nil:
			// Shared: each event is stored or not on its own (no expected
			// last sequence); one not acked may be stored yet (reconcile).
			gap = a.err
			failed.add(start+i, gap)
			if l.opts.Shared && a.maybeStored {
				l.unacked.add(mark, first)
			}
		case a.seq <= first || a.seq <= last && !l.opts.Shared:
			return l.breakWith(ErrStreamWentBack, fmt.Sprintf("the server acked an event as %d after %d", a.seq, last))
		case a.seq <= last:
			// Shared: stored (a retry, or its first copy stored late)
			// after a later event of the chunk: not in the batch's order,
			// so not counted as stored (the sender is told), and Check
			// deletes it.
			failed.add(start+i, fmt.Errorf("jetlog: append: stored as %d, out of the batch's order (after %d)", a.seq, last))
			l.unacked.add(mark, first)
		default:
			evs[i].Seq, last = a.seq, a.seq
			if !l.opts.Shared {
				l.recent.add(evs[i]) // shared: Follow fills it, in the stream's order
			}
			stored++
		}
	}
	if errors.Is(gap, ErrStreamAhead) {
		return l.checkWentBack(last)
	}
	return nil
}

// all is the indexes 0..n-1.
func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// retryChunk (shared) publishes again, in order and within r's budget,
// the events of a chunk after the last one acked whose publish got no
// answer, the same messages (a copy of one stored after all is answered
// as a duplicate, under its first sequence), until they are acked or one
// is refused or the budget runs out, updating acks. An event that failed
// before one that was stored is left failed: the stored events' sequences
// must grow along the batch (room.BatchLog).
func (l *Log) retryChunk(r *retry, msgs []*nats.Msg, acks []ack) {
	for {
		idx, why := failedSuffix(msgs, acks)
		if len(idx) == 0 || !r.again(why) {
			return
		}
		again := l.waitAcks(r, l.publishAll(msgs, 0, idx))
		for _, i := range idx {
			again[i].maybeStored = again[i].maybeStored || acks[i].maybeStored
			acks[i] = again[i]
		}
	}
}

// failedSuffix returns the indexes, after the last event acked, of the
// events that got no answer (unanswered: publishing them again may store
// them), up to the first one the server refused (it and those after it
// are left failed), and the error of the first of them.
func failedSuffix(msgs []*nats.Msg, acks []ack) ([]int, error) {
	from := 0
	for i, a := range acks {
		if msgs[i] != nil && a.err == nil {
			from = i + 1
		}
	}
	var idx []int
	var why error
	for i := from; i < len(acks); i++ {
		switch {
		case msgs[i] == nil:
		case !unanswered(acks[i].err):
			return idx, why
		default:
			idx = append(idx, i)
			why = cmp.Or(why, acks[i].err)
		}
	}
	return idx, why
}

// published is one event's publish: the future of its ack, or why it
// could not be sent (the connection is down).
type published struct {
	future jetstream.PubAckFuture
	err    error
}

// publishAll publishes msgs[i] for each i of idx (in that order; nil
// messages are skipped) without waiting for acks, the k-th published
// (from 1) expecting the stream to end at base+k-1 (not shared: a shared
// stream numbers them among the other writers'), and returns what became
// of each (indexed as msgs).
func (l *Log) publishAll(msgs []*nats.Msg, base uint64, idx []int) []published {
	out := make([]published, len(msgs))
	expect := base
	for _, i := range idx {
		if msgs[i] == nil {
			continue
		}
		opts := []jetstream.PublishOpt{jetstream.WithExpectStream(l.opts.Stream)}
		if l.opts.Shared {
			// No retry of the library's (on no responders): each message
			// would be sent again on its own, and the chunk stored out of
			// order; retryChunk sends the failed suffix again, in order.
			opts = append(opts, jetstream.WithRetryAttempts(0))
		} else {
			opts = append(opts, jetstream.WithExpectLastSequence(expect))
		}
		f, err := l.js.PublishMsgAsync(msgs[i], opts...)
		expect++
		if err != nil {
			out[i].err = fmt.Errorf("publish: %w", l.connErr(err))
			continue
		}
		out[i].future = f
	}
	return out
}

// ack is what became of one published event: the sequence the server
// stored it under (dup: an earlier copy of it, stored under seq), or why
// it did not say; maybeStored says it was sent and the server did not
// refuse it (so it may be stored).
type ack struct {
	seq         uint64
	dup         bool
	err         error
	maybeStored bool
}

// waitAcks waits for the ack of every event published, all within one
// attempt of r (each future also times out by itself:
// WithPublishAsyncTimeout); an event not published gets its publish
// error.
func (l *Log) waitAcks(r *retry, pubs []published) []ack {
	ctx, cancel := r.attemptCtx()
	defer cancel()
	acks := make([]ack, len(pubs))
	for i, p := range pubs {
		switch {
		case p.future != nil:
			acks[i] = waitAck(ctx, p.future)
		case p.err != nil:
			acks[i] = ack{err: p.err}
		}
	}
	return acks
}

// waitAck waits for f's ack until ctx is done; an ack already there is
// taken even then.
func waitAck(ctx context.Context, f jetstream.PubAckFuture) ack {
	select {
	case a := <-f.Ok():
		return ack{seq: a.Sequence, dup: a.Duplicate}
	case err := <-f.Err():
		return unacked(err)
	case <-ctx.Done():
	}
	select {
	case a := <-f.Ok():
		return ack{seq: a.Sequence, dup: a.Duplicate}
	default:
		return ack{err: appendError(fmt.Errorf("no ack: %w", ctx.Err())), maybeStored: true}
	}
}

// unacked is the ack of an event whose publish failed with err.
func unacked(err error) ack {
	var apiErr *jetstream.APIError
	return ack{err: appendError(err), maybeStored: !errors.As(err, &apiErr)}
}

// noteAppended counts n appends that took the stream to seq, and records
// the sequence floor every floorEvery appends or at the first append
// floorAfter since the last record (embedded, or with Options.Dir).
func (l *Log) noteAppended(n, seq uint64) {
	if l.floorPath() == "" {
		return
	}
	total := l.appends.Add(n)
	now := time.Now().UnixNano()
	if total/floorEvery != (total-n)/floorEvery || now-l.floorAt.Load() > int64(floorAfter) {
		l.floorAt.Store(now)
		l.writeFloor(seq)
	}
}
