package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pageCountingLog is a MemoryLog that counts its Before calls, and can hold
// them until gate is closed.
type pageCountingLog struct {
	*MemoryLog
	befores atomic.Int64
	gate    chan struct{} // if set, Before waits for it
	entered chan struct{} // if set, Before signals here first
}

func (l *pageCountingLog) Before(seq uint64, n int) ([]*Event, error) {
	l.befores.Add(1)
	if l.entered != nil {
		l.entered <- struct{}{}
	}
	if l.gate != nil {
		<-l.gate
	}
	return l.MemoryLog.Before(seq, n)
}

// noPagerLog is a Log that does not page.
type noPagerLog struct{ Log }

// pageRoom is a room whose log holds said lines from bob (after his join),
// and a member alice; now is the room's clock.
func pageRoom(t *testing.T, l Log, lines int) (r *Room, alice *Member, now *atomic.Int64) {
	t.Helper()
	now = new(atomic.Int64)
	now.Store(fixedTime.UnixNano())
	r = newTestRoom(t, Config{HistorySize: 5, Log: l, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	bob := mustJoin(t, r, "bob")
	for i := range lines {
		bob.Send("line " + string(rune('a'+i%26)))
	}
	alice = mustJoin(t, r, "alice")
	return r, alice, now
}

func seqsOf(evs []*Event) []uint64 {
	s := make([]uint64, len(evs))
	for i, ev := range evs {
		s[i] = ev.Seq
	}
	return s
}

// TestOlderPages: Older returns the page just before a number, oldest
// first, capped at MaxPage, and paging back reaches the log's first event.
func TestOlderPages(t *testing.T) {
	_, alice, now := pageRoom(t, NewMemoryLog(1000), 300) // bob's join is 1, his lines 2-301, alice's join 302
	got, err := alice.Older(10, 3)
	if err != nil || !slices.Equal(seqsOf(got), []uint64{7, 8, 9}) {
		t.Fatalf("Older(10, 3) = %v, %v", seqsOf(got), err)
	}
	got, err = alice.Older(1000, 1<<30)
	if err != nil || len(got) != MaxPage || got[len(got)-1].Seq != 302 {
		t.Fatalf("Older(1000, huge) = %d events ending %v, %v; want %d ending at 302", len(got), seqsOf(got[max(0, len(got)-1):]), err, MaxPage)
	}
	for _, c := range []struct {
		before uint64
		n      int
	}{{0, 10}, {1, 10}, {10, 0}, {10, -1}} {
		if got, err := alice.Older(c.before, c.n); err != nil || len(got) != 0 {
			t.Errorf("Older(%d, %d) = %v, %v; want nothing", c.before, c.n, seqsOf(got), err)
		}
	}
	pages, before := 0, uint64(303)
	for {
		now.Add(int64(time.Second)) // within the rate
		page, err := alice.Older(before, 50)
		if err != nil {
			t.Fatalf("Older(%d, 50): %v", before, err)
		}
		if len(page) == 0 {
			break
		}
		pages++
		before = page[0].Seq
	}
	if before != 1 || pages != 7 {
		t.Fatalf("paging back ended before %d after %d pages, want 1 after 7", before, pages)
	}
}

// TestOlderRateLimited: a member spamming page requests makes the log read
// PageBurst pages, then none until the clock moves on; another member is
// not affected.
func TestOlderRateLimited(t *testing.T) {
	l := &pageCountingLog{MemoryLog: NewMemoryLog(100)}
	r, alice, now := pageRoom(t, l, 40)
	limited := 0
	for range 1000 {
		if _, err := alice.Older(30, 10); errors.Is(err, ErrPageLimit) {
			limited++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := l.befores.Load(); got != PageBurst || limited != 1000-PageBurst {
		t.Fatalf("1000 requests read the log %d times (%d limited), want %d", got, limited, PageBurst)
	}
	carol := mustJoin(t, r, "carol")
	if _, err := carol.Older(30, 10); err != nil {
		t.Fatalf("another member's page: %v", err)
	}
	now.Add(int64(time.Second / PageRate))
	if _, err := alice.Older(30, 10); err != nil {
		t.Fatalf("a page after waiting: %v", err)
	}
}

// TestOlderOneAtATime: while a member's page is being read, its next
// request is refused without reading the log.
func TestOlderOneAtATime(t *testing.T) {
	l := &pageCountingLog{MemoryLog: NewMemoryLog(100), gate: make(chan struct{}), entered: make(chan struct{})}
	_, alice, _ := pageRoom(t, l, 10)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := alice.Older(5, 2); err != nil {
			t.Errorf("the first page: %v", err)
		}
	})
	<-l.entered
	if _, err := alice.Older(5, 2); !errors.Is(err, ErrPageLimit) {
		t.Errorf("a page while one is read: %v, want ErrPageLimit", err)
	}
	close(l.gate)
	wg.Wait()
	if got := l.befores.Load(); got != 1 {
		t.Fatalf("the log was read %d times, want 1", got)
	}
}

// TestOlderWithoutPager: a log that cannot page says so.
func TestOlderWithoutPager(t *testing.T) {
	_, alice, _ := pageRoom(t, noPagerLog{NewMemoryLog(10)}, 3)
	if _, err := alice.Older(3, 2); !errors.Is(err, ErrNoPaging) {
		t.Fatalf("Older = %v, want ErrNoPaging", err)
	}
}

// TestCheckPage: what a log returns is kept only if it is a page: public,
// numbered below before, increasing, the newest n.
func TestCheckPage(t *testing.T) {
	ev := func(seq uint64, k Kind) *Event { return &Event{Seq: seq, Kind: k} }
	got := checkPage([]*Event{ev(1, Chat), nil, ev(3, Private), ev(0, Chat), ev(4, Chat), ev(2, Chat), ev(5, Join), ev(9, Chat), ev(6, Chat)}, 9, 2)
	if !slices.Equal(seqsOf(got), []uint64{5, 6}) {
		t.Fatalf("checkPage = %v, want [5 6]", seqsOf(got))
	}
}

// slowPagerLog is a MemoryLog whose Before takes a while, counting the
// reads under way and the most seen at once.
type slowPagerLog struct {
	*MemoryLog
	delay        time.Duration
	now, highest atomic.Int64
	reads        atomic.Int64
}

func (l *slowPagerLog) Before(seq uint64, n int) ([]*Event, error) {
	cur := l.now.Add(1)
	for {
		h := l.highest.Load()
		if cur <= h || l.highest.CompareAndSwap(h, cur) {
			break
		}
	}
	l.reads.Add(1)
	time.Sleep(l.delay)
	l.now.Add(-1)
	return l.MemoryLog.Before(seq, n)
}

// TestOlderRoomBudget: many members paging back at once (each within its
// own budget) never have more than RoomPageReads reads of the log under
// way, the rest are refused at once with ErrPagesBusy (an ErrPageLimit),
// not queued; meanwhile another member's join and line are not delayed.
func TestOlderRoomBudget(t *testing.T) {
	l := &slowPagerLog{MemoryLog: NewMemoryLog(1000), delay: 50 * time.Millisecond}
	r := newTestRoom(t, Config{HistorySize: 5, Log: l})
	bob := mustJoin(t, r, "bob")
	for range 50 {
		bob.Send("line")
	}
	const pagers = 40
	members := make([]*Member, pagers)
	for i := range members {
		members[i] = mustJoin(t, r, fmt.Sprint("pager", i))
	}
	var wg sync.WaitGroup
	var busy, slowest atomic.Int64
	start := make(chan struct{})
	for _, m := range members {
		wg.Go(func() {
			<-start
			for range PageBurst {
				t0 := time.Now()
				_, err := m.Older(40, 10)
				if errors.Is(err, ErrPagesBusy) {
					busy.Add(1)
					if !errors.Is(err, ErrPageLimit) {
						t.Errorf("ErrPagesBusy is not an ErrPageLimit")
					}
					if d := time.Since(t0); int64(d) > slowest.Load() {
						slowest.Store(int64(d))
					}
				} else if err != nil {
					t.Errorf("Older: %v", err)
				}
			}
		})
	}
	close(start)
	t0 := time.Now()
	carol := mustJoin(t, r, "carol")
	carol.Send("hello")
	if d := time.Since(t0); d > 40*time.Millisecond {
		t.Errorf("a join and a line took %v while members paged back", d)
	}
	wg.Wait()
	if h := l.highest.Load(); h > RoomPageReads || h < 1 {
		t.Fatalf("%d reads of the log at once, want 1 to %d", h, RoomPageReads)
	}
	if busy.Load() == 0 || l.reads.Load() > RoomPageBurst+RoomPageReads*int64(RoomPageRate) {
		t.Fatalf("%d reads, %d refused as busy", l.reads.Load(), busy.Load())
	}
	if d := time.Duration(slowest.Load()); d > 20*time.Millisecond {
		t.Fatalf("a busy answer took %v: it waited for the reads under way", d)
	}
}

// TestOlderRoomByteBudget: pages of long lines spend the room's byte
// budget, after which pages are refused until it is back.
func TestOlderRoomByteBudget(t *testing.T) {
	l := NewMemoryLog(1000)
	var now atomic.Int64
	now.Store(fixedTime.UnixNano())
	r := newTestRoom(t, Config{HistorySize: 5, Log: l, MaxLineBytes: 2000, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	bob := mustJoin(t, r, "bob")
	long := strings.Repeat("x", 1900)
	for range 200 {
		bob.Send(long)
	}
	var got int
	for i := range 1000 {
		m := mustJoin(t, r, fmt.Sprint("m", i))
		if _, err := m.Older(200, MaxPage); errors.Is(err, ErrPagesBusy) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got++
		if got > RoomPageBurst {
			break
		}
	}
	// A page of 100 lines of 1,900 bytes is about 200 KB: the 1 MiB a
	// second runs out after a few.
	if want := RoomPageBytes/(MaxPage*1900) + 1; got > want {
		t.Fatalf("%d pages of long lines answered at once, want at most %d", got, want)
	}
}
