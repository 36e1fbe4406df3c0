package room

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// memoryNicks is r's nickname store, the default MemoryNicks.
func memoryNicks(r *Room) *MemoryNicks { return r.nicks.(*MemoryNicks) }

func joinAs(r *Room, nick string, id Identity) (*Member, error) {
	m, err := r.Join(nick, JoinOptions{Identity: id})
	if err == nil {
		drain(m)
	}
	return m, err
}

// TestNickIsHeldForItsOwnerAfterAnInvoluntaryLeave: after a lost
// connection (or a slow-consumer or flooding disconnect) the nickname is
// kept for the same identity for the grace period: others cannot join as
// it, nor rename to it, nor to a look-alike of it; its owner can; after the
// grace anyone can.
func TestNickIsHeldForItsOwnerAfterAnInvoluntaryLeave(t *testing.T) {
	for _, reason := range []Reason{{Kind: ReasonLost}, {Kind: ReasonClosed}, {Kind: ReasonSlowConsumer}, {Kind: ReasonFlood}} {
		t.Run(reason.String(), func(t *testing.T) {
			clock := &fakeClock{now: fixedTime}
			r := newTestRoom(t, Config{Now: clock.Now, NickGrace: time.Minute})
			home := Identity{Address: "192.0.2.1"}
			alice, _ := joinAs(r, "alice", home)
			mallory, _ := joinAs(r, "mallory", Identity{Address: "198.51.100.7"})
			alice.Leave(reason)

			if _, err := joinAs(r, "alice", Identity{Address: "198.51.100.7"}); !errors.Is(err, ErrNickTaken) || !strings.Contains(err.Error(), "held for 1m0s") {
				t.Errorf("another address joining as alice: %v, want it held", err)
			}
			if _, err := joinAs(r, "ALICE", Identity{}); !errors.Is(err, ErrNickTaken) {
				t.Errorf("joining as ALICE with no identity: %v, want it held", err)
			}
			if _, err := joinAs(r, "a1ice", Identity{Address: "198.51.100.8"}); !errors.Is(err, ErrNickTaken) {
				t.Errorf("joining as a look-alike, a1ice: %v, want it held", err)
			}
			drain(mallory)
			mallory.Send("/nick Alice")
			if evs := drain(mallory); len(evs) != 1 || evs[0].Kind != Error || !strings.Contains(evs[0].Text, "held for") {
				t.Errorf("/nick Alice: %q, want a 'held' error", describe(evs))
			}
			clock.Advance(30 * time.Second)
			if _, err := joinAs(r, "alice", Identity{Address: "198.51.100.7"}); !strings.Contains(fmt.Sprint(err), "held for 30s") {
				t.Errorf("after 30 s: %v, want held for 30s more", err)
			}
			back, err := joinAs(r, "alice", home)
			if err != nil {
				t.Fatalf("alice coming back from her address: %v", err)
			}
			back.Send("/quit") // voluntary: not held
			if _, err := joinAs(r, "alice", Identity{Address: "198.51.100.7"}); err != nil {
				t.Errorf("after alice quit, joining as alice: %v", err)
			}
		})
	}
}

func TestHeldNickExpiresAndQuitHoldsNothing(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, NickGrace: time.Minute})
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	bob, _ := joinAs(r, "bob", Identity{Address: "192.0.2.2"})
	alice.Leave(Reason{Kind: ReasonLost})
	bob.Send("/quit bye")
	if _, err := joinAs(r, "bob", Identity{Address: "203.0.113.9"}); err != nil {
		t.Errorf("bob quit, yet his nick is refused: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := joinAs(r, "alice", Identity{Address: "203.0.113.9"}); err != nil {
		t.Errorf("after the grace, joining as alice: %v", err)
	}
}

