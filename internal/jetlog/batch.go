package jetlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
// it: see shared.go).
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
// not stored. It returns an error only when the log broke.
func (l *Log) appendChunk(evs []*room.Event, start int, failed *batchErrors) error {
	data := make([][]byte, len(evs))
	for i, ev := range evs {
		var err error
		if data[i], err = encode(ev, l.opts.MaxText); err != nil {
			failed.add(start+i, err)
		}
	}
	if err := l.brokenErr(); err != nil {
		return err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	last, stored := l.lastSeq.Load(), 0
	futures, marks := l.publishAll(data, last, start, failed)
	defer func() {
		if stored > 0 {
			l.lastSeq.Store(last)
			l.noteAppended(uint64(stored), last)
		}
	}()
	acks := l.waitAcks(futures)
	var gap error // why the prefix stored ended, if it did
	for i, a := range acks {
		switch {
		case data[i] == nil: // not encodable: refused alone, not published
		case futures[i] == nil: // not published: recorded by publishAll
			if gap == nil {
				gap = errors.New("not published")
			}
		case gap != nil && !l.opts.Shared:
			failed.add(start+i, fmt.Errorf("not stored: an event before it in the batch was not (%w)", gap))
		case a.err != nil:
			// Shared: each event is stored or not on its own (no expected
			// last sequence); one not acked may be stored yet (reconcile).
			gap = appendError(a.err)
			failed.add(start+i, gap)
			if l.opts.Shared {
				l.unacked.add(marks[i], last)
			}
		case a.seq <= last:
			return l.breakWith(ErrStreamWentBack, fmt.Sprintf("the server acked an event as %d after %d", a.seq, last))
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

// publishAll publishes each of data that is not nil without waiting for
// acks, the k-th (from 1) expecting the stream to end at base+k-1 (not
// shared: a shared stream numbers them among the other writers'), and
// returns a future for each (nil for those not published; a publish that
// fails is recorded in failed: the connection is down), and the mark of
// each message (writerHeader).
func (l *Log) publishAll(data [][]byte, base uint64, start int, failed *batchErrors) ([]jetstream.PubAckFuture, []string) {
	futures := make([]jetstream.PubAckFuture, len(data))
	marks := make([]string, len(data))
	expect := base
	for i, d := range data {
		if d == nil {
			continue
		}
		m := l.message(d)
		marks[i] = m.Header.Get(writerHeader)
		opts := []jetstream.PublishOpt{jetstream.WithExpectStream(l.opts.Stream)}
		if !l.opts.Shared {
			opts = append(opts, jetstream.WithExpectLastSequence(expect))
		}
		f, err := l.js.PublishMsgAsync(m, opts...)
		expect++
		if err != nil {
			failed.add(start+i, fmt.Errorf("publish: %w", l.connErr(err)))
			continue
		}
		futures[i] = f
	}
	return futures, marks
}

// ack is what became of one published event: the sequence the server
// stored it under, or why it did not say.
type ack struct {
	seq uint64
	err error
}

// waitAcks waits for the ack of every future that is not nil, all within
// the log's timeout (each future also times out by itself:
// WithPublishAsyncTimeout).
func (l *Log) waitAcks(futures []jetstream.PubAckFuture) []ack {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	acks := make([]ack, len(futures))
	for i, f := range futures {
		if f != nil {
			acks[i] = waitAck(ctx, f)
		}
	}
	return acks
}

// waitAck waits for f's ack until ctx is done; an ack already there is
// taken even then.
func waitAck(ctx context.Context, f jetstream.PubAckFuture) ack {
	select {
	case a := <-f.Ok():
		return ack{seq: a.Sequence}
	case err := <-f.Err():
		return ack{err: err}
	case <-ctx.Done():
	}
	select {
	case a := <-f.Ok():
		return ack{seq: a.Sequence}
	default:
		return ack{err: fmt.Errorf("no ack: %w", ctx.Err())}
	}
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
