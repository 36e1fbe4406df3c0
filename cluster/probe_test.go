package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// TestClaimOfKilledNode: a node killed (its connection closed, nothing
// deleted) still has a live record for DeadAfter; its member's identity
// takes the nickname back on another node at once, after storing his
// leave (once, the burial's own), another identity is told it is held,
// and a live node's member's nickname stays in use.
func TestClaimOfKilledNode(t *testing.T) {
	const deadAfter = 2 * time.Second
	c := newCluster(t)
	a := c.joinWith("a", deadAfter)
	live := c.joinWith("c", deadAfter)
	attach(t, live, "carol")
	attach(t, a)
	gus := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:gus"}
	other := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.3:1", CertFingerprint: "SHA256:zed"}
	carol := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.4:1", CertFingerprint: "SHA256:carol"}
	if err := live.Nicks().Claim("carol", claim(1, carol)); err != nil {
		t.Fatal(err)
	}

	o := c.options("b")
	o.DeadAfter = deadAfter
	b, err := Join(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	attach(t, b, "gus")
	if err := b.Nicks().Claim("gus", claim(1, gus)); err != nil {
		t.Fatal(err)
	}
	if err := a.Nicks().Claim("gus", claim(1, gus)); !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("gus's identity claiming while b has gus: %v, want in use", err)
	}
	b.halt() // killed: no more heartbeats, nothing deleted
	o.Conn.Close()
	start := time.Now()

	err = a.Nicks().Claim("gus", claim(2, other))
	if !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), "is held for") {
		t.Errorf("another identity claiming the dead node's gus: %v, want held", err)
	}
	if err := a.Nicks().Claim("GUS", claim(3, gus)); err != nil {
		t.Fatalf("gus's identity claiming its nickname after its node was killed: %v", err)
	}
	if d := time.Since(start); d > deadAfter/2 {
		t.Errorf("the claims of the killed node's nickname took %s, DeadAfter is %s", d, deadAfter)
	}
	waitFor(t, "a's replica to give gus to a", func() bool {
		owner, ok := a.Nicks().Owner("gus")
		return ok && owner.Claim.Member == 3
	})
	waitFor(t, "b to be buried", func() bool {
		_, err := a.nodesKV.Get(context.Background(), "b")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	// gus's leave was stored once, before his claim on a (leaveFirst),
	// under the id the burial derives too.
	leaves := c.log.stored()
	if len(leaves) != 1 || leaves[0].From != "gus" || leaves[0].Reason != lostReason("b") {
		t.Errorf("leaves stored: %+v, want gus's once, lost with node b", leaves)
	}
	c.log.mu.Lock()
	sameID := c.log.ids[leaveID("b", b.inc, "Gus")]
	c.log.mu.Unlock()
	if !sameID {
		t.Errorf("gus's leave not stored under the burial's id %s", leaveID("b", b.inc, "gus"))
	}
	if err := a.Nicks().Claim("carol", claim(4, carol)); !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("carol's identity claiming while c has carol: %v, want in use", err)
	}
	if err := a.Nicks().Claim("carol", claim(5, other)); !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("another identity claiming c's carol: %v, want in use", err)
	}
}

