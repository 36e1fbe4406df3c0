package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one connected, joined client as the bench drives it: its reading
// side runs on its own and reports to the bench.
type conn interface {
	// send writes one message line (the line ending is the conn's business).
	send(text []byte) error
	// close ends the connection; the reader then ends too.
	close()
}

// dialFunc connects and joins client m, then starts reading for it; it
// returns once m has joined.
type dialFunc func(ctx context.Context, b *bench, m *member) (conn, error)

// member is one client of the run.
type member struct {
	id     int
	nick   string
	target int    // index of its server in bench.targets
	addr   string // its server's host:port
	conn   conn   // set once joined

	joined    atomic.Bool
	lost      atomic.Bool // the connection ended before the run did
	sent      atomic.Int64
	skipped   atomic.Int64 // send slots given up because the client fell behind
	delivered atomic.Int64
}

// bench is one run in progress.
type bench struct {
	cfg     *config
	run     string // random tag in every payload of this run
	marker  []byte
	hist    *histogram
	members []*member
	errs    *errorTally
	targets []string     // the servers, host:port, the clients spread over them in turn
	byTgt   []*histogram // latency by the receiver's server; nil with one server

	counting atomic.Bool  // deliveries count only in the measured phase
	start    atomic.Int64 // Unix nanoseconds when the measured phase began
	garbled  atomic.Int64 // payloads found cut short or mangled in lines
	closing  atomic.Bool  // the run is ending; lost connections are expected
	readers  sync.WaitGroup
}

func newBench(cfg *config) *bench {
	run := rand.Text()[:6]
	b := &bench{cfg: cfg, run: run, marker: payloadMarker(run), hist: newHistogram(), errs: newErrorTally()}
	b.targets = cfg.targets()
	if len(b.targets) > 1 {
		b.byTgt = make([]*histogram, len(b.targets))
		for i := range b.byTgt {
			b.byTgt[i] = newHistogram()
		}
	}
	b.members = make([]*member, cfg.clients)
	for i := range b.members {
		t := targetOf(i, len(b.targets))
		b.members[i] = &member{id: i, nick: cfg.nick(i), target: t, addr: b.targets[t]}
	}
	return b
}

// Run connects cfg.clients clients, measures, and returns the result. It
// returns an error only when nothing could be measured; if clients were
// tried, the result then says why they failed.
func Run(ctx context.Context, cfg config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dial, err := newDialer(&cfg)
	if err != nil {
		return nil, err
	}
	if _, err := raiseFileLimit(); err != nil {
		cfg.logf("warning: %v", err)
	}
	b := newBench(&cfg)
	defer b.closeAll()

	ticks := clockTicks()
	res := newResult(&cfg, b.run)
	connectStart := time.Now()
	b.connectAll(ctx, dial)
	res.ConnectSeconds = time.Since(connectStart).Seconds()
	res.Connected, res.Failed = b.countJoined()
	if res.Connected == 0 {
		err := fmt.Errorf("no client could connect to %s: %s", cfg.target(), b.errs.first())
		res.Error, res.Errors = err.Error(), b.errs.snapshot()
		return res, err
	}
	cfg.logf("%d connected, %d failed in %.1fs; measuring for %v", res.Connected, res.Failed, res.ConnectSeconds, cfg.duration)
	sleepCtx(ctx, cfg.settle)

	srv := startProcWatch(cfg.pids, ticks)
	nats := startProcWatch(cfg.natsPIDs, ticks)
	bus := startBusWatch(ctx, splitList(cfg.natsMonitor))
	selfBefore := selfCPU()
	start := time.Now()
	b.start.Store(start.UnixNano())
	b.counting.Store(true)
	if cfg.idle {
		sleepCtx(ctx, cfg.duration)
	} else {
		b.sendAll(ctx, start)
		res.SendSeconds = min(time.Since(start), cfg.duration).Seconds() // the send window
		b.waitDrain(ctx)
	}
	b.counting.Store(false)
	res.MeasuredSeconds = time.Since(start).Seconds()
	res.BenchCPUSeconds = (selfCPU() - selfBefore).Seconds()
	if res.MeasuredSeconds > 0 {
		res.BenchCPUShare = res.BenchCPUSeconds / res.MeasuredSeconds / float64(runtime.NumCPU())
	}
	srv.stop()
	nats.stop()
	bus.stop(ctx)
	if cfg.metrics != "" {
		if heap, err := scrapeHeap(ctx, cfg.metrics); err != nil {
			b.errs.add(err)
		} else {
			mib := heap / (1 << 20)
			res.ServerHeapInuseMiB = &mib
		}
	}
	b.fill(res)
	res.reportServers(srv, nats)
	res.reportBus(bus)
	if err := ctx.Err(); err != nil {
		res.Note = "interrupted: " + err.Error()
	}
	return res, nil
}

