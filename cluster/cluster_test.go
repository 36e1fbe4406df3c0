package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"chatd/internal/testproc"
	"chatd/room"
)

// natsBin is the nats-server the tests run, built once by TestMain.
var natsBin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "cluster-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if natsBin, err = testproc.BuildNATS(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var quiet = slog.New(slog.DiscardHandler)

// Short timings, so that a death is noticed within about a second.
const (
	testHeartbeat = 100 * time.Millisecond
	testDeadAfter = 600 * time.Millisecond
)

// testCluster is one nats-server and the nodes joined on it, all sharing
// one leaveLog (the stream).
type testCluster struct {
	t   *testing.T
	srv *testproc.NATS
	url string
	log *leaveLog
}

func newCluster(t *testing.T) *testCluster {
	srv := testproc.StartNATS(t, natsBin, t.TempDir(), "")
	return &testCluster{t: t, srv: srv, url: srv.URL(), log: &leaveLog{ids: make(map[string]bool)}}
}

// conn connects to the server, reconnecting at once when it is back; the
// connection closes when the test ends.
func (c *testCluster) conn() *nats.Conn {
	nc, err := nats.Connect(c.url, nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// options are a node's options with the test's timings.
func (c *testCluster) options(name string) Options {
	return Options{Node: name, Conn: c.conn(), Log: c.log, Heartbeat: testHeartbeat, DeadAfter: testDeadAfter,
		Timeout: time.Second, Logger: quiet, Registerer: prometheus.NewRegistry()}
}

// join joins a node named name, closed when the test ends.
func (c *testCluster) join(name string) *Node {
	c.t.Helper()
	return c.joinWith(name, testDeadAfter)
}

// joinWith joins a node that takes a node for dead after deadAfter.
func (c *testCluster) joinWith(name string, deadAfter time.Duration) *Node {
	c.t.Helper()
	o := c.options(name)
	o.DeadAfter = deadAfter
	return c.joinOptions(o)
}

// joinOptions joins a node with o, closed (and checked) at the test's end.
func (c *testCluster) joinOptions(o Options) *Node {
	c.t.Helper()
	n, err := Join(c.t.Context(), o)
	if err != nil {
		c.t.Fatalf("Join(%s): %v", o.Node, err)
	}
	c.t.Cleanup(func() {
		if err := n.Close(); err != nil {
			c.t.Errorf("Close(%s): %v", o.Node, err)
		}
	})
	return n
}

// attach attaches a fakeRoom with members to n.
func attach(t *testing.T, n *Node, members ...string) *fakeRoom {
	t.Helper()
	r := &fakeRoom{members: make(map[string]room.Peer)}
	for _, m := range members {
		r.members[room.NickKey(m)] = room.Peer{Nick: m, Transport: room.TransportTLS, Joined: time.Now()}
	}
	if err := n.attach(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor waits until cond holds, failing the test after five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaveLog is a LeaveLog that, as the stream's duplicate window does,
// stores an event once per id.
type leaveLog struct {
	mu     sync.Mutex
	ids    map[string]bool
	events []*room.Event
	calls  int

	gate      chan struct{} // AppendOnceBatch waits for it, if set
	failAfter int           // the next batch stores that many, then fails
	batches   []int         // the size of each batch asked for
}

func (l *leaveLog) AppendOnce(ev *room.Event, id string) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if !l.ids[id] {
		l.ids[id] = true
		l.events = append(l.events, ev)
	}
	return uint64(len(l.events)), nil
}

// AppendOnceBatch is AppendOnce of each, after the gate (if any) opens;
// if failAfter is set, it stores that many and fails the others, once.
func (l *leaveLog) AppendOnceBatch(evs []*room.Event, ids []string) error {
	l.mu.Lock()
	gate := l.gate
	l.batches = append(l.batches, len(evs))
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	l.mu.Lock()
	limit := l.failAfter
	l.failAfter = 0
	l.mu.Unlock()
	for i, ev := range evs {
		if limit > 0 && i >= limit {
			return fmt.Errorf("%d of %d leaves not stored", len(evs)-i, len(evs))
		}
		seq, err := l.AppendOnce(ev, ids[i])
		if err != nil {
			return err
		}
		ev.Seq = seq
	}
	return nil
}

func (l *leaveLog) stored() []*room.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*room.Event(nil), l.events...)
}

// fakeRoom is the smallest attached: members by nickname, private
// messages received, removals.
type fakeRoom struct {
	mu       sync.Mutex
	members  map[string]room.Peer // by room.NickKey
	private  []string             // "from>to: text"
	removed  []string
	reasons  []room.Reason
	limitFor string // a member that receives too many private messages
	slowFor  string // a member whose private messages wait for slow
	slow     chan struct{}
	slowIn   chan struct{} // closed when a slow delivery starts
}

func (r *fakeRoom) Roster() []room.Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []room.Peer
	for _, p := range r.members {
		out = append(out, p)
	}
	return out
}

