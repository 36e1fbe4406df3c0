package access

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"chatd/internal/metricstest"
	"chatd/room"
)

// governed is a fixture with an owner (olive), an operator (oscar) and
// two members (alice, registered, and mallory).
type governed struct {
	*fixture
	olive, oscar, alice, mallory *room.Member
}

func newGoverned(t *testing.T, o options) *governed {
	o.admins = ownerLine("olive") + o.admins
	g := &governed{fixture: newFixture(t, o)}
	g.olive = g.join("olive", sshID("olive", "192.0.2.9"))
	g.oscar = g.join("oscar", sshID("oscar", "192.0.2.8"))
	g.alice = g.join("alice", tlsID("alice", "192.0.2.1"))
	g.mallory = g.join("mallory", sshID("mallory", "2001:db8:bad:1::"))
	run(g.oscar, "/register")
	run(g.alice, "/register")
	contains(t, run(g.olive, "/op oscar"), "olive made oscar an operator")
	take(g.oscar)
	take(g.alice)
	take(g.mallory)
	return g
}

// TestOpDeop: ops need a registered nickname; operators may op members
// but only owners de-op operators; owners cannot be de-opped; roles are
// announced, logged and counted.
func TestOpDeop(t *testing.T) {
	g := newGoverned(t, options{})
	if !g.d.Operator(g.oscar.Identity()) {
		t.Fatal("oscar is no operator after /op")
	}
	contains(t, run(g.oscar, "/op mallory"), `"mallory" is not registered`)
	contains(t, run(g.oscar, "/op oscar"), "an operator already")
	contains(t, run(g.oscar, "/op alice"), "oscar made alice an operator")
	contains(t, run(g.oscar, "/deop alice"), "permission denied: alice is an operator; only owners can do that")
	contains(t, run(g.oscar, "/deop olive"), "owners cannot be de-opped")
	contains(t, run(g.olive, "/deop alice"), "olive took alice's operator role away")
	contains(t, run(g.olive, "/deop alice"), "not an operator")
	contains(t, run(g.mallory, "/op mallory"), "permission denied: /op is for the room's operators only")
	contains(t, run(g.olive, "/op"), "usage: /op NICK")
	// an unregistered operator's role goes with its account
	contains(t, run(g.olive, "/unregister oscar"), "no longer registered")
	if g.d.Operator(g.oscar.Identity()) {
		t.Error("oscar is still an operator without an account")
	}
	run(g.oscar, "/register")
	if g.d.Operator(g.oscar.Identity()) {
		t.Error("registering again gave oscar his role back")
	}
	_, series, _ := metricstest.Gather(g.reg)
	if series[`chatd_moderation_actions_total{action="op"}`] != 2 || series[`chatd_moderation_actions_total{action="deop"}`] != 1 {
		t.Errorf("metrics: %v", series)
	}
	if !strings.Contains(g.logText(), `"msg":"moderation","action":"deop","by":"olive","target":"alice"`) {
		t.Errorf("log: %s", g.logText())
	}
}

// TestKick removes a member with the operator's reason; operators
// cannot kick owners, nor other operators.
func TestKick(t *testing.T) {
	g := newGoverned(t, options{})
	contains(t, run(g.mallory, "/kick alice"), "permission denied")
	contains(t, run(g.oscar, "/kick olive"), "permission denied: olive is an owner")
	run(g.olive, "/op alice")
	contains(t, run(g.oscar, "/kick alice"), "permission denied: alice is an operator")
	run(g.oscar, "/kick MALLORY spam \x1b[31m and more") // a look-alike finds mallory
	if r := left(t, g.mallory); r.Kind != room.ReasonKicked || !strings.HasPrefix(r.Detail, "oscar: spam") || strings.Contains(r.Detail, "\x1b") {
		t.Errorf("mallory left for %+v", r)
	}
	var leave *room.Event
	for _, ev := range take(g.alice) {
		if ev.Kind == room.Leave && ev.From == "mallory" {
			leave = ev
		}
	}
	if leave == nil || leave.Reason.Kind != room.ReasonKicked {
		t.Errorf("alice saw no kick: %+v", leave)
	}
	contains(t, run(g.oscar, "/kick mallory"), `no one called "mallory" is here`)
	contains(t, run(g.oscar, "/kick"), "usage: /kick NICK [REASON]")
	long := strings.Repeat("x", 300)
	m := g.join("mallory", sshID("mallory", "2001:db8:bad:1::"))
	run(g.oscar, "/kick mallory "+long)
	if r := left(t, m); len(r.Detail) != len("oscar: ")+MaxReasonBytes {
		t.Errorf("a long reason was not cut: %d bytes", len(r.Detail))
	}
}

