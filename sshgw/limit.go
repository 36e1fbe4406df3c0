package sshgw

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The door's refusals of authentication attempts, by address
// (connlimit.Source): a burst of them, then one every
// authRefusalEvery. Past that, the address's attempts fail at once,
// without asking the door, until it has waited: probing which keys a
// room admits (under the allowlist or registered policy) costs time, not
// only one connection's tries (maxAdmitsPerConn).
const (
	authRefusalBurst = 4 * sshMaxAuthTries
	authRefusalEvery = 5 * time.Second
	// maxLimitedAddrs bounds the addresses the limiter remembers.
	maxLimitedAddrs = 4096
)

// addrLimiter limits an event by address, over a bounded map: addresses
// whose allowance is whole again are forgotten when the map is full,
// and while it stays full, new addresses share one allowance, so that
// nobody escapes the limit by crowding the map.
type addrLimiter struct {
	every rate.Limit
	burst int
	max   int

	mu       sync.Mutex
	by       map[string]*rate.Limiter
	overflow *rate.Limiter
}

// newAddrLimiter returns a limiter allowing burst events per address,
// then one every every, remembering at most maxAddrs addresses.
func newAddrLimiter(every time.Duration, burst, maxAddrs int) *addrLimiter {
	limit := rate.Every(every)
	return &addrLimiter{every: limit, burst: burst, max: maxAddrs,
		by: make(map[string]*rate.Limiter), overflow: rate.NewLimiter(limit, burst)}
}

// over reports whether addr has used up its allowance at now.
func (l *addrLimiter) over(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.of(addr, now).TokensAt(now) < 1
}

// take uses one of addr's allowance at now.
func (l *addrLimiter) take(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.of(addr, now).AllowN(now, 1)
}

// of returns addr's limiter, making one if there is room. The caller
// holds l.mu.
func (l *addrLimiter) of(addr string, now time.Time) *rate.Limiter {
	if lim := l.by[addr]; lim != nil {
		return lim
	}
	if len(l.by) >= l.max {
		l.sweep(now)
	}
	if len(l.by) >= l.max {
		return l.overflow
	}
	lim := rate.NewLimiter(l.every, l.burst)
	l.by[addr] = lim
	return lim
}

// sweep forgets the addresses whose allowance is whole again. The caller
// holds l.mu.
func (l *addrLimiter) sweep(now time.Time) {
	for addr, lim := range l.by {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.by, addr)
		}
	}
}
