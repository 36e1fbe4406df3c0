package sshgw

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/vt"
	"go.uber.org/goleak"
	gossh "golang.org/x/crypto/ssh"

	"chatd/room"
)

const waitLimit = 10 * time.Second

// checkGoroutines fails the test if goroutines started during it are still
// running once it is over. Sessions and programs wind down asynchronously,
// so it polls for a while before failing.
func checkGoroutines(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitLimit)
		for {
			err := goleak.Find(ignore)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines left behind: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

type testServer struct {
	room   *room.Room
	srv    *Server
	addr   string
	served chan error
}

// startServer runs an SSH server with a real room on a loopback port. It is
// shut down when the test ends.
func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, Config{})
}

// startServerWith is startServer with cfg; its host key and room are
// filled in.
func startServerWith(t *testing.T, cfg Config) *testServer {
	t.Helper()
	r := cfg.Room
	if r == nil {
		r = room.New(room.Config{})
	}
	cfg.HostKeyPath, cfg.Room = filepath.Join(t.TempDir(), "ssh_host_ed25519_key"), r
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{room: r, srv: srv, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ln) }()
	t.Cleanup(func() { ts.shutdown(t) })
	return ts
}

func (ts *testServer) shutdown(t *testing.T) {
	t.Helper()
	if ts.served == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-ts.served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v after Shutdown, want ErrServerClosed", err)
		}
	case <-time.After(waitLimit):
		t.Error("Serve did not return after Shutdown")
	}
	ts.served = nil
}

