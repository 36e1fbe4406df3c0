package room

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowEndLog is a MemoryLog whose LastSeq is slow: it waits d, counting
// its calls, and fails while failing is set.
type slowEndLog struct {
	*MemoryLog
	d       time.Duration
	calls   atomic.Int64
	failing atomic.Bool
	entered chan struct{} // signalled as a call starts, if it has room
}

func (l *slowEndLog) LastSeq() (uint64, error) {
	l.calls.Add(1)
	select {
	case l.entered <- struct{}{}:
	default:
	}
	time.Sleep(l.d)
	if l.failing.Load() {
		return 0, errors.New("the store hangs")
	}
	return l.MemoryLog.LastSeq()
}

// TestResumeReadsTheEndOutsideTheSequencer: a room that has appended
// nothing reads its log's end for a resume without holding its sequencer,
// one read for many resumes at once: an unrelated Join is not held up by
// resumes waiting for a slow store. A read that failed is not repeated
// for a while: the resumes then fail at once; after the backoff the log is
// read again.
func TestResumeReadsTheEndOutsideTheSequencer(t *testing.T) {
	const slow = 300 * time.Millisecond
	l := &slowEndLog{MemoryLog: NewMemoryLog(10), d: slow, entered: make(chan struct{}, 1)}
	l.failing.Store(true)
	var now atomic.Int64 // nanoseconds after fixedTime
	clock := func() time.Time { return fixedTime.Add(time.Duration(now.Load())) }
	r := newTestRoom(t, Config{Log: l, Now: clock})
	defer r.Close("")

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			_, _, err := r.ResumeFrom(1)
			errs <- err
		})
	}
	<-l.entered
	start := time.Now()
	if _, err := r.Join("bob", JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > slow/2 {
		t.Errorf("a plain Join took %v while resumes read the log's end (%v each)", took, slow)
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		switch {
		case errors.Is(err, ErrUnavailable):
			failed++
		case err != nil:
			t.Errorf("a resume during a failing read: %v, want ErrUnavailable", err)
		}
	}
	if failed == 0 { // the one that read; those waiting for it may find bob's join stored meanwhile
		t.Error("no resume failed, though the read of the log's end did")
	}
	if n := l.calls.Load(); n != 1 {
		t.Errorf("3 resumes at once read the log's end %d times, want once", n)
	}

	// bob's Join was appended meanwhile: the room knows its end now.
	if from, reset, err := r.ResumeFrom(1); from != 1 || reset || err != nil {
		t.Errorf("ResumeFrom(1) once bob's join is stored = %d, %v, %v", from, reset, err)
	}

	// A room that appended nothing, on a store that fails.
	r2 := newTestRoom(t, Config{Log: l, Now: clock})
	defer r2.Close("")
	l.calls.Store(0)
	for range 2 {
		if _, _, err := r2.ResumeFrom(1); !errors.Is(err, ErrUnavailable) {
			t.Errorf("ResumeFrom on a failing store: %v", err)
		}
	}
	if n := l.calls.Load(); n != 1 {
		t.Errorf("two resumes in a row read a failing log's end %d times, want once (then the backoff)", n)
	}
	start = time.Now()
	if _, _, err := r2.ResumeFrom(1); !errors.Is(err, ErrUnavailable) || time.Since(start) > slow/2 {
		t.Errorf("a resume within the backoff: %v after %v, want ErrUnavailable at once", err, time.Since(start))
	}
	now.Add(int64(endRetryFirst + time.Millisecond))
	l.failing.Store(false)
	if from, reset, err := r2.ResumeFrom(1); from != 1 || reset || err != nil || l.calls.Load() != 2 {
		t.Errorf("ResumeFrom(1) after the backoff = %d, %v, %v after %d reads; want 1 after a second read", from, reset, err, l.calls.Load())
	}
}
