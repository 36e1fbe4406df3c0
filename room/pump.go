package room

import (
	"sync"
	"sync/atomic"
	"time"
)

// MaxPumpBatch is the most events a Pump hands to one Write.
const MaxPumpBatch = 256

// PumpConfig says where a Pump delivers a member's events.
type PumpConfig struct {
	// Write hands one batch of events, oldest first, to the front end,
	// which writes them to its client or passes them on. It runs on the
	// pump's goroutine, one call at a time, and may block: meanwhile only
	// the member's own outbox fills, and what does not fit is skipped for
	// it (the room never waits on a member). events is reused once Write
	// returns: keep a copy, not the slice.
	Write func(events []*Event)
	// Left, if set, is called once the member has left and all its events
	// were written, on the pump's goroutine, before Done is closed: a
	// front end says goodbye there.
	Left func()
	// Batch bounds the events of one Write; 0 (or more than MaxPumpBatch)
	// means MaxPumpBatch.
	Batch int
	// Linger is how long the goroutine of a member in a flow of events
	// waits for more before it ends. A member is in a flow when its last
	// goroutine ended less than Linger ago; otherwise (a one-off event) the
	// goroutine ends as soon as the outbox is empty. 0 never lingers.
	Linger time.Duration
}

// Pump delivers a member's events to its front end with a goroutine that
// runs only while events wait, so that an idle member costs none: the room
// wakes the pump (JoinOptions.Wake), which starts a goroutine, or kicks the
// one lingering; that goroutine takes the events from the member's outbox
// in batches and hands them to Write until none are left, lingers a while
// if the member is in a flow of events, and ends. One goroutine runs at a
// time, so batches are written in order. While it runs, the outbox keeps
// the buffer a burst grew; when it ends, a burst-sized buffer is given back.
// Once the member has left and all is written, the pump calls Left and
// closes Done.
//
// Use: p := NewPump(cfg); m, err := r.Join(nick, JoinOptions{Wake: p.Wake});
// then p.Start(m).
type Pump struct {
	cfg     PumpConfig
	member  *Member       // set by Start
	running atomic.Bool   // a goroutine is running
	kick    chan struct{} // wakes a lingering goroutine
	done    chan struct{} // closed once the member has left and all is written
	ended   time.Time     // when the last goroutine ended; used by one at a time
}

// batchBuffers hold the batches of pumps that are writing (see drain).
var batchBuffers = sync.Pool{New: func() any { return new([MaxPumpBatch]*Event) }}

// NewPump returns a pump that delivers as cfg says. It needs Start.
func NewPump(cfg PumpConfig) *Pump {
	if cfg.Batch <= 0 || cfg.Batch > MaxPumpBatch {
		cfg.Batch = MaxPumpBatch
	}
	return &Pump{cfg: cfg, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// Start delivers m's events from now on, beginning with what Join queued.
// m must have joined with the pump's Wake. Call it once.
func (p *Pump) Start(m *Member) {
	p.member = m
	p.running.Store(true)
	go p.run()
}

// Done is closed once the member has left and all its events were written
// (after Left returns). It is never closed for a pump that was not started.
func (p *Pump) Done() <-chan struct{} { return p.done }

// Wake is the member's JoinOptions.Wake: events wait. It kicks the
// lingering goroutine, or starts one. It never blocks.
func (p *Pump) Wake() {
	if p.running.CompareAndSwap(false, true) {
		go p.run()
		return
	}
	select {
	case p.kick <- struct{}{}:
	default: // already kicked
	}
	// The goroutine may have stopped between the failed swap and the kick,
	// without seeing the kick: then start one. (A stale kick only costs the
	// next goroutine an empty pass.)
	if p.running.CompareAndSwap(false, true) {
		go p.run()
	}
}

// run writes the member's queued events, up to a batch per Write, until
// none are left, then, if the member is in a flow of events, until none
// have come for Linger. Once the member has left and all is written, it
// calls Left and closes Done.
func (p *Pump) run() {
	var linger *time.Timer
	flowing := p.cfg.Linger > 0 && time.Since(p.ended) < p.cfg.Linger
	for {
		if !p.drain() {
			if p.cfg.Left != nil {
				p.cfg.Left()
			}
			close(p.done)
			return
		}
		if flowing && p.lingerForEvents(&linger) {
			continue
		}
		p.member.outbox.trim()
		p.ended = time.Now()
		if !p.stop() {
			return
		}
	}
}

// drain writes what is queued, a batch at a time, until nothing is, and
// reports whether more may come. The batches are taken into a pooled
// buffer, held only while there is something to write: not on the
// goroutine's stack, where it would make every pump goroutine's stack, and
// so the size Go starts every goroutine's stack at, bigger, and not while
// the goroutine lingers.
func (p *Pump) drain() (open bool) {
	buf := batchBuffers.Get().(*[MaxPumpBatch]*Event)
	defer batchBuffers.Put(buf)
	for {
		events, open := p.member.outbox.take(buf[:0], p.cfg.Batch, true)
		if len(events) == 0 {
			return open
		}
		p.cfg.Write(events)
		clear(events) // a pooled buffer holds on to no event
	}
}

// lingerForEvents waits up to Linger for a wake, and reports whether one
// came. *timer is made on first use and reused.
func (p *Pump) lingerForEvents(timer **time.Timer) bool {
	if *timer == nil {
		*timer = time.NewTimer(p.cfg.Linger)
	} else {
		(*timer).Reset(p.cfg.Linger)
	}
	select {
	case <-p.kick:
		(*timer).Stop()
		return true
	case <-(*timer).C:
		return false
	}
}

// stop marks the goroutine as gone, unless a wake kicked it meanwhile and
// it could take the job back: then it reports true, and the goroutine goes
// on.
func (p *Pump) stop() bool {
	p.running.Store(false)
	select {
	case <-p.kick:
		// A wake saw the goroutine running just before it stopped. Unless
		// a later wake started another already, carry on.
		return p.running.CompareAndSwap(false, true)
	default:
		return false
	}
}
