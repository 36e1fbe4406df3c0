package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// batchTestLog is a testLog that is also a BatchLog: it records the size
// of every batch, and does not store the events of a batch at the places
// for which fail says so.
type batchTestLog struct {
	*testLog
	bmu     sync.Mutex
	batches []int
	fail    func(i int) bool // nil: store every event
	// refuse, if set, says why the batch did not store ev (nil: it did);
	// the batch's error wraps each reason it gives.
	refuse func(ev *Event) error
}

func (l *batchTestLog) AppendBatch(evs []*Event) error {
	checkUnlocked(l.t, l.room.Load(), "BatchLog.AppendBatch")
	l.bmu.Lock()
	l.batches = append(l.batches, len(evs))
	fail, refuse := l.fail, l.refuse
	l.bmu.Unlock()
	var failed []string
	var reasons []error
	for i, ev := range evs {
		if fail != nil && fail(i) {
			failed = append(failed, fmt.Sprint("event ", i+1))
			continue
		}
		if refuse != nil {
			if err := refuse(ev); err != nil {
				failed = append(failed, fmt.Sprint("event ", i+1))
				reasons = append(reasons, err)
				continue
			}
		}
		if _, err := l.mem.Append(ev); err != nil {
			return err
		}
	}
	if len(reasons) > 0 {
		return fmt.Errorf("%s not stored: %w", strings.Join(failed, ", "), errors.Join(reasons...))
	}
	if len(failed) > 0 {
		return fmt.Errorf("disk full: %s not stored", strings.Join(failed, ", "))
	}
	return nil
}

// sendersQueued starts one Send from each of senders while the log holds
// alice's message in Append, waits until all are queued behind it, and
// lets the log go on; it returns alice, the watcher and the senders.
func sendersQueued(t *testing.T, l *batchTestLog, r *Room, senders int) (alice, watcher *Member, ms []*Member) {
	t.Helper()
	alice, watcher = mustJoin(t, r, "alice"), mustJoin(t, r, "watcher")
	for i := range senders {
		ms = append(ms, mustJoin(t, r, fmt.Sprint("s", i)))
	}
	drain(alice)
	drain(watcher)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	l.set(func(l *testLog) { l.gate, l.entered = gate, entered })
	var wg sync.WaitGroup
	wg.Go(func() { alice.Send("first") })
	<-entered
	l.set(func(l *testLog) { l.gate, l.entered = nil, nil })
	l.room.Store(nil) // the lock check needs one goroutine at a time
	for i, m := range ms {
		wg.Go(func() { m.Send(fmt.Sprint("line ", i)) })
		waitQueued(t, r, i+1)
	}
	close(gate)
	wg.Wait()
	return alice, watcher, ms
}

// TestBatchLogStoresQueuedMessagesTogether: messages that queued up behind
// a slow append go to a BatchLog in one AppendBatch, in the order the room
// took them; members are shown them after, numbered one by one in that
// order, and a joiner's history holds them in the same order.
func TestBatchLogStoresQueuedMessagesTogether(t *testing.T) {
	const senders = 5
	l := &batchTestLog{testLog: newTestLog(t, 50)}
	r := newBatchRoom(t, l)
	_, watcher, _ := sendersQueued(t, l, r, senders)
	if !slices.Equal(l.batches, []int{senders}) {
		t.Fatalf("AppendBatch calls of %v events; want one of %d", l.batches, senders)
	}
	live := drain(watcher)
	want := []string{"chat alice first"}
	for i := range senders {
		want = append(want, fmt.Sprintf("chat s%d line %d", i, i))
	}
	if got := describe(live); !slices.Equal(got, want) {
		t.Fatalf("watcher saw %q, want %q", got, want)
	}
	if s := seqs(live); !slices.IsSorted(s) || s[len(s)-1]-s[0] != uint64(len(s)-1) {
		t.Errorf("sequence numbers %v, want one by one", s)
	}
	if history := historyOf(drain(mustJoinKeep(t, r, "late"))); !endsWith(history, live) {
		t.Errorf("the late joiner's history %q does not end with what the watcher saw", describe(history))
	}
}

// TestBatchLogFailuresAreTheirOwn: when a BatchLog does not store some
// events of a batch, the room shows the others, in order, and no others;
// the senders of those not stored are told their messages were not sent,
// and a joiner's history holds only what was shown.
func TestBatchLogFailuresAreTheirOwn(t *testing.T) {
	const senders = 5
	doomed := func(i int) bool { return i == 1 || i == 3 }
	l := &batchTestLog{testLog: newTestLog(t, 50), fail: doomed}
	r := newBatchRoom(t, l)
	_, watcher, ms := sendersQueued(t, l, r, senders)
	// The first event of the run not stored turns the room read-only; the
	// events of the run that were stored are still shown, in order.
	want := []string{"chat alice first", "chat s0 line 0", "notice " + ReadOnlyNotice, "chat s2 line 2", "chat s4 line 4"}
	live := drain(watcher)
	if got := describe(live); !slices.Equal(got, want) {
		t.Fatalf("watcher saw %q, want %q", got, want)
	}
	for i, m := range ms {
		got := strings.Join(describe(drain(m)), "|")
		if told := strings.Contains(got, "error "+ReadOnlyText); told != doomed(i) {
			t.Errorf("s%d was shown %q", i, got)
		}
	}
	if got := r.Stats().StoreErrors; got != 1 {
		t.Errorf("StoreErrors = %d, want 1 (one turn to read-only)", got)
	}
	public := slices.DeleteFunc(slices.Clone(live), func(ev *Event) bool { return ev.Kind == Notice })
	if history := historyOf(drain(mustJoinKeep(t, r, "late"))); !endsWith(history, public) {
		t.Errorf("the late joiner's history %q does not end with %q", describe(history), describe(public))
	}
}

// newBatchRoom returns a test room whose Log is l.
func newBatchRoom(t *testing.T, l *batchTestLog) *Room {
	r := newTestRoom(t, Config{Log: l, HistorySize: 50})
	l.room.Store(r)
	return r
}

// historyOf returns the events between HistoryBegin and HistoryEnd.
func historyOf(evs []*Event) []*Event {
	begin := slices.IndexFunc(evs, func(ev *Event) bool { return ev.Kind == HistoryBegin })
	end := slices.IndexFunc(evs, func(ev *Event) bool { return ev.Kind == HistoryEnd })
	if begin < 0 || end < begin {
		return nil
	}
	return evs[begin+1 : end]
}

// endsWith reports whether s ends with the events of tail.
func endsWith(s, tail []*Event) bool {
	return len(s) >= len(tail) && slices.Equal(s[len(s)-len(tail):], tail)
}
