package access

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd/internal/metricstest"
	"chatd/room"
)

// TestRegisterAndTakeover: /register binds the nickname to the key or
// certificate; anyone else, look-alikes included, is refused it; the
// holder gets it back.
func TestRegisterAndTakeover(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   func(name, addr string) room.Identity
		kind string
	}{{"ssh", sshID, "ssh-key " + keyFP("alice")}, {"tls", tlsID, "tls-cert sha256:" + certFP("alice")}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, options{})
			alice := f.join("alice", tc.id("alice", "192.0.2.1"))
			contains(t, run(alice, "/register"), `"alice" is now registered to `+tc.kind)
			alice.Quit("")
			for _, nick := range []string{"alice", "ALICE", "a1ice"} {
				_, err := f.r.Join(nick, room.JoinOptions{Identity: tc.id("mallory", "198.51.100.1")})
				if !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), "is registered; connect with one of its credentials") {
					t.Errorf("Join(%q) by mallory: %v", nick, err)
				}
			}
			back := f.join("alice", tc.id("alice", "203.0.113.9"))
			contains(t, run(back, "/whois alice"), "registered since")
			back.Quit("")
			mallory := f.join("mallory", tc.id("mallory", "198.51.100.1"))
			contains(t, run(mallory, "/nick Alice"), "is registered")
			_, series, _ := metricstest.Gather(f.reg)
			if series[`chatd_access_refusals_total{reason="registered-nick"}`] != 4 {
				t.Errorf("refusals: %v", series)
			}
		})
	}
}

// TestRegisterWithoutCredential: a connection without a key or
// certificate is told how to make one, for its transport.
func TestRegisterWithoutCredential(t *testing.T) {
	f := newFixture(t, options{})
	tlsM := f.join("tina", room.Identity{Transport: room.TransportTLS, Address: "192.0.2.1"})
	lines := run(tlsM, "/register")
	contains(t, lines, "openssl req -x509 -newkey ed25519 -nodes -keyout me.key -out me.pem -days 365 -subj /CN=NICK")
	contains(t, lines, "openssl s_client -connect HOST:PORT -cert me.pem -key me.key")
	sshM := f.join("sam", room.Identity{Transport: room.TransportSSH, Address: "192.0.2.2"})
	contains(t, run(sshM, "/register"), "ssh-keygen -t ed25519")
	contains(t, run(sshM, "/register a b"), "usage: /register")

	// A server that lets SSH clients in with "none" never sees their
	// keys: making one would not help; TLS would.
	f = newFixture(t, options{keysUnseen: true})
	sshM = f.join("sam", room.Identity{Transport: room.TransportSSH, Address: "192.0.2.2"})
	contains(t, run(sshM, "/register"), "--ssh-none-auth=false")
	tlsM = f.join("tina", room.Identity{Transport: room.TransportTLS, Address: "192.0.2.1"})
	contains(t, run(tlsM, "/register"), "openssl req -x509")
}

// takeCode runs /register link as m and returns the code it was told.
func takeCode(t *testing.T, m *room.Member) string {
	t.Helper()
	for _, l := range run(m, "/register link") {
		if _, after, ok := strings.Cut(l, "link code for "); ok {
			fields := strings.Fields(after)
			return fields[1]
		}
	}
	t.Fatalf("no link code for %s", m.Nick())
	return ""
}

// TestRegisterMoreCredentials: a credential is added to an account only
// by a connection presenting it, with a one-time code from a connection
// holding one of the account's credentials; at most MaxCredentials; a
// credential belongs to one account only.
func TestRegisterMoreCredentials(t *testing.T) {
	f := newFixture(t, options{})
	alice := f.join("alice", sshID("alice", "192.0.2.1"))
	run := func(m *room.Member, line string) []string {
		f.clock.advance(time.Minute) // past the rate limits
		return run(m, line)
	}
	run(alice, "/register")
	contains(t, run(alice, "/register"), "already")
	code := takeCode(t, alice)
	viaCert := f.join("anyname", tlsID("alice", "192.0.2.1"))
	contains(t, run(viaCert, "/register "+strings.ToLower(code)), `your tls-cert sha256:`+certFP("alice")+` now also signs in as "alice"`)
	contains(t, run(viaCert, "/register "+code), "unknown, used or expired")
	alice.Quit("")
	viaCert.Quit("")
	viaCert = f.join("alice", tlsID("alice", "192.0.2.1"))
	bob := f.join("bob", sshID("bob", "192.0.2.2"))
	contains(t, run(bob, "/register link"), `"bob" is not registered`)
	contains(t, run(bob, "/register "+takeCode(t, viaCert)), `your ssh-key `+keyFP("bob")+` now also signs in as "alice"`)
	contains(t, run(bob, "/register"), `belongs to "alice" already`)
	for i := 3; i < MaxCredentials; i++ {
		m := f.join(fmt.Sprint("k", i), sshID(fmt.Sprint(i), "192.0.2.3"))
		contains(t, run(m, "/register "+takeCode(t, viaCert)), "now also signs in")
		m.Quit("")
	}
	nine := f.join("nine", sshID("nine", "192.0.2.3"))
	contains(t, run(nine, "/register "+takeCode(t, viaCert)), "at most 8")
	contains(t, run(viaCert, "/register fp="+keyFP("nine")), "fp= is gone")
	// expired codes are refused
	code = takeCode(t, viaCert)
	f.clock.advance(linkTTL)
	contains(t, run(nine, "/register "+code), "unknown, used or expired")
}

