package main

// Attacks on SSH sessions and channels (issue 11, "SSH sessions and
// channels"): requests before the shell, too many channels, env floods,
// keystroke floods and pastes, keys pending when a screen ends, and long
// user names. Each runs against the real chatd binary while alice and bob
// chat over openssl s_client (see adversarial_test.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	gossh "golang.org/x/crypto/ssh"

	"chatd/internal/testproc"
)

// windowChangePayload is a window-change request for cols×rows.
func windowChangePayload(cols, rows int) []byte {
	return gossh.Marshal(struct{ Columns, Rows, WidthPx, HeightPx uint32 }{uint32(cols), uint32(rows), 0, 0})
}

// replyWithin sends a channel request that wants a reply and reports
// whether any reply came within d.
func replyWithin(sess *gossh.Session, name string, payload []byte, d time.Duration) bool {
	done := make(chan error, 1)
	go func() {
		_, err := sess.SendRequest(name, true, payload)
		done <- err
	}()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(d):
		return false
	}
}

// sshTypist is an SSH session with a terminal running the chat screen,
// whose output is read, so that it never stalls, into a terminal emulator:
// the screen draws only what changed, so its text is the emulator's, not a
// search of the bytes.
type sshTypist struct {
	sess *gossh.Session
	in   io.Writer
	mu   sync.Mutex
	emu  *vt.Emulator
	done chan struct{}
}