// TestBanNick bans a nick's credentials, its account's and its address
// (/64), removes every connection they match and refuses them at the
// door; /unban lifts it all.
func TestBanNick(t *testing.T) {
	g := newGoverned(t, options{})
	second := g.join("mal2", sshID("other", "2001:db8:bad:1::"))
	run(g.oscar, "/ban mallory 2h spam")
	for _, m := range []*room.Member{g.mallory, second} {
		r := left(t, m)
		if r.Kind != room.ReasonBanned || r.Detail != "oscar until 2026-12-01 14:00:00 UTC: spam" {
			t.Errorf("%s left for %+v", m.Nick(), r)
		}
	}
	r := refusal(t, g.d, sshID("mallory", "203.0.113.1"))
	if r == nil || r.Kind != RefusedBanned || r.Text != "you are banned until 2026-12-01 14:00:00 UTC: spam" || r.Reason != "spam" {
		t.Errorf("mallory at the door: %+v", r)
	}
	if refusal(t, g.d, sshID("new", "2001:db8:bad:1::")) == nil {
		t.Error("the /64 is not banned")
	}
	_, series, _ := metricstest.Gather(g.reg)
	if _, ok := series[`chatd_access_refusals_total{reason="banned"}`]; ok || series[`chatd_moderation_actions_total{action="ban"}`] != 1 {
		t.Errorf("metrics: %v", series)
	}
	if !strings.Contains(g.logText(), `"action":"ban","by":"oscar","target":"mallory","until":"2026-12-01T14:00:00Z","reason":"spam"`) {
		t.Errorf("log: %s", g.logText())
	}
	lines := run(g.oscar, "/banned")
	contains(t, lines, "2 bans:")
	contains(t, lines, "fp="+keyFP("mallory")+" (mallory) by oscar since 2026-12-01 12:00:00 UTC until 2026-12-01 14:00:00 UTC: spam")
	contains(t, lines, "the address of mallory by oscar")
	if strings.Contains(strings.Join(lines, "\n"), "2001:db8") {
		t.Errorf("/banned shows an operator the address of a member banned by nickname:\n%s", strings.Join(lines, "\n"))
	}
	contains(t, run(g.oscar, "/unban mallory"), "oscar lifted the ban on mallory")
	if r := refusal(t, g.d, sshID("mallory", "2001:db8:bad:1::")); r != nil {
		t.Errorf("still banned: %v", r)
	}
	contains(t, run(g.oscar, "/banned"), "nobody is banned")
	contains(t, run(g.oscar, "/unban mallory"), "mallory is not banned")
}

// TestBanRegisteredAbsent bans an absent registered nick by its
// account's credentials, announced since nobody leaves.
func TestBanRegisteredAbsent(t *testing.T) {
	g := newGoverned(t, options{})
	g.alice.Quit("")
	contains(t, run(g.olive, "/ban alice"), "olive banned alice")
	if r := refusal(t, g.d, tlsID("alice", "198.51.100.7")); r == nil || r.Text != "you are banned" {
		t.Errorf("alice at the door: %+v", r)
	}
	contains(t, run(g.olive, "/ban nobody"), `no one called "nobody"`)
}

