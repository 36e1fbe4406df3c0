package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// These tests govern a room as its owner would: chatd runs with --admins
// naming alice's SSH key and TLS client certificate; the others connect
// with the real openssl s_client (with certificates of their own) and the
// real ssh (keys made with ssh-keygen), screens in tmux.

// person is someone with an SSH key and a TLS client certificate of their
// own.
type person struct {
	nick    string
	sshKey  string // private key file; its public half is sshKey+".pub"
	sshFP   string // "SHA256:..." as ssh-keygen -l prints it
	cert    string // self-signed client certificate (PEM)
	certKey string // its private key
	certFP  string // "sha256:AA:BB:..." as an access list names it
}

// newPerson makes nick's key and certificate in dir with ssh-keygen and
// openssl req.
func newPerson(t *testing.T, dir, nick string) person {
	t.Helper()
	p := person{nick: nick, sshKey: filepath.Join(dir, nick+"_ed25519"),
		cert: filepath.Join(dir, nick+".pem"), certKey: filepath.Join(dir, nick+".key")}
	mustRun(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", nick, "-f", p.sshKey)
	p.sshFP = strings.Fields(mustRun(t, "ssh-keygen", "-lf", p.sshKey+".pub"))[1]
	mustRun(t, "openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", p.certKey, "-out", p.cert,
		"-subj", "/CN="+nick, "-days", "2")
	p.certFP = "sha256:" + opensslFingerprint(t, p.cert)
	return p
}

// mustRun runs a command that must succeed and returns its output.
func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// community is a chatd whose owner is alice, and the people around it.
type community struct {
	t                   *testing.T
	dataDir, admins     string
	alice, bob, mallory person
	s                   *testproc.Chatd
}

// newCommunity makes the people, writes the admins file (alice's
// authorized_keys line and her certificate's fingerprint) and starts chatd.
func newCommunity(t *testing.T) *community {
	t.Helper()
	requireOpenSSL(t)
	requireSSH(t)
	dir := t.TempDir()
	c := &community{t: t, dataDir: filepath.Join(dir, "data"), admins: filepath.Join(dir, "admins"),
		alice: newPerson(t, dir, "alice"), bob: newPerson(t, dir, "bob"), mallory: newPerson(t, dir, "mallory")}
	pub, err := os.ReadFile(c.alice.sshKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	admins := "# the owners\n" + string(pub) + c.alice.certFP + " alice\n"
	if err := os.WriteFile(c.admins, []byte(admins), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start()
	return c
}

// start starts chatd on the community's data directory, with JSON logs
// and metrics.
func (c *community) start() {
	c.t.Helper()
	c.s = startChatd(c.t, c.dataDir, "--ssh-addr", "127.0.0.1:0", "--admins", c.admins,
		"--metrics-addr", "127.0.0.1:0", "--log-format", "json")
}

// restart stops chatd as an operator would (SIGTERM) and starts it again.
func (c *community) restart() {
	c.t.Helper()
	c.s.Signal(syscall.SIGTERM)
	if code := c.s.WaitExit(); code != 0 {
		c.t.Fatalf("chatd exited %d on SIGTERM", code)
	}
	c.start()
}

// openssl connects p with openssl s_client presenting p's certificate, from
// the loopback address from (127.0.0.1 or another one).
func (c *community) openssl(p person, from string) *testproc.Process {
	c.t.Helper()
	argv := []string{"openssl", "s_client", "-quiet", "-verify_return_error", "-verify_hostname", "localhost",
		"-servername", "localhost", "-connect", "127.0.0.1:" + c.s.Port, "-CAfile", c.s.CertFile,
		"-cert", p.cert, "-key", p.certKey, "-bind", from + ":0"}
	return testproc.Start(c.t, p.nick, nil, argv...)
}

// join connects p over TLS from from and joins as p.nick.
func (c *community) join(p person, from string) *testproc.Process {
	c.t.Helper()
	conn := c.openssl(p, from)
	conn.Expect("*** Choose a nickname")
	conn.Send(p.nick)
	conn.Expect("*** " + p.nick + " joined")
	return conn
}

// ssh returns the ssh command line of p, with p's key only, as user, with
// extra options before the destination.
func (c *community) ssh(p person, user string, extra ...string) []string {
	c.t.Helper()
	opts := append([]string{"-i", p.sshKey, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "BatchMode=yes"}, extra...)
	return sshArgs(c.t, c.s, user, opts...)
}

// console runs an admin command over SSH exec with p's key.
func (c *community) console(p person, words ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	return runSSH(c.t, append(c.ssh(p, "x"), words...))
}

// screen opens p's SSH screen as user in tmux; when ssh ends, the pane
// keeps what it showed and adds "ssh exited N".
func (c *community) screen(p person, user string) *testproc.Tmux {
	c.t.Helper()
	argv := c.ssh(p, user, "-t")
	script := strings.Join(argv, " ") + `; echo "ssh exited $?"; sleep 60`
	return testproc.StartTmux(c.t, 100, 30, "sh", "-c", script)
}

// metric polls chatd's /metrics until series (name and labels, exactly as
// exposed) reaches at least want, and returns its value.
func (c *community) metric(series string, want float64) float64 {
	c.t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		got, body := c.scrape(series)
		if got >= want {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s is %v, want at least %v; /metrics:\n%s", series, got, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape reads series from /metrics (-1 if absent) and the whole page.
func (c *community) scrape(series string) (float64, string) {
	c.t.Helper()
	resp, err := http.Get(c.s.MetricsURL + "/metrics")
	if err != nil {
		c.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		c.t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				c.t.Fatalf("%s: %v", sc.Text(), err)
			}
			return f, string(body)
		}
	}
	return -1, string(body)
}

// record polls chatd's JSON log until a "moderation" record matches every
// field of want, and returns it.
func (c *community) record(want map[string]string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		if rec := findRecord(c.s.Output(), want); rec != nil {
			return rec
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no moderation record %v in chatd's log:\n%s", want, c.s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findRecord returns the first moderation record of log whose fields hold
// want's values, or nil.
func findRecord(log string, want map[string]string) map[string]any {
	for line := range strings.Lines(log) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "moderation" {
			continue
		}
		match := true
		for k, v := range want {
			if s, _ := rec[k].(string); s != v {
				match = false
			}
		}
		if match {
			return rec
		}
	}
	return nil
}

// untilRE finds the end of a timed ban or mute in what chatd says.
var untilRE = regexp.MustCompile(`until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC`)

// until reads the time a line says a ban or mute ends.
func until(t *testing.T, line string) time.Time {
	t.Helper()
	m := untilRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no end time in %q", line)
	}
	at, err := time.Parse(time.DateTime, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// waitForTheClock waits until the wall clock is past at: timed bans and
// mutes end by the clock (a poll; nothing else to wait on).
func waitForTheClock(t *testing.T, at time.Time) {
	t.Helper()
	at = at.Add(time.Second) // the line shows whole seconds
	if d := time.Until(at); d > testproc.Wait {
		t.Fatalf("%v is too far away to wait for", at)
	}
	for time.Now().Before(at) {
		time.Sleep(50 * time.Millisecond)
	}
}

// moderationCommands are the room's operator-only commands, each as a
// member might try it.
var moderationCommands = []string{"/op bob", "/deop alice", "/kick mallory", "/ban mallory", "/unban mallory",
	"/banned", "/mute mallory", "/unmute mallory", "/motd hello", "/allow bob", "/disallow bob"}

// TestModerationKickMuteMOTDAndPermissions: a member is told "permission
// denied" for every moderation command, in the room and over SSH exec;
// bad arguments get each command's usage; the owner's /motd is shown to
// every joiner after the member list, /mute silences a member until it
// ends or /unmute, and /kick removes an openssl user (who reads why) and an
// SSH screen (which shows why last). Each action is announced, logged as
// a record and counted.
func TestModerationKickMuteMOTDAndPermissions(t *testing.T) {
	t.Parallel()
	c := newCommunity(t)
	alice := c.join(c.alice, "127.0.0.1")
	bob := c.join(c.bob, "127.0.0.1")
	mallory := c.join(c.mallory, "127.0.0.2")

	for _, cmd := range moderationCommands {
		bob.Send(cmd)
		bob.Expect("!!! permission denied: /" + strings.Fields(cmd)[0][1:] + " is for the room's operators only")
	}
	if _, stderr, code := c.console(c.bob, "ban", "mallory", "1h", "spam"); code != 1 || !strings.Contains(stderr, "permission denied") {
		t.Errorf("ban from bob's key: exit %d, %q; want 1 and permission denied", code, stderr)
	}
	banUsage := "!!! usage: /ban NICK|fp=FINGERPRINT|ip=ADDR[/PREFIX] [DURATION] [REASON]"
	for _, bad := range [][2]string{
		{"/kick", "!!! usage: /kick NICK [REASON]"},
		{"/ban", banUsage},
		{"/ban ip=nowhere", banUsage},
		{"/ban mallory 400d", banUsage},
		{"/mute", "!!! usage: /mute NICK [DURATION]"},
		{"/op", "!!! usage: /op NICK"},
		{"/unban fp=xyz", "!!! usage: /unban NICK|fp=FINGERPRINT|ip=ADDR[/PREFIX]"},
	} {
		alice.Send(bad[0])
		alice.Expect(bad[1])
	}
	if _, stderr, code := c.console(c.alice, "kick"); code != 2 || !strings.Contains(stderr, "usage: kick NICK [REASON]") {
		t.Errorf("kick without a nick over SSH exec: exit %d, %q; want 2 and its usage", code, stderr)
	}

	alice.Send("/motd Be kind; no spam")
	for _, p := range []*testproc.Process{alice, bob, mallory} {
		p.Expect("*** alice set the message of the day: Be kind; no spam")
	}
	carol := c.s.OpenSSL(t, "carol")
	carol.Expect("*** Choose a nickname")
	carol.Send("carol")
	carol.Expect("*** 4 members: alice, bob, carol, mallory")
	carol.Expect("*** Message of the day: Be kind; no spam")
	c.record(map[string]string{"action": "motd", "by": "alice", "reason": "Be kind; no spam"})

	checkMute(t, c, alice, bob, carol)
	checkKick(t, c, alice, bob, mallory)
}

// checkMute: bob, muted for a few seconds, reads but cannot send and is
// told so until the mute ends by itself; muted again without an end, he
// can send once alice unmutes him.
func checkMute(t *testing.T, c *community, alice, bob, carol *testproc.Process) {
	t.Helper()
	alice.Send("/mute bob 3s")
	carol.Expect("*** alice muted bob for 3s")
	bob.Send("can anyone hear me")
	told := bob.Expect("!!! you are muted by an operator until ")
	if !strings.HasSuffix(told, "you can read, but not send") {
		t.Errorf("a muted member is told %q", told)
	}
	ends := until(t, told)
	alice.Send("bob reads this")
	bob.Expect("<alice> bob reads this")
	c.record(map[string]string{"action": "mute", "by": "alice", "target": "bob"})

	waitForTheClock(t, ends)
	bob.Send("my mute has ended")
	carol.Expect("<bob> my mute has ended")
	if strings.Contains(carol.Output(), "can anyone hear me") {
		t.Error("a muted member's line reached the room")
	}

	alice.Send("/mute bob")
	carol.Expect("*** alice muted bob")
	bob.Send("still muted")
	bob.Expect("!!! you are muted")
	alice.Send("/unmute bob")
	carol.Expect("*** alice unmuted bob")
	bob.Send("unmuted at last")
	carol.Expect("<bob> unmuted at last")
	c.record(map[string]string{"action": "unmute", "by": "alice", "target": "bob"})
	c.metric(`chatd_moderation_actions_total{action="mute"}`, 2)
	c.metric(`chatd_moderation_actions_total{action="unmute"}`, 1)
}

// checkKick: alice kicks mallory's openssl connection and then an SSH
// screen; everyone reads the leave line, mallory her farewell, and the
// screen shows it last.
func checkKick(t *testing.T, c *community, alice, bob, mallory *testproc.Process) {
	t.Helper()
	alice.Send("/kick mallory spamming links")
	for _, p := range []*testproc.Process{alice, bob} {
		p.Expect("*** mallory left (kicked by alice: spamming links)")
	}
	mallory.Expect("!!! disconnected: kicked by alice: spamming links")
	mallory.WaitExit()
	c.record(map[string]string{"action": "kick", "by": "alice", "target": "mallory", "reason": "spamming links"})

	tm := c.screen(c.mallory, "mal")
	screen := tm.WaitFor("Message of the day: Be kind; no spam")
	if m, motd := strings.Index(screen, "4 members: alice, bob, carol, mal"), strings.Index(screen, "Message of the day"); m < 0 || m > motd {
		t.Errorf("the SSH screen does not show the message of the day after the member list:\n%s", screen)
	}
	bob.Expect("*** mal joined")
	alice.Send("/kick mal go away")
	bob.Expect("*** mal left (kicked by alice: go away)")
	screen = tm.WaitFor("ssh exited")
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if len(lines) < 2 || !strings.Contains(lines[len(lines)-2], "kicked by alice: go away") {
		t.Errorf("the kicked screen's last words are not the kick:\n%s", screen)
	}
	c.metric(`chatd_moderation_actions_total{action="kick"}`, 2)
}

// TestModerationOpsAndBansPersist: an operator made with /op is still one
// after chatd restarts, may not kick or de-op an owner, and bans mallory
// for a few seconds: her TLS connection and her SSH screen go at once
// (everyone reads why), she is refused at the door with the reason and
// the end, across a restart too, until the ban ends by itself; a mute
// outlives the restart as well. Then the
// owner governs over SSH exec (ban, banned, whois, who, kick, allow) and
// lifts a ban with /unban.
func TestModerationOpsAndBansPersist(t *testing.T) {
	t.Parallel()
	c := newCommunity(t)
	alice := c.join(c.alice, "127.0.0.1")
	bob := c.join(c.bob, "127.0.0.1")
	bob.Send("/register")
	bob.Expect(`*** "bob" is now registered`)
	mallory := c.join(c.mallory, "127.0.0.2")
	mallory.Send("/register")
	mallory.Expect(`*** "mallory" is now registered`)
	mallory.Send("/register link") // and her SSH key, with a one-time code
	code := linkCode(t, mallory.Expect(`link code for "mallory": `))
	linking := c.screen(c.mallory, "malkey")
	linking.WaitFor("malkey joined")
	linking.TypeLine("/register " + code)
	linking.WaitFor(c.mallory.sshFP)
	linking.TypeLine("/quit")
	linking.WaitFor("ssh exited")

	alice.Send("/op bob")
	for _, p := range []*testproc.Process{alice, bob, mallory} {
		p.Expect("*** alice made bob an operator")
	}
	c.record(map[string]string{"action": "op", "by": "alice", "target": "bob"})
	c.metric(`chatd_moderation_actions_total{action="op"}`, 1)
	bob.Send("/kick alice bye")
	bob.Expect("!!! permission denied: alice is an owner; only owners can do that")
	bob.Send("/deop alice")
	bob.Expect(`!!! "alice" is an owner: owners cannot be de-opped`)

	ends := checkTimedBan(t, c, alice, bob, mallory)
	alice.Send("/mute mallory 1h") // absent, but registered
	alice.Expect("*** alice muted mallory for 1h")
	c.restart()
	if out, _, code := c.console(c.alice, "whois", "bob"); code != 0 || !strings.Contains(out, "bob: operator") {
		t.Errorf("after a restart, whois bob: exit %d, %q; want bob still an operator", code, out)
	}
	c.refusedAtTheDoor(c.mallory, "127.0.0.2", "you are banned until", ": spam")
	c.metric(`chatd_door_refusals_total{class="banned",transport="tls"}`, 1)
	bob = c.join(c.bob, "127.0.0.1")
	bob.Send("/banned") // an operator still
	bob.Expect("*** 3 bans:")
	if line := bob.Expect("(mallory) by bob since "); !strings.Contains(line, "until") || !strings.HasSuffix(line, ": spam") {
		t.Errorf("/banned lists %q", line)
	}
	waitForTheClock(t, ends)
	bob.Send("/banned")
	bob.Expect("*** nobody is banned")
	alice = c.join(c.alice, "127.0.0.1")
	mallory = c.join(c.mallory, "127.0.0.2")
	mallory.Send("the ban is over")
	mallory.Expect("!!! you are muted by an operator until ") // the mute outlived the restart
	checkConsole(t, c, alice, bob, mallory)
	checkTargets(t, c, alice)
}

// checkTimedBan: bob, an operator, bans mallory for 8s; it returns when
// the ban ends.
func checkTimedBan(t *testing.T, c *community, alice, bob, mallory *testproc.Process) time.Time {
	t.Helper()
	tm := c.screen(c.mallory, "mal") // her registered key, from 127.0.0.1
	tm.WaitFor("mal joined")
	alice.Expect("*** mal joined")

	bob.Send("/ban mallory 8s spam")
	// Both go at once, in either order.
	left := seen(t, alice, "*** mallory left (banned by bob until ")
	ends := until(t, left)
	if !strings.HasSuffix(left, "UTC: spam)") {
		t.Errorf("leave line %q", left)
	}
	seen(t, alice, "*** mal left (banned by bob until ")
	mallory.Expect("!!! disconnected: banned by bob until ")
	mallory.WaitExit()
	tm.WaitFor("ssh exited")
	if screen := tm.Capture(); !strings.Contains(screen, "banned by bob until") {
		t.Errorf("the banned screen does not say why:\n%s", screen)
	}
	bob.Send("still here")
	alice.Expect("<bob> still here")
	if rec := c.record(map[string]string{"action": "ban", "by": "bob", "target": "mallory", "reason": "spam"}); rec["until"] == nil {
		t.Errorf("the record of a timed ban has no end: %v", rec)
	}
	c.metric(`chatd_moderation_actions_total{action="ban"}`, 1)

	c.refusedAtTheDoor(c.mallory, "127.0.0.2", "you are banned until", ": spam")
	// Her address holds a stranger, not bob, the operator who banned her
	// (an address ban holds only ranks below its author's).
	c.refusedAtTheDoor(newPerson(t, t.TempDir(), "eve"), "127.0.0.2", "you are banned until")
	c.openssl(c.bob, "127.0.0.2").Expect("*** Choose a nickname")
	if _, stderr, code := c.console(c.mallory, "who"); code != 1 || !strings.Contains(stderr, "*** you are banned until") {
		t.Errorf("mallory's key over ssh: exit %d, %q; want 1 and the ban", code, stderr)
	}
	c.metric(`chatd_door_refusals_total{class="banned",transport="tls"}`, 2)
	c.metric(`chatd_door_refusals_total{class="banned",transport="ssh"}`, 1)
	return ends
}

// seen waits until p has printed want anywhere, without consuming
// anything, and returns the line holding it.
func seen(t *testing.T, p *testproc.Process, want string) string {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		for line := range strings.Lines(p.Output()) {
			if strings.Contains(line, want) {
				return strings.TrimRight(line, "\r\n")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never printed %q; it printed:\n%s", want, p.Output())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// refusedAtTheDoor connects p over TLS from from and checks it is refused
// before it may choose a nickname, with a line holding every want.
func (c *community) refusedAtTheDoor(p person, from string, want ...string) {
	c.t.Helper()
	conn := c.openssl(p, from)
	line := conn.Expect("!!! disconnected: refused: ")
	conn.WaitExit()
	for _, w := range want {
		if !strings.Contains(line, w) {
			c.t.Errorf("%s was refused with %q, want %q in it", p.nick, line, w)
		}
	}
	if strings.Contains(conn.Output(), "Choose a nickname") {
		c.t.Errorf("%s was asked for a nickname before the refusal:\n%s", p.nick, conn.Output())
	}
}

// checkConsole: alice governs over SSH exec without joining.
func checkConsole(t *testing.T, c *community, alice, bob, mallory *testproc.Process) {
	t.Helper()
	console := func(want string, words ...string) {
		t.Helper()
		out, stderr, code := c.console(c.alice, words...)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("ssh ... %s: exit %d, %q %q; want 0 and %q", strings.Join(words, " "), code, out, stderr, want)
		}
	}
	console("members: alice, bob, mallory", "who")
	console("mallory: member", "whois", "mallory")
	console("banned mallory", "ban", "mallory", "1h", "spam")
	bob.Expect("*** mallory left (banned by alice until ")
	mallory.Expect("!!! disconnected: banned by alice until ")
	console("(mallory) by alice since", "banned")
	console("", "allow", "bob")
	console("", "kick", "bob", "enough")
	bob.Expect("!!! disconnected: kicked by alice: enough")
	alice.Expect("*** bob left (kicked by alice: enough)")

	alice.Send("/unban mallory")
	alice.Expect("*** alice lifted the ban on mallory")
	alice.Send("/banned")
	alice.Expect("*** nobody is banned")
	c.join(c.mallory, "127.0.0.2")
	c.record(map[string]string{"action": "unban", "by": "alice", "target": "mallory"})
	c.metric(`chatd_moderation_actions_total{action="unban"}`, 1)
	console("", "deop", "bob")
	alice.Expect("*** alice took bob's operator role away")
	console("bob: member", "whois", "bob")
	c.record(map[string]string{"action": "deop", "by": "alice", "target": "bob"})
	c.metric(`chatd_moderation_actions_total{action="deop"}`, 1)
}

// checkTargets: alice bans a key by its fingerprint and an address; each
// holds at the door, and /unban lifts the address's.
func checkTargets(t *testing.T, c *community, alice *testproc.Process) {
	t.Helper()
	watcher := alice
	alice.Send("/ban fp=" + c.bob.sshFP + " 1h stolen key")
	watcher.Expect("*** alice banned " + c.bob.sshFP + " until ")
	if _, stderr, code := c.console(c.bob, "who"); code != 1 || !strings.Contains(stderr, "you are banned until") {
		t.Errorf("a banned key over ssh: exit %d, %q", code, stderr)
	}
	alice.Send("/ban ip=127.0.0.3 flood")
	watcher.Expect("*** alice banned 127.0.0.3/32: flood")
	c.refusedAtTheDoor(c.bob, "127.0.0.3", "you are banned: flood")
	alice.Send("/unban ip=127.0.0.3")
	watcher.Expect("*** alice lifted the ban on 127.0.0.3/32")
	c.join(c.bob, "127.0.0.3").Send("/quit")
}
