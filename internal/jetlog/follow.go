package jetlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// This file is a node's feed of a shared stream (Follow): an ordered
// consumer (JetStream's ephemeral consumer that the client library
// recreates, from the last message it handed out, whenever it misses a
// message or a heartbeat: the server's loss, a cluster node's, a
// reconnect), read on a goroutine of its own that hands each event to the
// room (Room.Feed).

// The bounds of a feed: the messages (and bytes) the client library holds
// ahead of the one being delivered; how long each pull waits and how
// often the server must show it is alive while it does (a feed that hears
// nothing for two heartbeats recreates its consumer); how long it waits
// before recreating a consumer the library gave up on.
const (
	followMaxMsgs   = 256
	followMaxBytes  = 8 << 20 // over storedRecordMax
	followExpiry    = 10 * time.Second
	followHeartbeat = 2 * time.Second
	followRetry     = 500 * time.Millisecond
	lagTimeout      = time.Second // bounds each of Lag's calls to the server
)

// Follower is a node's feed of the stream (Log.Follow): every event stored,
// whoever appended it, oldest first, once each.
type Follower struct {
	l       *Log
	deliver func(*room.Event)
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	mu sync.Mutex
	it jetstream.MessagesContext // the current consumer's messages

	delivered atomic.Uint64 // the last sequence delivered (or skipped)
	holding   atomic.Int64  // when the event being delivered was stored, Unix ns; 0: none
	skipped   atomic.Uint64 // invalid records skipped
}

// Follow starts delivering, from a goroutine of its own, every event the
// stream stores after the sequence number after, in order, to deliver,
// until Stop. It survives the loss of the server: once reconnected it
// goes on after the last event delivered. Invalid records are skipped,
// counted (Skipped) and logged. A slow deliver makes it fall behind (Lag),
// holding at most followMaxMsgs messages ahead; it loses nothing. The
// events delivered also fill the log's memory of recent events (Replay).
// Follow fails if the first consumer cannot be made (the server is
// unreachable).
func (l *Log) Follow(after uint64, deliver func(*room.Event)) (*Follower, error) {
	if deliver == nil {
		return nil, errors.New("jetlog: Follow needs a deliver function")
	}
	f := &Follower{l: l, deliver: deliver, stop: make(chan struct{}), done: make(chan struct{})}
	f.delivered.Store(after)
	if err := f.open(); err != nil {
		return nil, err
	}
	go f.run()
	return f, nil
}

// open makes an ordered consumer from the message after the last one
// delivered, and starts reading its messages.
func (f *Follower) open() error {
	l := f.l
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	cons, err := l.js.OrderedConsumer(ctx, l.opts.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{l.opts.Subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    f.delivered.Load() + 1,
	})
	if err != nil {
		return fmt.Errorf("jetlog: follow stream %s: %w", l.opts.Stream, l.connErr(err))
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(followMaxMsgs, followMaxBytes),
		jetstream.PullExpiry(followExpiry), jetstream.PullHeartbeat(followHeartbeat))
	if err != nil {
		return fmt.Errorf("jetlog: follow stream %s: %w", l.opts.Stream, l.connErr(err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.stop:
		it.Stop()
		return errors.New("jetlog: follow: stopped")
	default:
	}
	f.it = it
	return nil
}

// run delivers the messages of the current consumer, making a new one
// when the library gives up on it, until Stop.
func (f *Follower) run() {
	defer close(f.done)
	for {
		f.mu.Lock()
		it := f.it
		f.mu.Unlock()
		msg, err := it.Next()
		if err == nil {
			f.handle(msg)
			continue
		}
		if f.stopped() {
			return
		}
		f.l.opts.Logger.Warn("jetlog: the feed of the stream failed: making it anew", "stream", f.l.opts.Stream,
			"after", f.delivered.Load(), "err", err)
		it.Stop()
		for f.open() != nil {
			select {
			case <-f.stop:
				return
			case <-time.After(followRetry):
			}
		}
	}
}

// stopped reports whether Stop was called.
func (f *Follower) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

// handle delivers the event of one message, unless it is at or below the
// last delivered (never twice, whatever the consumer does) or invalid
// (skipped and counted).
func (f *Follower) handle(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		f.skip(0, err)
		return
	}
	seq := meta.Sequence.Stream
	if seq <= f.delivered.Load() {
		return
	}
	f.holding.Store(meta.Timestamp.UnixNano())
	defer f.holding.Store(0)
	ev, err := f.l.decodeMsg(rawMsg{seq: seq, subject: msg.Subject(), header: msg.Headers(), data: msg.Data()})
	if err != nil {
		f.skip(seq, err)
		f.delivered.Store(seq)
		return
	}
	kept := *ev // the memory's own copy: deliver may keep ev
	f.l.recent.add(&kept)
	f.deliver(ev)
	f.delivered.Store(seq)
}

// skip counts and logs an invalid record: the first, then every
// skipLogEvery-th, so that a writer of garbage cannot flood the log.
func (f *Follower) skip(seq uint64, err error) {
	const skipLogEvery = 1000
	n := f.skipped.Add(1)
	total := f.l.skipped.Add(1)
	if n == 1 || n%skipLogEvery == 0 {
		f.l.opts.Logger.Warn("jetlog: the feed skipped an invalid stored record", "stream", f.l.opts.Stream,
			"seq", seq, "skipped", n, "skipped_total", total, "err", err)
	}
}

// Stop ends the feed and waits for its goroutine. The event being
// delivered, if any, is delivered first.
func (f *Follower) Stop() {
	f.once.Do(func() {
		close(f.stop)
		f.mu.Lock()
		if f.it != nil {
			f.it.Stop()
		}
		f.mu.Unlock()
	})
	<-f.done
}

// Delivered returns the sequence number of the last event delivered (or
// skipped as invalid).
func (f *Follower) Delivered() uint64 { return f.delivered.Load() }

// Skipped is how many invalid records the feed skipped.
func (f *Follower) Skipped() uint64 { return f.skipped.Load() }

// Lag returns how far the feed is behind the stream: the events stored
// but not yet delivered (from the stream's last sequence: deleted ones
// count too), and how long ago the oldest of them was stored (0 if none).
// It asks the server (two calls at most, each within a second): if it
// does not answer, the lag is unknown and Lag returns zeros.
func (f *Follower) Lag() (events uint64, behind time.Duration) {
	l := f.l
	ctx, cancel := context.WithTimeout(context.Background(), min(lagTimeout, l.opts.Timeout))
	defer cancel()
	delivered := f.delivered.Load()
	info, err := l.stream.Info(ctx)
	if err != nil || info.State.LastSeq <= delivered {
		return 0, 0
	}
	events = info.State.LastSeq - delivered
	if h := f.holding.Load(); h != 0 {
		return events, max(0, time.Since(time.Unix(0, h)))
	}
	// The oldest not delivered: the first stored after delivered.
	m, err := l.stream.GetMsg(ctx, delivered+1, jetstream.WithGetMsgSubject(l.opts.Subject))
	if err != nil {
		return events, 0
	}
	return events, max(0, time.Since(m.Time))
}
