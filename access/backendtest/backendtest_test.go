package backendtest_test

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatd/access"
	"chatd/access/backendtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a test clock the MemoryBackends read.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestMemory runs the table against access.MemoryBackend on a test
// clock, filling a bucket to access.MaxRecords.
func TestMemory(t *testing.T) {
	c := &clock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	backendtest.Run(t, backendtest.Factory{
		Open:    func(*testing.T) access.Backend { return access.NewMemoryBackend(c.Now) },
		Advance: c.Advance,
	})
}
