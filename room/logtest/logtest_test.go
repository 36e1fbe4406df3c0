package logtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatd/room"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gappyLog is a memory log whose Replay leaves a gap, so that testConcurrent
// fails, and that says so on stderr when it is appended to after its test
// closed it.
type gappyLog struct {
	mu     sync.Mutex
	seq    uint64
	closed atomic.Bool
}

func (l *gappyLog) Append(ev *room.Event) (uint64, error) {
	if l.closed.Load() {
		fmt.Fprintln(os.Stderr, "APPEND AFTER CLOSE")
		return 0, fmt.Errorf("closed")
	}
	time.Sleep(time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	ev.Seq = l.seq
	return l.seq, nil
}

func (l *gappyLog) Replay(after uint64, n int) ([]*room.Event, error) {
	return []*room.Event{{Seq: 1, Kind: room.Chat}, {Seq: 3, Kind: room.Chat}}, nil
}

// TestConcurrentWaitsForAppender: when the concurrent case fails, it still
// waits for its appending goroutine, which must not append to the log
// after the test's cleanup closed it (review finding 7). The failing case
// runs in a child process (this test binary).
func TestConcurrentWaitsForAppender(t *testing.T) {
	if os.Getenv("LOGTEST_GAPPY_CHILD") != "" {
		testConcurrent(t, Factory{New: func(t *testing.T, keep int) room.Log {
			l := &gappyLog{}
			t.Cleanup(func() {
				l.closed.Store(true)
				time.Sleep(50 * time.Millisecond) // time for a stray appender to show itself
			})
			return l
		}})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentWaitsForAppender$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOGTEST_GAPPY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the concurrent case passed against a log with gaps:\n%s", out)
	}
	if !strings.Contains(string(out), "Replay during appends") {
		t.Fatalf("the concurrent case did not report the gap:\n%s", out)
	}
	if strings.Contains(string(out), "APPEND AFTER CLOSE") || strings.Contains(string(out), "panic") {
		t.Fatalf("the appender outlived the test:\n%s", out)
	}
}