func (r *fakeRoom) DeliverPrivate(from room.Sender, to, text string) (string, error) {
	if r.slowFor != "" && room.NickKey(to) == room.NickKey(r.slowFor) {
		close(r.slowIn)
		<-r.slow
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.members[room.NickKey(to)]
	switch {
	case !ok:
		return "", &refusal{room.ErrNoSuchMember, fmt.Sprintf("no one called %q is here; /who lists the members", to)}
	case p.Nick == r.limitFor:
		return "", &refusal{room.ErrPrivateLimit, p.Nick + " is receiving too many private messages; yours was not delivered, try again later"}
	}
	r.private = append(r.private, from.Nick+">"+p.Nick+": "+text)
	return p.Nick, nil
}

func (r *fakeRoom) Remove(match func(room.MemberInfo) bool, reason room.Reason) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []string
	for key, p := range r.members {
		if match(room.MemberInfo{Nick: p.Nick}) {
			delete(r.members, key)
			gone = append(gone, p.Nick)
			r.removed = append(r.removed, p.Nick)
			r.reasons = append(r.reasons, reason)
		}
	}
	return gone
}

func (r *fakeRoom) Find(nick string) (room.MemberInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.members[room.NickKey(nick)]
	return room.MemberInfo{Nick: p.Nick, Joined: p.Joined}, ok
}

func (r *fakeRoom) has(nick string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.members[room.NickKey(nick)]
	return ok
}

// peerNicks lists the nicknames of b's peers.
func peerNicks(n *Node) map[string]string {
	out := make(map[string]string)
	for _, p := range n.Bus().Peers() {
		out[p.Nick] = p.Node
	}
	return out
}

func claim(member uint64, id room.Identity) room.NickClaim {
	return room.NickClaim{Member: member, Identity: id}
}

// TestClaimRace: nodes claiming one nickname, or look-alikes of it, at
// once: exactly one wins, the others are told it is in use.
func TestClaimRace(t *testing.T) {
	c := newCluster(t)
	nodes := []*Node{c.join("a"), c.join("b"), c.join("c")}
	for round, nicks := range [][]string{{"alice", "alice", "alice"}, {"Bob", "bob", "B0B"}, {"Carol", "caro1", "CAROL"}} {
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() { errs[i] = n.Nicks().Claim(nicks[i], claim(uint64(round+1), room.Identity{})) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), "is already in use, choose another"):
				t.Errorf("%v: node %d: %v, want it in use", nicks, i, err)
			}
		}
		if won != 1 {
			t.Errorf("%v: %d claims won, want 1 (%v)", nicks, won, errs)
		}
	}
}