// TestBanTargets: fp= and ip= forms, prefixes too broad, durations.
func TestBanTargets(t *testing.T) {
	g := newGoverned(t, options{})
	contains(t, run(g.oscar, "/ban ip=192.0.2.0/8"), "too broad")
	contains(t, run(g.oscar, "/ban ip=2001:db8::/31"), "too broad")
	contains(t, run(g.oscar, "/ban ip=not-an-ip"), "usage: /ban")
	contains(t, run(g.oscar, "/ban fp=SHA256:xyz"), "usage: /ban")
	contains(t, run(g.oscar, "/ban mallory 400d"), "usage: /ban")
	contains(t, run(g.oscar, "/ban"), "usage: /ban")
	contains(t, run(g.oscar, "/ban fp="+keyFP("olive")), "permission denied: "+keyFP("olive")+" is an owner")
	contains(t, run(g.oscar, "/ban ip=198.51.100.7 30m"), "oscar banned 198.51.100.7/32 until 2026-12-01 12:30:00 UTC")
	contains(t, run(g.oscar, "/ban fp=sha256:"+certFP("zed")+" 7d bot"), "until 2026-12-08 12:00:00 UTC: bot")
	contains(t, run(g.oscar, "/ban ip=2001:db8:bad:1::5"), "")
	if r := left(t, g.mallory); r.Kind != room.ReasonBanned {
		t.Errorf("mallory, behind the /64, left for %+v", r)
	}
	if refusal(t, g.d, sshID("x", "198.51.100.7")) == nil || refusal(t, g.d, tlsID("zed", "1.2.3.4")) == nil {
		t.Error("ip= or fp= ban not in force")
	}
	// an owner behind a banned address is still admitted
	if r := refusal(t, g.d, sshID("olive", "198.51.100.7")); r != nil {
		t.Errorf("owner refused: %v", r)
	}
	contains(t, run(g.oscar, "/unban ip=198.51.100.7"), "lifted the ban on 198.51.100.7/32")
	contains(t, run(g.oscar, "/unban fp=sha256:"+certFP("zed")), "lifted")
}

// TestAddressBanRanks: an address ban does not lock out anyone of its
// author's rank or above; an owner's holds operators; owners always
// pass.
func TestAddressBanRanks(t *testing.T) {
	g := newGoverned(t, options{})
	contains(t, run(g.olive, "/op alice"), "made alice an operator")
	contains(t, run(g.oscar, "/ban ip=198.51.100.0/24 x"), "banned 198.51.100.0/24")
	if r := refusal(t, g.d, tlsID("alice", "198.51.100.7")); r != nil {
		t.Errorf("an operator's address ban locks another operator out: %v", r)
	}
	if refusal(t, g.d, sshID("nobody", "198.51.100.7")) == nil {
		t.Error("the address ban does not hold a member")
	}
	contains(t, run(g.olive, "/ban ip=203.0.113.0/24 y"), "banned 203.0.113.0/24")
	if refusal(t, g.d, tlsID("alice", "203.0.113.7")) == nil {
		t.Error("an owner's address ban does not hold an operator")
	}
	if r := refusal(t, g.d, sshID("olive", "203.0.113.7")); r != nil {
		t.Errorf("owner refused: %v", r)
	}
}

// TestIPv6TooFine: an IPv6 prefix finer than /64 is refused, saying
// why, and nothing is banned.
func TestIPv6TooFine(t *testing.T) {
	g := newGoverned(t, options{})
	for _, p := range []string{"2001:db8:1:2::5/128", "2001:db8:1:2::/96", "2001:db8:1:2::/65"} {
		contains(t, run(g.oscar, "/ban ip="+p), "IPv6 by /64 at the finest")
	}
	contains(t, run(g.oscar, "/banned"), "nobody is banned")
	contains(t, run(g.oscar, "/ban ip=2001:db8:1:2::/64"), "banned 2001:db8:1:2::/64")
	// a finer ban stored before they were refused can still be lifted
	fine := banTarget{Prefix: netip.MustParsePrefix("2001:db8:1:3::5/128")}
	g.d.setBans([]ban{{target: fine, rec: banRecord{V: 1, Target: fine.String(), By: "x", Since: g.clock.now()}}})
	contains(t, run(g.olive, "/unban ip=2001:db8:1:3::5/128"), "lifted the ban on 2001:db8:1:3::5/128") // no ByRank: an owner's
	if refusal(t, g.d, sshID("x", "2001:db8:1:2::")) == nil {
		t.Error("the /64 is not banned")
	}
}

