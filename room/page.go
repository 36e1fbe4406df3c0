package room

import (
	"errors"
	"fmt"
	"sync/atomic"

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

// Errors of Member.Older.
var (
	// ErrNoPaging: the room's Log cannot read back page by page
	// (LogPager).
	ErrNoPaging = errors.New("the room's log cannot page back")
	// ErrPageLimit: the member asked for pages faster than PageRate, or
	// while its previous page was still being read. The log was not read.
	ErrPageLimit = errors.New("too many page requests: wait a moment")
)

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
// ErrUnavailable. Fewer than n events (none included) means the log holds
// no more before them.
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
	if !m.pages.limit.AllowN(m.room.cfg.Now(), 1) {
		return nil, ErrPageLimit
	}
	evs, err := p.Before(before, n)
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
