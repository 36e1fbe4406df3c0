package client

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/certs"
	"chatd/internal/testproc"
	"chatd/proto"
	"chatd/room"
	"chatd/tlsgw"
)

func TestParseAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a", []string{"a:7443"}},
		{"a:6697,b , c:1", []string{"a:6697", "b:7443", "c:1"}},
		{"[::1]:6697,::1", []string{"[::1]:6697", "[::1]:7443"}},
		{"a,A:7443,a:7443", []string{"a:7443"}},
	} {
		got, err := ParseAddrs(tc.in, "7443")
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseAddrs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	many := strings.TrimSuffix(strings.Repeat("h,", MaxAddrs+1), ",")
	for _, bad := range []string{"", "a,,b", "a,", " , ", "a:0", "a:65536", "a:http", "a b", "a:b:c", many} {
		if got, err := ParseAddrs(bad, "7443"); !errors.Is(err, ErrAddrs) {
			t.Errorf("ParseAddrs(%q) = %q, %v; want an ErrAddrs", bad, got, err)
		}
	}
	if _, err := ParseAddrs(strings.TrimSuffix(strings.Repeat("h,", MaxAddrs), ","), "7443"); err != nil {
		t.Errorf("%d addresses: %v", MaxAddrs, err)
	}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// nodesFor returns the nodes of addrs under trust.
func nodesFor(t *testing.T, trust Trust, resolver Resolver, addrs ...string) *Nodes {
	t.Helper()
	list := make([]Node, len(addrs))
	for i, addr := range addrs {
		tlsCfg, err := trust.ClientTLSConfig(addr)
		if err != nil {
			t.Fatal(err)
		}
		list[i] = Node{Addr: addr, TLS: tlsCfg}
	}
	n, err := NewNodes(list, resolver, false)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// skips records the nodes a round skipped.
type skips struct {
	mu    sync.Mutex
	nodes []string
	errs  []error
}

func (s *skips) add(node string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes, s.errs = append(s.nodes, node), append(s.errs, err)
}

// TestNodesDialTheFirstThatAnswers: the first address is dead, the second
// joins; the dead one is reported as skipped, and the connection names the
// node it is on.
func TestNodesDialTheFirstThatAnswers(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	dead := deadAddr(t)
	nodes := nodesFor(t, Trust{CAFile: ts.caFile(t)}, nil, dead, ts.addr)
	var s skips
	c, err := nodes.Dial(context.Background(), Config{Nick: "alice"}, s.add)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Server() != ts.addr {
		t.Errorf("Server() = %q, want %q", c.Server(), ts.addr)
	}
	if !slices.Equal(s.nodes, []string{dead}) || IsTrustError(s.errs[0]) {
		t.Errorf("skipped %q (%v), want %q, not for trust", s.nodes, s.errs, dead)
	}

	// All dead: one error names each.
	other := deadAddr(t)
	_, err = nodesFor(t, Trust{CAFile: ts.caFile(t)}, nil, dead, other).Dial(context.Background(), Config{Nick: "bob"}, nil)
	var d *DialError
	if !errors.As(err, &d) || len(d.Attempts) != 2 || !strings.Contains(err.Error(), dead+": ") || !strings.Contains(err.Error(), other+": ") {
		t.Errorf("with every node dead: %v", err)
	}
}

// fakeResolver answers from a table and counts the lookups.
type fakeResolver struct {
	mu      sync.Mutex
	hosts   map[string][]string
	lookups int
}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if ips, ok := f.hosts[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestNodesNameWithSeveralAddresses: a name that resolves to several
// addresses is tried at each of them in turn, looked up at every round;
// the certificate is checked for the name, not the address; what the
// resolver answers is bounded and checked.
func TestNodesNameWithSeveralAddresses(t *testing.T) {
	ts := startServerFor(t, tlsgw.Config{}, []string{"chat.test"})
	_, port, _ := net.SplitHostPort(ts.addr)
	garbage := []string{"not an address", "127.0.0.3"} // 127.0.0.3: nobody listens there
	for range 2 * MaxAddrs {
		garbage = append(garbage, "127.0.0.4")
	}
	res := &fakeResolver{hosts: map[string][]string{
		"chat.test":   {"127.0.0.3", "127.0.0.1"},
		"flood.test":  garbage,
		"nobody.test": {},
	}}
	addr := net.JoinHostPort("chat.test", port)
	nodes := nodesFor(t, Trust{CAFile: ts.caFile(t)}, res, addr)
	var s skips
	c, err := nodes.Dial(context.Background(), Config{Nick: "alice"}, s.add)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if want := addr + " (127.0.0.1)"; c.Server() != want {
		t.Errorf("Server() = %q, want %q", c.Server(), want)
	}
	if want := []string{addr + " (127.0.0.3)"}; !slices.Equal(s.nodes, want) {
		t.Errorf("skipped %q, want %q", s.nodes, want)
	}
	if _, err := nodes.Dial(context.Background(), Config{Nick: "alice"}, nil); err != nil {
		t.Fatal(err)
	}
	if res.lookups != 2 {
		t.Errorf("%d lookups for two rounds", res.lookups)
	}

	targets := nodesFor(t, Trust{Insecure: true}, res, "flood.test:1", "nobody.test:1", "unknown.test:1", "127.0.0.1:1").round(context.Background())
	var got []string
	for _, tg := range targets {
		got = append(got, tg.dialAddr())
		if tg.err != nil {
			got[len(got)-1] += " error"
		}
	}
	want := []string{"127.0.0.3:1"}
	for range MaxAddrs - 1 {
		want = append(want, "127.0.0.4:1")
	}
	want = append(want, "nobody.test:1 error", "unknown.test:1 error", "127.0.0.1:1")
	if !slices.Equal(got, want) {
		t.Errorf("round = %q\nwant %q", got, want)
	}
}

// TestNodesSkipAnUntrustedNode: a node whose certificate the user's trust
// does not accept is skipped, said to be, never joined.
func TestNodesSkipAnUntrustedNode(t *testing.T) {
	stranger := startServer(t, tlsgw.Config{})
	trusted := startServer(t, tlsgw.Config{})
	nodes := nodesFor(t, Trust{CAFile: trusted.caFile(t)}, nil, stranger.addr, trusted.addr)
	var s skips
	c, err := nodes.Dial(context.Background(), Config{Nick: "alice"}, s.add)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	var notCA *NotSignedByCAError
	if c.Server() != trusted.addr || len(s.errs) != 1 || !errors.As(s.errs[0], &notCA) || !IsTrustError(s.errs[0]) {
		t.Errorf("joined %s, skipped %q: %v", c.Server(), s.nodes, s.errs)
	}
	if n := stranger.room.Stats().Members; n != 0 {
		t.Errorf("the untrusted node has %d members", n)
	}
}

// TestClusterPinTrustsTheRoomsCertificateOnce: with trust on first use, the
// certificate remembered for one node of the room is trusted for another
// that presents it (and remembered for it), but not one remembered for a
// node with another certificate, and not another certificate.
func TestClusterPinTrustsTheRoomsCertificateOnce(t *testing.T) {
	a := startServer(t, tlsgw.Config{})
	b := startServerWith(t, tlsgw.Config{}, a.certPEM, a.keyPEM, "127.0.0.1:0")
	other := startServer(t, tlsgw.Config{})
	known := &KnownServers{Path: filepath.Join(t.TempDir(), "known_servers")}
	fp := certs.Fingerprint(leafOf(t, a.certPEM))
	if err := known.Add(a.addr, fp); err != nil {
		t.Fatal(err)
	}
	trust := Trust{Known: known, Cluster: []string{a.addr, b.addr, other.addr}}
	c, err := dialClient(t, b.addr, "alice", trust)
	if err != nil {
		t.Fatalf("the room's certificate on another node: %v", err)
	}
	c.Close()
	if got, found, _ := known.Lookup(b.addr); !found || got != fp {
		t.Errorf("remembered for %s: %q %v", b.addr, got, found)
	}
	var unknown *UnknownCertError
	if _, err := dialClient(t, other.addr, "alice", trust); !errors.As(err, &unknown) {
		t.Errorf("another certificate: %v, want an UnknownCertError", err)
	}
	// A node remembered with another certificate stays so.
	if err := os.WriteFile(known.Path, []byte(a.addr+" "+fp+"\n"+other.addr+" "+fp+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var changed *CertChangedError
	trust.Cluster = []string{other.addr, a.addr}
	if _, err := dialClient(t, other.addr, "alice", trust); !errors.As(err, &changed) {
		t.Errorf("a node remembered with another certificate: %v, want a CertChangedError", err)
	}
}

// twoNodes is two test servers of one room as the client sees it: two
// rooms sharing one log (the same public events, numbered alike, under one
// log id), each behind its gates.
func twoNodes(t *testing.T) (one, two *testServer) {
	t.Helper()
	log := room.NewMemoryLog(100)
	one = startServer(t, tlsgw.Config{Room: room.New(room.Config{Log: log})})
	two = startServerWith(t, tlsgw.Config{Room: room.New(room.Config{Log: log})}, one.certPEM, one.keyPEM, "127.0.0.1:0")
	return one, two
}

// TestRedialerFailsOverToTheNextNode: of three addresses, the session first
// joins the second (the first is down); when that one is lost it rejoins
// through the third, the next, rather than the first again, says where it
// is now, and resumes after the last event it showed: what was said while
// it was away once, nothing twice.
func TestRedialerFailsOverToTheNextNode(t *testing.T) {
	one, two := twoNodes(t)
	gA, gB, gC := testproc.StartGate(t, one.addr), testproc.StartGate(t, two.addr), testproc.StartGate(t, one.addr)
	gA.Cut(false)
	trust := Trust{CAFile: one.caFile(t)}
	nodes := nodesFor(t, trust, nil, gA.Addr(), gB.Addr(), gC.Addr())
	cfg := Config{Nick: "alice", Resume: &proto.ResumePoint{}}
	c, err := nodes.Dial(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Nodes: nodes, Reconnect: true, Echo: true,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, c)
	defer r.Close()
	if text, _ := r.Status(); text != gB.Addr()+" · TLS 1.3 · verified (CA)" {
		t.Errorf("Status() = %q", text)
	}
	nextEvent(t, r.Events(), room.Members)
	gA.Reopen()
	carol := two.join(t, "carol")
	carol.send("before the cut")
	nextWhere(t, r.Events(), "carol's line", func(ev *room.Event) bool { return ev.Text == "before the cut" })

	gB.Cut(false)
	waitLink(t, r, func(l Link) bool { return l.Down })
	bob := one.join(t, "bob")
	bob.send("while you were away")
	got := collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	all := texts(got)
	if !strings.HasPrefix(got[0].Text, "reconnected to "+gC.Addr()+" after ") {
		t.Errorf("the first event after the loss is %q, want that it reconnected to %s:\n%s", got[0].Text, gC.Addr(), all)
	}
	for text, want := range map[string]int{"while you were away": 1, "before the cut": 0} {
		if n := strings.Count(all, text); n != want {
			t.Errorf("%q passed on %d times, want %d:\n%s", text, n, want, all)
		}
	}
	if text, _ := r.Status(); !strings.HasPrefix(text, gC.Addr()+" · ") {
		t.Errorf("Status() = %q after failing over to %s", text, gC.Addr())
	}
	r.Send("back")
	bob.expect("<alice> back")
}

// TestRedialerSkipsAnUntrustedNodeOnTheWayBack: while the session is away,
// a node whose certificate the user's trust does not accept is said to be
// skipped, once, and the session rejoins the one it trusts.
func TestRedialerSkipsAnUntrustedNodeOnTheWayBack(t *testing.T) {
	trusted := startServer(t, tlsgw.Config{})
	stranger := startServer(t, tlsgw.Config{})
	g := testproc.StartGate(t, trusted.addr)
	trust := Trust{CAFile: trusted.caFile(t)}
	nodes := nodesFor(t, trust, nil, g.Addr(), stranger.addr)
	cfg := Config{Nick: "alice"}
	c, err := nodes.Dial(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Nodes: nodes, Reconnect: true, Echo: true,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}, c)
	defer r.Close()
	nextEvent(t, r.Events(), room.Members)
	g.Cut(false)
	skipped := nextEvent(t, r.Events(), room.Error)
	if !strings.HasPrefix(skipped.Text, "skipped "+stranger.addr+": ") || !strings.Contains(skipped.Text, "NOT the one your --ca trusts") {
		t.Errorf("the error while away is %q", skipped.Text)
	}
	// Several rounds fail before the gate opens again.
	waitLink(t, r, func(l Link) bool { return l.Down && strings.HasPrefix(l.Why, "all 2 servers failed (last: ") })
	waitLink(t, r, func(l Link) bool { return l.Down && !l.RetryAt.IsZero() })
	g.Reopen()
	got := collect(t, r, func(ev *room.Event) bool { return ev.Kind == room.Members })
	if n := strings.Count(texts(got), "skipped"); n != 0 {
		t.Errorf("the untrusted node was said to be skipped again:\n%s", texts(got))
	}
	if text, _ := r.Status(); !r.Connected() || !strings.HasPrefix(text, g.Addr()+" · ") {
		t.Errorf("connected %v, Status() %q, want on %s", r.Connected(), text, g.Addr())
	}
	if n := stranger.room.Stats().Members; n != 0 {
		t.Errorf("the untrusted node has %d members", n)
	}
}

// leafOf returns the DER of the first certificate of certPEM.
func leafOf(t *testing.T, certPEM []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

// TestNodesNicknameRefusedEndsTheRound: the nodes of one room share their
// nicknames, so a nickname one refuses is not tried on the next.
func TestNodesNicknameRefusedEndsTheRound(t *testing.T) {
	one, two := twoNodes(t)
	one.join(t, "alice")
	var s skips
	_, err := nodesFor(t, Trust{CAFile: one.caFile(t)}, nil, one.addr, two.addr).Dial(context.Background(), Config{Nick: "alice"}, s.add)
	if !errors.Is(err, ErrNickRefused) || len(s.nodes) != 0 {
		t.Errorf("Dial = %v, skipped %q; want the refusal, nothing skipped", err, s.nodes)
	}
	if n := two.room.Stats().Members; n != 0 {
		t.Errorf("the next node has %d members", n)
	}
}

// TestRedialerEndsWhenNoNodeIsTrusted: once back, every node presents a
// certificate other than the one remembered for it: the session ends, as
// with one server, and says why for each.
func TestRedialerEndsWhenNoNodeIsTrusted(t *testing.T) {
	a, b := twoNodes(t)
	g := testproc.StartGate(t, a.addr)
	known := &KnownServers{Path: filepath.Join(t.TempDir(), "known_servers")}
	fp := certs.Fingerprint(leafOf(t, a.certPEM))
	for _, addr := range []string{g.Addr(), b.addr} {
		if err := known.Add(addr, fp); err != nil {
			t.Fatal(err)
		}
	}
	trust := Trust{Known: known, Cluster: []string{g.Addr(), b.addr}}
	nodes := nodesFor(t, trust, nil, g.Addr(), b.addr)
	cfg := Config{Nick: "alice"}
	c, err := nodes.Dial(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Nodes: nodes, Reconnect: true,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}, c)
	defer r.Close()
	nextEvent(t, r.Events(), room.Members)
	other := strings.Repeat("AB:", 31) + "AB"
	if err := os.WriteFile(known.Path, []byte(g.Addr()+" "+other+"\n"+b.addr+" "+other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Cut(true)
	var said []string
	for ev := range r.Events() {
		if ev.Kind == room.Error {
			said = append(said, ev.Text)
		}
	}
	var changed *CertChangedError
	if err := r.TrustFailure(); !errors.As(err, &changed) || !everyAttempt(err, IsTrustError) {
		t.Errorf("TrustFailure() = %v", err)
	}
	if len(said) != 2 || !strings.Contains(said[0], "has CHANGED") || !strings.Contains(said[1], "has CHANGED") {
		t.Errorf("the errors said: %q", said)
	}
}

// nodeOf is addr under trust, as a Node.
func nodeOf(t *testing.T, addr string, trust Trust) Node {
	t.Helper()
	tlsCfg, err := trust.ClientTLSConfig(addr)
	if err != nil {
		t.Fatal(err)
	}
	return Node{Addr: addr, TLS: tlsCfg}
}

// TestRedialerFinalReasonsHoldAcrossNodes: the nodes of one room share
// their bans, so a node that turns the session away at the door ends it
// without trying the next; a kick on one node ends it without rejoining
// through another.
func TestRedialerFinalReasonsHoldAcrossNodes(t *testing.T) {
	const words = "you are banned until 2026-12-01 18:00:00 UTC: spam"
	dropA, trustA := startScriptedServer(t, func(w *bufio.Writer, nick string) {
		w.WriteString("[12:00:00] *** " + nick + " joined\n[12:00:00] *** 1 member: " + nick + "\n")
	})
	refuseB, trustB := startScriptedServer(t, func(w *bufio.Writer, nick string) {
		w.WriteString("!!! disconnected: refused: " + words + "\n")
	})
	open := startServer(t, tlsgw.Config{})
	nodes, err := NewNodes([]Node{nodeOf(t, dropA, trustA), nodeOf(t, refuseB, trustB), nodeOf(t, open.addr, Trust{CAFile: open.caFile(t)})}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Nick: "mallory"}
	c, err := nodes.Dial(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trustA, Nodes: nodes, Reconnect: true,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, c)
	defer r.Close()
	rest(t, r.Events())
	if want := (room.Reason{Kind: room.ReasonRefused, Detail: words}); r.Reason() != want {
		t.Errorf("Reason() = %#v, want the refusal", r.Reason())
	}
	if n := open.room.Stats().Joins; n != 0 {
		t.Errorf("the next node was joined %d times after the refusal", n)
	}

	// Kicked on one node of two.
	one, two := twoNodes(t)
	trust := Trust{CAFile: one.caFile(t)}
	nodes = nodesFor(t, trust, nil, one.addr, two.addr)
	if c, err = nodes.Dial(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	r = NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Nodes: nodes, Reconnect: true,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, c)
	defer r.Close()
	nextEvent(t, r.Events(), room.Members)
	kicked := room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}
	if got := one.room.Remove(func(mi room.MemberInfo) bool { return mi.Nick == "mallory" }, kicked); len(got) != 1 {
		t.Fatalf("Remove = %q", got)
	}
	rest(t, r.Events())
	if r.Reason().Kind != room.ReasonKicked {
		t.Errorf("Reason() = %#v, want the kick", r.Reason())
	}
	if n := two.room.Stats().Joins; n != 0 {
		t.Errorf("the other node was joined %d times after the kick", n)
	}
}