// TestRegisterNoSquatting: a member cannot bind a fingerprint it has not
// proven, so it cannot squat a victim's key, have the victim banned with
// it, or let extra keys in under --access registered.
func TestRegisterNoSquatting(t *testing.T) {
	f := newFixture(t, options{policy: Registered, admins: ownerLine("olive")})
	olive := f.join("olive", sshID("olive", "192.0.2.9"))
	contains(t, run(olive, "/allow fp="+keyFP("mallory")), "allowed")
	mallory := f.join("mallory", sshID("mallory", "198.51.100.1"))
	run(mallory, "/register")
	f.clock.advance(time.Minute)
	contains(t, run(mallory, "/register fp="+keyFP("victim")), "fp= is gone")
	contains(t, run(mallory, "/register "+keyFP("victim")), "unknown, used or expired")
	if err := f.d.Admit(sshID("victim", "203.0.113.5")); err == nil {
		t.Error("a member let in a key it does not hold")
	}
	// the victim's key is free: once allowed, the victim registers it
	contains(t, run(olive, "/allow fp="+keyFP("victim")), "allowed")
	victim := f.join("victim", sshID("victim", "203.0.113.5"))
	contains(t, run(victim, "/register"), `"victim" is now registered`)
	contains(t, run(olive, "/ban mallory spam"), "banned")
	if err := f.d.Admit(sshID("victim", "203.0.113.5")); err != nil {
		t.Errorf("the victim is banned with mallory: %v", err)
	}
}

// TestLinkCodesBounded: an account has at most maxLinksPerAccount codes
// (a new one replaces the oldest); wrong codes cost, by address.
func TestLinkCodesBounded(t *testing.T) {
	f := newFixture(t, options{})
	alice := f.join("alice", sshID("alice", "192.0.2.1"))
	run(alice, "/register")
	first := takeCode(t, alice)
	for range maxLinksPerAccount {
		takeCode(t, alice)
	}
	if n := f.d.links.count(keyOf("alice")); n != maxLinksPerAccount {
		t.Errorf("%d codes outstanding", n)
	}
	guesser := f.join("guess", sshID("guess", "198.51.100.7"))
	contains(t, run(guesser, "/register "+first), "unknown, used or expired")
	var last []string
	for range linkBurst {
		last = run(guesser, "/register WRONGCODE")
	}
	contains(t, last, "too many link codes tried")
	contains(t, run(guesser, "/register "+takeCode(t, alice)), "too many link codes tried")
}

// TestUnregister: a member unregisters its own nickname; an operator may
// name another's; a member may not.
func TestUnregister(t *testing.T) {
	f := newFixture(t, options{admins: ownerLine("olive")})
	olive := f.join("olive", sshID("olive", "192.0.2.9"))
	alice := f.join("alice", sshID("alice", "192.0.2.1"))
	bob := f.join("bob", sshID("bob", "192.0.2.2"))
	run(alice, "/register")
	run(bob, "/register")
	contains(t, run(bob, "/unregister alice"), "permission denied")
	contains(t, run(alice, "/unregister"), `"alice" is no longer registered`)
	contains(t, run(alice, "/unregister"), "is not registered")
	contains(t, run(olive, "/unregister bob"), `"bob" is no longer registered`)
	containsEvents(t, take(alice), "olive unregistered bob")
	if _, err := f.r.Join("Bob", room.JoinOptions{Identity: sshID("x", "192.0.2.3")}); errors.Is(err, room.ErrNickTaken) && strings.Contains(err.Error(), "registered") {
		t.Errorf("bob is still registered: %v", err)
	}
}