// TestProbeBounded: claims of a dead node's nickname (nobody serves it)
// ask it once; the answer is remembered for the node's run.
func TestProbeBounded(t *testing.T) {
	c := newCluster(t)
	a := c.joinWith("a", 30*time.Second)
	rec := &nickRecord{Version: recordVersion, Nick: "gus", Node: "zz", Incarnation: "0123456789abcdef", Member: 1}
	if got := a.probe(t.Context(), nickKVKey("gus"), rec); got != probeDead {
		t.Fatalf("probe of a node nobody serves = %v, want dead", got)
	}
	a.mu.Lock()
	_, remembered := a.silent["zz.0123456789abcdef"]
	inFlight := len(a.probes)
	a.mu.Unlock()
	if !remembered || inFlight != 0 {
		t.Errorf("silent run remembered %v, %d probes in flight", remembered, inFlight)
	}
	// zz answers now that it has gus: the remembered silence is used.
	nc := c.conn()
	sub, err := nc.Subscribe(a.hasSubject("zz"), func(m *nats.Msg) { _ = m.Respond([]byte(`{"has":true}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := a.probe(t.Context(), nickKVKey("gus"), rec); got != probeDead {
		t.Errorf("second probe = %v, want dead (remembered)", got)
	}
}

// TestHasHostile: a has request of nonsense gets no answer; of another
// run, or a nickname the node does not have, "no".
func TestHasHostile(t *testing.T) {
	c := newCluster(t)
	b := c.joinWith("b", 30*time.Second)
	attach(t, b, "gus")
	nc := c.conn()
	ask := func(data string) (string, error) {
		msg, err := nc.Request(b.hasSubject("b"), []byte(data), 300*time.Millisecond)
		if err != nil {
			return "", err
		}
		return string(msg.Data), nil
	}
	for _, bad := range []string{"nonsense", `{"nick":"gus","incarnation":"no way!"}`, `{"nick":"` + strings.Repeat("g", 2000) + `","incarnation":"x"}`} {
		if got, err := ask(bad); err == nil {
			t.Errorf("%.40q answered %s", bad, got)
		}
	}
	for data, want := range map[string]string{
		`{"nick":"gus","incarnation":"` + b.inc + `"}`:    `{"has":true}`,
		`{"nick":"GUS","incarnation":"` + b.inc + `"}`:    `{"has":true}`,
		`{"nick":"gus","incarnation":"0000000000000000"}`: `{"has":false}`,
		`{"nick":"zed","incarnation":"` + b.inc + `"}`:    `{"has":false}`,
	} {
		if got, err := ask(data); err != nil || got != want {
			t.Errorf("%s: %s, %v; want %s", data, got, err, want)
		}
	}
}

// forgeNode stores, as another NATS user could, a fresh presence record
// of node name (run inc) and its claim of nick for id.
func forgeNode(t *testing.T, a *Node, name, inc, nick string, id room.Identity) {
	t.Helper()
	now := time.Now()
	p, err := json.Marshal(&presence{Version: recordVersion, Node: name, Incarnation: inc, Started: now, Count: 1,
		Members: []rosterRow{{Nick: nick}}, Heartbeat: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.nodesKV.Put(t.Context(), name, p); err != nil {
		t.Fatal(err)
	}
	r, err := json.Marshal(&nickRecord{Version: recordVersion, Nick: nick, Node: name, Incarnation: inc, Member: 1, Identity: storedIdentity(id)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.nicksKV.Put(t.Context(), nickKVKey(nick), r); err != nil {
		t.Fatal(err)
	}
}

// TestClaimOfSlowNode (F3): a live node that does not answer the has
// request in time (slow, not dead: it serves the subject) keeps its
// member: the member's identity claiming the nickname elsewhere is told
// it is held, no leave is made up, the claim is untouched, and the
// silence is not remembered as a death.
func TestClaimOfSlowNode(t *testing.T) {
	c := newCluster(t)
	a := c.joinWith("a", 30*time.Second)
	attach(t, a)
	alice := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:alice"}
	const inc = "0123456789abcdef"
	forgeNode(t, a, "zz", inc, "alice", alice)
	nc := c.conn()
	sub, err := nc.Subscribe(a.hasSubject("zz"), func(*nats.Msg) {}) // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, a.Nicks().Claim("alice", claim(1, alice)), "is held for", "alice's identity claiming a slow node's alice")
	if r := nickRecordOf(t, a, "alice"); r.Node != "zz" || r.held() {
		t.Errorf("alice's record after the claim: %+v, want zz's claim", r)
	}
	if got := c.log.stored(); len(got) != 0 {
		t.Errorf("leaves stored: %+v, want none", got)
	}
	a.mu.Lock()
	_, remembered := a.silent["zz."+inc]
	a.mu.Unlock()
	if remembered {
		t.Error("a slow node's silence remembered as a death")
	}
}

// TestClaimWhileJoining (F3): a node answers "has" for a nickname it
// claimed a moment ago though its room does not list the member yet
// (still joining), so that the member's identity claiming it on another
// node is told it is in use, and no leave is made up.
func TestClaimWhileJoining(t *testing.T) {
	c := newCluster(t)
	a := c.joinWith("a", 30*time.Second)
	attach(t, a)
	b := c.joinWith("b", 30*time.Second)
	attach(t, b) // alice not in the room yet
	alice := room.Identity{Transport: room.TransportTLS, Address: "127.0.0.2:1", CertFingerprint: "SHA256:alice"}
	if err := b.Nicks().Claim("alice", claim(1, alice)); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, a.Nicks().Claim("alice", claim(1, alice)), "already in use", "alice's identity claiming alice while she joins on b")
	if r := nickRecordOf(t, a, "alice"); r.Node != "b" || r.Incarnation != b.inc || r.held() {
		t.Errorf("alice's record after the claim: %+v, want b's claim", r)
	}
	if got := c.log.stored(); len(got) != 0 {
		t.Errorf("leaves stored: %+v, want none", got)
	}
}
