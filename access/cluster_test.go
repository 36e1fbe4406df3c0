package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/internal/metricstest"
	"chatd/room"
)

// nodeWait bounds the wait for a change on one node to reach another.
const nodeWait = 5 * time.Second

// eventually waits until cond holds, failing with what after nodeWait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(nodeWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", nodeWait, what)
		}
		<-tick.C
	}
}

// twoNodes is the governed room of newGoverned (node a) and a second
// node b, a Directory of its own on the same MemoryBackend and clock,
// with the same owner, and a room of its own.
func twoNodes(t *testing.T) (*governed, *fixture) {
	t.Helper()
	c := newClock()
	shared := NewMemoryBackend(c.now)
	a := newGoverned(t, options{backend: shared, clock: c})
	b := newFixture(t, options{backend: shared, clock: c, admins: ownerLine("olive")})
	return a, b
}

// TestWatchAppliesOtherNodes: what an operator does on node a holds on
// node b, which only watches the Backend: accounts, roles, mutes, bans
// (removing b's members they hold, for the ban's reason), the
// allowlist, the message of the day, and their removal.
func TestWatchAppliesOtherNodes(t *testing.T) {
	a, b := twoNodes(t)
	bob := b.join("bob", sshID("bob", "198.51.100.2"))
	eve := b.join("eve", sshID("eve", "198.51.100.7"))
	contains(t, run(bob, "/register"), `"bob" is now registered`)
	eventually(t, "a sees bob's account", func() bool { _, ok, _ := a.d.findTarget("bob"); return ok })
	contains(t, run(a.olive, "/op bob"), "olive made bob an operator")
	eventually(t, "bob is an operator on b", func() bool { return b.d.Operator(bob.Identity()) })
	contains(t, run(eve, "/register"), `"eve" is now registered`)
	eventually(t, "a sees eve's account", func() bool { _, ok, _ := a.d.findTarget("eve"); return ok })
	contains(t, run(a.oscar, "/mute eve 1h flooding"), "muted")
	eventually(t, "eve is muted on b", func() bool { _, ok := b.d.Muted("eve", eve.Identity()); return ok })
	contains(t, run(a.olive, "/motd be kind"), "")
	eventually(t, "b greets with the motd", func() bool { return strings.Contains(strings.Join(b.d.Greeting("x", room.Identity{}), " "), "be kind") })
	contains(t, run(a.oscar, "/ban fp="+keyFP("eve")+" spam"), "banned")
	eventually(t, "eve removed from b", func() bool { _, ok := b.r.Find("eve"); return !ok })
	if r := left(t, eve); r.Kind != room.ReasonBanned || !strings.Contains(r.Detail, "oscar") || !strings.Contains(r.Detail, "spam") {
		t.Errorf("eve left b for %+v, want banned by oscar: spam", r)
	}
	if err := b.d.Admit(sshID("eve", "198.51.100.9")); err == nil {
		t.Error("b admits eve after a's ban")
	}
	contains(t, run(a.oscar, "/unban fp="+keyFP("eve")), "lifted")
	eventually(t, "b admits eve after a's unban", func() bool { return b.d.Admit(sshID("eve", "198.51.100.9")) == nil })
	contains(t, run(a.olive, "/deop bob"), "took bob's operator role away")
	eventually(t, "bob is no operator on b", func() bool { return !b.d.Operator(bob.Identity()) })
	contains(t, run(a.olive, "/unregister bob"), "no longer registered")
	eventually(t, "b forgets bob's account", func() bool { t, _, _ := b.d.findTarget("bob"); return t.acct == nil })
	run(a.olive, "/motd -")
	eventually(t, "b forgets the motd", func() bool {
		return !strings.Contains(strings.Join(b.d.Greeting("x", room.Identity{}), " "), "be kind")
	})
}

// TestWatchBanSparesHigherRanks: a ban from another node spares the
// members of its author's rank or above, as /ban does on its own node;
// and the banning node's own watch removes no one /ban spared.
func TestWatchBanSparesHigherRanks(t *testing.T) {
	a, b := twoNodes(t)
	olive := b.join("olive", sshID("olive", "192.0.2.99"))
	carol := b.join("carol", sshID("carol", "192.0.2.99"))
	contains(t, run(a.oscar, "/ban ip=192.0.2.99 1h"), "banned")
	eventually(t, "carol removed from b", func() bool { _, ok := b.r.Find("carol"); return !ok })
	if _, ok := b.r.Find("olive"); !ok {
		t.Error("an operator's address ban removed an owner on another node")
	}
	take(olive)
	take(carol)
}