// startTypist opens a 100×30 chat screen on c.
func startTypist(t *testing.T, c *gossh.Client) *sshTypist {
	t.Helper()
	sess, in := ptySession(t, c, 100, 30)
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ty := &sshTypist{sess: sess, in: in, emu: vt.NewEmulator(100, 30), done: make(chan struct{})}
	go io.Copy(io.Discard, ty.emu) // its replies to queries; the screen sends none
	t.Cleanup(func() {
		if pw, ok := ty.emu.InputPipe().(*io.PipeWriter); ok {
			pw.Close() // ends the io.Copy above
		}
	})
	go func() {
		defer close(ty.done)
		buf := make([]byte, 32*1024)
		for {
			n, err := out.Read(buf)
			ty.mu.Lock()
			ty.emu.Write(buf[:n])
			ty.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	return ty
}

// seen reports whether the screen shows s now.
func (ty *sshTypist) seen(s string) bool {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	return strings.Contains(ty.emu.String(), s)
}

// waitSeen waits up to within for the screen to show s, and reports
// whether it did.
func (ty *sshTypist) waitSeen(s string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !ty.seen(s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// says types line and checks that bob gets it from nick.
func (a *arena) says(ty *sshTypist, nick, line string) {
	a.t.Helper()
	mark := len(a.bob.Output())
	io.WriteString(ty.in, line+"\r")
	if _, ok := waitLine(a.bob, mark, "<"+nick+"> "+line, promptly); !ok {
		a.t.Errorf("bob did not get %s's line %q", nick, line)
	}
}

// cpuSeconds returns the CPU time chatd has used.
func (a *arena) cpuSeconds() float64 {
	a.t.Helper()
	v, ok := metric(a.metrics(), "process_cpu_seconds_total")
	if !ok {
		a.t.Fatal("/metrics has no process_cpu_seconds_total")
	}
	return v
}

// TestAttackSSHSessions: SSH session and channel attacks.
func TestAttackSSHSessions(t *testing.T) {
	t.Parallel()

	// Window changes, env requests by the thousand and requests of every
	// other kind before any shell, on 10 connections that then leave.
	// Each request is answered (charm.land/ssh's loop used to block on the
	// second window change, for good), and everything is freed.
	t.Run("RequestsBeforeShell", func(t *testing.T) {
		t.Parallel()
		a := newArena(t, "--max-conns-per-ip", "64", "--conn-burst-per-ip", "64")
		for i := range 10 {
			c := dialSSH(t, a.s, fmt.Sprintf("early%d", i))
			sess := newSSHSession(t, c)
			if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
				t.Fatal(err)
			}
			for j := range 1000 {
				sess.SendRequest("env", false, gossh.Marshal(struct{ Name, Value string }{fmt.Sprintf("V%d", j), strings.Repeat("v", 1000)}))
			}
			for j, name := range []string{"window-change", "window-change", "window-change", "signal", "break", "auth-agent-req@openssh.com", "x11-req", "no-such-request"} {
				if !replyWithin(sess, name, windowChangePayload(80+j, 24), 3*time.Second) {
					t.Fatalf("connection %d: no reply to request %d (%s) before the shell: the session's request loop is blocked", i, j+1, name)
				}
			}
			c.Close()
			a.probe()
		}
		// A session resized before its shell starts works, at its new size.
		c := dialSSH(t, a.s, "resized")
		sess, in := ptySession(t, c, 100, 30)
		for range 5 {
			if !replyWithin(sess, "window-change", windowChangePayload(120, 40), 3*time.Second) {
				t.Fatal("no reply to a window change before the shell")
			}
		}
		out, _ := sess.StdoutPipe()
		go io.Copy(io.Discard, out)
		if err := sess.Shell(); err != nil {
			t.Fatal(err)
		}
		a.bob.Expect("*** resized joined")
		mark := len(a.bob.Output())
		io.WriteString(in, "resized before the shell\r")
		if _, ok := waitLine(a.bob, mark, "<resized> resized before the shell", promptly); !ok {
			t.Error("the session resized before its shell does not work")
		}
		c.Close()
		a.checkGoroutinesSettle(settleTime)
	})

	// One connection opens 10 session channels: 3 are accepted, 7 refused
	// at once as a resource shortage. Of the 3, the one that starts a shell
	// chats on; the two that never do are closed after
	// --ssh-handshake-timeout although their connection has a live session.
	t.Run("ManyChannels", func(t *testing.T) {
		t.Parallel()
		a := newArena(t, "--ssh-handshake-timeout", "2s")
		c := dialSSH(t, a.s, "hydra")
		var accepted []*gossh.Session
		refused := 0
		for range 10 {
			sess, err := c.NewSession()
			var shortage *gossh.OpenChannelError
			switch {
			case err == nil:
				accepted = append(accepted, sess)
			case errors.As(err, &shortage) && shortage.Reason == gossh.ResourceShortage:
				refused++
			default:
				t.Fatalf("opening a session: %v", err)
			}
		}
		if len(accepted) != 3 || refused != 7 {
			t.Fatalf("%d session channels accepted and %d refused as a resource shortage, want 3 and 7", len(accepted), refused)
		}
		live := accepted[0]
		if err := live.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
		in, _ := live.StdinPipe()
		out, _ := live.StdoutPipe()
		go io.Copy(io.Discard, out)
		if err := live.Shell(); err != nil {
			t.Fatal(err)
		}
		a.bob.Expect("*** hydra joined")
		start := time.Now()
		var wg sync.WaitGroup
		closed := make([]bool, 2)
		for i, idle := range accepted[1:] {
			idleOut, _ := idle.StdoutPipe()
			wg.Go(func() {
				ended := make(chan struct{})
				go func() { io.Copy(io.Discard, idleOut); close(ended) }()
				select {
				case <-ended:
					closed[i] = true
				case <-time.After(8 * time.Second):
				}
			})
		}
		wg.Wait()
		if !closed[0] || !closed[1] {
			t.Errorf("sessions without a shell still open %v after they were opened (closed: %v)", time.Since(start).Round(time.Millisecond), closed)
		}
		mark := len(a.bob.Output())
		io.WriteString(in, "my shell-less siblings are gone\r")
		if _, ok := waitLine(a.bob, mark, "<hydra> my shell-less siblings are gone", promptly); !ok {
			t.Error("the live session stopped working")
		}
		a.probe()
		c.Close()
		a.checkGoroutinesSettle(settleTime)
	})

	// Real ssh sends 40 environment variables, then NO_COLOR=1. Only the
	// first 32 are kept, so NO_COLOR is ignored and the screen stays in
	// colour; the session works.
	t.Run("EnvFlood", func(t *testing.T) {
		t.Parallel()
		requireSSH(t)
		a := newArena(t)
		vars := make([]string, 0, 41)
		for i := range 40 {
			vars = append(vars, fmt.Sprintf("FILLER%d=%s", i, strings.Repeat("f", 20)))
		}
		vars = append(vars, "NO_COLOR=1")
		env := testproc.StartTerminal(t, "ssh env", []string{"TERM=xterm-256color"}, 100, 30, sshArgs(t, a.s, "envy", "-o", "SetEnv="+strings.Join(vars, " "))...)
		env.Expect("envy")
		a.bob.Expect("*** envy joined")
		a.probe()
		deadline := time.Now().Add(promptly)
		for !strings.Contains(env.Output(), "\x1b[38;5;") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(env.Output(), "\x1b[38;5;") {
			t.Error("NO_COLOR, the 41st variable, was honoured: env requests past 32 must be ignored")
		}
		env.Type("/quit\r")
		a.bob.Expect("*** envy left (quit)")
		env.WaitExit()
		a.checkGoroutinesSettle(settleTime)
	})

	// A typist writes keystrokes as fast as the connection takes them for
	// 3 seconds. The flood is paced and rate limited: chatd's CPU stays
	// low, honest chat is not held up, and the typist's session works
	// again soon after.
	t.Run("KeystrokeFlood", func(t *testing.T) {
		t.Parallel()
		a := newArena(t)
		c := dialSSH(t, a.s, "typist")
		ty := startTypist(t, c)
		a.bob.Expect("*** typist joined")
		cpuBefore := a.cpuSeconds()
		stop := make(chan struct{})
		sent := make(chan int, 1)
		go func() {
			keys := []byte(strings.Repeat("abcdefgh\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x1b[D\x1b[C", 256))
			n := 0
			defer func() { sent <- n }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := ty.in.Write(keys); err != nil {
					return
				}
				n += len(keys)
			}
		}()
		flood := 3 * time.Second
		start := time.Now()
		for time.Since(start) < flood {
			a.probe()
			time.Sleep(200 * time.Millisecond)
		}
		close(stop)
		n := <-sent
		cpu := a.cpuSeconds() - cpuBefore
		t.Logf("the typist sent %d KiB of keystrokes in %v; chatd used %.2f s of CPU", n>>10, time.Since(start).Round(time.Millisecond), cpu)
		if cpu > 0.3*time.Since(start).Seconds() {
			t.Errorf("one typist cost chatd %.2f s of CPU in %v: more than 30%% of a core", cpu, time.Since(start).Round(time.Millisecond))
		}
		// What the flood left in the window is read and dropped within a
		// couple of seconds; then typing works again.
		recovered := time.Now()
		for i := 0; ; i++ {
			mark := len(a.bob.Output())
			io.WriteString(ty.in, fmt.Sprintf("\x15after the flood %d\r", i))
			if _, ok := waitLine(a.bob, mark, fmt.Sprintf("<typist> after the flood %d", i), 500*time.Millisecond); ok {
				break
			}
			if time.Since(recovered) > 10*time.Second {
				t.Fatal("the typist's session did not work again within 10s of the flood")
			}
		}
		t.Logf("the typist's lines arrived again %v after the flood", time.Since(recovered).Round(time.Millisecond))
		c.Close()
		a.checkGoroutinesSettle(settleTime)
	})

	// 1 MiB in one bracketed paste, then a paste that never ends: the first
	// is cut to the longest line with a notice the typist sees, the second
	// does not buffer without bound, and the session goes on.
	t.Run("Pastes", func(t *testing.T) {
		t.Parallel()
		a := newArena(t)
		c := dialSSH(t, a.s, "typist")
		ty := startTypist(t, c)
		a.bob.Expect("*** typist joined")
		mark := len(a.bob.Output())
		io.WriteString(ty.in, "\x1b[200~"+strings.Repeat("p", 1<<20)+"\x1b[201~")
		// Before the line is sent, which fills the screen and scrolls it away.
		if !ty.waitSeen("your paste was cut", 10*time.Second) {
			t.Errorf("the typist was not told that the paste was cut; the screen:\n%s", ty.emu.String())
		}
		io.WriteString(ty.in, "\r")
		line, ok := waitLine(a.bob, mark, "<typist> ppp", promptly)
		if !ok {
			t.Error("bob did not get the pasted line")
		} else if got := strings.Count(line[strings.Index(line, "> ")+2:], "p"); got != 2048 {
			t.Errorf("the pasted line has %d bytes of paste, want it cut to 2048", got)
		}
		io.WriteString(ty.in, "\x1b[200~"+strings.Repeat("q", 200000))
		a.probe()
		io.WriteString(ty.in, "\x1b[201~\x15")
		a.says(ty, "typist", "after the endless paste")
		c.Close()
		a.checkGoroutinesSettle(settleTime)
	})

	// Ctrl+C ends the screen with keystrokes still coming, 10 times over:
	// nothing is left behind (Bubble Tea's input reader used to block for
	// good sending them to the ended program).
	t.Run("KeysPendingAtQuit", func(t *testing.T) {
		t.Parallel()
		a := newArena(t)
		for i := range 10 {
			nick := fmt.Sprintf("quitter%d", i)
			c := dialSSH(t, a.s, nick)
			ty := startTypist(t, c)
			a.bob.Expect("*** " + nick + " joined")
			// Keys keep coming before, with and after the Ctrl+C, until the
			// session ends.
			keys := strings.Repeat("x\x1b[A", 500)
			io.WriteString(ty.in, keys+"\x03"+keys)
			go func() {
				for {
					select {
					case <-ty.done:
						return
					default:
					}
					if _, err := io.WriteString(ty.in, keys); err != nil {
						return
					}
				}
			}()
			a.bob.Expect("*** " + nick + " left (quit)")
			select {
			case <-ty.done:
			case <-time.After(promptly):
				t.Errorf("%s's session did not end after Ctrl+C", nick)
			}
			c.Close()
		}
		a.probe()
		a.checkGoroutinesSettle(settleTime)
	})

	// Real ssh with a 200-byte user name: one line on stderr, exit status
	// 1, nobody joins, and no log record carries more than 64 bytes of it.
	t.Run("LongUserName", func(t *testing.T) {
		t.Parallel()
		requireSSH(t)
		a := newArena(t, "--log-format", "json")
		long := strings.Repeat("L", 200)
		args := sshArgs(t, a.s, "x", "-tt", "-l", long)
		cmd := exec.Command(args[0], args[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdin = strings.NewReader("")
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("ssh -l <200 bytes> ended with %v, want exit status 1", err)
		}
		if msg := strings.TrimSpace(stderr.String()); !strings.Contains(msg, "the user name is 200 bytes long; at most 64 are allowed") || strings.Count(msg, "\n") > 1 {
			t.Errorf("stderr %q, want one line of explanation", stderr.String())
		}
		a.probe()
		logRecord(t, a.s, "connection closed")
		for line := range strings.Lines(a.s.Output()) {
			if strings.Contains(line, long[:65]) {
				t.Errorf("more than 64 bytes of the user name were logged: %s", line)
			}
			var rec map[string]any
			if i := strings.Index(line, "{"); i >= 0 && json.Unmarshal([]byte(line[i:]), &rec) == nil {
				if user, _ := rec["user"].(string); len(user) > 64 {
					t.Errorf("a %d-byte user name was logged", len(user))
				}
			}
		}
		if strings.Contains(a.bob.Output(), "LLLL") {
			t.Error("the long user name reached the room")
		}
		a.checkGoroutinesSettle(settleTime)
	})
}
