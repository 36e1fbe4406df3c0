package jetkv

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/access"
)

// listBatch is how many records one fetch of List asks for: at most
// listBatch × access.MaxRecordBytes (4 MiB) in flight.
const listBatch = 256

// List returns every live value of name, by key: at most MaxRecords. It
// reads the bucket's last value per key through an ephemeral consumer,
// each batch within Timeout. Records jetkv did not write (a key it
// cannot decode) are skipped and logged; their values are never looked
// at. Values come back as stored: the caller checks them.
func (b *Backend) List(ctx context.Context, name access.Bucket) (map[string][]byte, error) {
	bu, err := b.bucket(name)
	if err != nil {
		return nil, err
	}
	cons, err := b.listConsumer(ctx, bu)
	if err != nil {
		return nil, err
	}
	defer b.dropConsumer(bu, cons)
	l := listing{prefix: bu.subj, most: b.opts.MaxRecords, out: make(map[string][]byte), now: time.Now()}
	unread, err := b.readAll(ctx, bu, cons, l.add)
	if err != nil {
		return nil, err
	}
	if l.skipped > 0 || unread > 0 {
		b.opts.Logger.Warn("jetkv: records skipped (not written by chatd, or beyond the bound)",
			"bucket", bu.name, "skipped", l.skipped, "unread", unread, "max_records", b.opts.MaxRecords)
	}
	return l.out, nil
}

// listing is what List gathered so far.
type listing struct {
	prefix  string // the bucket's subjects' prefix
	most    int    // MaxRecords
	now     time.Time
	out     map[string][]byte
	skipped int
}

// add takes a message of the bucket into the listing: a live value at a
// key jetkv wrote, while there is room.
func (l *listing) add(msg jetstream.Msg) {
	enc, _ := strings.CutPrefix(msg.Subject(), l.prefix)
	key, ok := decodeKey(enc)
	switch {
	case !ok || len(l.out) >= l.most:
		l.skipped++
	case live(msg.Headers(), timestamp(msg), l.now):
		l.out[key] = msg.Data()
	}
}

// readAll gives f every message of cons, in batches, up to twice
// MaxRecords (should the bucket's bounds have been changed behind
// chatd's back): it returns how many it left unread.
func (b *Backend) readAll(ctx context.Context, bu *bucket, cons jetstream.Consumer, f func(jetstream.Msg)) (uint64, error) {
	pending := cons.CachedInfo().NumPending
	for read := 0; pending > 0 && read < 2*b.opts.MaxRecords; {
		n, err := b.fetch(ctx, bu, cons, int(min(pending, listBatch)), f, &pending)
		if err != nil || n == 0 { // n == 0: the rest expired or was deleted meanwhile
			return 0, err
		}
		read += n
	}
	return pending, nil
}

// listConsumer creates the ephemeral consumer List reads bu through.
func (b *Backend) listConsumer(ctx context.Context, bu *bucket) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	cons, err := bu.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     bu.subj + ">",
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return nil, b.fail(bu.name, "list", err)
	}
	return cons, nil
}

// dropConsumer deletes List's consumer; if that fails, the server drops
// it after its InactiveThreshold.
func (b *Backend) dropConsumer(bu *bucket, cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
	defer cancel()
	_ = bu.stream.DeleteConsumer(ctx, cons.CachedInfo().Name)
}

// fetch reads up to n messages of cons within Timeout, giving each to
// f, and sets *pending to what the server says is left after the last.
// It returns how many it read. It stops at the message the server says
// is the last, so records that expired or were deleted since the
// consumer was made (a batch that cannot fill) cost no wait.
func (b *Backend) fetch(ctx context.Context, bu *bucket, cons jetstream.Consumer, n int, f func(jetstream.Msg), pending *uint64) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		return 0, b.fail(bu.name, "list", err)
	}
	read := 0
	for msg := range batch.Messages() {
		read++
		meta, err := msg.Metadata()
		if err != nil {
			continue
		}
		*pending = meta.NumPending
		f(msg)
		if meta.NumPending == 0 {
			return read, nil // the last: cancel ends the request
		}
	}
	if err := batch.Error(); err != nil {
		return read, b.fail(bu.name, "list", err)
	}
	return read, nil
}

// timestamp is when msg was stored (zero if its metadata is unreadable:
// then its TTL, if any, has passed).
func timestamp(msg jetstream.Msg) time.Time {
	meta, err := msg.Metadata()
	if err != nil {
		return time.Time{}
	}
	return meta.Timestamp
}