// TestTimedExpiry: timed bans and mutes end by themselves.
func TestTimedExpiry(t *testing.T) {
	g := newGoverned(t, options{})
	run(g.oscar, "/ban ip=198.51.100.7 30m")
	contains(t, run(g.oscar, "/mute mallory 10m spam"), "oscar muted mallory for 10m: spam")
	contains(t, run(g.mallory, "hello"), "you are muted by an operator until 2026-12-01 12:10:00 UTC")
	g.clock.advance(31 * time.Minute)
	if r := refusal(t, g.d, sshID("x", "198.51.100.7")); r != nil {
		t.Errorf("expired ban in force: %v", r)
	}
	if _, muted := g.d.Muted("mallory", g.mallory.Identity()); muted {
		t.Error("expired mute in force")
	}
	contains(t, run(g.oscar, "/banned"), "nobody is banned")
	// a restart: the Backend forgot them too
	d2 := g.restart()
	if len(d2.v.bans) != 0 || len(d2.v.mutes) != 0 {
		t.Errorf("after a restart: %d bans, %d mutes", len(d2.v.bans), len(d2.v.mutes))
	}
}

// TestMute: a muted member reads but cannot send, even under another
// nickname with the same credential; /unmute lifts it.
func TestMute(t *testing.T) {
	g := newGoverned(t, options{})
	contains(t, run(g.oscar, "/mute mallory"), "oscar muted mallory")
	contains(t, run(g.mallory, "hi"), "you are muted by an operator: you can read")
	g.mallory.Quit("")
	again := g.join("mallory2", sshID("mallory", "198.51.100.3"))
	contains(t, run(again, "hi"), "you are muted")
	contains(t, run(g.oscar, "/mute olive"), "permission denied")
	contains(t, run(g.oscar, "/mute"), "usage: /mute")
	contains(t, run(g.oscar, "/mute mallory2 0m"), "usage: /mute")
	contains(t, run(g.oscar, "/unmute mallory2"), "oscar unmuted mallory2")
	if got := run(again, "hi"); len(got) != 0 {
		t.Errorf("after /unmute: %q", got)
	}
	contains(t, run(g.oscar, "/unmute mallory2"), "not muted")
}

// TestMOTD: set, shown to joiners, shown by /motd, cleared by "-".
func TestMOTD(t *testing.T) {
	g := newGoverned(t, options{})
	contains(t, run(g.oscar, "/motd"), "there is no message of the day")
	contains(t, run(g.oscar, "/motd be kind"), "oscar set the message of the day: be kind")
	m, err := g.r.Join("newbie", room.JoinOptions{Identity: sshID("newbie", "192.0.2.50")})
	if err != nil {
		t.Fatal(err)
	}
	containsEvents(t, take(m), "Message of the day: be kind")
	contains(t, run(m, "/motd"), "permission denied")
	contains(t, run(g.oscar, "/motd "+strings.Repeat("y", MaxMOTDBytes+1)), "at most 400 bytes")
	contains(t, run(g.oscar, "/motd -"), "oscar cleared the message of the day")
	if g.d.Greeting("x", room.Identity{}) != nil {
		t.Error("a cleared motd still greets")
	}
}

// restart makes a new Directory over the fixture's Backend.
func (g *governed) restart() *Directory {
	g.t.Helper()
	d, err := New(t0ctx, Options{Backend: g.backend, Now: g.clock.now, AdminsFile: g.d.admins})
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { d.Close() })
	return d
}