// newDialer picks the client kind cfg asks for.
func newDialer(cfg *config) (dialFunc, error) {
	if cfg.sshAddr != "" {
		return newSSHDialer(cfg)
	}
	return newTLSDialer(cfg)
}

// connectAll starts connections at cfg.ramp per second and returns when
// every client has joined or failed.
func (b *bench) connectAll(ctx context.Context, dial dialFunc) {
	var wg sync.WaitGroup
	start := time.Now()
	done := make(chan struct{})
	var reporter sync.WaitGroup
	reporter.Go(func() { b.reportConnecting(done) })
	for i, m := range b.members {
		at := start.Add(time.Duration(float64(i) / b.cfg.ramp * float64(time.Second)))
		if !sleepCtx(ctx, time.Until(at)) {
			break
		}
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
			defer cancel()
			c, err := dial(dctx, b, m)
			if err != nil {
				b.errs.add(fmt.Errorf("connect: %w", err))
				return
			}
			m.conn = c
			m.joined.Store(true)
		})
	}
	wg.Wait()
	close(done)
	reporter.Wait() // its last report is written before anything else is
}

// reportConnecting logs progress once a second until done is closed.
func (b *bench) reportConnecting(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			joined, _ := b.countJoined()
			b.cfg.logf("connecting: %d of %d joined, %d errors", joined, len(b.members), b.errs.total())
		}
	}
}

func (b *bench) countJoined() (joined, failed int) {
	for _, m := range b.members {
		if m.joined.Load() {
			joined++
		}
	}
	return joined, len(b.members) - joined
}

// sendAll runs every sending client's schedule from start for cfg.duration
// and returns when all have stopped. Client k of n starts k/n of a period
// late, so that the sends are spread evenly over each period.
func (b *bench) sendAll(ctx context.Context, start time.Time) {
	end := start.Add(b.cfg.duration)
	period := time.Duration(float64(time.Second) / b.cfg.rate)
	n := b.cfg.senders()
	var wg sync.WaitGroup
	k := 0
	for _, m := range b.members {
		if !b.cfg.sending(m.id) {
			continue
		}
		offset := time.Duration(int64(period) * int64(k) / int64(n))
		k++
		if !m.joined.Load() {
			continue
		}
		wg.Go(func() { b.sendLoop(ctx, m, start.Add(offset), end, period) })
	}
	wg.Wait()
}

// sendLoop sends m's messages at next, next+period, ... until end. A
// client that falls behind skips the slots it missed rather than bursting,
// and counts them in m.skipped.
func (b *bench) sendLoop(ctx context.Context, m *member, next, end time.Time, period time.Duration) {
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	buf := make([]byte, 0, 64+b.cfg.pad)
	for seq := int64(1); next.Before(end); seq++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if m.lost.Load() {
			return
		}
		now := time.Now()
		buf = appendPayload(buf[:0], b.run, payload{from: m.id, seq: seq, sent: now.UnixNano()})
		buf = appendPad(buf, b.cfg.pad)
		if err := m.conn.send(buf); err != nil {
			b.lose(m, fmt.Errorf("send: %w", err))
			return
		}
		m.sent.Add(1)
		next = next.Add(period)
		if behind := now.Add(-period); next.Before(behind) {
			// Resume on the schedule, a period or more from now, and
			// count the slots given up on the way.
			skip := slotsBefore(next, now.Add(period), period)
			m.skipped.Add(min(skip, slotsBefore(next, end, period)))
			next = next.Add(time.Duration(skip) * period)
		}
		timer.Reset(time.Until(next))
	}
}

