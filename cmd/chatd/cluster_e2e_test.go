package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"chatd/internal/jetlog"
	"chatd/internal/testproc"
)

// These tests run one room on three chatd nodes (a, b, c) over three real
// nats-servers clustered on loopback, as an operator deploys them (see
// docs/CLUSTER.md): the real openssl s_client and ssh connect to
// different nodes and must see one room.

// The nodes renew their presence every second and count a node dead
// after 10 s of silence, so that a killed node is noticed in seconds
// rather than the default 15 s; no less, since a NATS server that dies
// stalls the presence bucket for a few seconds while its replicas elect
// a new leader, and live nodes must not be taken for dead then. The test
// allows for the defaults too (nodeDeathWait).
const clusterHeartbeat, clusterDeadAfter = "1s", "10s"

// nodeDeathWait bounds how long the members of a killed node may take to
// be announced as left: within ~30 s, says the issue.
const nodeDeathWait = 35 * time.Second

// removalWait bounds how long a kick or ban made on one node may take to
// remove a member on another: within a second, with room for a loaded
// machine.
const removalWait = 2 * time.Second

// chatCluster is three nats-servers and three chatd nodes, a, b and c,
// sharing one room, with alice as its owner.
type chatCluster struct {
	t                               *testing.T
	nats                            *testproc.NATSCluster
	nodes                           map[string]*testproc.Chatd
	alice, bob, carol, mallory, zed person
	admins, certFile, keyFile       string
}

// newChatCluster starts the nats-servers and the nodes: one certificate
// for all of them (so that a client trusts one certificate whichever node
// it reaches), one admins file naming alice.
func newChatCluster(t *testing.T) *chatCluster {
	t.Helper()
	requireOpenSSL(t)
	requireSSH(t)
	dir := t.TempDir()
	c := &chatCluster{t: t, nodes: map[string]*testproc.Chatd{},
		alice: newPerson(t, dir, "alice"), bob: newPerson(t, dir, "bob"), carol: newPerson(t, dir, "carol"),
		mallory: newPerson(t, dir, "mallory"), zed: newPerson(t, dir, "zed")}
	mustRun(t, chatdBinary, "cert", "--out", filepath.Join(dir, "tls"))
	c.certFile, c.keyFile = filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	c.admins = filepath.Join(dir, "admins")
	if err := os.WriteFile(c.admins, []byte(c.alice.certFP+" alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.nats = testproc.StartNATSClusterOf(t, natsServerBinary(t), 3)
	for _, name := range []string{"a", "b", "c"} {
		c.nodes[name] = testproc.StartChatd(t, chatdBinary, filepath.Join(dir, "node-"+name),
			"--nats", c.nats.URLs(), "--node", name, "--nats-replicas", "3",
			"--cluster-heartbeat", clusterHeartbeat, "--cluster-dead-after", clusterDeadAfter,
			"--tls-addr", "127.0.0.1:0", "--ssh-addr", "127.0.0.1:0",
			"--cert", c.certFile, "--key", c.keyFile, "--admins", c.admins, "--history", "200",
			"--metrics-addr", "127.0.0.1:0")
	}
	return c
}

// requireClusterFlags skips the test if chatd has no --node flag yet: the
// flags of issue 17 are wired into cmd/chatd apart from this test, which
// was written against them.
func requireClusterFlags(t *testing.T) {
	t.Helper()
	help, _ := exec.Command(chatdBinary, "--help").CombinedOutput()
	if !strings.Contains(string(help), "--node ") {
		t.Skip("chatd has no --node flag yet")
	}
}

// openssl connects p to node with openssl s_client, presenting p's
// certificate, from the loopback address from.
func (c *chatCluster) openssl(node string, p person, from string) *testproc.Process {
	c.t.Helper()
	s := c.nodes[node]
	argv := []string{"openssl", "s_client", "-quiet", "-verify_return_error", "-verify_hostname", "localhost",
		"-servername", "localhost", "-connect", "127.0.0.1:" + s.Port, "-CAfile", c.certFile,
		"-cert", p.cert, "-key", p.certKey, "-bind", from + ":0"}
	name := p.nick + "@" + node
	conn := testproc.Start(c.t, name, nil, argv...)
	c.t.Cleanup(func() {
		if c.t.Failed() {
			c.t.Logf("%s printed:\n%s", name, conn.Output())
		}
	})
	return conn
}

// join connects p to node over TLS and joins as nick.
func (c *chatCluster) join(node string, p person, nick, from string) *testproc.Process {
	c.t.Helper()
	conn := c.openssl(node, p, from)
	conn.Expect("*** Choose a nickname")
	conn.Send(nick)
	conn.Expect("*** " + nick + " joined")
	return conn
}

// screen opens p's SSH screen on node as nick, with p's key only.
func (c *chatCluster) screen(node string, p person, nick string) *testproc.Screen {
	c.t.Helper()
	argv := sshArgs(c.t, c.nodes[node], nick, "-i", p.sshKey, "-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none", "-o", "BatchMode=yes")
	return testproc.StartScreen(c.t, "ssh "+nick+"@"+node, 100, 40, argv...)
}

// TestClusterOfThreeNodes is the room on three nodes, one scene after
// another on one deployment (each scene builds on the members the ones
// before left in the room): one order and one history everywhere, one
// member list, private messages, one nickname space, kicks and bans
// across nodes, then a nats-server and a chatd node killed.
func TestClusterOfThreeNodes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs three nats-servers and three chatd nodes")
	}
	requireClusterFlags(t)
	c := newChatCluster(t)
	alice := c.join("a", c.alice, "alice", "127.0.0.1")
	bob := c.join("b", c.bob, "bob", "127.0.0.1")
	alice.Expect("*** bob joined")
	carol := c.screen("c", c.carol, "carol")
	carol.WaitFor("carol joined")
	for _, p := range []*testproc.Process{alice, bob} {
		p.Expect("*** carol joined")
	}

	for _, name := range []string{"a", "b", "c"} {
		waitClusterMetric(t, c.nodes[name], `chatd_cluster_nodes{node="`+name+`"}`, 3)
	}

	// One scene after another, on the test's own t: the processes are
	// the whole test's, and so are their failures.
	late := checkOneOrder(t, c, alice, bob, carol)
	checkWho(t, late)
	checkPrivate(t, alice, bob, carol)
	checkNicknames(t, c, alice)
	checkKickAndBan(t, c, alice, bob)
	checkNATSServerKilled(t, c, alice, append([]*testproc.Process{bob}, late...), carol)
	checkNodeKilled(t, c, alice, late[2], carol)
	checkQuorumLost(t, c, alice, late[2])
}