// TestHeldNickGoesBackOnlyToTheSameKey: when the owner proved a key (an
// SSH public key), only that key gets the nickname back, not its address.
func TestHeldNickGoesBackOnlyToTheSameKey(t *testing.T) {
	r := newTestRoom(t, Config{})
	owner := Identity{Address: "192.0.2.1", KeyFingerprint: "SHA256:alice"}
	alice, _ := joinAs(r, "alice", owner)
	alice.Leave(Reason{Kind: ReasonClosed})
	if _, err := joinAs(r, "alice", Identity{Address: "192.0.2.1"}); !errors.Is(err, ErrNickTaken) {
		t.Errorf("same address, no key: %v, want it held", err)
	}
	if _, err := joinAs(r, "alice", Identity{Address: "192.0.2.1", KeyFingerprint: "SHA256:mallory"}); !errors.Is(err, ErrNickTaken) {
		t.Errorf("same address, another key: %v, want it held", err)
	}
	if _, err := joinAs(r, "alice", Identity{Address: "203.0.113.5", KeyFingerprint: "SHA256:alice"}); err != nil {
		t.Errorf("the owner's key from elsewhere: %v", err)
	}
}

// TestHeldNicksAreBounded: clients from many addresses dropping their
// connections hold at most MaxHeldNicks nicknames; the oldest hold ends
// first, and the refs kept to order them stay bounded too.
func TestHeldNicksAreBounded(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, MaxHeldNicks: 50})
	for i := range 500 {
		m, err := joinAs(r, fmt.Sprint("n", i), Identity{Address: fmt.Sprintf("192.0.2.%d", i%250)})
		if err != nil {
			t.Fatal(err)
		}
		m.Leave(Reason{Kind: ReasonLost})
		clock.Advance(time.Millisecond)
	}
	if n := len(memoryNicks(r).held.byKey); n != 50 {
		t.Errorf("%d nicknames held, want the limit, 50", n)
	}
	if n := len(memoryNicks(r).held.order); n > 2*50+16 {
		t.Errorf("%d holds remembered, want at most %d", n, 2*50+16)
	}
	if _, err := joinAs(r, "n0", Identity{Address: "203.0.113.1"}); err != nil {
		t.Errorf("the oldest hold should have ended: %v", err)
	}
	if _, err := joinAs(r, "n499", Identity{Address: "203.0.113.1"}); !errors.Is(err, ErrNickTaken) {
		t.Errorf("the newest hold ended: %v", err)
	}
}

// TestChurnCannotPushAHoldOut: one client (one address, or one key) that
// joins and drops its connection over and over, or rejoins its own held
// nickname, holds at most a few nicknames, so alice's hold outlives it.
func TestChurnCannotPushAHoldOut(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r := newTestRoom(t, Config{Now: clock.Now, MaxHeldNicks: 50})
	alice, _ := joinAs(r, "alice", Identity{Address: "192.0.2.1"})
	alice.Leave(Reason{Kind: ReasonLost})
	for _, mallory := range []Identity{{Address: "198.51.100.7"}, {Address: "198.51.100.7", KeyFingerprint: "SHA256:mallory"}} {
		for i := range 2000 {
			nick := "mal"
			if i%2 == 0 {
				nick = fmt.Sprint("mal", i)
			}
			m, err := joinAs(r, nick, mallory)
			if err != nil {
				t.Fatalf("mallory rejoining as %s: %v", nick, err)
			}
			m.Leave(Reason{Kind: ReasonClosed})
		}
		if n := memoryNicks(r).held.byOwner[mallory.owner()]; n > maxHeldPerOwner {
			t.Errorf("%s holds %d nicknames, want at most %d", mallory.owner(), n, maxHeldPerOwner)
		}
	}
	if n := len(memoryNicks(r).held.order); n > 2*50+16 {
		t.Errorf("%d holds remembered, want at most %d", n, 2*50+16)
	}
	if _, err := joinAs(r, "alice", Identity{Address: "198.51.100.7"}); !errors.Is(err, ErrNickTaken) {
		t.Errorf("after the churn mallory took alice: %v", err)
	}
}

// TestNoHoldForAnUnrecognisableOwner: a member with no identity could never
// claim its nickname back, so none is held for it.
func TestNoHoldForAnUnrecognisableOwner(t *testing.T) {
	r := newTestRoom(t, Config{})
	ghost, _ := joinAs(r, "ghost", Identity{})
	ghost.Leave(Reason{Kind: ReasonLost})
	if _, err := joinAs(r, "ghost", Identity{Address: "203.0.113.1"}); err != nil {
		t.Errorf("joining as ghost: %v", err)
	}
}
