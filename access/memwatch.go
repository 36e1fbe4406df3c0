package access

import (
	"context"
	"sync"
)

// maxWatchQueue bounds the changes a MemoryBackend keeps for a watch
// that has not taken them yet: past it, the watch drops them and reads
// the bucket again (as a store's watch does after an outage).
const maxWatchQueue = 1024

// memoryChange is one change told to a watch.
type memoryChange struct {
	key     string
	val     []byte // shared, never written: fn gets a copy
	rev     uint64
	deleted bool
}

// memoryWatch is one Watch of a MemoryBackend's bucket.
type memoryWatch struct {
	m    *MemoryBackend
	b    Bucket
	fn   func(key string, val []byte, deleted bool)
	wake chan struct{}

	mu       sync.Mutex
	queue    []memoryChange
	overflow bool

	// known is the revision of each value fn was told of (its goroutine's
	// alone).
	known map[string]uint64
	// floor is the MemoryBackend's revision at the last re-read: changes
	// queued meanwhile, at or below it, are in what fn was told.
	floor uint64
}

// Watch calls fn with every change to b made after it returns, until
// ctx is done. Expiries are not told: a MemoryBackend forgets an expired
// value when it is next read.
func (m *MemoryBackend) Watch(ctx context.Context, b Bucket, fn func(key string, val []byte, deleted bool)) error {
	w := &memoryWatch{m: m, b: b, fn: fn, wake: make(chan struct{}, 1)}
	m.mu.Lock()
	w.known = m.revisions(b)
	if m.watches[b] == nil {
		m.watches[b] = map[*memoryWatch]bool{}
	}
	m.watches[b][w] = true
	m.mu.Unlock()
	go w.run(ctx)
	return nil
}

// revisions returns the revision of each unexpired value of b. The
// caller holds m.mu.
func (m *MemoryBackend) revisions(b Bucket) map[string]uint64 {
	m.expire(b)
	out := make(map[string]uint64, len(m.buckets[b]))
	for key, rec := range m.buckets[b] {
		out[key] = rec.rev
	}
	return out
}

// tell queues a change of b for its watches. The caller holds m.mu.
func (m *MemoryBackend) tell(b Bucket, c memoryChange) {
	for w := range m.watches[b] {
		w.mu.Lock()
		if len(w.queue) >= maxWatchQueue {
			w.queue, w.overflow = nil, true
		} else if !w.overflow {
			w.queue = append(w.queue, c)
		}
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// run hands fn the queued changes until ctx is done.
func (w *memoryWatch) run(ctx context.Context) {
	defer func() {
		w.m.mu.Lock()
		delete(w.m.watches[w.b], w)
		w.m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		queue, overflow := w.queue, w.overflow
		w.queue, w.overflow = nil, false
		w.mu.Unlock()
		if overflow {
			w.resync()
			continue
		}
		for _, c := range queue {
			w.deliver(c)
		}
	}
}

// deliver tells fn of one change.
func (w *memoryWatch) deliver(c memoryChange) {
	if c.rev <= w.floor {
		return
	}
	if c.deleted {
		delete(w.known, c.key)
		w.fn(c.key, nil, true)
		return
	}
	w.known[c.key] = c.rev
	w.fn(c.key, append([]byte(nil), c.val...), false)
}

// resync tells fn of every value that differs from what it was told,
// and of every key gone.
func (w *memoryWatch) resync() {
	w.m.mu.Lock()
	w.floor = w.m.rev
	now := w.m.revisions(w.b)
	vals := make(map[string][]byte, len(now))
	for key, rev := range now {
		if w.known[key] != rev {
			vals[key] = append([]byte(nil), w.m.buckets[w.b][key].val...)
		}
	}
	w.m.mu.Unlock()
	for key := range w.known {
		if _, ok := now[key]; !ok {
			w.fn(key, nil, true)
		}
	}
	for key, val := range vals {
		w.fn(key, val, false)
	}
	w.known = now
}
