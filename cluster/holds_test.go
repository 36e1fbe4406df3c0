package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// joinGrace joins a node named name that holds a dead node's nicknames
// for grace, closed when the test ends.
func (c *testCluster) joinGrace(name string, grace time.Duration) *Node {
	c.t.Helper()
	o := c.options(name)
	o.NickGrace = grace
	return c.joinOptions(o)
}

// nickRecordOf reads the nickname record of nick.
func nickRecordOf(t *testing.T, n *Node, nick string) *nickRecord {
	t.Helper()
	key := nickKVKey(nick)
	e, err := n.nicksKV.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("reading the record of %s: %v", nick, err)
	}
	r, ok := decodeNick(key, e.Value())
	if !ok {
		t.Fatalf("the record of %s is unreadable", nick)
	}
	return r
}

func wantRefused(t *testing.T, err error, words, what string) {
	t.Helper()
	if !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), words) {
		t.Errorf("%s: %v, want %q", what, err, words)
	}
}

// TestDeadNodeNickHeld (A2): the nicknames of a killed node's members are
// held for their identities after the burial, until the grace ends:
// another identity is refused (before and after the burial), the same
// identity gets its nickname back at once, and another has it only once
// the hold ended, after the member's leave was stored.
func TestDeadNodeNickHeld(t *testing.T) {
	const grace = 1500 * time.Millisecond
	c := newCluster(t)
	a := c.joinGrace("a", grace)
	attach(t, a)
	alice := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:alice"}
	bob := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.3:1", CertFingerprint: "SHA256:bob"}
	mallory := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.4:1", CertFingerprint: "SHA256:mallory"}

	o := c.options("v")
	v, err := Join(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	attach(t, v, "alice", "bob")
	if err := v.Nicks().Claim("alice", claim(1, alice)); err != nil {
		t.Fatal(err)
	}
	if err := v.Nicks().Claim("bob", claim(2, bob)); err != nil {
		t.Fatal(err)
	}
	v.halt() // killed: nothing deleted
	o.Conn.Close()

	wantRefused(t, a.Nicks().Claim("alice", claim(1, mallory)), "is held for", "mallory claiming alice before the burial")
	waitFor(t, "v to be buried", func() bool {
		_, err := a.nodesKV.Get(context.Background(), "v")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	if got := len(c.log.stored()); got != 2 {
		t.Errorf("%d leaves stored at the burial, want 2", got)
	}
	held := nickRecordOf(t, a, "bob")
	if !held.held() || held.Node != "v" || held.HeldUntil.Sub(time.Now()) > grace {
		t.Fatalf("bob's record after the burial: %+v, want held for at most %s", held, grace)
	}
	wantRefused(t, a.Nicks().Claim("alice", claim(1, mallory)), "is held for", "mallory claiming alice after the burial")
	wantRefused(t, a.Nicks().Claim("BOB", claim(1, mallory)), "is held for", "mallory claiming bob after the burial")
	if err := a.Nicks().Claim("Alice", claim(2, alice)); err != nil {
		t.Fatalf("alice's identity claiming alice after the burial: %v", err)
	}
	wantRefused(t, a.Nicks().Claim("alice", claim(1, mallory)), "already in use", "mallory claiming alice back on a")

	waitFor(t, "bob's hold to end", func() bool { return a.Nicks().Claim("bob", claim(3, mallory)) == nil })
	if now := time.Now(); now.Before(held.HeldUntil) {
		t.Errorf("mallory had bob %s before the hold ended", held.HeldUntil.Sub(now))
	}
	if got := len(c.log.stored()); got != 2 {
		t.Errorf("%d leaves stored in all, want 2 (alice's and bob's, once)", got)
	}
}

// TestOrphanClaimHeld (A2): a claim of a node that has no record (buried
// half-way) is held for its identity, not given to another.
func TestOrphanClaimHeld(t *testing.T) {
	c := newCluster(t)
	a := c.joinGrace("a", time.Minute)
	attach(t, a)
	zoe := room.Identity{Transport: room.TransportSSH, Address: "127.0.0.2:1", KeyFingerprint: "SHA256:zoe"}
	mallory := room.Identity{Transport: room.TransportSSH, Address: "127.0.0.3:1", KeyFingerprint: "SHA256:mallory"}
	rec := &nickRecord{Version: recordVersion, Nick: "zoe", Node: "zz", Incarnation: "0123456789abcdef", Member: 1, Identity: storedIdentity(zoe)}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.nicksKV.Create(t.Context(), nickKVKey("zoe"), data); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, a.Nicks().Claim("zoe", claim(1, mallory)), "is held for", "mallory claiming an orphaned zoe")
	if r := nickRecordOf(t, a, "zoe"); !r.held() {
		t.Errorf("zoe's orphaned claim not held: %+v", r)
	}
	if err := a.Nicks().Claim("zoe", claim(2, zoe)); err != nil {
		t.Errorf("zoe's identity claiming zoe: %v", err)
	}
}

// TestForgedIncarnation (A4): a forged record of a live node with another
// incarnation neither frees its members' nicknames nor buries it: the
// node stores its own record over it, counts the conflict, keeps its
// members.
func TestForgedIncarnation(t *testing.T) {
	c := newCluster(t)
	a := c.join("a")
	attach(t, a)
	b := c.join("b")
	attach(t, b, "alice")
	alice := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:alice"}
	mallory := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.3:1", CertFingerprint: "SHA256:mallory"}
	if err := b.Nicks().Claim("alice", claim(1, alice)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to list alice", func() bool { return peerNicks(a)["alice"] == "b" })
	forger := c.conn()
	js, err := jetstream.New(forger)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), a.nodesKV.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		e, err := kv.Get(t.Context(), "b")
		if err != nil {
			t.Fatal(err)
		}
		p, ok := decodePresence(e.Key(), e.Value(), a.maxSize)
		if !ok {
			t.Fatal("b's record unreadable")
		}
		p.Incarnation = "f0f0f0f0f0f0f0f0"
		forged, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(t.Context(), "b", forged); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, a.Nicks().Claim("alice", claim(1, mallory)), "already in use", "mallory claiming alice under a forged record")
		if r := nickRecordOf(t, a, "alice"); r.Node != "b" || r.Incarnation != b.inc || r.held() {
			t.Fatalf("alice's record after the forgery: %+v", r)
		}
	}
	waitFor(t, "b to store its record over the forged one", func() bool {
		e, err := kv.Get(t.Context(), "b")
		if err != nil {
			return false
		}
		p, ok := decodePresence(e.Key(), e.Value(), a.maxSize)
		return ok && p.Incarnation == b.inc
	})
	if got := value(b.metrics.conflicts); got < 1 {
		t.Errorf("conflicts counted by b: %v, want at least 1", got)
	}
	if got := value(a.metrics.deadNodes); got != 0 {
		t.Errorf("a buried %v nodes", got)
	}
	if len(c.log.stored()) != 0 {
		t.Errorf("leaves stored: %+v", c.log.stored())
	}
	waitFor(t, "a to list alice on b", func() bool { return peerNicks(a)["alice"] == "b" })
}