// TestLinkAcrossNodes: a link code made on one node is good on another,
// once.
func TestLinkAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	code := takeCode(t, a.alice)
	phone := b.join("phone", tlsID("alice phone", "192.0.2.50"))
	contains(t, run(phone, "/register "+code), `now also signs in as "alice"`)
	other := a.join("other", tlsID("other phone", "192.0.2.51"))
	contains(t, run(other, "/register "+code), "unknown, used or expired")
	eventually(t, "a knows alice's new certificate", func() bool {
		t, _, _ := a.d.findTarget("alice")
		return t.acct != nil && hasCred(t.acct.creds, Credential{Kind: TLSCert, Fingerprint: certFP("alice phone")})
	})
}

// TestLinkCodeOfAnOldAccount: a code made for an account is no good for
// the account registered again under its nickname, on any node.
func TestLinkCodeOfAnOldAccount(t *testing.T) {
	a, b := twoNodes(t)
	code := takeCode(t, a.alice)
	contains(t, run(a.alice, "/unregister"), "no longer registered")
	a.alice.Leave(room.Reason{Kind: room.ReasonQuit})
	a.clock.advance(time.Second)
	eventually(t, "b forgets alice's account", func() bool { t, _, _ := b.d.findTarget("alice"); return t.acct == nil })
	alice2 := b.join("alice", sshID("alice two", "192.0.2.60"))
	contains(t, run(alice2, "/register"), "now registered")
	eventually(t, "a sees the new alice", func() bool {
		t, _, _ := a.d.findTarget("alice")
		return t.acct != nil && hasCred(t.acct.creds, Credential{Kind: SSHKey, Fingerprint: keyFP("alice two")})
	})
	thief := b.join("thief", tlsID("thief", "192.0.2.61"))
	contains(t, run(thief, "/register "+code), "unknown, used or expired")
}

// TestCredentialIndexAcrossNodes: a credential registered on one node
// cannot be registered to another nickname on another, even before the
// other node's view knows the account; concurrently, exactly one wins.
func TestCredentialIndexAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	for i := range 5 {
		name := "dual" + string(rune('a'+i))
		ma := a.join(name+"x", sshID(name, fmt.Sprintf("192.0.2.%d", 70+2*i)))
		mb := b.join(name+"y", sshID(name, fmt.Sprintf("192.0.2.%d", 71+2*i)))
		var wg sync.WaitGroup
		var answers [2][]string
		wg.Go(func() { answers[0] = run(ma, "/register") })
		wg.Go(func() { answers[1] = run(mb, "/register") })
		wg.Wait()
		won := 0
		for _, lines := range answers {
			all := strings.Join(lines, "\n")
			switch {
			case strings.Contains(all, "is now registered"):
				won++
			case !strings.Contains(all, "already registered to another account") && !strings.Contains(all, "belongs to"):
				t.Errorf("a losing /register said %q", all)
			}
		}
		if won != 1 {
			t.Fatalf("%d registrations of one key won: %q", won, answers)
		}
	}
}

// TestCredentialIndexStale: an index entry no account backs (a crash
// between the two writes) blocks its credential only for a while.
func TestCredentialIndexStale(t *testing.T) {
	f := newFixture(t, options{})
	stale := encode(credIndexRecord{V: recordVersion, Account: keyOf("gone"), Since: f.clock.now()})
	if err := f.backend.Put(t0ctx, Credentials, keyFP("alice"), stale, 0); err != nil {
		t.Fatal(err)
	}
	alice := f.join("alice", sshID("alice", "192.0.2.1"))
	contains(t, run(alice, "/register"), "already registered to another account")
	f.clock.advance(staleIndexAfter)
	contains(t, run(alice, "/register"), `"alice" is now registered`)
	contains(t, run(alice, "/unregister"), "no longer registered")
	if _, ok, _ := f.backend.Get(t0ctx, Credentials, keyFP("alice")); ok {
		t.Error("/unregister left the credential's index entry")
	}
}

// relayed is a Relay that records the kicks it carries.
type relayed struct {
	mu    sync.Mutex
	kicks []string
	err   error
}

func (r *relayed) Kick(_ context.Context, nick string, reason room.Reason) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kicks = append(r.kicks, nick+" "+reason.Detail)
	return r.err
}

