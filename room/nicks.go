package room

import (
	"fmt"
	"sync"
	"time"
)

// Nicks is the room's record of who owns which nickname: a member has the
// nickname it claimed until it releases it; a member that left
// involuntarily has it held for its identity for a while (Config.NickGrace),
// so that its owner gets it back on reconnecting and nobody else can take it
// meanwhile. Nicknames are compared by NickKey: ignoring case and look-alike
// characters.
//
// Claim, Release and Hold may be slow (a network store) and may fail; the
// room never calls them while holding its member lock (see the package doc).
// Owner must answer from memory (a networked store keeps a local replica),
// because the room asks it under that lock.
//
// A Nicks must not call the room (any method of Room or Member), directly
// or by waiting for another goroutine that does: the room calls it while
// holding its sequencer or its member lock, and such a call waits for one
// of them, so the room would deadlock. A release or hold that fails is
// retried (see Config.Nicks).
type Nicks interface {
	// Claim gives nick to c. It fails with an error wrapping ErrNickTaken
	// if another member has nick, or a look-alike of it, or it is held for
	// an identity c.Identity does not own. Claiming a nickname c already
	// has, in another case, succeeds. A successful claim ends a hold on the
	// nickname.
	Claim(nick string, c NickClaim) error
	// Release ends c's claim on nick; the nickname is free at once. It does
	// nothing if c does not have nick.
	Release(nick string, c NickClaim) error
	// Hold ends c's claim on nick and keeps the nickname for c.Identity for
	// grace: until then, only an identity that owns c.Identity may claim
	// it. A store may end the oldest holds early to keep their number
	// bounded, and holds nothing for an identity that could never be
	// recognised again.
	Hold(nick string, c NickClaim, grace time.Duration) error
	// Owner returns who has nick, or a look-alike of it: a member, or the
	// identity it is held for. It reports false if the nickname is free.
	Owner(nick string) (NickOwner, bool)
}

// NickClaim is a member's claim to a nickname.
type NickClaim struct {
	// Member tells the members of one room apart: no two of them, present
	// or past, have the same number.
	Member uint64
	// Identity is who the member is; a nickname held after the member left
	// goes back only to an identity that owns this one.
	Identity Identity
}

// NickOwner is who has a nickname.
type NickOwner struct {
	// Claim is the member that has it, or that had it while it is held.
	Claim NickClaim
	// HeldUntil is zero while the member has the nickname. Once the member
	// left involuntarily, the nickname is held for Claim.Identity until
	// HeldUntil.
	HeldUntil time.Time
}

// held reports whether the nickname is held for an identity, not had by a
// member.
func (o NickOwner) held() bool { return !o.HeldUntil.IsZero() }

// NickKey returns the form under which nicknames are compared: two
// nicknames with the same key are the same nickname to the room (see
// nickKey). A nickname store keys its records by it.
func NickKey(nick string) string { return nickKey(nick) }

// errNickInUse and errNickHeld are the refusals of a nickname someone else
// has, and of one held for someone else for left more.
func errNickInUse(nick string) error {
	return fmt.Errorf("%w: %q is already in use, choose another", ErrNickTaken, nick)
}

func errNickHeld(nick string, left time.Duration) error {
	return fmt.Errorf("%w: %q is held for %s for its owner, who was disconnected; choose another", ErrNickTaken, nick, left.Round(time.Second))
}

// MemoryNicks is a Nicks kept in memory, for a room on one node. At most
// maxHeld nicknames are held at once, and maxHeldPerOwner for one owner;
// beyond that the oldest hold (of that owner) ends early. It is the room's
// Nicks unless Config.Nicks names another, and is safe for concurrent use.
type MemoryNicks struct {
	now func() time.Time

	mu     sync.Mutex
	claims map[string]NickClaim // by nickKey
	held   heldNicks
}

// NewMemoryNicks returns an empty MemoryNicks that holds at most maxHeld
// nicknames (at least 1) at once, reading the time from now (time.Now if
// nil).
func NewMemoryNicks(maxHeld int, now func() time.Time) *MemoryNicks {
	if now == nil {
		now = time.Now
	}
	return &MemoryNicks{now: now, claims: make(map[string]NickClaim), held: newHeldNicks(max(maxHeld, 1))}
}

// Claim gives nick to c unless someone else has it or it is held for
// someone else.
func (s *MemoryNicks) Claim(nick string, c NickClaim) error {
	key := nickKey(nick)
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.claims[key]; ok && other.Member != c.Member {
		return errNickInUse(nick)
	}
	now := s.now()
	if held, ok := s.held.heldFor(key, now); ok && !c.Identity.owns(held.owner) {
		return errNickHeld(nick, held.until.Sub(now))
	}
	s.held.release(key)
	s.claims[key] = c
	return nil
}

// Release frees nick if c has it.
func (s *MemoryNicks) Release(nick string, c NickClaim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(nickKey(nick), c)
	return nil
}

// Hold frees nick if c has it and holds it for c.Identity for grace.
func (s *MemoryNicks) Hold(nick string, c NickClaim, grace time.Duration) error {
	key := nickKey(nick)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(key, c)
	s.held.hold(key, c.Identity, s.now(), grace)
	return nil
}

// release ends c's claim on key, if it has it. The caller holds s.mu.
func (s *MemoryNicks) release(key string, c NickClaim) {
	if other, ok := s.claims[key]; ok && other.Member == c.Member {
		delete(s.claims, key)
	}
}

// Owner returns the member that has nick, or the identity it is held for.
func (s *MemoryNicks) Owner(nick string) (NickOwner, bool) {
	key := nickKey(nick)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims[key]; ok {
		return NickOwner{Claim: c}, true
	}
	if held, ok := s.held.heldFor(key, s.now()); ok {
		return NickOwner{Claim: NickClaim{Identity: held.owner}, HeldUntil: held.until}, true
	}
	return NickOwner{}, false
}
