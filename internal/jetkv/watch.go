package jetkv

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/access"
)

var _ access.Watcher = (*Backend)(nil)

// resyncGap is the least time between the starts of two re-reads of a
// bucket by one watch, so that a flood of delete notices (or of
// reconnects) costs at most a few re-reads a second; a lone one is
// immediate.
const resyncGap = 200 * time.Millisecond

// noticeSubject is where Delete tells the watches of bucket name that it
// purged a key: a purge leaves nothing in the stream for a watch to see,
// so each watch then reads the bucket again. Core NATS, outside the
// bucket's subjects.
func noticeSubject(name string) string { return "chatd.jetkv.deleted." + name }

// Watch calls fn with every change to name made after Watch returns: a
// value stored, a key deleted or purged, a TTL passed (the server's
// marker). A delete notice, a reconnection of the connection, or a watch
// the server ended makes it read the bucket again, telling fn of every
// key whose value differs from what it was last told and of every key
// gone. It stops when ctx is done.
func (b *Backend) Watch(ctx context.Context, name access.Bucket, fn func(key string, val []byte, deleted bool)) error {
	bu, err := b.bucket(name)
	if err != nil {
		return err
	}
	w := &watch{b: b, bu: bu, fn: fn, known: map[string]uint64{}, notices: make(chan struct{}, 1)}
	openCtx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	if w.kv, err = b.js.KeyValue(openCtx, bu.name); err != nil {
		return b.fail(bu.name, "watch", err)
	}
	sub, err := b.nc.Subscribe(noticeSubject(bu.name), func(*nats.Msg) { w.notify() })
	if err != nil {
		return b.fail(bu.name, "watch", err)
	}
	status := b.nc.StatusChanged(nats.CONNECTED)
	kw, err := w.start(ctx, false)
	if err != nil {
		_ = sub.Unsubscribe()
		b.nc.RemoveStatusListener(status)
		return err
	}
	go w.run(ctx, kw, sub, status)
	return nil
}

// watch is one Watch of a bucket.
type watch struct {
	b  *Backend
	bu *bucket
	kv jetstream.KeyValue
	fn func(key string, val []byte, deleted bool)
	// known is the revision of each live value fn was told of, so that a
	// re-read tells fn only of what changed. Bounded: see remember.
	known   map[string]uint64
	notices chan struct{}
	// skipped counts the records a (re)start skipped; foreign, those
	// skipped since.
	skipped int
	foreign uint64
	// started is when the watch last (re)started.
	started time.Time
}

// notify asks the watch to read the bucket again (once, however many
// notices arrive meanwhile).
func (w *watch) notify() {
	select {
	case w.notices <- struct{}{}:
	default:
	}
}

// run tells fn of every change until ctx is done, starting the watch
// again whenever it may have missed one.
func (w *watch) run(ctx context.Context, kw jetstream.KeyWatcher, sub *nats.Subscription, status chan nats.Status) {
	defer func() {
		_ = sub.Unsubscribe()
		w.b.nc.RemoveStatusListener(status)
	}()
	for {
		if !w.follow(ctx, kw, status) {
			return
		}
		_ = kw.Stop()
		if kw = w.restart(ctx); kw == nil {
			return
		}
	}
}

// follow hands fn the changes of kw until ctx is done (false) or the
// watch must start again (true).
func (w *watch) follow(ctx context.Context, kw jetstream.KeyWatcher, status chan nats.Status) bool {
	for {
		select {
		case <-ctx.Done():
			_ = kw.Stop()
			return false
		case e, ok := <-kw.Updates():
			if !ok {
				return true
			}
			if e != nil {
				w.apply(e)
			}
		case <-w.notices:
			return true
		case <-status:
			return true
		}
	}
}

// restart starts the watch again, telling fn of what changed
// meanwhile, at least resyncGap after the last (re)start; it retries,
// waiting longer each time, until it works or ctx is done (nil).
func (w *watch) restart(ctx context.Context) jetstream.KeyWatcher {
	gap := resyncGap - time.Since(w.started)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(gap, 0)):
		}
		kw, err := w.start(ctx, true)
		if err == nil {
			return kw
		}
		w.b.opts.Logger.Warn("jetkv: watch not restarted; trying again", "bucket", w.bu.name, "err", err)
		gap = min(2*max(gap, resyncGap), 5*time.Second)
	}
}

