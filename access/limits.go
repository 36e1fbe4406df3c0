package access

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limits by address.
const (
	// maxLimited bounds the addresses a limiter remembers; past it, new
	// addresses share one limiter.
	maxLimited = 4096
	// Failed claims of a registered nickname: a burst, then one every
	// 10 seconds; past it, the refusal wraps ErrTooManyClaims and the
	// gateway closes the connection.
	claimEvery = 0.1
	claimBurst = 5
	// /register: a burst, then one every 20 seconds.
	registerEvery = 0.05
	registerBurst = 3
	// /register CODE: a burst, then one every 30 seconds; every attempt
	// costs, a wrong one too.
	linkEvery = 1.0 / 30
	linkBurst = 5
)

// limiter limits an action by address, over a bounded map.
type limiter struct {
	limit rate.Limit
	burst int

	mu       sync.Mutex
	by       map[string]*rate.Limiter
	overflow *rate.Limiter
}

// newLimiter returns a limiter of limit a second, with burst.
func newLimiter(limit rate.Limit, burst int) *limiter {
	return &limiter{limit: limit, burst: burst, by: map[string]*rate.Limiter{}, overflow: rate.NewLimiter(limit, burst)}
}

// allow reports whether addr may act at now. Addresses whose limiters are
// full again are forgotten when the map is full; while it stays full,
// new addresses share one limiter, so that nobody escapes by crowding
// the map.
func (l *limiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.by[addr]
	if lim == nil {
		if len(l.by) >= maxLimited {
			l.sweep(now)
		}
		if len(l.by) >= maxLimited {
			return l.overflow.AllowN(now, 1)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.by[addr] = lim
	}
	return lim.AllowN(now, 1)
}

// sweep forgets the limiters that are full again. The caller holds l.mu.
func (l *limiter) sweep(now time.Time) {
	for addr, lim := range l.by {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.by, addr)
		}
	}
}

// limits are the Directory's rate limits.
type limits struct {
	claim    *limiter
	register *limiter
	link     *limiter
}

// newLimits returns the Directory's rate limits.
func newLimits() *limits {
	return &limits{
		claim:    newLimiter(claimEvery, claimBurst),
		register: newLimiter(registerEvery, registerBurst),
		link:     newLimiter(linkEvery, linkBurst),
	}
}