// TestRestartKeepsRecords: a new Directory over the same Backend keeps
// accounts, operators, bans, mutes and the motd.
func TestRestartKeepsRecords(t *testing.T) {
	g := newGoverned(t, options{})
	run(g.olive, "/ban ip=198.51.100.7 1h")
	run(g.oscar, "/mute mallory")
	run(g.oscar, "/motd welcome")
	run(g.oscar, "/allow fp="+keyFP("friend"))
	d := g.restart()
	if !d.Operator(sshID("oscar", "1.1.1.1")) {
		t.Error("oscar lost his role")
	}
	if err := d.checkClaim("alice", tlsID("zed", "1.1.1.1")); err == nil {
		t.Error("alice's account is gone")
	}
	if d.Admit(sshID("x", "198.51.100.7")) == nil {
		t.Error("the ban is gone")
	}
	if _, muted := d.Muted("mallory", room.Identity{}); !muted {
		t.Error("the mute is gone")
	}
	if got := d.Greeting("x", room.Identity{}); len(got) != 1 || got[0] != "Message of the day: welcome" {
		t.Errorf("motd: %q", got)
	}
	if !d.allowed(Credential{Kind: SSHKey, Fingerprint: keyFP("friend")}) {
		t.Error("the allowlist is gone")
	}
}

// TestStaleTargets: a kick acts only on the member it found, and only
// if it still outranks it; /unregister and /op refuse an account that
// changed since they found it.
func TestStaleTargets(t *testing.T) {
	g := newGoverned(t, options{})
	a := g.d.memberActor(g.oscar)
	tg, _, err := g.d.findTarget("mallory")
	if err != nil || tg.present == nil {
		t.Fatalf("findTarget: %+v, %v", tg, err)
	}
	g.mallory.Quit("")
	olive2 := g.join("mallory", sshID("olive", "192.0.2.10")) // an owner takes the nickname
	if removed := g.d.kickTarget(g.r, a, tg, "x"); len(removed) != 0 {
		t.Errorf("a stale kick removed %v", removed)
	}
	take(olive2)
	if _, ok := g.r.Find("mallory"); !ok {
		t.Error("the owner was kicked")
	}
	// the same, by someone of the right identity but not outranked
	tg, _, _ = g.d.findTarget("mallory")
	if removed := g.d.kickTarget(g.r, a, tg, "x"); len(removed) != 0 {
		t.Errorf("an operator kicked an owner: %v", removed)
	}

	owner := g.d.memberActor(g.olive)
	stale, _, _ := g.d.findTarget("alice")
	contains(t, run(g.alice, "/unregister"), "no longer registered")
	g.alice.Quit("")
	g.clock.advance(time.Minute)
	other := g.join("alice", tlsID("other", "192.0.2.2"))
	contains(t, run(other, "/register"), "is now registered")
	if _, err := g.d.dropAccountOf(t0ctx, owner, stale); err == nil || !strings.Contains(err.Error(), "changed meanwhile") {
		t.Errorf("unregister of a stale account: %v", err)
	}
	contains(t, run(g.olive, "/whois alice"), "registered since 2026-12-01 12:01:00 UTC")
}

// TestRebanKeepsLonger: a shorter ban over a longer one (or a permanent
// one) keeps the longer and says so; a longer one replaces it.
func TestRebanKeepsLonger(t *testing.T) {
	g := newGoverned(t, options{pastDoor: true})
	run(g.oscar, "/ban ip=2001:db8:bad:2:: spam")
	g.join("bad", sshID("bad", "2001:db8:bad:2::")) // past the door (pastDoor): a member from before the ban
	contains(t, run(g.oscar, "/ban bad 1h"), "1 of them kept a longer or higher ban they had (ip=2001:db8:bad:2::/64 until lifted)")
	fp := "fp=" + keyFP("zed")
	run(g.oscar, "/ban "+fp+" spam")
	lines := run(g.oscar, "/ban "+fp+" 1h spam")
	contains(t, lines, "nothing changed: "+keyFP("zed")+" has a longer or higher ban (fp="+keyFP("zed")+" until lifted); its author's rank can /unban it first")
	contains(t, run(g.oscar, "/ban alice 1d"), "removed 1 present")
	contains(t, run(g.oscar, "/ban alice 1h"), "nothing changed")
	contains(t, run(g.oscar, "/ban alice 2d"), "removed 0 present")
	g.clock.advance(2 * time.Hour)
	if refusal(t, g.d, sshID("zed", "203.0.113.3")) == nil {
		t.Error("a 1h ban downgraded a permanent one")
	}
	ip := "ip=198.51.100.9"
	run(g.oscar, "/ban "+ip+" 2d")
	contains(t, run(g.oscar, "/ban "+ip+" 1h"), "has a longer or higher ban")
	lines = run(g.oscar, "/ban "+ip+" 7d")
	for _, l := range lines {
		if strings.Contains(l, "kept") {
			t.Errorf("a longer ban was not applied: %q", l)
		}
	}
	contains(t, run(g.oscar, "/banned"), "198.51.100.9/32 by oscar since 2026-12-01 14:00:00 UTC until 2026-12-08 14:00:00 UTC")
}