// dial connects as user with a fresh key, checking the host key against
// the server's fingerprint.
func (ts *testServer) dial(t *testing.T, user string) *gossh.Client {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &gossh.ClientConfig{
		User: user,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error {
			if got := gossh.FingerprintSHA256(key); got != ts.srv.HostKeyFingerprint() {
				return errors.New("host key " + got + " is not " + ts.srv.HostKeyFingerprint())
			}
			return nil
		},
		Timeout: waitLimit,
	}
	c, err := gossh.Dial("tcp", ts.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// terminal is an SSH session with a PTY whose output drives a terminal
// emulator, so tests read the screen as a person would see it.
type terminal struct {
	t       *testing.T
	client  *gossh.Client
	sess    *gossh.Session
	stdin   io.Writer
	inMu    sync.Mutex
	mu      sync.Mutex
	emu     *vt.Emulator
	done    chan struct{} // the session's output ended
	waitErr chan error
}

func (ts *testServer) openTerminal(t *testing.T, user string) *terminal {
	t.Helper()
	return attachTerminal(t, ts.dial(t, user))
}

// attachTerminal opens a session with a terminal on client.
func attachTerminal(t *testing.T, client *gossh.Client) *terminal {
	t.Helper()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, client: client, sess: sess, stdin: stdin, emu: vt.NewEmulator(100, 30),
		done: make(chan struct{}), waitErr: make(chan error, 1)}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	// The program's output drives the emulator...
	go func() {
		defer close(term.done)
		buf := make([]byte, 32*1024)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				term.mu.Lock()
				_, _ = term.emu.Write(buf[:n])
				term.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	// ...and the emulator's answers to the program's queries go back to it,
	// as a real terminal's would.
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := term.emu.Read(buf)
			if n > 0 {
				term.send(string(buf[:n]))
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(term.close)
	return term
}

// send types s.
func (term *terminal) send(s string) {
	term.inMu.Lock()
	defer term.inMu.Unlock()
	_, _ = io.WriteString(term.stdin, s)
}

// screen returns the text on the emulated screen.
func (term *terminal) screen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.emu.String()
}

// waitScreen waits until the screen satisfies ok.
func (term *terminal) waitScreen(what string, ok func(string) bool) {
	term.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := term.screen()
		if ok(s) {
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("screen never showed %s; it shows:\n%s", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (term *terminal) waitText(text string) {
	term.t.Helper()
	term.waitScreen(quoted(text), func(s string) bool { return strings.Contains(s, text) })
}

func quoted(s string) string { return "\"" + s + "\"" }

// wait waits for the session to end and returns its error.
func (term *terminal) wait() error {
	term.t.Helper()
	go func() { term.waitErr <- term.sess.Wait() }()
	select {
	case err := <-term.waitErr:
		<-term.done
		return err
	case <-time.After(waitLimit):
		term.t.Fatal("session did not end")
		return nil
	}
}

func (term *terminal) close() {
	term.sess.Close()
	term.client.Close()
	<-term.done
	// Ends the goroutine reading the emulator's answers.
	_ = term.emu.InputPipe().(*io.PipeWriter).Close()
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nextEvent returns the next event of kind from nick that m receives,
// skipping others.
func nextEvent(t *testing.T, m *room.Member, kind room.Kind, from string) *room.Event {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		evs, open := m.Take(nil, 1)
		switch {
		case len(evs) == 1:
			if ev := evs[0]; ev.Kind == kind && ev.From == from {
				return ev
			}
			continue
		case !open:
			t.Fatalf("%s left: %s", m.Nick(), m.Reason())
		case time.Now().After(deadline):
			t.Fatalf("%s got no %v event from %s", m.Nick(), kind, from)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSSHChat(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Detail: "test over"})
	bob.Send("said before alice came")

	term := ts.openTerminal(t, "alice")
	term.waitText("bob: said before alice came") // replayed history
	term.waitText("members (2)")
	nextEvent(t, bob, room.Join, "alice")

	// What another member says shows up on the screen.
	bob.Send("hello alice, 你好 🎉")
	term.waitText("bob: hello alice, 你好 🎉")

	// What alice types reaches the others.
	term.send("hi bob\r")
	if ev := nextEvent(t, bob, room.Chat, "alice"); ev.Text != "hi bob" {
		t.Fatalf("bob got %+v", ev)
	}
	term.waitText("alice: hi bob") // and her own screen shows it

	// Commands go to the room.
	term.send("/msg bob psst\r")
	if ev := nextEvent(t, bob, room.Private, "alice"); ev.Text != "psst" {
		t.Fatalf("bob got %+v", ev)
	}
	term.waitText("[PM to bob] psst")

	// Ctrl+C leaves the room and ends the session, leaving a line behind.
	term.send("\x03")
	if ev := nextEvent(t, bob, room.Leave, "alice"); ev.Reason != (room.Reason{Kind: room.ReasonQuit}) {
		t.Fatalf("bob got %+v", ev)
	}
	if err := term.wait(); err != nil {
		t.Fatalf("session ended with %v", err)
	}
	if s := term.screen(); !strings.Contains(s, "chatd: you left the room (quit)") {
		t.Fatalf("screen after leaving:\n%s", s)
	}
	if got := ts.room.Members(); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("members after alice left: %q", got)
	}
}

func TestSSHDisconnectLeavesRoom(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Detail: "test over"})
	term := ts.openTerminal(t, "alice")
	term.waitText("members (2)")
	term.close() // the client goes away without a word
	if ev := nextEvent(t, bob, room.Leave, "alice"); ev.Reason != (room.Reason{Kind: room.ReasonClosed}) {
		t.Fatalf("bob got %+v", ev)
	}
	waitFor(t, "alice to leave", func() bool { return ts.room.Len() == 1 })
}

func TestSSHTakenNickAsksForAnother(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Detail: "test over"})

	term := ts.openTerminal(t, "BOB")
	term.waitText(`"BOB" is already in use`)
	term.waitText("Choose a nickname")
	term.send("bob\r") // taken too
	term.waitText(`"bob" is already in use`)
	term.send("\x15bob2\r") // ctrl+u clears the field
	term.waitText("members (2)")
	nextEvent(t, bob, room.Join, "bob2")
	if got := ts.room.Members(); !slices.Equal(got, []string{"bob", "bob2"}) {
		t.Fatalf("members %q", got)
	}
	term.close()
	waitFor(t, "bob2 to leave", func() bool { return ts.room.Len() == 1 })
}

func TestSSHInvalidNickAsksForAnother(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	term := ts.openTerminal(t, "john.smith")
	term.waitText(`You cannot join as "john.smith"`)
	term.waitText("invalid nickname")
	if ts.room.Len() != 0 {
		t.Fatal("joined with an invalid nick")
	}
	term.send("john\r")
	term.waitText("1 member · john")
	// Ctrl+C at the prompt, before joining, just ends the session.
	term2 := ts.openTerminal(t, "john")
	term2.waitText("already in use")
	term2.send("\x03")
	if err := term2.wait(); err != nil {
		t.Fatalf("session ended with %v", err)
	}
	if got := ts.room.Members(); !slices.Equal(got, []string{"john"}) {
		t.Fatalf("members %q", got)
	}
}

func TestSSHWithoutTerminal(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	for _, command := range []string{"", "ls -l"} {
		client := ts.dial(t, "alice")
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		sess.Stdout, sess.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		go func() {
			if command == "" {
				if err := sess.Shell(); err != nil {
					done <- err
					return
				}
				done <- sess.Wait()
				return
			}
			done <- sess.Run(command)
		}()
		select {
		case err = <-done:
		case <-time.After(waitLimit):
			t.Fatalf("%q: session without a terminal hangs", command)
		}
		var exit *gossh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
			t.Fatalf("%q: ended with %v, want exit status 1", command, err)
		}
		out := stdout.String() + stderr.String()
		if !strings.Contains(out, "this is a chat room; connect with a terminal: ssh -t -p ") {
			t.Fatalf("%q: output %q", command, out)
		}
		if ts.room.Len() != 0 {
			t.Fatalf("%q: a session without a terminal joined the room", command)
		}
		sess.Close()
		client.Close()
	}
}

