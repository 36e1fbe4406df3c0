package room

import (
	"time"

	"golang.org/x/time/rate"
)

// maxPrivateSenders bounds the senders whose share of a member's private
// messages is tracked at once.
const maxPrivateSenders = 64

// privateBudget limits the private messages one member receives. Each
// sender (its key, else its address; see Identity) has its own share, so
// the members of one address cannot use up everyone's: Config.PrivateBurst
// at once, then Config.PrivateRate a second. It is guarded by Room.mu.
type privateBudget struct {
	from map[string]*rate.Limiter // by Identity.owner
}

// allowPrivate reports whether to may receive one more private message
// from a sender with identity from, and uses up one of that sender's
// share if so. The caller holds r.mu.
func (r *Room) allowPrivate(to *Member, from Identity) bool {
	b := &to.private
	now := r.cfg.Now()
	key := from.owner()
	limiter := b.from[key]
	if limiter == nil {
		if len(b.from) >= maxPrivateSenders {
			b.forgetIdle(now, r.cfg.PrivateBurst)
		}
		if len(b.from) >= maxPrivateSenders {
			return false
		}
		if b.from == nil {
			b.from = make(map[string]*rate.Limiter)
		}
		limiter = rate.NewLimiter(rate.Limit(r.cfg.PrivateRate), r.cfg.PrivateBurst)
		b.from[key] = limiter
	}
	return limiter.AllowN(now, 1)
}

// forgetIdle forgets the senders whose share is whole again: they have
// not written for a while, and would start afresh anyway.
func (b *privateBudget) forgetIdle(now time.Time, burst int) {
	for key, limiter := range b.from {
		if limiter.TokensAt(now) >= float64(burst) {
			delete(b.from, key)
		}
	}
}