// TestUnbanExpired: a ban that ended is "not banned", not lifted again.
func TestUnbanExpired(t *testing.T) {
	g := newGoverned(t, options{})
	run(g.oscar, "/ban mallory 1h spam")
	run(g.oscar, "/ban ip=198.51.100.7 1h")
	g.clock.advance(2 * time.Hour)
	contains(t, run(g.oscar, "/unban mallory"), "mallory is not banned")
	contains(t, run(g.oscar, "/unban ip=198.51.100.7"), "198.51.100.7/32 is not banned")
}

// TestLiftNeedsAuthorRank: an operator cannot lift an owner's ban or
// mute; an owner lifts anyone's, an operator an operator's; a mute stored
// without its author's rank counts as an owner's.
func TestLiftNeedsAuthorRank(t *testing.T) {
	g := newGoverned(t, options{})
	contains(t, run(g.olive, "/ban fp="+keyFP("eve")+" 1h owner-ban"), "banned "+keyFP("eve"))
	contains(t, run(g.olive, "/ban ip=198.51.100.0/24 1h owner-ipban"), "banned 198.51.100.0/24")
	contains(t, run(g.olive, "/mute mallory 1h owner-mute"), "olive muted mallory")
	contains(t, run(g.oscar, "/unban fp="+keyFP("eve")), "permission denied: the ban on "+keyFP("eve")+" was set by an owner; only owners can lift it")
	contains(t, run(g.oscar, "/unban ip=198.51.100.0/24"), "permission denied: the ban on 198.51.100.0/24 was set by an owner")
	contains(t, run(g.oscar, "/unmute mallory"), "permission denied: the mute of mallory was set by an owner; only owners can lift it")
	contains(t, run(g.olive, "/unmute mallory"), "olive unmuted mallory")
	contains(t, run(g.olive, "/unban ip=198.51.100.0/24"), "olive lifted the ban on 198.51.100.0/24")
	// an operator's own decisions: operators and owners lift them
	contains(t, run(g.oscar, "/mute mallory 1h"), "oscar muted mallory")
	contains(t, run(g.oscar, "/unmute mallory"), "oscar unmuted mallory")
	contains(t, run(g.oscar, "/ban ip=203.0.113.0/24 1h"), "banned 203.0.113.0/24")
	contains(t, run(g.olive, "/unban ip=203.0.113.0/24"), "olive lifted the ban on 203.0.113.0/24")
	// a mute record from before authors' ranks were kept is an owner's
	if (muteRecord{By: "olive"}).authorRank() != rankOwner || (muteRecord{ByRank: "root"}).authorRank() != rankOwner || (muteRecord{ByRank: "operator"}).authorRank() != rankOperator {
		t.Error("authorRank does not read a missing or hostile rank as an owner's")
	}
}

