package mitm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	gossh "golang.org/x/crypto/ssh"
)

// scriptedUpstream is an SSH server: its first connection (the proxy's
// probe at start) is let in and closed; what it does with the others is
// later's.
type scriptedUpstream struct {
	ln    net.Listener
	cfg   *gossh.ServerConfig
	later func(*scriptedUpstream, net.Conn)
	mu    sync.Mutex
	conns []net.Conn
	n     int
	wg    sync.WaitGroup
}

func startScripted(t *testing.T, later func(*scriptedUpstream, net.Conn)) *scriptedUpstream {
	t.Helper()
	key, err := generateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptedUpstream{cfg: &gossh.ServerConfig{NoClientAuth: true}, later: later}
	u.cfg.AddHostKey(key)
	if u.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := u.ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.conns = append(u.conns, c)
			u.n++
			first := u.n == 1
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				if first {
					if sc, _, _, err := gossh.NewServerConn(c, u.cfg); err == nil {
						sc.Close()
					}
					return
				}
				u.later(u, c)
			}()
		}
	}()
	t.Cleanup(func() {
		u.ln.Close()
		u.mu.Lock()
		for _, c := range u.conns {
			c.Close()
		}
		u.mu.Unlock()
		u.wg.Wait()
	})
	return u
}

func (u *scriptedUpstream) addr() string { return u.ln.Addr().String() }

// serveSessions serves c as an SSH server that hands each session
// channel, accepted, its requests answered yes, to session.
func (u *scriptedUpstream) serveSessions(c net.Conn, session func(gossh.Channel)) {
	conn, chans, reqs, err := gossh.NewServerConn(c, u.cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go gossh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for req := range chReqs {
				req.Reply(true, nil)
			}
		}()
		go func() { defer wg.Done(); defer ch.Close(); session(ch) }()
	}
}

func startSSH(t *testing.T, upstream string, timeout time.Duration) (*SSHProxy, *syncBuffer, <-chan error) {
	t.Helper()
	out := newSyncBuffer()
	p, err := StartSSH(context.Background(), SSHConfig{Listen: "127.0.0.1:0", Upstream: upstream, Out: out, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(context.Background()) }()
	return p, out, served
}

func stopSSH(t *testing.T, p *SSHProxy, served <-chan error) {
	t.Helper()
	p.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return after Close")
	}
}

