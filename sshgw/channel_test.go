package sshgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"github.com/charmbracelet/x/vt"
	gossh "golang.org/x/crypto/ssh"
)

// windowChange is the payload of a window-change request.
func windowChange(cols, rows int) []byte {
	return gossh.Marshal(struct{ Columns, Rows, WidthPx, HeightPx uint32 }{uint32(cols), uint32(rows), 0, 0})
}

// envRequest is the payload of an env request.
func envRequest(name, value string) []byte {
	return gossh.Marshal(struct{ Name, Value string }{name, value})
}

// requestReply sends a channel request that wants a reply and returns the
// reply, failing the test if none comes within a few seconds: the session's
// request loop is stuck.
func requestReply(t *testing.T, sess *gossh.Session, name string, payload []byte) bool {
	t.Helper()
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, err := sess.SendRequest(name, true, payload)
		done <- result{ok, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("%s request: %v", name, r.err)
		}
		return r.ok
	case <-time.After(3 * time.Second):
		t.Fatalf("no reply to a %s request: the session's request loop is blocked", name)
		return false
	}
}

// heapInuse returns the heap in use after a full collection.
func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// checkHeapSettles fails the test if the heap in use does not come back to
// within slack of base.
func checkHeapSettles(t *testing.T, base uint64, slack uint64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		now := heapInuse()
		if now <= base+slack {
			t.Logf("heap in use: %.1f MiB before, %.1f MiB after", float64(base)/(1<<20), float64(now)/(1<<20))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("heap in use %.1f MiB, %.1f MiB over the %.1f MiB before", float64(now)/(1<<20), float64(now-base)/(1<<20), float64(base)/(1<<20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWindowChangesBeforeTheShellNeverBlock(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	client := ts.dial(t, "early")
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.StdinPipe(); err != nil { // held open: at EOF a screen quits
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	// charm.land/ssh puts window changes on a one-slot channel that nothing
	// reads before the shell: the second one used to block the session's
	// request loop for good. Every one must be answered.
	for i := range 50 {
		if !requestReply(t, sess, "window-change", windowChange(60+i, 20)) {
			t.Fatalf("window change %d refused", i)
		}
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	// The screen starts at the latest size (109×20), not the pty-req's
	// (100×30): the member panel's edge is at column 87, 9 further right
	// than a 100-column screen draws it, and the input line is row 20.
	emu := newScreenReader(t, stdout, 109, 20)
	emu.waitFor(t, "a 109-column screen", func(rows []string) bool {
		return panelEdge(rows[0]) == 87 && strings.Contains(rows[19], ">")
	})
	sess.Close()
}

func TestEarlyRequestsLeaveNothingBehind(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	base := heapInuse()
	// 20 connections, each with a session that asks for a terminal, then
	// sends window changes, 1000 env requests of 1 KiB, and requests of
	// every other kind, and leaves without starting a shell.
	value := strings.Repeat("v", maxEnvBytes-16)
	for c := range 20 {
		client := ts.dial(t, fmt.Sprintf("early%d", c))
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := sess.SendRequest("window-change", false, windowChange(80+i, 24)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 1000 {
			if _, err := sess.SendRequest("env", false, envRequest(fmt.Sprintf("V%d", i), value)); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"signal", "break", "auth-agent-req@openssh.com", "x11-req", "keepalive@openssh.com", "no-such-request"} {
			requestReply(t, sess, name, nil)
		}
		requestReply(t, sess, "window-change", windowChange(90, 30)) // the loop still answers
		client.Close()
	}
	checkHeapSettles(t, base, 2<<20)
}

func TestEnvRequestsAreCapped(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	client := ts.dial(t, "env")
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if requestReply(t, sess, "env", envRequest("BIG", strings.Repeat("x", maxEnvBytes))) {
		t.Error("an env request over 1 KiB was accepted")
	}
	for i := range maxEnvVars + 10 {
		ok := requestReply(t, sess, "env", envRequest(fmt.Sprintf("V%d", i), "value"))
		if want := i < maxEnvVars; ok != want {
			t.Fatalf("env request %d: accepted %v, want %v", i+1, ok, want)
		}
	}
}

func TestUnstartedSessionsAreClosedWhileAnotherLives(t *testing.T) {
	checkGoroutines(t)
	const timeout = 500 * time.Millisecond
	ts := startServerWith(t, Config{HandshakeTimeout: timeout})
	term := ts.openTerminal(t, "alice")
	term.waitText("members (1)")

	// A second session on the same connection that never starts a shell;
	// it asks for a subsystem, which is refused and must not count as a
	// start.
	idle, err := term.client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.RequestSubsystem("sftp"); err == nil {
		t.Error("the sftp subsystem was accepted")
	}
	out, err := idle.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, out)
		ended <- err
	}()
	select {
	case <-ended:
		if d := time.Since(start); d < timeout/2 {
			t.Errorf("closed after %v, before the %v timeout", d, timeout)
		}
	case <-time.After(waitLimit):
		t.Fatal("a session without a shell was never closed")
	}
	// The live one is untouched, and the slot is free again.
	term.send("still here\r")
	term.waitText("alice: still here")
	waitFor(t, "the idle session's slot to be freed", func() bool {
		sess, err := term.client.NewSession()
		if err != nil {
			return false
		}
		sess.Close()
		return true
	})
}

func TestLongUserNamesAreRefused(t *testing.T) {
	checkGoroutines(t)
	var log logBuffer
	ts := startServerWith(t, Config{Logger: slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	long := strings.Repeat("u", 200)
	client := ts.dial(t, long)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sess.Stderr = &stderr
	if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	err = sess.Wait()
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
		t.Fatalf("session ended with %v, want exit status 1", err)
	}
	if want := "chatd: the user name is 200 bytes long; at most 64 are allowed"; strings.TrimSpace(stderr.String()) != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if ts.room.Len() != 0 {
		t.Error("a 200-byte user name reached the room")
	}
	client.Close()
	waitFor(t, "the connection's log record", func() bool { return strings.Contains(log.String(), "connection closed") })
	if strings.Contains(log.String(), long[:maxUserBytes+1]) {
		t.Error("more than 64 bytes of the user name reached the log")
	}
	checkUserBounded(t, log.String())
}

// panelEdge returns the rune column of the member panel's edge in row, or
// -1.
func panelEdge(row string) int {
	for i, r := range []rune(row) {
		if r == '│' {
			return i
		}
	}
	return -1
}

// logBuffer is a log destination that tests may read while the server
// writes.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *logBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkUserBounded fails the test if any record of the JSON log carries a
// user name over maxUserBytes.
func checkUserBounded(t *testing.T, log string) {
	t.Helper()
	for line := range strings.Lines(log) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if user, ok := rec["user"].(string); ok && len(user) > maxUserBytes {
			t.Errorf("a %d-byte user name was logged: %s", len(user), line)
		}
	}
}

// screenReader feeds a session's output to a terminal emulator.
type screenReader struct {
	mu  sync.Mutex
	emu *vt.Emulator
}

func newScreenReader(t *testing.T, out io.Reader, cols, rows int) *screenReader {
	sr := &screenReader{emu: vt.NewEmulator(cols, rows)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32*1024)
		for {
			n, err := out.Read(buf)
			sr.mu.Lock()
			_, _ = sr.emu.Write(buf[:n])
			sr.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { <-done })
	return sr
}

// waitFor waits until the screen's rows satisfy ok.
func (sr *screenReader) waitFor(t *testing.T, what string, ok func(rows []string) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		sr.mu.Lock()
		screen := sr.emu.String()
		sr.mu.Unlock()
		rows := strings.Split(screen, "\n")
		if ok(rows) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %s; it shows:\n%s", what, screen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestResizesAreCoalesced: a client sending window sizes in a loop costs at
// most one resize of the screen per resizeEvery, and the screen ends at
// the last size sent.
func TestResizesAreCoalesced(t *testing.T) {
	feed := newWindowFeed()
	var mu sync.Mutex
	var sizes []tea.WindowSizeMsg
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go followWindow(ctx, feed, func(msg tea.Msg) {
		mu.Lock()
		sizes = append(sizes, msg.(tea.WindowSizeMsg))
		mu.Unlock()
	}, func() { close(stopped) })
	start := time.Now()
	for i := range 5000 {
		feed.put(ssh.Window{Width: 10 + i%300, Height: 20})
		if i%500 == 0 {
			time.Sleep(30 * time.Millisecond) // a client that keeps at it
		}
	}
	last := ssh.Window{Width: 333, Height: 44}
	feed.put(last)
	elapsed := time.Since(start)
	want := tea.WindowSizeMsg{Width: last.Width, Height: last.Height}
	waitFor(t, "the last size to be applied", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sizes) > 0 && sizes[len(sizes)-1] == want
	})
	cancel()
	<-stopped
	if most := int(elapsed/resizeEvery) + 3; len(sizes) > most {
		t.Errorf("%d resizes for 5001 window changes in %v; at most %d may happen", len(sizes), elapsed, most)
	}
}

// TestLongTerminalTypesAreRefused: a pty request naming a terminal type
// longer than maxTermBytes is refused, so no such string is kept or handed
// to the screen; an ordinary one is accepted.
func TestLongTerminalTypesAreRefused(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	client := ts.dial(t, "term")
	defer client.Close()
	long, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if err := long.RequestPty(strings.Repeat("x", 10000), 24, 80, gossh.TerminalModes{}); err == nil {
		t.Error("a 10000-byte terminal type was accepted")
	}
	ok, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	if err := ok.RequestPty("xterm-256color", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Errorf("xterm-256color was refused: %v", err)
	}
}
