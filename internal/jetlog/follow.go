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

// This file is a node's feed of a shared stream (Follow): an ephemeral
// pull consumer of the stream (in memory, on one server of the cluster,
// acking nothing), read in bounded batches on a goroutine of its own that
// hands each event to the room (Room.Feed). The feed keeps the place
// itself: whenever the consumer fails (a batch's heartbeats missed, a
// message missing between two, the server's loss, the connection's
// return, or a stall the watchdog sees) it makes a new consumer starting
// right after the last event delivered, so that nothing is skipped or
// repeated. (JetStream's ordered consumer does the same inside the client
// library, but was seen to stay stuck for over a minute after a cluster
// node's loss, retrying under its own lock.)

// The bounds of a feed: the messages and bytes one batch asks for (held
// ahead of the event being delivered); how long a batch waits and how
// often the server must show it is alive meanwhile (two heartbeats missed
// end it); how long a consumer that no batch asks of lives on the server;
// the wait before making a consumer anew after a failure.
const (
	followMaxMsgs  = 256
	followMaxBytes = 8 << 20 // over storedRecordMax
	followInactive = 30 * time.Second
	followRetry    = 500 * time.Millisecond
	followStall    = time.Second // how often the watchdog looks (watch)
	lagTimeout     = time.Second // bounds each of Lag's calls to the server
)

// followExpiry and followHeartbeat are variables for the tests only (a
// batch that outlasts its time while deliver is slow).
var (
	followExpiry    = 5 * time.Second
	followHeartbeat = time.Second
)

// Follower is a node's feed of the stream (Log.Follow): every event stored,
// whoever appended it, oldest first, once each.
type Follower struct {
	l       *Log
	deliver func(*room.Event)
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	ctx     context.Context // done at Stop
	end     context.CancelFunc
	watched sync.WaitGroup // the watchdog

	expiry, heartbeat time.Duration // followExpiry, followHeartbeat

	// The current consumer, its context (kick cancels it) and the
	// consumer sequence of its last message; only run touches cons and
	// consSeq.
	cons    jetstream.Consumer
	cctx    context.Context
	consSeq uint64
	mu      sync.Mutex
	cancel  context.CancelFunc
	renewed atomic.Bool // kick cancelled the current consumer

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
	f := &Follower{l: l, deliver: deliver, stop: make(chan struct{}), done: make(chan struct{}),
		expiry: followExpiry, heartbeat: followHeartbeat}
	f.ctx, f.end = context.WithCancel(context.Background())
	f.delivered.Store(after)
	if err := f.open(); err != nil {
		f.end()
		return nil, err
	}
	l.follows.add(f)
	f.watched.Go(f.watch)
	go f.run()
	return f, nil
}

// follows is the log's feeds, which it tells when its connection comes
// back (kick).
type follows struct {
	mu  sync.Mutex
	set map[*Follower]struct{}
}

func (fs *follows) add(f *Follower) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.set == nil {
		fs.set = make(map[*Follower]struct{})
	}
	fs.set[f] = struct{}{}
}

func (fs *follows) remove(f *Follower) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.set, f)
}

// kick tells every feed that the connection came back.
func (fs *follows) kick() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for f := range fs.set {
		f.kick()
	}
}

// kick has the feed make its consumer anew, after the last event
// delivered: the connection came back, maybe to another server of the
// cluster, and the consumer (in memory, on one server) may be gone with
// the one lost; or the watchdog saw the feed stall. It does not wait.
func (f *Follower) kick() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		f.renewed.Store(true)
		f.cancel()
	}
}

// open makes a consumer of the stream from the message after the last one
// delivered.
func (f *Follower) open() error {
	l := f.l
	ctx, cancel := context.WithTimeout(f.ctx, l.opts.Timeout)
	defer cancel()
	cons, err := l.js.CreateConsumer(ctx, l.opts.Stream, jetstream.ConsumerConfig{
		Description:       "chatd: a node's feed of the room",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       f.delivered.Load() + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     l.opts.Subject,
		InactiveThreshold: followInactive,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("jetlog: follow stream %s: %w", l.opts.Stream, l.connErr(err))
	}
	cctx, ccancel := context.WithCancel(f.ctx)
	f.mu.Lock()
	f.cancel = ccancel
	f.mu.Unlock()
	f.cons, f.cctx, f.consSeq = cons, cctx, 0
	return nil
}

// dropConsumer forgets the current consumer, deleting it on the server
// if it answers at once (else it goes by itself, followInactive unused).
func (f *Follower) dropConsumer() {
	if f.cons == nil {
		return
	}
	f.mu.Lock()
	f.cancel()
	f.cancel = nil
	f.mu.Unlock()
	name := f.cons.CachedInfo().Name
	f.cons = nil
	if f.l.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), min(lagTimeout, f.l.opts.Timeout))
		defer cancel()
		f.l.js.DeleteConsumer(ctx, f.l.opts.Stream, name)
	}
}

