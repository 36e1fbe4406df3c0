package access

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"
)

// MemoryBackend is a Backend kept in memory: for tests, and for a chatd
// run with --store memory, whose accounts, bans and roles end with the
// process. It is safe for concurrent use.
type MemoryBackend struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[Bucket]map[string]memoryRecord
	// rev numbers the changes, as a store's revisions.
	rev     uint64
	watches map[Bucket]map[*memoryWatch]bool
}

// memoryRecord is one value, its revision and when it expires (zero:
// never).
type memoryRecord struct {
	val     []byte
	rev     uint64
	expires time.Time
}

// NewMemoryBackend returns an empty MemoryBackend that reads the time
// from now (time.Now if nil).
func NewMemoryBackend(now func() time.Time) *MemoryBackend {
	if now == nil {
		now = time.Now
	}
	return &MemoryBackend{now: now, buckets: make(map[Bucket]map[string]memoryRecord), watches: make(map[Bucket]map[*memoryWatch]bool)}
}

var (
	_ Backend = (*MemoryBackend)(nil)
	_ Watcher = (*MemoryBackend)(nil)
	_ Taker   = (*MemoryBackend)(nil)
)

// Get returns the unexpired value at key in b.
func (m *MemoryBackend) Get(_ context.Context, b Bucket, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.live(b, key)
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), rec.val...), true, nil
}

// Create stores val at key unless an unexpired value is there.
func (m *MemoryBackend) Create(_ context.Context, b Bucket, key string, val []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live(b, key); ok {
		return ErrExists
	}
	return m.put(b, key, val, ttl)
}

// Put stores val at key, replacing what was there.
func (m *MemoryBackend) Put(_ context.Context, b Bucket, key string, val []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.put(b, key, val, ttl)
}

// Delete removes the value at key.
func (m *MemoryBackend) Delete(_ context.Context, b Bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(b, key)
	return nil
}

// Take removes the unexpired value at key and returns it.
func (m *MemoryBackend) Take(_ context.Context, b Bucket, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.live(b, key)
	if !ok {
		return nil, false, nil
	}
	m.remove(b, key)
	return rec.val, true, nil
}

// remove deletes the record at key, telling the watches if there was
// one. The caller holds m.mu.
func (m *MemoryBackend) remove(b Bucket, key string) {
	if _, ok := m.buckets[b][key]; !ok {
		return
	}
	delete(m.buckets[b], key)
	m.rev++
	m.tell(b, memoryChange{key: key, rev: m.rev, deleted: true})
}

// List returns every unexpired value of b.
func (m *MemoryBackend) List(_ context.Context, b Bucket) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(b)
	out := make(map[string][]byte, len(m.buckets[b]))
	for key, rec := range m.buckets[b] {
		out[key] = append([]byte(nil), rec.val...)
	}
	return out, nil
}

// live returns the record at key in b if it has not expired. The caller
// holds m.mu.
func (m *MemoryBackend) live(b Bucket, key string) (memoryRecord, bool) {
	rec, ok := m.buckets[b][key]
	if !ok || !rec.expires.IsZero() && !m.now().Before(rec.expires) {
		return memoryRecord{}, false
	}
	return rec, true
}

// put stores a copy of val at key, within the bounds of a Backend. The
// caller holds m.mu.
func (m *MemoryBackend) put(b Bucket, key string, val []byte, ttl time.Duration) error {
	if len(val) > MaxRecordBytes {
		return fmt.Errorf("access: a record of %d bytes (at most %d)", len(val), MaxRecordBytes)
	}
	recs := m.buckets[b]
	if recs == nil {
		recs = make(map[string]memoryRecord)
		m.buckets[b] = recs
	}
	if _, ok := recs[key]; !ok && len(recs) >= MaxRecords {
		m.expire(b)
		if len(recs) >= MaxRecords {
			return fmt.Errorf("access: %w: %s holds %d", ErrFull, b, MaxRecords)
		}
	}
	m.rev++
	rec := memoryRecord{val: append([]byte(nil), val...), rev: m.rev}
	if ttl > 0 {
		rec.expires = m.now().Add(ttl)
	}
	recs[key] = rec
	m.tell(b, memoryChange{key: key, val: rec.val, rev: rec.rev})
	return nil
}

// expire forgets b's expired records. The caller holds m.mu.
func (m *MemoryBackend) expire(b Bucket) {
	now := m.now()
	maps.DeleteFunc(m.buckets[b], func(_ string, rec memoryRecord) bool {
		return !rec.expires.IsZero() && !now.Before(rec.expires)
	})
}