// TestKickRelayed: /kick removes the member here and asks the Relay to
// have the other nodes remove theirs; a member on no node here is still
// relayed; a Relay failure is told to the operator and logged.
func TestKickRelayed(t *testing.T) {
	relay := &relayed{}
	g := newGoverned(t, options{relay: relay})
	if lines := run(g.oscar, "/kick mallory flooding"); len(lines) > 0 && strings.Contains(strings.Join(lines, " "), "could not") {
		t.Fatalf("kick: %q", lines)
	}
	if r := left(t, g.mallory); r.Kind != room.ReasonKicked {
		t.Errorf("mallory left for %+v", r)
	}
	contains(t, run(g.oscar, "/kick elsewhere"), "the other nodes were asked to kick elsewhere")
	relay.mu.Lock()
	if len(relay.kicks) != 2 || !strings.HasPrefix(relay.kicks[0], "mallory ") || !strings.Contains(relay.kicks[0], "oscar: flooding") {
		t.Errorf("relayed %q", relay.kicks)
	}
	relay.err = errors.New("no route to the cluster")
	relay.mu.Unlock()
	contains(t, run(g.oscar, "/kick alice"), "kicked alice here; the other nodes could not be told: no route to the cluster")
	contains(t, run(g.oscar, "/kick elsewhere"), "error: no one called \"elsewhere\" is here, and the other nodes could not be told")
	contains(t, []string{g.logText()}, "the other nodes were not told of a kick")
	out, err := g.d.Run(t0ctx, sshID("olive", "192.0.2.9"), []string{"kick", "oscar"})
	if err != nil || !strings.Contains(strings.Join(out, " "), "could not be told") {
		t.Errorf("console kick with a failing Relay: %q, %v", out, err)
	}
}

// TestHostileRecordsWatched: records another node stores that fail their
// checks are skipped, counted and logged as at New; a ban too broad
// removes no one.
func TestHostileRecordsWatched(t *testing.T) {
	f := newFixture(t, options{})
	mallory := f.join("mallory", sshID("m", "192.0.2.66"))
	good := accountRecord{V: 1, Nick: "alice", Creds: []string{keyFP("alice")}, Since: time.Now()}
	putHostile(func(bucket Bucket, key, val string) {
		if err := f.backend.Put(t0ctx, bucket, key, []byte(val), 0); err != nil {
			t.Fatal(err)
		}
	}, string(encode(good)))
	eventually(t, "13 bad records logged", func() bool {
		return strings.Count(f.logText(), "skipping a bad record from the watch") == 13
	})
	_, series, err := metricstest.Gather(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := series["chatd_access_bad_records_total"]; got != 13 {
		t.Errorf("bad records = %v, want 13", got)
	}
	f.d.mu.RLock()
	accounts, bans, motd, roles := len(f.d.v.accounts), len(f.d.v.bans), f.d.v.motd.Text, len(f.d.v.roles)
	f.d.mu.RUnlock()
	if accounts != 1 || bans != 0 || motd != "" || roles != 0 {
		t.Errorf("view after hostile records: %d accounts, %d bans, motd %q, %d roles", accounts, bans, motd, roles)
	}
	if _, ok := f.r.Find("mallory"); !ok {
		t.Error("a bad ban removed a member")
	}
	take(mallory)
}

// TestCredentialIndexBackfill: the accounts of a store from before the
// index get their entries when a Directory on a shared Backend starts,
// so that another node cannot register their credentials.
func TestCredentialIndexBackfill(t *testing.T) {
	c := newClock()
	shared := NewMemoryBackend(c.now)
	old := accountRecord{V: recordVersion, Nick: "alice", Creds: []string{keyFP("alice")}, Since: c.now()}
	if err := shared.Put(t0ctx, Accounts, keyOf("alice"), encode(old), 0); err != nil {
		t.Fatal(err)
	}
	newFixture(t, options{backend: shared, clock: c})
	val, ok, err := shared.Get(t0ctx, Credentials, keyFP("alice"))
	var rec credIndexRecord
	if err != nil || !ok || decode(val, &rec, func() int { return rec.V }) != nil || rec.Account != keyOf("alice") {
		t.Fatalf("alice's key after the backfill: %q %v %v", val, ok, err)
	}
	c.advance(time.Hour)
	b := newFixture(t, options{backend: shared, clock: c})
	if err := b.d.claimCreds(t0ctx, keyOf("mallory"), []Credential{{Kind: SSHKey, Fingerprint: keyFP("alice")}}); !errors.Is(err, errCredTaken) {
		t.Fatalf("claiming alice's key for another account: %v", err)
	}
}