// start watches the bucket from its current values, read within Timeout:
// if tell, fn is told of those that differ from known, and of known keys
// gone; then known is what was read.
func (w *watch) start(ctx context.Context, tell bool) (jetstream.KeyWatcher, error) {
	w.started = time.Now()
	kw, err := w.kv.WatchAll(ctx)
	if err != nil {
		return nil, w.b.fail(w.bu.name, "watch", err)
	}
	timer := time.NewTimer(w.b.opts.Timeout)
	defer timer.Stop()
	seen := map[string]uint64{}
	for {
		select {
		case <-ctx.Done():
			_ = kw.Stop()
			return nil, ctx.Err()
		case <-timer.C:
			_ = kw.Stop()
			return nil, w.b.fail(w.bu.name, "watch", errors.New("the bucket's values did not all arrive in time"))
		case e, ok := <-kw.Updates():
			if !ok {
				return nil, w.b.fail(w.bu.name, "watch", errors.New("the watch ended while reading the values"))
			}
			if e == nil {
				w.settle(seen, tell)
				return kw, nil
			}
			w.read(e, seen, tell)
		}
	}
}

// read takes one current value of a (re)start into seen, telling fn of
// it if tell and it changed.
func (w *watch) read(e jetstream.KeyValueEntry, seen map[string]uint64, tell bool) {
	key, ok := decodeKey(e.Key())
	if e.Operation() != jetstream.KeyValuePut {
		return // a marker: no value
	}
	if !ok || len(seen) >= 2*w.b.opts.MaxRecords {
		w.skipped++
		return
	}
	seen[key] = e.Revision()
	if tell && w.known[key] != e.Revision() {
		w.fn(key, e.Value(), false)
	}
}

// settle ends a (re)start: known keys not seen are gone, and known
// becomes seen.
func (w *watch) settle(seen map[string]uint64, tell bool) {
	if tell {
		for key := range w.known {
			if _, ok := seen[key]; !ok {
				w.fn(key, nil, true)
			}
		}
	}
	w.known = seen
	if w.skipped > 0 {
		w.b.opts.Logger.Warn("jetkv: watch skipped records (not written by chatd, or beyond the bound)", "bucket", w.bu.name, "skipped", w.skipped)
		w.skipped = 0
	}
}

// apply tells fn of one change.
func (w *watch) apply(e jetstream.KeyValueEntry) {
	key, ok := decodeKey(e.Key())
	if !ok {
		// Logged at the 1st, 2nd, 4th, 8th... of a watch, so that a
		// flood of them does not flood the log.
		if w.foreign++; w.foreign&(w.foreign-1) == 0 {
			w.b.opts.Logger.Warn("jetkv: watch skipped records not written by chatd", "bucket", w.bu.name, "skipped", w.foreign)
		}
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(w.known, key)
		w.fn(key, nil, true)
		return
	}
	if _, ok := w.known[key]; ok || len(w.known) < 2*w.b.opts.MaxRecords {
		w.known[key] = e.Revision()
	}
	w.fn(key, e.Value(), false)
}

// Take removes the value at key in name and returns it, unless another
// writer changed or removed it first (ok false): of several Takes of one
// value, exactly one gets it. It leaves a purge marker that expires
// within a second or two.
func (b *Backend) Take(ctx context.Context, name access.Bucket, key string) ([]byte, bool, error) {
	bu, msg, err := b.lastLive(ctx, name, key, "take")
	if msg == nil || err != nil {
		return nil, false, err
	}
	subj := msg.Subject
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	marker := &nats.Msg{Subject: subj, Header: nats.Header{
		"KV-Operation": {"PURGE"}, "Nats-Rollup": {"sub"},
	}}
	_, err = b.js.PublishMsg(ctx, marker, jetstream.WithExpectLastSequencePerSubject(msg.Sequence), jetstream.WithMsgTTL(time.Second))
	if wrongLast(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, b.fail(bu.name, "take", err)
	}
	return msg.Data, true, nil
}