// run reads batches of the current consumer, making a new one when it
// fails, until Stop.
func (f *Follower) run() {
	defer close(f.done)
	defer f.dropConsumer()
	for !f.stopped() {
		if f.cons == nil {
			if err := f.open(); err != nil {
				select {
				case <-f.stop:
				case <-time.After(followRetry):
				}
			}
			continue
		}
		if err := f.batch(); err != nil && !f.stopped() {
			if f.renewed.Swap(false) {
				f.l.opts.Logger.Info("jetlog: following the stream anew", "stream", f.l.opts.Stream, "after", f.delivered.Load())
			} else {
				f.l.opts.Logger.Warn("jetlog: the feed of the stream failed: making it anew", "stream", f.l.opts.Stream,
					"after", f.delivered.Load(), "err", err)
			}
			f.dropConsumer()
		}
	}
}

// errGap: a consumer's message came after a gap in its own numbering (the
// connection dropped one): the consumer is made anew from the last event
// delivered.
var errGap = errors.New("a message of the feed's consumer went missing")

// batch reads one batch of the current consumer (until it holds
// followMaxMsgs messages or followMaxBytes, or followExpiry passes) and
// delivers its events; it returns why the consumer must be made anew, or
// nil.
func (f *Follower) batch() error {
	ctx, cancel := context.WithTimeout(f.cctx, f.expiry)
	defer cancel()
	b, err := f.cons.Fetch(followMaxMsgs, jetstream.FetchMaxBytes(followMaxBytes),
		jetstream.FetchHeartbeat(f.heartbeat), jetstream.FetchContext(ctx))
	if err != nil {
		return err
	}
	var failed error
	for msg := range b.Messages() {
		if failed == nil {
			if failed = f.handle(msg); failed != nil {
				cancel() // the rest of the batch is dropped
			}
		}
	}
	if failed != nil {
		return failed
	}
	switch err := b.Error(); {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded) && f.cctx.Err() == nil:
		return nil // the batch's time is up: the next one
	default:
		return err
	}
}

// handle delivers the event of one message, unless it is at or below the
// last delivered (never twice) or invalid (skipped and counted); it
// returns errGap if the consumer skipped a message of its own numbering.
func (f *Follower) handle(msg jetstream.Msg) error {
	meta, err := msg.Metadata()
	if err != nil {
		f.skip(0, err)
		return errGap // its number unknown: was one skipped?
	}
	if meta.Sequence.Consumer != f.consSeq+1 {
		return errGap
	}
	f.consSeq = meta.Sequence.Consumer
	seq := meta.Sequence.Stream
	if seq <= f.delivered.Load() {
		return nil
	}
	f.holding.Store(meta.Timestamp.UnixNano())
	defer f.holding.Store(0)
	ev, err := f.l.decodeMsg(rawMsg{seq: seq, subject: msg.Subject(), header: msg.Headers(), data: msg.Data()})
	if err != nil {
		f.skip(seq, err)
		f.delivered.Store(seq)
		return nil
	}
	if f.l.opts.Shared { // not shared, Append fills it, and only with what was acked
		kept := *ev // the memory's own copy: deliver may keep ev
		f.l.recent.add(&kept)
	}
	f.deliver(ev)
	f.delivered.Store(seq)
	return nil
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

// watch is the feed's watchdog: every followStall it asks the stream where
// it ends (and tells the log whether it answered: noteStreamAnswer), and makes the consumer anew (kick) if the feed has been behind
// it for two looks running without delivering anything, nor being in
// deliver (which may be slow). A batch's heartbeats should tell a lost
// consumer; this is for whatever they do not, for one call to the server
// every followStall.
func (f *Follower) watch() {
	t := time.NewTicker(followStall)
	defer t.Stop()
	stalls, was := 0, f.delivered.Load()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		now := f.delivered.Load()
		if now != was || f.holding.Load() != 0 || !f.behind(now) {
			stalls, was = 0, now
			continue
		}
		if stalls++; stalls >= 2 {
			f.l.opts.Logger.Warn("jetlog: the feed of the stream stalled: making it anew", "stream", f.l.opts.Stream, "after", now)
			stalls = 0
			f.kick()
		}
	}
}

// behind reports whether the stream holds a message above delivered
// (false if the server does not answer: nothing to gain by making a
// consumer anew).
func (f *Follower) behind(delivered uint64) bool {
	ctx, cancel := context.WithTimeout(f.ctx, min(lagTimeout, f.l.opts.Timeout))
	defer cancel()
	info, err := f.l.stream.Info(ctx)
	f.l.noteStreamAnswer(streamAnswer(info, err))
	if err != nil || info.State.LastSeq <= delivered {
		return false
	}
	// Above delivered may be only deleted messages: is one stored?
	_, err = f.l.stream.GetMsg(ctx, delivered+1, jetstream.WithGetMsgSubject(f.l.opts.Subject))
	return err == nil
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

// Stop ends the feed and waits for its goroutines. The event being
// delivered, if any, is delivered first.
func (f *Follower) Stop() {
	f.once.Do(func() {
		f.l.follows.remove(f)
		close(f.stop)
		f.end()
	})
	<-f.done
	f.watched.Wait()
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