// TestStormRenews (A6): while members change without a pause, the node's
// record is stored again every debounce or so, never put off until the
// heartbeat (a minute here). The bound on the longest gap is ten times
// debounce: it tells a record put off from one renewed late on a busy
// machine, and the count of writes says the renewals kept coming.
func TestStormRenews(t *testing.T) {
	c := newCluster(t)
	o := c.options("a")
	o.Heartbeat, o.DeadAfter = time.Minute, 2*time.Minute
	a, err := Join(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	attach(t, a, "ben")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a storm of changes: one every 2 ms
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				a.Bus().MembersChanged()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	last, rev := time.Now(), ownRev(a)
	var longest time.Duration
	writes := 0
	for end := last.Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if r := ownRev(a); r != rev {
			now := time.Now()
			longest = max(longest, now.Sub(last))
			last, rev = now, r
			writes++
		}
	}
	longest = max(longest, time.Since(last))
	t.Logf("%d writes in 1.5 s, the longest gap %s", writes, longest)
	if longest > 10*debounce || writes < 5 {
		t.Errorf("%d writes in 1.5 s of changes, the longest gap %s; want one every ~%s", writes, longest, debounce)
	}
}

// joinQuiet joins a node named name that sweeps only every half minute,
// so that a test decides what happens to the records meanwhile.
func (c *testCluster) joinQuiet(name string, now func() time.Time) *Node {
	c.t.Helper()
	o := c.options(name)
	o.Heartbeat, o.DeadAfter, o.Now = time.Minute, 2*time.Minute, now
	return c.joinOptions(o)
}

// putNick stores r as the record of its nickname, as another NATS user
// could.
func putNick(t *testing.T, n *Node, r *nickRecord) {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.nicksKV.Put(t.Context(), nickKVKey(r.Nick), data); err != nil {
		t.Fatal(err)
	}
}

// TestHoldAfterLeave (F2): a claim by another identity that turns a dead
// session's claim into a hold stores that member's leave first (the
// burial's id), so that its owner coming back, which takes the hold over
// and makes the burial skip it, follows a leave.
func TestHoldAfterLeave(t *testing.T) {
	c := newCluster(t)
	a := c.joinQuiet("a", nil)
	attach(t, a)
	alice := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:alice"}
	mallory := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.3:1", CertFingerprint: "SHA256:mallory"}
	const inc = "0123456789abcdef"
	putNick(t, a, &nickRecord{Version: recordVersion, Nick: "alice", Node: "zz", Incarnation: inc, Member: 1, Identity: storedIdentity(alice)})
	wantRefused(t, a.Nicks().Claim("alice", claim(1, mallory)), "is held for", "mallory claiming a dead node's alice")
	if r := nickRecordOf(t, a, "alice"); !r.held() {
		t.Fatalf("alice's record after mallory's claim: %+v, want a hold", r)
	}
	if err := a.Nicks().Claim("alice", claim(2, alice)); err != nil {
		t.Fatalf("alice's identity claiming her held nickname: %v", err)
	}
	leaves := c.log.stored()
	if len(leaves) != 1 || leaves[0].From != "alice" || leaves[0].Reason != lostReason("zz") {
		t.Fatalf("leaves stored: %+v, want alice's once, lost with node zz", leaves)
	}
	c.log.mu.Lock()
	sameID := c.log.ids[leaveID("zz", inc, "alice")]
	c.log.mu.Unlock()
	if !sameID {
		t.Errorf("alice's leave not stored under the burial's id")
	}
}

