package room

import "sync"

// keptQueueCap is the largest queue a member keeps once it is drained;
// a bigger one is released, so an idle member holds no burst-sized buffer.
const keptQueueCap = 8

// queue is a member's outbox, from which its front end pulls its events
// (Member.Take, usually through a Pump): a bounded slice that grows only
// while events wait, and a wake-up hook (JoinOptions.Wake). The room pushes
// under its own lock; the member's front end takes without it, so the queue
// has a lock of its own, always taken after Room.mu.
type queue struct {
	mu     sync.Mutex
	events []*Event // oldest first
	limit  int      // most events held; a push beyond it fails
	closed bool     // the member left: no more pushes
	armed  bool     // the last take found nothing: wake at the next push
	wake   func()   // nil: the front end polls
}

// push queues events without waiting. It reports false, queuing nothing, if
// they do not all fit with spare places left. If the front end is waiting
// for events, it is woken.
func (q *queue) push(spare int, events ...*Event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.events)+len(events)+spare > q.limit {
		return false
	}
	q.events = append(q.events, events...)
	q.wakeIfArmed()
	return true
}

// free returns how many more events fit.
func (q *queue) free() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.limit - len(q.events)
}

// close ends the stream: what is queued can still be taken.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.wakeIfArmed()
}

// wakeIfArmed calls the wake hook, if any, once per arming. The caller
// holds q.mu.
func (q *queue) wakeIfArmed() {
	if q.armed {
		q.armed = false
		if q.wake != nil {
			q.wake()
		}
	}
}

// take appends up to n queued events to dst. With none queued it arms the
// wake hook, or reports open false once the stream is closed. A drained
// queue gives back its buffer unless keep is set (see trim).
func (q *queue) take(dst []*Event, n int, keep bool) (events []*Event, open bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.events))
	if n == 0 {
		q.armed = !q.closed
		return dst, !q.closed
	}
	dst = append(dst, q.events[:n]...)
	rest := copy(q.events, q.events[n:])
	clear(q.events[rest:])
	q.events = q.events[:rest]
	if !keep {
		q.trimLocked()
	}
	return dst, true
}

// trim gives back the buffer of a drained queue bigger than keptQueueCap,
// so that an idle member holds no burst-sized buffer. A front end that
// takes in a flow of events (a Pump) keeps the buffer while it runs and
// trims once it stops, rather than growing it again for every burst.
func (q *queue) trim() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trimLocked()
}

func (q *queue) trimLocked() {
	if len(q.events) == 0 && cap(q.events) > keptQueueCap {
		q.events = nil
	}
}