// slotsBefore counts the send slots from, from+period, ... that fall
// before until.
func slotsBefore(from, until time.Time, period time.Duration) int64 {
	if !from.Before(until) {
		return 0
	}
	return int64((until.Sub(from) + period - 1) / period)
}

// appendPad appends " xxxx..." so that pad bytes are added.
func appendPad(dst []byte, pad int) []byte {
	if pad <= 0 {
		return dst
	}
	dst = append(dst, ' ')
	for range pad - 1 {
		dst = append(dst, 'x')
	}
	return dst
}

// waitDrain waits until every expected delivery has arrived, or cfg.drain.
func (b *bench) waitDrain(ctx context.Context) {
	deadline := time.Now().Add(b.cfg.drain)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for time.Now().Before(deadline) {
		if expected, delivered := b.tally(); delivered >= expected {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tally counts the expected and the actual deliveries among the stable
// clients, those joined and never lost: each message sent should reach every
// stable client but its sender.
func (b *bench) tally() (expected, delivered int64) {
	stable := int64(0)
	for _, m := range b.members {
		if m.stable() {
			stable++
			delivered += m.delivered.Load()
		}
	}
	for _, m := range b.members {
		receivers := stable
		if m.stable() {
			receivers--
		}
		expected += m.sent.Load() * receivers
	}
	return expected, delivered
}

func (m *member) stable() bool { return m.joined.Load() && !m.lost.Load() }

// deliver records that receiver got p at now.
func (b *bench) deliver(receiver *member, p payload, now time.Time) {
	if p.from == receiver.id || !b.counting.Load() || !b.plausible(p, now) {
		return
	}
	receiver.delivered.Add(1)
	latency := time.Duration(now.UnixNano() - p.sent)
	b.hist.record(latency)
	if b.byTgt != nil {
		b.byTgt[receiver.target].record(latency)
	}
}

// plausible reports whether p could have been sent in this measured phase
// by one of the clients; a payload cut short fails this.
func (b *bench) plausible(p payload, now time.Time) bool {
	return p.from >= 0 && p.from < len(b.members) && p.seq >= 1 &&
		p.sent >= b.start.Load() && p.sent <= now.UnixNano()
}

// scan delivers every payload of this run found in text to receiver.
// A marker that does not start a plausible payload counts as garbled: a
// server wrote part of a message (see Result.Garbled).
func (b *bench) scan(receiver *member, text []byte, now time.Time) {
	markers := bytes.Count(text, b.marker)
	for {
		p, rest, ok := nextPayload(text, b.marker)
		if !ok {
			break
		}
		if b.plausible(p, now) {
			markers--
		}
		b.deliver(receiver, p, now)
		text = rest
	}
	if markers > 0 && b.counting.Load() {
		b.garbled.Add(int64(markers))
	}
}

// lose marks m's connection as ended early, unless the run is ending.
func (b *bench) lose(m *member, err error) {
	if b.closing.Load() || m.lost.Swap(true) {
		return
	}
	b.errs.add(fmt.Errorf("connection lost: %w", err))
}

// closeAll ends every connection and waits for the readers.
func (b *bench) closeAll() {
	b.closing.Store(true)
	for _, m := range b.members {
		if m.joined.Load() {
			m.conn.close()
		}
	}
	b.readers.Wait()
}

// fill completes res from the members' counts.
func (b *bench) fill(res *Result) {
	for _, m := range b.members {
		if m.joined.Load() && m.lost.Load() {
			res.Lost++
		}
		res.Sent += m.sent.Load()
		res.Skipped += m.skipped.Load()
	}
	res.Expected, res.Delivered = b.tally()
	res.Garbled = b.garbled.Load()
	if res.Expected > 0 {
		res.DeliveryRatio = float64(res.Delivered) / float64(res.Expected)
	}
	if res.SendSeconds > 0 {
		res.DeliveriesPerSecond = float64(res.Delivered) / res.SendSeconds
		res.SentPerSecond = float64(res.Sent) / res.SendSeconds
	}
	res.setLatency(b.hist)
	res.Targets = b.byTarget()
	res.Errors = b.errs.snapshot()
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// logf prints a progress line unless progress is off.
func (c *config) logf(format string, args ...any) {
	if c.progress != nil {
		fmt.Fprintf(c.progress, "chatbench: "+format+"\n", args...)
	}
}