// TestOwnerReplica: a claim on one node shows in the Owner of another
// within a second, without its member number; a release frees it there.
func TestOwnerReplica(t *testing.T) {
	c := newCluster(t)
	a, b := c.join("a"), c.join("b")
	id := room.Identity{Transport: room.TransportSSH, KeyFingerprint: "SHA256:dave"}
	if err := a.Nicks().Claim("dave", claim(7, id)); err != nil {
		t.Fatal(err)
	}
	if o, ok := a.Nicks().Owner("DAVE"); !ok || o.Claim.Member != 7 {
		t.Errorf("a's Owner(DAVE) = %+v, %v; want member 7", o, ok)
	}
	start := time.Now()
	waitFor(t, "b to see dave's claim", func() bool { _, ok := b.Nicks().Owner("dave"); return ok })
	if d := time.Since(start); d > time.Second {
		t.Errorf("b saw the claim after %s", d)
	}
	if o, _ := b.Nicks().Owner("DAVE"); o.Claim.Member != 0 || o.Claim.Identity != id || !o.HeldUntil.IsZero() {
		t.Errorf("b's Owner(DAVE) = %+v; want a claim of another node (member 0) with dave's identity", o)
	}
	if err := a.Nicks().Release("dave", claim(7, id)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see dave released", func() bool { _, ok := b.Nicks().Owner("dave"); return !ok })
	if err := b.Nicks().Claim("dave", claim(1, room.Identity{})); err != nil {
		t.Errorf("claiming a released nickname: %v", err)
	}
}

// TestHold: a nickname held for its owner's identity goes back to that
// identity on another node and to no one else.
func TestHold(t *testing.T) {
	c := newCluster(t)
	a, b := c.join("a"), c.join("b")
	erin := room.Identity{Transport: room.TransportSSH, Address: "192.0.2.1", KeyFingerprint: "SHA256:erin"}
	if err := a.Nicks().Claim("erin", claim(1, erin)); err != nil {
		t.Fatal(err)
	}
	if err := a.Nicks().Release("erin", claim(2, erin)); err != nil { // not its claim: nothing
		t.Fatal(err)
	}
	if err := a.Nicks().Hold("erin", claim(1, erin), time.Minute); err != nil {
		t.Fatal(err)
	}
	mallory := room.Identity{Transport: room.TransportSSH, Address: "192.0.2.1", KeyFingerprint: "SHA256:mallory"}
	if err := b.Nicks().Claim("Erin", claim(1, mallory)); !errors.Is(err, room.ErrNickTaken) || !strings.Contains(err.Error(), "is held for") {
		t.Errorf("another key claiming a held nickname: %v, want it held", err)
	}
	waitFor(t, "b to see the hold", func() bool { o, ok := b.Nicks().Owner("erin"); return ok && !o.HeldUntil.IsZero() })
	back := room.Identity{Transport: room.TransportSSH, Address: "203.0.113.9", KeyFingerprint: "SHA256:erin"}
	if err := b.Nicks().Claim("erin", claim(3, back)); err != nil {
		t.Fatalf("the owner's key claiming its held nickname on another node: %v", err)
	}
	if err := a.Nicks().Claim("erin", claim(4, erin)); !errors.Is(err, room.ErrNickTaken) {
		t.Errorf("claiming erin back on a: %v, want it in use", err)
	}
	if err := b.Nicks().Release("erin", claim(3, back)); err != nil {
		t.Fatal(err)
	}
	if err := a.Nicks().Claim("erin", claim(5, mallory)); err != nil {
		t.Errorf("claiming a released nickname: %v", err)
	}
}

// TestDeadNode: a node that stops renewing its record (killed) is
// buried within DeadAfter and a sweep: its members announced left once
// in all though two nodes watch, its nicknames freed, its record gone.
func TestDeadNode(t *testing.T) {
	c := newCluster(t)
	a, b := c.join("a"), c.join("b")
	dead := c.join("c")
	attach(t, dead, "xavier", "yvonne")
	for i, nick := range []string{"xavier", "yvonne"} {
		if err := dead.Nicks().Claim(nick, claim(uint64(i+1), room.Identity{})); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a and b to see c's members", func() bool { return len(peerNicks(a)) == 2 && len(peerNicks(b)) == 2 })
	if got := len(a.Peers()); got != 2 {
		t.Errorf("a sees %d other nodes, want 2", got)
	}
	dead.halt() // as if killed: no more heartbeats, nothing deleted
	start := time.Now()
	waitFor(t, "c to be buried", func() bool {
		_, err := a.nodesKV.Get(context.Background(), "c")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	// DeadAfter and a sweep or two; the slack is for a machine busy with
	// other tests.
	if d := time.Since(start); d > testDeadAfter+2*time.Second {
		t.Errorf("c was buried after %s", d)
	}
	leaves := c.log.stored()
	if len(leaves) != 2 {
		t.Fatalf("%d leaves stored, want 2: %+v", len(leaves), leaves)
	}
	for _, ev := range leaves {
		if ev.Kind != room.Leave || ev.Reason.Kind != room.ReasonLost || ev.Reason.Detail != "its node c stopped answering" {
			t.Errorf("leave %+v", ev)
		}
	}
	for _, nick := range []string{"xavier", "yvonne"} {
		if err := b.Nicks().Claim(nick, claim(9, room.Identity{})); err != nil {
			t.Errorf("claiming %s of the dead node: %v", nick, err)
		}
	}
	waitFor(t, "the dead node's members to leave /who", func() bool { return len(peerNicks(a)) == 0 })
	dead1 := value(a.metrics.deadNodes) + value(b.metrics.deadNodes)
	if dead1 != 1 {
		t.Errorf("dead nodes counted %v times, want once", dead1)
	}
	if got := value(a.metrics.nodes); got != 2 {
		t.Errorf("chatd_cluster_nodes on a = %v, want 2", got)
	}
}

// TestJoinTaken: a live name is refused; the name of a run that stopped
// answering is taken once it is stale, burying that run.
func TestJoinTaken(t *testing.T) {
	c := newCluster(t)
	first := c.join("a")
	attach(t, first, "zoe")
	if err := first.Nicks().Claim("zoe", claim(1, room.Identity{})); err != nil {
		t.Fatal(err)
	}
	if _, err := Join(t.Context(), c.options("a")); !errors.Is(err, ErrNodeTaken) {
		t.Fatalf("joining as a live node: %v, want ErrNodeTaken", err)
	}
	first.renew() // its roster in its record
	first.halt()
	var again *Node
	waitFor(t, "the stale name to be free", func() bool {
		n, err := Join(t.Context(), c.options("a"))
		if err != nil && !errors.Is(err, ErrNodeTaken) {
			t.Fatal(err)
		}
		again = n
		return err == nil
	})
	t.Cleanup(func() { again.Close() })
	if leaves := c.log.stored(); len(leaves) != 1 || leaves[0].From != "zoe" {
		t.Errorf("leaves %+v, want zoe's", leaves)
	}
	if err := again.Nicks().Claim("zoe", claim(1, room.Identity{})); err != nil {
		t.Errorf("claiming zoe, of the previous run: %v", err)
	}
	for _, bad := range []string{"", "a.b", strings.Repeat("x", 33), "ä"} {
		if _, err := Join(t.Context(), c.options(bad)); err == nil {
			t.Errorf("Join(%q) succeeded", bad)
		}
	}
}

// TestWhisper: private messages cross to the member's node, and its
// refusals come back as the room's errors with its words.
func TestWhisper(t *testing.T) {
	c := newCluster(t)
	a, b := c.joinWith("a", time.Hour), c.join("b") // a takes no one for dead
	attach(t, a, "alice")
	rb := attach(t, b, "bob", "busy")
	rb.limitFor = "busy"
	waitFor(t, "a to see b's members", func() bool { return len(peerNicks(a)) == 2 })
	alice := room.Sender{Nick: "alice", Identity: room.Identity{Address: "192.0.2.1"}}
	if nick, err := a.Bus().Whisper(alice, "BOB", "hello"); err != nil || nick != "bob" {
		t.Fatalf("Whisper to BOB = %q, %v", nick, err)
	}
	if got := rb.private; len(got) != 1 || got[0] != "alice>bob: hello" {
		t.Errorf("b delivered %q", got)
	}
	if _, err := a.Bus().Whisper(alice, "nobody", "hi"); !errors.Is(err, room.ErrNoSuchMember) || err.Error() != `no one called "nobody" is here; /who lists the members` {
		t.Errorf("Whisper to nobody: %v", err)
	}
	if _, err := a.Bus().Whisper(alice, "busy", "hi"); !errors.Is(err, room.ErrPrivateLimit) || !strings.HasPrefix(err.Error(), "busy is receiving") {
		t.Errorf("Whisper to busy: %v", err)
	}
	if got := value(a.metrics.private.WithLabelValues(resultDelivered).(prometheus.Metric)); got != 1 {
		t.Errorf("delivered counted %v", got)
	}
	b.halt() // b stops answering; its record lives on a while
	if _, err := a.Bus().Whisper(alice, "bob", "hi"); !errors.Is(err, room.ErrNotDelivered) || err.Error() != "node b did not answer in time; your message may not have been delivered" {
		t.Errorf("Whisper to a node that does not answer: %v", err)
	}
}

// TestKick: a kick reaches the other nodes, which remove their members of
// that nickname; the kicking node's own room is left to its caller.
func TestKick(t *testing.T) {
	c := newCluster(t)
	a, b := c.join("a"), c.join("b")
	ra := attach(t, a, "mallory")
	rb := attach(t, b, "Mall0ry", "bob")
	reason := room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}
	if err := a.Kick(t.Context(), "MALLORY", reason); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to remove mallory", func() bool { return !rb.has("mall0ry") })
	if !rb.has("bob") || !ra.has("mallory") {
		t.Errorf("bob on b: %v, mallory on a: %v; want both kept", rb.has("bob"), ra.has("mallory"))
	}
	if rb.reasons[0] != reason {
		t.Errorf("removed for %+v, want %+v", rb.reasons[0], reason)
	}
}

// TestHostileRecords: corrupt, huge and forged records in the buckets and
// on the subjects are skipped and counted, and do not keep a nickname.
func TestHostileRecords(t *testing.T) {
	c := newCluster(t)
	a := c.join("a")
	rb := attach(t, a, "bob")
	js, err := jetstream.New(c.conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	nodes, _ := js.KeyValue(ctx, "CHATD_NODES")
	nicks, _ := js.KeyValue(ctx, "CHATD_NICKS")
	members := make([]string, 3)
	for i := range members {
		members[i] = `{"nick":"bad nick!","transport":1}`
	}
	puts := []struct {
		kv         jetstream.KeyValue
		key, value string
	}{
		{nodes, "garbage", "not json"},
		{nodes, "huge", `{"version":1,"node":"huge","x":"` + strings.Repeat("x", 600<<10) + `"}`},
		{nodes, "forged", `{"version":1,"node":"other","incarnation":"1","count":0}`},
		{nodes, "badnicks", `{"version":1,"node":"badnicks","incarnation":"1","count":3,"members":[` + strings.Join(members, ",") + `]}`},
		{nodes, "toomany", `{"version":1,"node":"toomany","incarnation":"1","count":1000000}`},
		{nicks, nickKVKey("mallory"), "{{{"},
		{nicks, nickKVKey("trudy"), `{"version":1,"nick":"eve","node":"x","incarnation":"1","member":1}`},
	}
	for _, p := range puts {
		if _, err := p.kv.PutString(ctx, p.key, p.value); err != nil {
			t.Fatalf("put %s: %v", p.key, err)
		}
	}
	waitFor(t, "the bad records to be counted", func() bool { return value(a.metrics.badRecords) >= float64(len(puts)) })
	if got := a.Peers(); len(got) != 0 {
		t.Errorf("peers from bad records: %+v", got)
	}
	for _, nick := range []string{"mallory", "trudy"} {
		if _, ok := a.Nicks().Owner(nick); ok {
			t.Errorf("a bad record owns %s", nick)
		}
		if err := a.Nicks().Claim(nick, claim(1, room.Identity{})); err != nil {
			t.Errorf("claiming %s over a bad record: %v", nick, err)
		}
	}
	// Forged messages on the subjects: refused, counted, nothing done.
	before := value(a.metrics.badRecords)
	nc := c.conn()
	if msg, err := nc.Request(a.privateSubject("a"), []byte(`{"from":"x y","to":"bob","text":"hi"}`), time.Second); err != nil || !strings.Contains(string(msg.Data), "not-delivered") {
		t.Errorf("a forged private message: %v %q", err, msg.Data)
	}
	for _, kick := range []string{`{"from":"b","nick":"bob","kind":200}`, `{"from":"b.c","nick":"bob"}`, strings.Repeat("x", 8<<10)} {
		if err := nc.Publish(a.kickSubject(), []byte(kick)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the forged messages to be counted", func() bool { return value(a.metrics.badRecords) >= before+4 })
	if !rb.has("bob") || len(rb.private) != 0 {
		t.Errorf("a forged message acted: bob here %v, private %q", rb.has("bob"), rb.private)
	}
}

// value reads a counter's or gauge's value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestBuryTwice: two nodes burying the same dead node at once announce
// each member with the same id (so the stream stores each leave once),
// and the death is counted once.
func TestBuryTwice(t *testing.T) {
	c := newCluster(t)
	a, b := c.join("a"), c.join("b")
	dead := c.join("c")
	attach(t, dead, "xavier", "yvonne", "zack")
	dead.renew()
	dead.halt()
	e, err := a.nodesKV.Get(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, n := range []*Node{a, b} {
		wg.Go(func() {
			if err := n.bury(e, false); err != nil {
				t.Errorf("%s burying c: %v", n.o.Node, err)
			}
		})
	}
	wg.Wait()
	if got := c.log.stored(); len(got) != 3 {
		t.Errorf("%d leaves stored, want 3", len(got))
	}
	c.log.mu.Lock()
	calls := c.log.calls
	c.log.mu.Unlock()
	if calls < 6 {
		t.Errorf("%d leaves announced, want both nodes' 3 each at least", calls)
	}
	if got := value(a.metrics.deadNodes) + value(b.metrics.deadNodes); got != 1 {
		t.Errorf("the death counted %v times, want once", got)
	}
}

// TestLeaveSeenSoon: a member gone from a node leaves the other nodes'
// /who within a second (about debounce on a quiet machine), not at the
// next heartbeat (a minute here), even while members keep joining that
// node.
func TestLeaveSeenSoon(t *testing.T) {
	c := newCluster(t)
	o := c.options("a")
	o.Heartbeat, o.DeadAfter = time.Minute, 2*time.Minute
	a, err := Join(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := c.join("b")
	r := attach(t, a, "ben")
	waitFor(t, "b to list ben", func() bool { return peerNicks(b)["ben"] == "a" })
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a steady stream of joins on a
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r.mu.Lock()
			nick := fmt.Sprintf("joiner%d", i)
			r.members[room.NickKey(nick)] = room.Peer{Nick: nick}
			r.mu.Unlock()
			a.Bus().MembersChanged()
		}
	}()
	defer func() { close(stop); <-done }()
	time.Sleep(150 * time.Millisecond) // the stream of joins under way (not a synchronisation)
	r.mu.Lock()
	delete(r.members, room.NickKey("ben"))
	r.mu.Unlock()
	a.Bus().MembersChanged()
	left := time.Now()
	waitFor(t, "b to drop ben", func() bool { _, ok := peerNicks(b)["ben"]; return !ok })
	if d := time.Since(left); d > time.Second {
		t.Errorf("ben left b's /who after %s, want within a second", d)
	}
}

// TestMembersChangedSoon: a change of members reaches the others' /who
// soon (debounced), not at the next heartbeat.
func TestMembersChangedSoon(t *testing.T) {
	c := newCluster(t)
	o := c.options("a")
	o.Heartbeat, o.DeadAfter = time.Minute, 2*time.Minute
	a, err := Join(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := c.join("b")
	r := attach(t, a)
	waitFor(t, "b to see a", func() bool { return len(b.Peers()) == 1 })
	r.mu.Lock()
	r.members["alice"] = room.Peer{Nick: "alice", Transport: room.TransportSSH}
	r.mu.Unlock()
	a.Bus().MembersChanged()
	a.Bus().MembersChanged() // never blocks, even twice
	waitFor(t, "b to list alice", func() bool { return peerNicks(b)["alice"] == "a" })
	if p := b.Bus().Peers(); p[0].Transport != room.TransportSSH {
		t.Errorf("peer %+v", p[0])
	}
}

// TestCloseFrees: Close deletes the node's record and its claims, and
// keeps its holds.
func TestCloseFrees(t *testing.T) {
	c := newCluster(t)
	o := c.options("a")
	a, err := Join(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	b := c.join("b")
	id := room.Identity{Address: "192.0.2.7"}
	for i, nick := range []string{"ann", "held"} {
		if err := a.Nicks().Claim(nick, claim(uint64(i+1), id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Nicks().Hold("held", claim(2, id), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see a", func() bool { return len(b.Peers()) == 1 })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("closing twice: %v", err)
	}
	waitFor(t, "b to see a gone", func() bool { return len(b.Peers()) == 0 })
	waitFor(t, "b to see ann free", func() bool { _, ok := b.Nicks().Owner("ann"); return !ok })
	if o, ok := b.Nicks().Owner("held"); !ok || o.HeldUntil.IsZero() {
		t.Errorf("held after a's Close: %+v, %v; want still held", o, ok)
	}
	if err := b.Nicks().Claim("held", claim(1, id)); err != nil {
		t.Errorf("its owner taking a held nickname back: %v", err)
	}
	again, err := Join(t.Context(), o)
	if err != nil {
		t.Fatalf("joining again as a after Close: %v", err)
	}
	again.Close()
}

// TestServerRestart: the NATS server down for longer than DeadAfter and
// back: the nodes take no one for dead, and their replicas follow again.
func TestServerRestart(t *testing.T) {
	c := newCluster(t)
	a, b := c.join("a"), c.join("b")
	attach(t, a, "alice")
	attach(t, b, "bob")
	if err := a.Nicks().Claim("alice", claim(1, room.Identity{})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "each to see the other", func() bool { return len(peerNicks(a)) == 1 && len(peerNicks(b)) == 1 })
	since := func(n *Node) time.Duration {
		n.mu.Lock()
		defer n.mu.Unlock()
		return time.Since(n.lastBeat)
	}
	c.srv.Kill()
	waitFor(t, "the nodes to miss their heartbeats for DeadAfter", func() bool {
		return since(a) > testDeadAfter+testHeartbeat && since(b) > testDeadAfter+testHeartbeat
	})
	c.srv = c.srv.Restart(t)
	waitFor(t, "the nodes to renew again", func() bool { return since(a) < testHeartbeat && since(b) < testHeartbeat })
	sa, sb := a.sweeps.Load(), b.sweeps.Load()
	sweeps := uint64(2 * testDeadAfter / (testHeartbeat / 2))
	waitFor(t, "DeadAfter of sweeps", func() bool { return a.sweeps.Load() > sa+sweeps && b.sweeps.Load() > sb+sweeps })
	if got := c.log.stored(); len(got) != 0 {
		t.Errorf("leaves announced after an outage: %+v", got)
	}
	if peerNicks(a)["bob"] != "b" || peerNicks(b)["alice"] != "a" {
		t.Errorf("after the outage a lists %v, b %v (live %v %v, nodes %v %v)", peerNicks(a), peerNicks(b), a.liveOthers(), b.liveOthers(), a.index.Load().nodes, b.index.Load().nodes)
	}
	if err := b.Nicks().Claim("ALICE", claim(1, room.Identity{})); !errors.Is(err, room.ErrNickTaken) {
		t.Errorf("claiming alice's nickname after the outage: %v", err)
	}
	if err := b.Nicks().Claim("bob", claim(2, room.Identity{})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's replica to follow again", func() bool { _, ok := a.Nicks().Owner("bob"); return ok })
	for _, n := range []*Node{a, b} { // before the restarted server stops
		if err := n.Close(); err != nil {
			t.Errorf("Close(%s): %v", n.o.Node, err)
		}
	}
}