// TestWhois shows fingerprints, role, registration and presence, never an
// address.
func TestWhois(t *testing.T) {
	f := newFixture(t, options{admins: ownerLine("olive")})
	olive := f.join("olive", sshID("olive", "192.0.2.9"))
	alice := f.join("alice", tlsID("alice", "2001:db8:1:2::"))
	run(alice, "/register")
	lines := run(olive, "/whois alice")
	for _, want := range []string{"alice: member", "registered since 2026-12-01 12:00:00 UTC", "tls-cert sha256:" + certFP("alice"), "here now over tls since"} {
		contains(t, lines, want)
	}
	lines = append(lines, run(alice, "/whois olive")...)
	contains(t, lines, "olive: owner")
	contains(t, lines, "not registered")
	for _, l := range lines {
		if strings.Contains(l, "2001:db8") || strings.Contains(l, "192.0.2") {
			t.Errorf("whois shows an address: %q", l)
		}
	}
	contains(t, run(alice, "/whois nobody"), `no one called "nobody"`)
	contains(t, run(alice, "/whois"), "usage: /whois NICK")
	contains(t, run(alice, "/whois bad!nick"), "usage")
}

// TestRateLimits: /register and failed claims of registered nicknames
// are limited by address; a claim over the limit wraps ErrTooManyClaims,
// on which the gateways close the connection.
func TestRateLimits(t *testing.T) {
	f := newFixture(t, options{})
	alice := f.join("alice", sshID("alice", "192.0.2.1"))
	var last []string
	for range registerBurst + 1 {
		last = run(alice, "/register")
	}
	contains(t, last, "too many registrations")
	alice.Quit("")
	var err error
	for range claimBurst + 1 {
		_, err = f.r.Join("alice", room.JoinOptions{Identity: sshID("mallory", "198.51.100.1")})
	}
	if !errors.Is(err, room.ErrNickTaken) || !errors.Is(err, ErrTooManyClaims) || !strings.Contains(err.Error(), "wait a minute") {
		t.Errorf("claim %d: %v", claimBurst+1, err)
	}
	// another address is not held back
	_, err = f.r.Join("alice", room.JoinOptions{Identity: sshID("mallory", "198.51.100.2")})
	if !errors.Is(err, room.ErrNickTaken) || errors.Is(err, ErrTooManyClaims) {
		t.Errorf("claim from another address: %v", err)
	}
}

// TestLimiterBounded: the limiter's map never holds more than maxLimited
// addresses; past them, newcomers share one limiter.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(0, 1) // never refills
	now := newClock().now()
	for i := range maxLimited + 10 {
		l.allow(fmt.Sprint(i), now)
	}
	if len(l.by) > maxLimited {
		t.Fatalf("%d addresses remembered", len(l.by))
	}
	if l.allow("0", now) || l.allow("new", now) && l.allow("newer", now) {
		t.Error("the limits were escaped by crowding the map")
	}
}

// TestRegisterLinkRefusesOwners: /register CODE typed from an owner's
// connection does not link the owner's credential into the code's
// account, which would then rank as an owner; the account stays a
// member's that operators act on.
func TestRegisterLinkRefusesOwners(t *testing.T) {
	g := newGoverned(t, options{})
	evil := g.join("evil", tlsID("evil", "198.51.100.6"))
	run(evil, "/register")
	code := takeCode(t, evil)
	contains(t, run(g.olive, "/register "+code), "owners' credentials are named in the admins file, not linked by code")
	contains(t, run(g.olive, "/whois evil"), "tls-cert") // still there, and only its own
	if strings.Contains(strings.Join(run(g.olive, "/whois evil"), "\n"), keyFP("olive")) {
		t.Error("olive's key was linked into evil's account")
	}
	run(g.oscar, "/kick evil")
	if r := left(t, evil); r.Kind != room.ReasonKicked {
		t.Errorf("evil left for %v, not kicked by an operator", r)
	}
}

// TestRegisterEphemeral: on a Backend that forgets at restart
// (Options.Ephemeral, --store memory), /register's answers say so.
func TestRegisterEphemeral(t *testing.T) {
	f := newFixture(t, options{ephemeral: true})
	alice := f.join("alice", sshID("alice", "192.0.2.1"))
	const forgets = "; this server keeps accounts in memory only: it forgets them when it restarts"
	contains(t, run(alice, "/register"), `"alice" is now registered to ssh-key `+keyFP("alice")+": only a connection with it can take this nickname"+forgets)
	viaCert := f.join("x", tlsID("alice", "192.0.2.1"))
	contains(t, run(viaCert, "/register "+takeCode(t, alice)), `now also signs in as "alice"`+forgets)
	g := newFixture(t, options{})
	bob := g.join("bob", sshID("bob", "192.0.2.2"))
	if lines := run(bob, "/register"); strings.Contains(strings.Join(lines, "\n"), "in memory only") {
		t.Errorf("a lasting Backend said it forgets: %q", lines)
	}
}
