package room

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Paging back through the log (Member.Older) is bounded per member: at
// most MaxPage events a page, PageBurst pages at once and PageRate a
// second after that, one at a time.
const (
	MaxPage   = 100
	PageBurst = 4
	PageRate  = 2.0
)

// Paging back is also bounded for the room as a whole, whoever asks: at
// most RoomPageReads reads of the log at once, RoomPageRate pages a second
// (RoomPageBurst at once), and RoomPageBytes bytes of events a second. A
// request over any of these is refused at once with ErrPagesBusy, never
// queued, so that members paging back cannot make the log's other readers
// (joins, resumes) wait behind them.
const (
	RoomPageReads = 2
	RoomPageRate  = 20.0
	RoomPageBurst = 20
	RoomPageBytes = 1 << 20
)

// Errors of Member.Older.
var (
	// ErrNoPaging: the room's Log cannot read back page by page
	// (LogPager).
	ErrNoPaging = errors.New("the room's log cannot page back")
	// ErrPageLimit: the member asked for pages faster than PageRate, or
	// while its previous page was still being read. The log was not read.
	ErrPageLimit = errors.New("too many page requests: wait a moment")
	// ErrPagesBusy: the room as a whole is answering as many pages as it
	// allows (RoomPageReads, RoomPageRate, RoomPageBytes). It wraps
	// ErrPageLimit: the member should ask again later.
	ErrPagesBusy = fmt.Errorf("%w (the room is busy answering pages)", ErrPageLimit)
)

// roomPages is the room-wide budget of page reads; its zero value is
// ready (the limiters are made at the first use).
type roomPages struct {
	once  sync.Once
	reads chan struct{} // a token held during each read of the log
	pages *rate.Limiter // pages a second
	bytes *rate.Limiter // bytes of events a second, charged after a read
	mu    sync.Mutex    // guards the check-then-charge of bytes
}

func (b *roomPages) init() {
	b.once.Do(func() {
		b.reads = make(chan struct{}, RoomPageReads)
		b.pages = rate.NewLimiter(RoomPageRate, RoomPageBurst)
		b.bytes = rate.NewLimiter(RoomPageBytes, RoomPageBytes)
	})
}

// acquire takes a read token, or reports that the room is busy; the token
// is given back by release.
func (b *roomPages) acquire(now time.Time) bool {
	b.init()
	select {
	case b.reads <- struct{}{}:
	default:
		return false
	}
	b.mu.Lock()
	ok := b.bytes.TokensAt(now) > 0 && b.pages.AllowN(now, 1)
	b.mu.Unlock()
	if !ok {
		<-b.reads
	}
	return ok
}

// release gives back a read token, charging the bytes the page holds (the
// budget may go below zero, then refuses pages until it is back above).
func (b *roomPages) release(now time.Time, size int) {
	b.mu.Lock()
	b.bytes.ReserveN(now, min(size, RoomPageBytes))
	b.mu.Unlock()
	<-b.reads
}

// pageBytes is roughly what a page costs to send: its texts, nicks and a
// line's framing each.
func pageBytes(evs []*Event) int {
	n := 0
	for _, ev := range evs {
		n += len(ev.Text) + len(ev.From) + 64
	}
	return n
}

// pager is a member's budget of page reads.
type pager struct {
	limit   *rate.Limiter
	reading atomic.Bool // a read of the log for this member is under way
}

func newPager() pager {
	return pager{limit: rate.NewLimiter(PageRate, PageBurst)}
}

// Older returns, oldest first, up to n of the room's public events just
// before the sequence number before (n is capped at MaxPage): the page a
// screen scrolling back past the oldest event it holds asks for. It reads
// the log (a round trip to a network store) outside every lock of the
// room. A member that asks faster than PageRate, or while its previous
// page is being read, gets ErrPageLimit and the log is not read; a log
// that cannot page gives ErrNoPaging; a log that fails, an error wrapping
// ErrUnavailable. No events means the log holds no more before before; a
// page may have fewer than n while older events remain (the log bounds a
// page by bytes too): ask again before its first.
func (m *Member) Older(before uint64, n int) ([]*Event, error) {
	p, ok := m.room.log.(LogPager)
	if !ok {
		return nil, ErrNoPaging
	}
	n = min(n, MaxPage)
	if n <= 0 || before <= 1 {
		return nil, nil
	}
	if !m.pages.reading.CompareAndSwap(false, true) {
		return nil, ErrPageLimit
	}
	defer m.pages.reading.Store(false)
	// The member's own budget first: a member spamming requests must not
	// spend the room's.
	now := m.room.cfg.Now()
	if !m.pages.limit.AllowN(now, 1) {
		return nil, ErrPageLimit
	}
	if !m.room.pages.acquire(now) {
		return nil, ErrPagesBusy
	}
	evs, err := p.Before(before, n)
	m.room.pages.release(m.room.cfg.Now(), pageBytes(evs))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return checkPage(evs, before, n), nil
}

// checkPage keeps of a page the log returned what the member may be
// shown: at most n public events below before, in increasing order, the
// newest ones if the log returned more.
func checkPage(evs []*Event, before uint64, n int) []*Event {
	out := make([]*Event, 0, min(len(evs), n))
	var last uint64
	for _, ev := range evs {
		if ev == nil || !ev.Kind.Public() || ev.Seq == 0 || ev.Seq >= before || ev.Seq <= last {
			continue
		}
		last = ev.Seq
		out = append(out, ev)
	}
	return out[max(0, len(out)-n):]
}