// TestNickBanSparesOthersOnItsAddress: the address a ban by nickname
// takes holds the target and whoever there is unknown, but neither
// removes nor refuses at the door a member known by a credential
// registered to another account, nor one of the author's rank; the
// answer counts those spared. An explicit ip= ban holds everyone below
// its author's rank.
func TestNickBanSparesOthersOnItsAddress(t *testing.T) {
	g := newGoverned(t, options{})
	const nat = "203.0.113.5"
	vic := g.join("vic", tlsID("vic", nat))
	bob := g.join("bob", tlsID("bob", nat))
	carl := g.join("carl", sshID("carl", nat))
	g.join("olive2", sshID("olive", nat)) // an owner's second connection
	run(bob, "/register")
	contains(t, run(g.olive, "/ban vic 1h spam"), "banned vic: 2 credentials and addresses; removed 2 present; spared 2 present on its address (registered to another account, or of your rank or above)")
	for _, m := range []*room.Member{vic, carl} {
		if r := left(t, m); r.Kind != room.ReasonBanned {
			t.Errorf("%s left for %v", m.Nick(), r)
		}
	}
	if _, ok := g.r.Find("bob"); !ok {
		t.Error("a ban of vic removed bob, registered, on vic's address")
	}
	if err := g.d.Admit(tlsID("bob", nat)); err != nil {
		t.Errorf("bob, registered, refused at the door by vic's address: %v", err)
	}
	for _, id := range []room.Identity{tlsID("vic", "198.51.100.7"), sshID("carl", nat), tlsID("dave", nat), {Transport: room.TransportTLS, Address: nat}} {
		if err := g.d.Admit(id); err == nil {
			t.Errorf("%+v admitted past vic's ban", id)
		}
	}
	// an operator's ban does not replace an owner's on the same address
	contains(t, run(g.oscar, "/ban ip="+nat+" 1h"), "nothing changed: "+nat+"/32 has a longer or higher ban (the address of vic set by an owner)")
	// an explicit ip= ban holds registered members too, below its author
	contains(t, run(g.olive, "/ban ip="+nat+" 1h"), "removed 1 present; spared 1 present on its address")
	if r := left(t, bob); r.Kind != room.ReasonBanned {
		t.Errorf("bob left for %v", r)
	}
	if err := g.d.Admit(tlsID("bob", nat)); err == nil {
		t.Error("bob admitted past an ip= ban")
	}
}

// TestOperatorCannotReplaceAnOwnersDecision: an operator's /ban or /mute
// over an owner's does not replace it (it would then be the operator's,
// and the operator could lift it); the owner's stays in force.
func TestOperatorCannotReplaceAnOwnersDecision(t *testing.T) {
	g := newGoverned(t, options{})
	fp := "fp=" + keyFP("eve")
	contains(t, run(g.olive, "/ban "+fp+" owner-ban"), "banned "+keyFP("eve"))
	contains(t, run(g.oscar, "/ban "+fp+" mine"), "set by an owner")
	contains(t, run(g.oscar, "/unban "+fp), "permission denied")
	if refusal(t, g.d, sshID("eve", "203.0.113.9")) == nil {
		t.Error("an operator lifted an owner's ban by banning over it")
	}
	contains(t, run(g.olive, "/mute mallory 1h owner-mute"), "olive muted mallory")
	contains(t, run(g.oscar, "/mute mallory 1s"), "permission denied")
	contains(t, run(g.oscar, "/unmute mallory"), "permission denied")
	if _, muted := g.d.Muted("mallory", g.mallory.Identity()); !muted {
		t.Error("an operator lifted an owner's mute by muting over it")
	}
}

// TestLinkCodeDiesWithABan: a code issued before its account was banned
// links no new credential to it afterwards.
func TestLinkCodeDiesWithABan(t *testing.T) {
	g := newGoverned(t, options{})
	code := takeCode(t, g.oscar)
	run(g.olive, "/ban oscar bad op")
	fresh := g.join("newguy", tlsID("oscar-fresh", "203.0.113.50"))
	contains(t, run(fresh, "/register "+code), `"oscar" is banned`)
	if g.d.Operator(fresh.Identity()) {
		t.Error("a banned operator came back as one through a link code")
	}
}

// TestKeptBanShowsNoAddress: a ban that keeps an earlier, longer one on
// a member's address names whose address it was, never the address.
func TestKeptBanShowsNoAddress(t *testing.T) {
	g := newGoverned(t, options{})
	bob := g.join("bob", sshID("bob", "192.0.2.1"))
	run(bob, "/register")
	run(g.olive, "/ban alice gone")
	lines := run(g.oscar, "/ban bob 1h")
	if strings.Contains(strings.Join(lines, "\n"), "192.0.2.1") {
		t.Errorf("the ban's answer shows an operator an address:\n%s", strings.Join(lines, "\n"))
	}
	contains(t, lines, "the address of alice")
}