// publicLineRE matches a public message as a TLS member reads it, live or
// in the recent history: "[15:04:05] <nick> text".
var publicLineRE = regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] <([^>]+)> (.*)$`)

// publicLines returns the public messages in out, in order, as "nick> text".
func publicLines(out string) []string {
	var lines []string
	for line := range strings.Lines(out) {
		if m := publicLineRE.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil {
			lines = append(lines, m[1]+"> "+m[2])
		}
	}
	return lines
}

// historyOf returns the recent history a joiner was shown: the lines
// between "*** recent history" and "*** end of recent history".
func historyOf(t *testing.T, out string) []string {
	t.Helper()
	start := strings.Index(out, "*** recent history")
	end := strings.Index(out, "*** end of recent history")
	if start < 0 || end < start {
		t.Fatalf("no recent history in:\n%s", out)
	}
	// Both marker lines are whole lines, with a time stamp before them.
	body := out[start : strings.LastIndexByte(out[:end], '\n')+1]
	body = body[strings.IndexByte(body, '\n')+1:]
	return strings.Split(strings.TrimRight(body, "\r\n"), "\n")
}

// checkOneOrder: alice (a) and bob (b) send at the same time, carol (c,
// SSH) too; each sees the others' lines in one order, which late joiners
// on each node (dave on a, erin on b, frank on c) find as the history,
// the same on all three. It returns the late joiners.
func checkOneOrder(t *testing.T, c *chatCluster, alice, bob *testproc.Process, carol *testproc.Screen) []*testproc.Process {
	const each = 6
	var sent []string
	for i := range each {
		a, b := fmt.Sprintf("alice-line-%02d", i), fmt.Sprintf("bob-line-%02d", i)
		alice.Send(a)
		bob.Send(b)
		sent = append(sent, "alice> "+a, "bob> "+b)
		if i%3 == 0 {
			line := fmt.Sprintf("carol-line-%02d", i)
			carol.Type(line + "\r")
			sent = append(sent, "carol> "+line)
		}
	}
	// Nobody is echoed their own lines: each waits for the others' last.
	waitPrinted(t, alice, 0, testproc.Wait, "<bob> bob-line-05", "<carol> carol-line-03")
	waitPrinted(t, bob, 0, testproc.Wait, "<alice> alice-line-05", "<carol> carol-line-03")
	carol.WaitFor("alice-line-05")
	carol.WaitFor("bob-line-05")

	var late []*testproc.Process
	var histories [][]string
	for _, j := range []struct{ node, nick string }{{"a", "dave"}, {"b", "erin"}, {"c", "frank"}} {
		p := c.openssl(j.node, newPerson(t, t.TempDir(), j.nick), "127.0.0.1")
		p.Expect("*** Choose a nickname")
		p.Send(j.nick)
		p.Expect("*** end of recent history")
		p.Expect("*** " + j.nick + " joined")
		late = append(late, p)
		histories = append(histories, historyOf(t, p.Output()))
	}
	order := publicLines(strings.Join(histories[0], "\n"))
	if !sameElements(order, sent) {
		t.Fatalf("dave's history holds the messages\n%s\nwant, in any order,\n%s", strings.Join(order, "\n"), strings.Join(sent, "\n"))
	}
	for i := range histories {
		for j := i + 1; j < len(histories); j++ {
			short, long := histories[i], histories[j]
			if len(short) > len(long) {
				short, long = long, short
			}
			if !slices.Equal(short, long[:len(short)]) {
				t.Errorf("late joiners on different nodes were shown different histories:\n%s\n---\n%s",
					strings.Join(histories[i], "\n"), strings.Join(histories[j], "\n"))
			}
		}
	}
	for _, m := range []struct {
		nick string
		p    *testproc.Process
	}{{"alice", alice}, {"bob", bob}} {
		want := slices.DeleteFunc(slices.Clone(order), func(l string) bool { return strings.HasPrefix(l, m.nick+"> ") })
		if got := publicLines(m.p.Output()); !slices.Equal(got, want) {
			t.Errorf("%s saw\n%s\nwant the room's order\n%s", m.nick, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	checkScreenOrder(t, carol, order)
	return late
}

// sameElements reports whether a and b hold the same lines, in any order.
func sameElements(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// checkScreenOrder checks that an SSH screen shows the texts of order in
// that order (each text once, as a substring of the screen).
func checkScreenOrder(t *testing.T, s *testproc.Screen, order []string) {
	t.Helper()
	screen := s.Text()
	at := -1
	for _, l := range order {
		text := l[strings.Index(l, "> ")+2:]
		i := strings.Index(screen, text)
		if i < 0 {
			continue // scrolled away, or her own line drawn elsewhere
		}
		if i < at {
			t.Errorf("the SSH screen shows %q out of the room's order:\n%s", text, screen)
		}
		at = i
	}
}

// checkWho: /who on each node names the members of every node. A node
// learns the others' members from their presence records, so a member
// who just joined another node may be missing for up to a heartbeat: /who
// is asked again until one answer names everyone.
func checkWho(t *testing.T, late []*testproc.Process) {
	everyone := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	for _, p := range late {
		deadline := time.Now().Add(testproc.Wait)
		for {
			from := len(p.Output())
			p.Send("/who")
			waitPrinted(t, p, from, testproc.Wait, " members: ")
			answer := p.Output()[from:]
			answer = answer[strings.Index(answer, " members: "):]
			if i := strings.IndexByte(answer, '\n'); i >= 0 {
				answer = answer[:i]
			}
			missing := slices.DeleteFunc(slices.Clone(everyone), func(nick string) bool {
				return slices.Contains(strings.Split(strings.TrimPrefix(strings.TrimSpace(answer), "members: "), ", "), nick)
			})
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/who still misses %q after %v: %s", missing, testproc.Wait, answer)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}

// waitPrinted waits until what p printed after offset from holds every one
// of wants.
func waitPrinted(t *testing.T, p *testproc.Process, from int, wait time.Duration, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		out := p.Output()[from:]
		missing := slices.DeleteFunc(slices.Clone(wants), func(w string) bool { return strings.Contains(out, w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v, never printed %q; it printed:\n%s", wait, missing, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkPrivate: /msg reaches a member on another node, and the receipt
// comes back; both ways, TLS and SSH.
func checkPrivate(t *testing.T, alice, bob *testproc.Process, carol *testproc.Screen) {
	alice.Send("/msg carol psst from node a")
	carol.WaitFor("psst from node a")
	alice.Expect("-> *carol* psst from node a")
	carol.Type("/msg bob hush from node c\r")
	bob.Expect("*carol* hush from node c")
	if strings.Contains(alice.Output(), "hush from node c") {
		t.Errorf("a private message to bob reached alice:\n%s", alice.Output())
	}
}

// checkNicknames: alice's nickname, on node a, is refused on node b as is
// and as a look-alike; a free one is taken.
func checkNicknames(t *testing.T, c *chatCluster, alice *testproc.Process) {
	conn := c.openssl("b", c.zed, "127.0.0.1")
	conn.Expect("*** Choose a nickname")
	for _, nick := range []string{"alice", "ALICE", "a1ice"} {
		conn.Send(nick)
		conn.Expect(fmt.Sprintf("!!! nickname taken: %q is already in use", nick))
	}
	conn.Send("zed")
	conn.Expect("*** zed joined")
	alice.Expect("*** zed joined")
	conn.Send("/quit")
	alice.Expect("*** zed left (quit)")
}

// checkKickAndBan: alice, an owner on node a, kicks mallory off node b
// and then, once mallory has registered, bans her; each takes effect on
// b within removalWait, is announced once, and the ban keeps her out of
// b's and c's doors.
func checkKickAndBan(t *testing.T, c *chatCluster, alice, bob *testproc.Process) {
	mallory := c.join("b", c.mallory, "mallory", "127.0.0.2")
	alice.Expect("*** mallory joined")
	start := time.Now()
	alice.Send("/kick mallory spamming links")
	mallory.Expect("!!! disconnected: kicked by alice: spamming links")
	if d := time.Since(start); d > removalWait {
		t.Errorf("a kick on node a took %v to remove a member of node b", d)
	}
	mallory.WaitExit()
	for _, p := range []*testproc.Process{alice, bob} {
		p.Expect("*** mallory left (kicked by alice: spamming links)")
	}

	// She registers, so that every node knows her by her account: a ban
	// from node a names an unregistered member of node b, whose
	// credentials only b knows, as "no one called mallory is here or
	// registered" (HANDOFF.md: left for the access part).
	mallory = c.join("b", c.mallory, "mallory", "127.0.0.2")
	alice.Expect("*** mallory joined")
	mallory.Send("/register")
	mallory.Expect(`*** "mallory" is now registered`)
	start = banAcrossNodes(t, alice, mallory, "mallory spam")
	mallory.Expect("!!! disconnected: banned by alice")
	if d := time.Since(start); d > removalWait {
		t.Errorf("a ban on node a took %v to remove a member of node b", d)
	}
	mallory.WaitExit()
	for _, p := range []*testproc.Process{alice, bob} {
		p.Expect("*** mallory left (banned by alice")
	}
	for _, node := range []string{"b", "c"} {
		refusedWithin(t, c, node, c.mallory, "127.0.0.2", removalWait, "you are banned")
	}
	// Each leave was announced once: by then alice has read past a line
	// sent after them.
	bob.Send("after the ban")
	alice.Expect("<bob> after the ban")
	for _, leave := range []string{"*** mallory left (kicked by alice", "*** mallory left (banned by alice"} {
		if n := strings.Count(alice.Output(), leave); n != 1 {
			t.Errorf("alice read %q %d times, want once", leave, n)
		}
	}
}

// banAcrossNodes has op send "/ban " + args until op's node knows the
// registered member it names, which it learns from its watch of the
// accounts within a second of the registration: until then it answers
// that nobody is called so. It returns when the ban was sent.
func banAcrossNodes(t *testing.T, op, target *testproc.Process, args string) time.Time {
	t.Helper()
	deadline := time.Now().Add(removalWait)
	for {
		from, sent := len(op.Output()), time.Now()
		op.Send("/ban " + args)
		if firstOfEither(t, target, "banned by", op, from, "!!! no one called") {
			return sent
		}
		if time.Now().After(deadline) {
			t.Fatalf("node a still knew no registered %q %v after the registration:\n%s", args, removalWait, op.Output()[from:])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// refusedWithin connects p to node over TLS from from until it is refused
// at the door with a line holding want, for at most wait: a node learns
// of a ban made on another from its key-value watch.
func refusedWithin(t *testing.T, c *chatCluster, node string, p person, from string, wait time.Duration, want string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		conn := c.openssl(node, p, from)
		refused := firstOf(t, conn, 0, "!!! disconnected: refused: ", "*** Choose a nickname") == 0
		if refused {
			line := conn.Expect("!!! disconnected: refused: ")
			if !strings.Contains(line, want) {
				t.Errorf("refused at node %s's door with %q, want %q in it", node, line, want)
			}
			conn.WaitExit()
			return
		}
		conn.Signal(syscall.SIGKILL)
		conn.WaitExit()
		if time.Now().After(deadline) {
			t.Fatalf("%s was still let in at node %s's door %v after the ban", p.nick, node, wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firstOf waits until p has printed, past offset from, one of wants and
// returns the index of the one printed first; it consumes nothing.
func firstOf(t *testing.T, p *testproc.Process, from int, wants ...string) int {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		out := p.Output()[from:]
		best, at := -1, len(out)
		for i, w := range wants {
			if j := strings.Index(out, w); j >= 0 && j < at {
				best, at = i, j
			}
		}
		if best >= 0 {
			return best
		}
		if time.Now().After(deadline) {
			t.Fatalf("printed none of %q:\n%s", wants, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNATSServerKilled: the nats-server leading the room's stream is
// killed (-9) while alice talks; every line the room takes from her,
// before, during and after the new leader's election, reaches every
// member on every node, in order, once. The nodes wait out the election
// (jetlog's ElectionWait: an unanswered append is sent again, a lost
// connection is not told to the room while it comes back at once), so
// no line is refused: the room never turns read-only.
func checkNATSServerKilled(t *testing.T, c *chatCluster, alice *testproc.Process, others []*testproc.Process, carol *testproc.Screen) {
	leader := streamLeader(t, c.nats)
	var lines []string
	refused := 0
	for i := range 8 {
		if i == 2 {
			c.nats.Kill(leader)
		}
		line := fmt.Sprintf("through the outage %d", i)
		refused += sendThrough(t, alice, others[0], line)
		lines = append(lines, "alice> "+line)
	}
	if refused > 0 {
		t.Errorf("the room refused %d line(s) while read-only during the outage", refused)
	}
	for _, p := range append(others, alice) {
		if out := p.Output(); strings.Contains(out, "the room is read-only") {
			t.Errorf("a member was told the room is read-only during the outage:\n%s", out)
		}
	}
	for _, p := range others {
		for _, line := range lines {
			p.Expect("<alice> " + strings.TrimPrefix(line, "alice> "))
		}
		got := slices.DeleteFunc(publicLines(p.Output()), func(l string) bool { return !strings.Contains(l, "through the outage") })
		if !slices.Equal(got, lines) {
			t.Errorf("a member read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(lines, "\n"))
		}
	}
	carol.WaitFor("through the outage 7")
	checkScreenOrder(t, carol, lines)
	// No live node was taken for dead while the servers elected leaders.
	for _, p := range append(others, alice) {
		if out := p.Output(); strings.Contains(out, "left (connection lost") {
			t.Errorf("a member was announced lost during the outage:\n%s", out)
		}
	}
	c.nats.Restart(leader)
}

// sendThrough has alice send line until the room takes it, which witness
// shows; a line refused because the room is read-only is sent again once
// alice is told that the room is writable again. It returns how many
// times the line was refused.
func sendThrough(t *testing.T, alice, witness *testproc.Process, line string) (refused int) {
	t.Helper()
	for {
		from := len(alice.Output())
		alice.Send(line)
		if firstOfEither(t, witness, "<alice> "+line, alice, from, "!!! the room is read-only") {
			return refused
		}
		refused++
		waitPrinted(t, alice, from, testproc.Wait, "the room is writable again")
	}
}

// firstOfEither waits until a has printed wantA (true) or b has printed
// wantB past offset from (false).
func firstOfEither(t *testing.T, a *testproc.Process, wantA string, b *testproc.Process, from int, wantB string) bool {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		if strings.Contains(a.Output(), wantA) {
			return true
		}
		if strings.Contains(b.Output()[from:], wantB) {
			return false
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v, neither was %q shown nor %q told:\n%s\n---\n%s", testproc.Wait, wantA, wantB, a.Output(), b.Output()[from:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamLeader returns the index of the nats-server that leads the room's
// stream, as the servers' /jsz report it.
func streamLeader(t *testing.T, n *testproc.NATSCluster) int {
	t.Helper()
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	deadline := time.Now().Add(testproc.Wait)
	for {
		for i := range n.N() {
			if err := n.Monitor(i, "/jsz?accounts=true&streams=true", &jsz); err != nil {
				continue
			}
			for _, a := range jsz.Accounts {
				for _, s := range a.Streams {
					var leader int
					if s.Name == jetlog.DefaultStream && s.Cluster.Leader != "" {
						if _, err := fmt.Sscanf(s.Cluster.Leader, "s%d", &leader); err == nil && leader >= 1 && leader <= n.N() {
							return leader - 1
						}
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server reports a leader of stream %s", jetlog.DefaultStream)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitClusterMetric polls node's /metrics until series (name and labels,
// as exposed) has the value want.
func waitClusterMetric(t *testing.T, node *testproc.Chatd, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		page := httpGet(t, node.MetricsURL+"/metrics")
		if got, ok := metric(page, series); ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never was %v; the cluster's metrics:\n%s", series, want, grepLines(page, "chatd_cluster_"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chatClient starts the bundled client on a screen as nick, given the
// addresses of nodes in that order, trusting the room's certificate.
func (c *chatCluster) chatClient(t *testing.T, nick string, nodes ...string) *testproc.Screen {
	t.Helper()
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, c.nodes[n].Addr())
	}
	dir := t.TempDir()
	return testproc.StartScreen(t, "chat "+nick, 100, 30, chatBinary, "--ca", c.certFile, "--nick", nick,
		"--known-servers", filepath.Join(dir, "known"), "--identity", filepath.Join(dir, "identity.pem"),
		strings.Join(addrs, ","))
}

// checkFailover: gus's chat, whose node b was killed, rejoins through
// node a by itself, shows what alice said meanwhile, once, and talks
// again.
func checkFailover(t *testing.T, c *chatCluster, gus *testproc.Screen, alice *testproc.Process) {
	t.Helper()
	alice.Send("while node b is down")
	gus.WaitFor("reconnected to " + c.nodes["a"].Addr())
	screen := gus.WaitFor("alice: while node b is down")
	if n := strings.Count(screen, "while node b is down"); n != 1 {
		t.Errorf("gus's screen shows alice's line %d times, want once:\n%s", n, screen)
	}
	gus.Type("gus is back\r")
	alice.Expect("<gus> gus is back")
}

// checkNodeKilled: node b is killed (-9) with bob, erin and gus (the
// bundled client, given nodes b and a) on it; gus is back through node a
// at once (checkFailover); alice (a), carol and frank (c) read that bob
// and erin left, once each, within nodeDeathWait, and bob's nickname is
// held for his certificate: zed, another person, is refused it; bob has
// it back.
func checkNodeKilled(t *testing.T, c *chatCluster, alice, frank *testproc.Process, carol *testproc.Screen) {
	gus := c.chatClient(t, "gus", "b", "a")
	gus.WaitFor("gus joined")
	alice.Expect("*** gus joined")
	b := c.nodes["b"]
	b.Signal(syscall.SIGKILL)
	b.WaitExit()
	checkFailover(t, c, gus, alice)
	for _, p := range []*testproc.Process{alice, frank} {
		waitPrinted(t, p, 0, nodeDeathWait, "*** bob left (connection lost", "*** erin left (connection lost")
	}
	carol.WaitFor("bob left")
	waitClusterMetric(t, c.nodes["a"], `chatd_cluster_nodes{node="a"}`, 2)
	waitClusterMetric(t, c.nodes["a"], `chatd_cluster_bus_lag_events{node="a"}`, 0)

	// Once each: a line sent after the leaves has been read by then.
	alice.Send("after node b")
	frank.Expect("<alice> after node b")
	for _, leave := range []string{"*** bob left (", "*** erin left ("} {
		for _, p := range []*testproc.Process{alice, frank} {
			if n := strings.Count(p.Output(), leave); n != 1 {
				t.Errorf("%q read %d times, want once:\n%s", leave, n, p.Output())
			}
		}
	}
	// bob's nickname is held for his certificate (--nick-grace), as when
	// a member's connection drops on one node: zed, another person, is
	// refused; bob, back through node a, has it at once.
	zed := c.openssl("a", c.zed, "127.0.0.1")
	zed.Expect("*** Choose a nickname")
	from := len(zed.Output())
	zed.Send("bob")
	if firstOf(t, zed, from, "!!! nickname taken", "*** bob joined") != 0 {
		t.Fatalf("zed took bob's nickname after bob's node died:\n%s", zed.Output())
	}
	newBob := c.openssl("a", c.bob, "127.0.0.1")
	newBob.Expect("*** Choose a nickname")
	newBob.Send("bob")
	frank.Expect("*** bob joined")
	newBob.Send("/quit")
}

// quorumNoticeWait bounds the wait for the read-only notice: about 4 s
// where the surviving server leads the stream (its replicas unheard for
// 3 s), about 11 s had the leadership moved (no answer for jetlog's
// ElectionWait, 10 s), and a margin for a loaded machine.
const quorumNoticeWait = 25 * time.Second

// checkQuorumLost: two of the three nats-servers are killed, not the one
// node c is connected to, made the stream's leader first (the hard case:
// c's connection stays up, and its server answers for a while as if it
// could store); nothing can be stored, so the room turns read-only on
// every node and says so without anyone speaking, and refuses alice's
// line rather than show it to some; once the servers are
// back it is writable again by itself, and the next line reaches frank on
// node c.
func checkQuorumLost(t *testing.T, c *chatCluster, alice, frank *testproc.Process) {
	survivor := natsServerOf(t, c.nats, "c")
	leadStream(t, c.nats, survivor)
	t.Logf("node c is on nats-server %d, which leads the stream: the other two are killed", survivor+1)
	members := []*testproc.Process{alice, frank}
	from := make([]int, len(members))
	for i, p := range members {
		from[i] = len(p.Output())
	}
	for i := range c.nats.N() {
		if i != survivor {
			c.nats.Kill(i)
		}
	}
	for i, p := range members {
		waitPrinted(t, p, from[i], quorumNoticeWait, "*** the room is read-only")
	}
	said := len(alice.Output())
	alice.Send("said without a quorum")
	waitPrinted(t, alice, said, testproc.Wait, "!!! the room is read-only")
	for i, p := range members {
		if out := p.Output()[from[i]:]; strings.Contains(out, "writable again") {
			t.Errorf("a member was told the room is writable without a quorum:\n%s", out)
		}
		from[i] = len(p.Output())
	}
	for i := range c.nats.N() {
		if i != survivor {
			c.nats.Restart(i)
		}
	}
	for i, p := range members {
		waitPrinted(t, p, from[i], testproc.Wait, "*** the room is writable again")
	}
	sendThrough(t, alice, frank, "said with a quorum again")
	if strings.Contains(frank.Output(), "said without a quorum") {
		t.Errorf("frank was shown a line the room refused:\n%s", frank.Output())
	}
}

// leadStream has nats-server i lead the room's stream (it answers after
// its quorum is gone, as if it could store: the case a node learns of
// only by what the answer says).
func leadStream(t *testing.T, n *testproc.NATSCluster, i int) {
	t.Helper()
	nc, err := nats.Connect(n.URL(i))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body := fmt.Sprintf(`{"placement":{"preferred":"s%d"}}`, i+1) // testproc's names
	deadline := time.Now().Add(testproc.Wait)
	for streamLeader(t, n) != i {
		if time.Now().After(deadline) {
			t.Fatalf("nats-server %d never led the stream", i+1)
		}
		nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+jetlog.DefaultStream, []byte(body), time.Second)
		time.Sleep(500 * time.Millisecond) // the election
	}
}

// natsServerOf returns the index of the nats-server that node's NATS
// connection is on: the one whose clients include the subscription to
// the node's private messages (one connection per node carries the log,
// the directory and the cluster).
func natsServerOf(t *testing.T, n *testproc.NATSCluster, node string) int {
	t.Helper()
	suffix := ".node." + node + ".private"
	deadline := time.Now().Add(testproc.Wait)
	for {
		for i := range n.N() {
			var connz struct {
				Connections []struct {
					Subs []string `json:"subscriptions_list"`
				} `json:"connections"`
			}
			if err := n.Monitor(i, "/connz?subs=1", &connz); err != nil {
				continue
			}
			for _, conn := range connz.Connections {
				if slices.ContainsFunc(conn.Subs, func(s string) bool { return strings.HasSuffix(s, suffix) }) {
					return i
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no nats-server has node %s's connection", node)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
