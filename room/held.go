package room

import (
	"fmt"
	"strings"
	"time"
)

// Identity is who a member is, as far as its transport can tell. The room
// compares identities only to give a held nickname back to its owner.
type Identity struct {
	// Address is the client's network address without the port (an IPv6
	// client's /64), as the connection limits count it.
	Address string
	// Key is the fingerprint of a key the client proved it holds (an SSH
	// public key, a TLS client certificate), or "".
	Key string
}

// owns reports whether id may have back a nickname held for owner: the
// same proven key if owner had one, else the same address. An identity
// with neither owns nothing.
func (id Identity) owns(owner Identity) bool {
	if owner.Key != "" {
		return id.Key == owner.Key
	}
	return owner.Address != "" && id.Address == owner.Address
}

// involuntary reports whether a member that leaves for reason did not mean
// to: everything but /quit and shutdown. Its nickname is then held for it.
func involuntary(reason string) bool {
	return !(reason == ReasonQuit || strings.HasPrefix(reason, ReasonQuit+":") || reason == ReasonShutdown)
}

// heldNicks are nicknames kept for members who left involuntarily, until a
// deadline. Every hold lasts equally long, so order, oldest first, is also
// the order in which they expire. It is guarded by Room.mu.
type heldNicks struct {
	byKey map[string]heldNick // by nickKey
	order []heldRef           // oldest first; may name holds already released
	limit int
}

type heldNick struct {
	owner Identity
	until time.Time
}

type heldRef struct {
	key   string
	until time.Time
}

func newHeldNicks(limit int) heldNicks {
	return heldNicks{byKey: make(map[string]heldNick), limit: limit}
}

// hold keeps the nickname with key for owner for grace from now. It first
// forgets the holds that have ended, and the oldest ones beyond the limit.
func (h *heldNicks) hold(key string, owner Identity, now time.Time, grace time.Duration) {
	n := 0
	for n < len(h.order) && (len(h.order)-n >= h.limit || !now.Before(h.order[n].until)) {
		ref := h.order[n]
		if held, ok := h.byKey[ref.key]; ok && held.until.Equal(ref.until) {
			delete(h.byKey, ref.key)
		}
		n++
	}
	h.order = append(h.order[:0], h.order[n:]...)
	until := now.Add(grace)
	h.byKey[key] = heldNick{owner: owner, until: until}
	h.order = append(h.order, heldRef{key: key, until: until})
}

// release ends the hold on key, if any.
func (h *heldNicks) release(key string) { delete(h.byKey, key) }

// heldFor returns the hold on key if it has not ended by now.
func (h *heldNicks) heldFor(key string, now time.Time) (heldNick, bool) {
	held, ok := h.byKey[key]
	return held, ok && now.Before(held.until)
}

// nickFree returns nil if the member self (nil for a joiner) with identity
// id may take nick: no one else has it, or a look-alike of it, and it is
// not held for someone else. Otherwise the error wraps ErrNickTaken. The
// caller holds r.mu.
func (r *Room) nickFree(nick string, id Identity, self *Member) error {
	key := nickKey(nick)
	if other, taken := r.byNick[key]; taken && other != self {
		return fmt.Errorf("%w: %q is already in use, choose another", ErrNickTaken, nick)
	}
	now := r.cfg.Now()
	if held, ok := r.held.heldFor(key, now); ok && !id.owns(held.owner) {
		left := held.until.Sub(now).Round(time.Second)
		return fmt.Errorf("%w: %q is held for %s for its owner, who was disconnected; choose another", ErrNickTaken, nick, left)
	}
	return nil
}
