package sshgw

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"chatd/access"
	"chatd/room"
)

// doorPolicy is a fakeDoor that is the room's Policy too, as
// access.Directory is: the room asks it on every join.
type doorPolicy struct{ *fakeDoor }

func (doorPolicy) Operator(room.Identity) bool { return false }

func (doorPolicy) Muted(string, room.Identity) (time.Time, bool) { return time.Time{}, false }

// banEveryone makes the door refuse every key from now on with banned.
func (d *fakeDoor) banEveryone() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.other = banned
}

// wantExit checks that a terminal's session ended with exit status 1.
func wantExit(t *testing.T, term *terminal, status int) {
	t.Helper()
	err := term.wait()
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != status {
		t.Errorf("the session ended with %v, want exit status %d", err, status)
	}
}

// TestBanAtTheNicknamePromptEndsTheSession is the review's H2 over SSH:
// a session the door admitted waits at the nickname prompt (its user name
// was taken); it is banned; the nickname it then types is refused as the
// door refuses, "*** " and the ban, and the session ends with exit status
// 1 instead of asking again; nobody joined, and the refusal is counted
// once.
func TestBanAtTheNicknamePromptEndsTheSession(t *testing.T) {
	checkGoroutines(t)
	door := doorPolicy{&fakeDoor{}}
	ts := startServerWith(t, Config{Door: door, Room: room.New(room.Config{Policy: door})})
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Kind: room.ReasonQuit})

	term := ts.openTerminal(t, "bob")
	term.waitText(`"bob" is already in use`)
	term.waitText("Choose a nickname")
	door.banEveryone()
	term.send("\x15eve\r")
	term.waitText("*** " + banned.Text)
	wantExit(t, term, 1)
	if got := ts.room.Members(); len(got) != 1 {
		t.Errorf("members %q, want bob alone", got)
	}
	if got := ts.srv.Stats().Refused; !maps.Equal(got, map[string]uint64{RefusedBanned: 1}) {
		t.Errorf("Stats.Refused = %v, want one banned", got)
	}
}

// TestBanBeforeTheFirstJoinEndsTheSession: a ban that comes between the
// door's question at the session's start and the screen's first join
// (as the SSH user name) ends the session the same way, without a
// prompt. The door's first answers admit; the room's refuses.
func TestBanBeforeTheFirstJoinEndsTheSession(t *testing.T) {
	checkGoroutines(t)
	door := doorPolicy{&fakeDoor{}}
	policy := doorPolicy{&fakeDoor{other: banned}}
	ts := startServerWith(t, Config{Door: door, Room: room.New(room.Config{Policy: policy})})
	term := ts.openTerminal(t, "eve")
	term.waitText("*** " + banned.Text)
	wantExit(t, term, 1)
	if n := ts.room.Len(); n != 0 {
		t.Errorf("%d members, want none", n)
	}
}

// claimLimited is a room's nicknames whose registered one, "alice", is
// refused as a claim over access's rate limit.
type claimLimited struct{ *room.MemoryNicks }

func (n claimLimited) Claim(nick string, c room.NickClaim) error {
	if nick == "alice" {
		return fmt.Errorf("%w: %w: %q is registered; wait a minute", room.ErrNickTaken, access.ErrTooManyClaims, nick)
	}
	return n.MemoryNicks.Claim(nick, c)
}

// TestTooManyClaimsEndsTheSession (M6): a nickname refused because the
// address tried too many registered ones ends the screen with the
// refusal and exit status 1, rather than asking again, and is no refusal
// at the door.
func TestTooManyClaimsEndsTheSession(t *testing.T) {
	checkGoroutines(t)
	ts := startServerWith(t, Config{Room: room.New(room.Config{Nicks: claimLimited{room.NewMemoryNicks(8, nil)}})})
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Kind: room.ReasonQuit})
	term := ts.openTerminal(t, "bob")
	term.waitText("Choose a nickname")
	term.send("\x15alice\r")
	term.waitText("wait a minute")
	wantExit(t, term, 1)
	if got := ts.srv.Stats().Refused; len(got) != 0 {
		t.Errorf("Stats.Refused = %v, want none", got)
	}
}

// TestAuthRefusalsPerAddressAreLimited (M6): once an address has been
// refused authentication authRefusalBurst times, however many
// connections it used, its next attempts fail without asking the door,
// even with a key the door would admit.
func TestAuthRefusalsPerAddressAreLimited(t *testing.T) {
	checkGoroutines(t)
	good := newClientKey(t)
	door := &fakeDoor{other: notListed, bare: notListed}
	door.refuse(gossh.FingerprintSHA256(good.PublicKey()), nil)
	ts := startServerWith(t, Config{Door: door})
	for asked := 0; asked < authRefusalBurst; asked = len(door.questions()) {
		if c, err := ts.dialWith("mallory", gossh.PublicKeys(newClientKey(t))); err == nil {
			c.Close()
			t.Fatal("a refused key got in")
		}
	}
	before := len(door.questions())
	if c, err := ts.dialWith("alice", gossh.PublicKeys(good)); err == nil {
		c.Close()
		t.Fatal("an address over the limit got in")
	}
	if n := len(door.questions()); n != before {
		t.Errorf("the door was asked %d more times over the limit; want none", n-before)
	}
}

// TestRefusalCountedOncePerConnection (L7): a connection is one refusal
// at the door, however many of its keys the door refused and however many
// of its sessions it turned away.
func TestRefusalCountedOncePerConnection(t *testing.T) {
	checkGoroutines(t)
	refused, admitted := newClientKey(t), newClientKey(t)
	door := &fakeDoor{}
	door.refuse(gossh.FingerprintSHA256(refused.PublicKey()), notListed)
	door.refuse(gossh.FingerprintSHA256(admitted.PublicKey()), nil)
	ts := startServerWith(t, Config{Door: door})
	c, err := ts.dialWith("mallory", gossh.PublicKeys(refused, admitted))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	door.banEveryone()
	door.refuse(gossh.FingerprintSHA256(admitted.PublicKey()), banned)
	for range 2 {
		if res := run(t, c, "who", false); res.status != 1 {
			t.Fatalf("a banned session: %+v", res)
		}
	}
	if got := ts.srv.Stats().Refused; !maps.Equal(got, map[string]uint64{RefusedBanned: 1}) {
		t.Errorf("Stats.Refused = %v, want one banned", got)
	}
}