// TestHoldBounded (F4): a hold that claims to last for ever (a node's
// clock ahead, or a forged record) ends MaxHold plus a little after the
// server stored it, for Claim and for Owner.
func TestHoldBounded(t *testing.T) {
	var shift atomic.Int64
	c := newCluster(t)
	a := c.joinQuiet("a", func() time.Time { return time.Now().Add(time.Duration(shift.Load())) })
	attach(t, a)
	bob := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:bob"}
	mallory := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.3:1", CertFingerprint: "SHA256:mallory"}
	putNick(t, a, &nickRecord{Version: recordVersion, Nick: "bob", Node: "zz", Incarnation: "0123456789abcdef", Member: 1,
		Identity: storedIdentity(bob), HeldUntil: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)})
	waitFor(t, "a's replica to hold bob", func() bool { _, ok := a.Nicks().Owner("bob"); return ok })
	wantRefused(t, a.Nicks().Claim("bob", claim(1, mallory)), "is held for", "mallory claiming bob while held")
	shift.Store(int64(a.o.MaxHold + holdSlack + time.Second))
	if owner, ok := a.Nicks().Owner("bob"); ok {
		t.Errorf("bob still held after MaxHold: %+v", owner)
	}
	if err := a.Nicks().Claim("bob", claim(1, mallory)); err != nil {
		t.Errorf("mallory claiming bob after MaxHold: %v", err)
	}
}

// TestBurialPaged (F1): a dead node's record is deleted only once every
// claim of its run is held, however many sweeps that takes.
func TestBurialPaged(t *testing.T) {
	defer func(old int) { maxFreedPerSweep = old }(maxFreedPerSweep)
	maxFreedPerSweep = 2
	var shift atomic.Int64
	c := newCluster(t)
	o := c.options("a")
	o.Heartbeat, o.DeadAfter, o.NickGrace = 10*time.Minute, 11*time.Minute, 20*time.Minute
	o.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	a := c.joinOptions(o)
	attach(t, a)
	const inc = "0123456789abcdef"
	nicks := []string{"alice", "bob", "carol"}
	idOf := func(nick string) room.Identity {
		return room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:" + nick}
	}
	forgeNode(t, a, "zz", inc, nicks[0], idOf(nicks[0]))
	for i, nick := range nicks[1:] {
		putNick(t, a, &nickRecord{Version: recordVersion, Nick: nick, Node: "zz", Incarnation: inc, Member: uint64(i + 2), Identity: storedIdentity(idOf(nick))})
	}
	waitFor(t, "a's replica to have zz and its claims", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		_, known := a.nodes["zz"]
		return known && len(a.claims) == len(nicks)
	})
	shift.Store(int64(12 * time.Minute))
	heldCount := func() int {
		held := 0
		for _, nick := range nicks {
			if nickRecordOf(t, a, nick).held() {
				held++
			}
		}
		return held
	}
	a.sweep()
	if _, err := a.nodesKV.Get(t.Context(), "zz"); err != nil {
		t.Fatalf("zz's record after a sweep that held %d of its 3 claims: %v, want kept", heldCount(), err)
	}
	a.sweep()
	if _, err := a.nodesKV.Get(t.Context(), "zz"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("zz's record after its claims were held: %v, want deleted", err)
	}
	if got := heldCount(); got != len(nicks) {
		t.Errorf("%d of zz's claims held, want all %d", got, len(nicks))
	}
}

// TestPreviousRunHeld (F1): a node holds the claims naming it with
// another incarnation (a previous run's, left over) for their owners.
func TestPreviousRunHeld(t *testing.T) {
	c := newCluster(t)
	a := c.joinQuiet("a", nil) // makes the buckets; sweeps too seldom to matter
	alice := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:alice"}
	putNick(t, a, &nickRecord{Version: recordVersion, Nick: "alice", Node: "b", Incarnation: "0123456789abcdef", Member: 1, Identity: storedIdentity(alice)})
	b := c.join("b")
	attach(t, b)
	waitFor(t, "b to hold its previous run's alice", func() bool {
		r := nickRecordOf(t, a, "alice")
		return r.held() && r.Node == "b" && r.Identity.identity() == alice
	})
	if err := b.Nicks().Claim("alice", claim(1, alice)); err != nil {
		t.Errorf("alice's identity claiming her held nickname: %v", err)
	}
}
