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
}

// memoryRecord is one value and when it expires (zero: never).
type memoryRecord struct {
	val     []byte
	expires time.Time
}

// NewMemoryBackend returns an empty MemoryBackend that reads the time
// from now (time.Now if nil).
func NewMemoryBackend(now func() time.Time) *MemoryBackend {
	if now == nil {
		now = time.Now
	}
	return &MemoryBackend{now: now, buckets: make(map[Bucket]map[string]memoryRecord)}
}

var _ Backend = (*MemoryBackend)(nil)

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
	delete(m.buckets[b], key)
	return nil
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
	rec := memoryRecord{val: append([]byte(nil), val...)}
	if ttl > 0 {
		rec.expires = m.now().Add(ttl)
	}
	recs[key] = rec
	return nil
}

// expire forgets b's expired records. The caller holds m.mu.
func (m *MemoryBackend) expire(b Bucket) {
	now := m.now()
	maps.DeleteFunc(m.buckets[b], func(_ string, rec memoryRecord) bool {
		return !rec.expires.IsZero() && !now.Before(rec.expires)
	})
}
