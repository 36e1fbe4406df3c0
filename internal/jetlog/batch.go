package jetlog

import (
	"context"
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
// each. The server takes one connection's messages in order, so the
// sequences grow along evs. Each event is stored or not on its own, as if
// appended one by one: a stored one has its Seq set; one not stored
// (refused, unencodable, unanswered, published while the connection was
// down) keeps Seq 0, and err names each of those with its reason. Every
// ack is checked to be above the one before it (and the last sequence the
// log saw), as in Append; one that is not breaks the log. As with Append,
// an event whose ack was lost (a timeout) may be stored all the same.
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
	count int
	first []string // the first few, "event N: why"
}

// maxNamedFailures bounds how many failed events the error names one by
// one; it counts the rest.
const maxNamedFailures = 8

func (b *batchErrors) add(i int, err error) {
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
	return fmt.Errorf("jetlog: append batch: %d of %d events not stored (the others are): %s%s",
		b.count, n, strings.Join(b.first, "; "), more)
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
	futures := l.publishAll(data, start, failed)
	last, stored := l.lastSeq.Load(), 0
	defer func() {
		if stored > 0 {
			l.lastSeq.Store(last)
			l.noteAppended(uint64(stored), last)
		}
	}()
	acks := l.waitAcks(futures)
	for i, a := range acks {
		switch {
		case futures[i] == nil:
		case a.err != nil:
			failed.add(start+i, a.err)
		case a.seq <= last:
			return l.breakWith(fmt.Sprintf("the server acked an event as %d after %d", a.seq, last))
		default:
			evs[i].Seq, last = a.seq, a.seq
			l.recent.add(evs[i])
			stored++
		}
	}
	return nil
}

// publishAll publishes each of data that is not nil without waiting for
// acks, returning a future for each (nil for those not published; a
// publish that fails is recorded in failed: the connection is down).
func (l *Log) publishAll(data [][]byte, start int, failed *batchErrors) []jetstream.PubAckFuture {
	futures := make([]jetstream.PubAckFuture, len(data))
	for i, d := range data {
		if d == nil {
			continue
		}
		f, err := l.js.PublishMsgAsync(&nats.Msg{Subject: l.opts.Subject, Data: d}, jetstream.WithExpectStream(l.opts.Stream))
		if err != nil {
			failed.add(start+i, fmt.Errorf("publish: %w", l.connErr(err)))
			continue
		}
		futures[i] = f
	}
	return futures
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