func dialSSHProxy(t *testing.T, p *SSHProxy, user string) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", p.Addr().String(), &gossh.ClientConfig{User: user, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSSHUpstreamLoginFailsLeaksNothing: a client that opens 40 channels
// while the proxy dials an upstream that stalls and then hangs up leaves
// no goroutine behind once the proxy is closed.
func TestSSHUpstreamLoginFailsLeaksNothing(t *testing.T) {
	up := startScripted(t, func(*scriptedUpstream, net.Conn) { time.Sleep(300 * time.Millisecond) }) // then hangs up
	base := goleak.IgnoreCurrent()
	p, out, served := startSSH(t, up.addr(), 2*time.Second)
	raw, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc, _, _, err := gossh.NewClientConn(raw, "x", &gossh.ClientConfig{User: "mallory", HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	var opens sync.WaitGroup
	for range 40 {
		opens.Add(1)
		go func() { defer opens.Done(); cc.OpenChannel("session", nil) }()
	}
	out.waitFor(t, "cannot log in to the SSH upstream")
	cc.Close()
	opens.Wait()
	stopSSH(t, p, served)
	if err := goleak.Find(base, goleak.IgnoreTopFunction("time.Sleep")); err != nil {
		t.Errorf("leaked after the proxy closed:\n%v", err)
	}
}

// TestSSHStderrCrossesBothWays: the server's stderr reaches the client,
// and the client's (3 MiB, more than a channel's window) is read and
// passed on without stalling the session.
func TestSSHStderrCrossesBothWays(t *testing.T) {
	const clientStderr = 3 << 20
	got := make(chan int64, 1)
	up := startScripted(t, func(up *scriptedUpstream, c net.Conn) {
		up.serveSessions(c, func(ch gossh.Channel) {
			io.WriteString(ch.Stderr(), "chatd: there is no command\n")
			counted := make(chan int64, 1)
			go func() { n, _ := io.Copy(io.Discard, ch.Stderr()); counted <- n }()
			r := bufio.NewReader(ch)
			line, _ := r.ReadString('\r')
			io.WriteString(ch, "echo: "+line+"\n")
			io.Copy(io.Discard, r)
			got <- <-counted
		})
	})
	p, _, served := startSSH(t, up.addr(), 0)
	defer stopSSH(t, p, served)
	client := dialSSHProxy(t, p, "alice")
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	stderr, _ := sess.StderrPipe()
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if line != "chatd: there is no command\n" {
		t.Errorf("the server's stderr through the proxy: %q, %v", line, err)
	}
	ch, _, err := client.OpenChannel("session", nil) // a channel of our own, to write stderr on
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := ch.Stderr().Write(bytes.Repeat([]byte("e"), clientStderr))
		ch.CloseWrite()
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("3 MiB of the client's stderr: the write is stuck (the proxy does not read it)")
	}
	select {
	case n := <-got:
		if n != clientStderr {
			t.Errorf("the server got %d bytes of the client's stderr, want %d", n, clientStderr)
		}
	case <-time.After(wait):
		t.Fatal("the client's stderr did not reach the server")
	}
	io.WriteString(stdin, "hi\r")
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "echo: hi\r\n" {
		t.Errorf("the first session after the second's stderr: %q, %v", line, err)
	}
	stdin.Close()
	ch.Close()
}

// TestSSHCloseCutsTheUpstreamHandshake: Close while the upstream is
// silent in the proxy's SSH handshake returns at once, not after the
// timeout; and so does a start-up probe whose context ends.
func TestSSHCloseCutsTheUpstreamHandshake(t *testing.T) {
	up := startScripted(t, func(_ *scriptedUpstream, c net.Conn) { io.Copy(io.Discard, c) }) // silent until cut
	p, out, served := startSSH(t, up.addr(), time.Minute)
	client := dialSSHProxy(t, p, "x")
	defer client.Close()
	time.Sleep(100 * time.Millisecond) // the proxy is in its handshake upstream
	start := time.Now()
	stopSSH(t, p, served)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close waited %v for the upstream's SSH handshake:\n%s", d, out.String())
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := StartSSH(ctx, SSHConfig{Listen: "127.0.0.1:0", Upstream: silent.Addr().String(), Timeout: time.Minute}); err == nil {
		t.Error("started on a silent upstream")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the probe outlived its context by %v", d)
	}
}

// TestLongEventsAreCut: an event's text (a 100,000-byte user name) is cut
// at MaxLine bytes, its length said.
func TestLongEventsAreCut(t *testing.T) {
	var b bytes.Buffer
	tr := newTranscript(&b, time.Now)
	who := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	tr.event(who, "user \""+strings.Repeat("é", 50000)+"\"")
	line := b.String()
	if len(line) > MaxLine+100 || !strings.HasSuffix(line, "\u2026(100007 bytes)\n") {
		t.Errorf("%d bytes printed, ending %q", len(line), line[max(0, len(line)-40):])
	}

	up := startSSHUpstream(t)
	p, out, served := startSSH(t, up.ln.Addr().String(), 0)
	defer stopSSH(t, p, served)
	client := dialSSHProxy(t, p, strings.Repeat("u", 30000))
	defer client.Close()
	text := out.waitFor(t, "ssh intercepted")
	for l := range strings.Lines(text) {
		if len(l) > MaxLine+100 {
			t.Errorf("a transcript line of %d bytes", len(l))
		}
	}
}

// TestVisibleEscapesWhatDrawsNothing: the Hangul fillers, the blank
// Braille pattern, the combining grapheme joiner and stacks of combining
// marks (of every kind: nonspacing, spacing, enclosing) do not pass as
// they are.
func TestVisibleEscapesWhatDrawsNothing(t *testing.T) {
	for in, want := range map[string]string{
		"a\u3164b":                  `a\u3164b`,
		"\u115f\u1160":              `\u115f\u1160`,
		"x\uffa0":                   `x\uffa0`,
		"\u2800":                    `\u2800`,
		"c\u034fd":                  `c\u034fd`,
		"e\u0301":                   "e\u0301",
		"e\u0301\u0302":             "e\u0301\u0302",
		"e\u0301\u0302\u0303\u0304": "e\u0301\u0302\\u0303\\u0304",
		"é\u0301\u0301 ü":           "é\u0301\u0301 ü",
		// Every kind of mark counts (Mn, Mc, Me): an enclosing mark
		// does not start the count again, spacing marks stack too.
		"a" + strings.Repeat("\u0301\u20dd", 30): "a\u0301\u20dd" + strings.Repeat(`\u0301\u20dd`, 29),
		"x" + strings.Repeat("\u0903", 40):       "x\u0903\u0903" + strings.Repeat(`\u0903`, 38),
	} {
		if got := Visible(in); got != want {
			t.Errorf("Visible(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPeerWordsEscapedOnce: an ESC in the SSH user name is shown as \x1b,
// not \\x1b.
func TestPeerWordsEscapedOnce(t *testing.T) {
	up := startSSHUpstream(t)
	p, out, served := startSSH(t, up.ln.Addr().String(), 0)
	defer stopSSH(t, p, served)
	client := dialSSHProxy(t, p, "a\x1bb")
	defer client.Close()
	text := out.waitFor(t, "ssh intercepted")
	if !strings.Contains(text, `user "a\x1bb"`) {
		t.Errorf("the user name is not escaped once:\n%s", text)
	}
}

// TestSSHSessionsBoundedAtOnce: MaxSessions sessions at once; once one
// ends another may open.
func TestSSHSessionsBoundedAtOnce(t *testing.T) {
	up := startScripted(t, func(up *scriptedUpstream, c net.Conn) {
		up.serveSessions(c, func(ch gossh.Channel) { io.Copy(io.Discard, ch) })
	})
	p, _, served := startSSH(t, up.addr(), 0)
	defer stopSSH(t, p, served)
	client := dialSSHProxy(t, p, "alice")
	defer client.Close()
	var chans []gossh.Channel
	for range MaxSessions {
		ch, reqs, err := client.OpenChannel("session", nil)
		if err != nil {
			t.Fatal(err)
		}
		go gossh.DiscardRequests(reqs)
		chans = append(chans, ch)
	}
	if _, _, err := client.OpenChannel("session", nil); err == nil {
		t.Fatalf("session %d opened beyond MaxSessions", MaxSessions+1)
	}
	for round := range 3 { // over a connection's life, more than MaxSessions
		chans[round].Close()
		deadline := time.Now().Add(wait)
		for {
			ch, reqs, err := client.OpenChannel("session", nil)
			if err == nil {
				go gossh.DiscardRequests(reqs)
				chans = append(chans, ch)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no session after one ended: %v", round, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, ch := range chans {
		ch.Close()
	}
}

// TestProbeHasItsOwnTimeout: a Timeout for the clients shorter than any
// handshake does not fail the start, which probes the upstream within
// DefaultTimeout.
func TestProbeHasItsOwnTimeout(t *testing.T) {
	up := startUpstream(t, "localhost")
	p, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", Upstream: up.addr(), Timeout: time.Nanosecond})
	if err != nil {
		t.Fatalf("TLS: %v", err)
	}
	p.Close()
	sup := startSSHUpstream(t)
	sp, err := StartSSH(context.Background(), SSHConfig{Listen: "127.0.0.1:0", Upstream: sup.ln.Addr().String(), Timeout: time.Nanosecond})
	if err != nil {
		t.Fatalf("SSH: %v", err)
	}
	sp.Close()
}

// TestRepeatedFailuresAreLimited: handshake failures and refusals print at
// most one line a second each, the next saying how many were not.
func TestRepeatedFailuresAreLimited(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTranscript(&b, func() time.Time { return now })
	defer tr.Close()
	who := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	for range 5 {
		tr.failure(who, "handshake failed")
		tr.refusal(who, "refused")
	}
	if n := strings.Count(b.String(), "\n"); n != 2 {
		t.Errorf("%d lines for 5 failures and 5 refusals in a second:\n%s", n, b.String())
	}
	now = now.Add(time.Second)
	tr.failure(who, "handshake failed")
	if !strings.Contains(b.String(), "handshake failed (and 4 more like it in the second before, not printed)") {
		t.Errorf("the count of those not printed is not said:\n%s", b.String())
	}
}

// TestSSHWritesTimeOut: a write to an SSH peer that stops reading fails
// after the write timeout.
func TestSSHWritesTimeOut(t *testing.T) {
	old := writeTimeout
	writeTimeout = 100 * time.Millisecond
	defer func() { writeTimeout = old }()
	a, b := net.Pipe() // nobody reads b
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() { _, err := writeDeadlineConn{a}.Write([]byte("x")); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write to a peer that does not read: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("a write to a peer that does not read never timed out")
	}
}