func TestSSHShutdown(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Detail: "test over"})
	terms := []*terminal{ts.openTerminal(t, "alice"), ts.openTerminal(t, "carol")}
	for _, term := range terms {
		term.waitText("members (3)")
	}
	start := time.Now()
	ts.shutdown(t) // the clients stay connected: Shutdown must not wait for them
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	for _, term := range terms {
		if err := term.wait(); err != nil {
			t.Fatalf("session ended with %v", err)
		}
		if s := term.screen(); !strings.Contains(s, "you left the room (server shutting down)") {
			t.Fatalf("screen after shutdown:\n%s", s)
		}
	}
	if got := ts.room.Members(); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("members after shutdown: %q", got)
	}
	// No new sessions.
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("still accepting connections after Shutdown")
	}
}

func TestSSHRoomClosedEndsSessions(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	term := ts.openTerminal(t, "alice")
	term.waitText("members (1)")
	ts.room.Close("maintenance, back soon")
	term.waitText("maintenance, back soon")
	if err := term.wait(); err != nil {
		t.Fatalf("session ended with %v", err)
	}
	if s := term.screen(); !strings.Contains(s, "you left the room (server shutting down)") {
		t.Fatalf("screen:\n%s", s)
	}
}

func TestHostKeyCreatedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "ssh_host_ed25519_key")
	r := room.New(room.Config{})
	s1, err := NewServer(Config{HostKeyPath: path, Room: r})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	key, err := gossh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if key.PublicKey().Type() != gossh.KeyAlgoED25519 {
		t.Fatalf("host key type %s", key.PublicKey().Type())
	}
	fp := s1.HostKeyFingerprint()
	if fp != gossh.FingerprintSHA256(key.PublicKey()) || !strings.HasPrefix(fp, "SHA256:") || strings.HasSuffix(fp, "=") {
		t.Fatalf("fingerprint %q", fp)
	}
	s2, err := NewServer(Config{HostKeyPath: path, Room: r})
	if err != nil {
		t.Fatal(err)
	}
	if s2.HostKeyFingerprint() != fp {
		t.Fatal("host key not reused")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(Config{HostKeyPath: path, Room: r}); err == nil {
		t.Fatal("a broken host key was accepted")
	}
}

func TestOnlyModernSSHAlgorithms(t *testing.T) {
	ts := startServer(t)
	try := func(cfg gossh.Config) error {
		cfg.SetDefaults()
		c, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
			Config: cfg, User: "alg", Auth: []gossh.AuthMethod{noQuestions},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: waitLimit,
		})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := try(gossh.Config{KeyExchanges: []string{gossh.InsecureKeyExchangeDH14SHA1, gossh.KeyExchangeDH14SHA256}}); err == nil {
		t.Error("a client offering only finite-field Diffie-Hellman key exchange got in")
	}
	if err := try(gossh.Config{Ciphers: []string{gossh.InsecureCipherAES128CBC}}); err == nil {
		t.Error("a client offering only CBC got in")
	}
	if err := try(gossh.Config{MACs: []string{gossh.HMACSHA1}, Ciphers: []string{gossh.CipherAES128CTR}}); err == nil {
		t.Error("a client offering only hmac-sha1 with CTR got in")
	}
	if err := try(gossh.Config{KeyExchanges: []string{gossh.KeyExchangeMLKEM768X25519}}); err != nil {
		t.Errorf("a client offering ML-KEM hybrid key exchange: %v", err)
	}
}

func TestSessionFilterClampsWindowSizes(t *testing.T) {
	got := sessionFilter(nil, tea.WindowSizeMsg{Width: 100000, Height: 90000})
	if ws, ok := got.(tea.WindowSizeMsg); !ok || ws.Width != maxColumns || ws.Height != maxRows {
		t.Errorf("a huge resize became %#v", got)
	}
	if _, ok := sessionFilter(nil, tea.SuspendMsg{}).(tea.ResumeMsg); !ok {
		t.Error("a suspend was not turned into a resume")
	}
}

func TestHugeTerminalDoesNotGrowMemory(t *testing.T) {
	ts := startServer(t)
	client := ts.dial(t, "giant")
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, _ := sess.StdoutPipe()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// 5000×3000 cells would be about 1.7 GB of screen buffers unclamped.
	if err := sess.RequestPty("xterm-256color", 3000, 5000, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Read(make([]byte, 4096)); err != nil { // the screen has been drawn
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 200<<20 {
		t.Errorf("one session with a huge terminal grew the heap by %d MiB", grew>>20)
	}
}

func TestSessionsPerConnectionAreLimited(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	client := ts.dial(t, "multi")
	defer client.Close()
	var open []*gossh.Session
	for range maxSessionsPerConn {
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, sess)
	}
	// The next channel is refused when it is opened, before it is
	// accepted, even though none of the others has started a shell.
	_, err := client.NewSession()
	var refused *gossh.OpenChannelError
	if !errors.As(err, &refused) || refused.Reason != gossh.ResourceShortage || !strings.Contains(refused.Message, "at most 3 sessions per connection") {
		t.Fatalf("session %d: %v, want a resource shortage", maxSessionsPerConn+1, err)
	}
	// Closing one frees its slot.
	open[0].Close()
	waitFor(t, "a free session slot", func() bool {
		sess, err := client.NewSession()
		if err != nil {
			return false
		}
		open[0] = sess
		return true
	})
	for _, s := range open {
		s.Close()
	}
}
