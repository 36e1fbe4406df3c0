package main

import (
	"bufio"
	"bytes"
	"chatd/certs"
	"chatd/proto"
	"chatd/room"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"
)

// These tests turn the tables: the server is the attacker. A hostile TLS
// server in the test speaks the protocol's greeting and join, then floods the
// real chat binary (in --plain mode and on its screen, on a pseudo-terminal)
// with what a chatd server never sends: a million joins, thousands of long
// lines, enormous member lists, a line without end, a join that never
// completes. The client must stay under rssLimit, go idle once the flood is
// over, and still work: show the line sent after the flood, send what its
// user types and leave cleanly. docs/SECURITY.md cites these tests by name.

const (
	// rssLimit is the most memory (VmHWM, the peak resident set) chat may
	// use under any of these attacks.
	rssLimit = 50 << 20
	// rssKill stops a client whose memory runs away, so that measuring the
	// unprotected code cannot take the machine down with it.
	rssKill = 1 << 30
	// floodWait bounds how long a client may take to get through a flood.
	floodWait = 3 * time.Minute
	// idleWindow is how long an idle client's CPU use is measured, and
	// idleCPU the most it may use in that window once a flood is over.
	idleWindow = time.Second
	idleCPU    = 200 * time.Millisecond
	// afterFlood is what the hostile server says once a flood is over.
	afterFlood = "flood over, still there?"
)

// attack is what a hostile server sends once the client's join is accepted.
// It writes to w until done or until the client hangs up.
type attack func(w *bufio.Writer) error

// stamp is the time of day every hostile line carries.
const stamp = "[12:00:00] "

// joinFlood announces n members with distinct nicknames, one line each.
func joinFlood(n int) attack {
	return func(w *bufio.Writer) error {
		line := []byte(stamp + "*** ")
		for i := range n {
			buf := strconv.AppendInt(append(line, 'u'), int64(i), 10)
			if _, err := w.Write(append(buf, " joined\n"...)); err != nil {
				return err
			}
		}
		return nil
	}
}

// wordsOf returns about n bytes of words, so that screens wrap them.
func wordsOf(n int) string {
	words := strings.Repeat("hostile words wrap across many rows ", n/36+1)
	return words[:n]
}

// longLines sends n chat lines of size bytes of text each.
func longLines(n, size int) attack {
	return func(w *bufio.Writer) error {
		line := stamp + "<mallory> " + wordsOf(size) + "\n"
		for range n {
			if _, err := w.WriteString(line); err != nil {
				return err
			}
		}
		return nil
	}
}

// memberLists sends n member lists, each counting a billion members more
// than it names: long ones name long members, over what a client keeps of
// a line, and every other list is a short one, which a client keeps whole.
func memberLists(n, long, short int) attack {
	return func(w *bufio.Writer) error {
		for i := range n {
			listed := long
			if i%2 == 1 {
				listed = short
			}
			const more = 1_000_000_000
			fmt.Fprintf(w, "%s*** %d members: ", stamp, listed+more)
			for j := range listed {
				if j > 0 {
					w.WriteString(", ")
				}
				fmt.Fprintf(w, "m%d_%d", i, j)
			}
			if _, err := fmt.Fprintf(w, " and %d more\n", more); err != nil {
				return err
			}
		}
		return nil
	}
}

// endlessLine starts a chat line and never ends it (it stops after limit
// bytes, far more than any client should read).
func endlessLine(limit int) attack {
	return func(w *bufio.Writer) error {
		if _, err := w.WriteString(stamp + "<mallory> "); err != nil {
			return err
		}
		chunk := []byte(wordsOf(64 << 10))
		for sent := 0; sent < limit; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}
}

// hostileServer is a TLS server on loopback that greets a client and
// accepts its nickname as chatd does, sends a few ordinary lines, and once
// released runs its attack. After the attack it says afterFlood, passes on
// what the client sends, and answers /quit with chatd's goodbye.
type hostileServer struct {
	t        *testing.T
	ln       net.Listener
	certFile string
	attack   attack
	// stallJoin, when set, never accepts the nickname: it floods notices
	// instead.
	stallJoin bool
	// released is closed when the attack may start.
	released    chan struct{}
	releaseOnce sync.Once
	// written is closed once an attack and the line after it are sent.
	written     chan struct{}
	writtenOnce sync.Once
	// received holds the lines the client sent after the attack.
	received chan string
	wg       sync.WaitGroup
}

// warmUp is how many ordinary chat lines come before an attack, so that a
// screen can be scrolled up; the last one says warmedUp.
const (
	warmUp   = 50
	warmedUp = "warm-up over"
)

// startHostileServer starts a server that runs a once released.
func startHostileServer(t *testing.T, a attack) *hostileServer {
	return newHostileServer(t, a, false)
}

// startStallingServer starts a server that never accepts a nickname.
func startStallingServer(t *testing.T) *hostileServer {
	return newHostileServer(t, nil, true)
}

func newHostileServer(t *testing.T, a attack, stallJoin bool) *hostileServer {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := &hostileServer{
		t: t, ln: ln, certFile: certFile, attack: a, stallJoin: stallJoin,
		released: make(chan struct{}), written: make(chan struct{}), received: make(chan string, 64),
	}
	s.wg.Go(s.acceptLoop)
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// release lets the attack start.
func (s *hostileServer) release() { s.releaseOnce.Do(func() { close(s.released) }) }

// waitWritten waits until the attack and the line after it are sent.
func (s *hostileServer) waitWritten() {
	s.t.Helper()
	select {
	case <-s.written:
	case <-time.After(floodWait):
		s.t.Fatalf("the hostile server could not send its attack within %v", floodWait)
	}
}

// addr is what chat dials: localhost, which the certificate names.
func (s *hostileServer) addr() string {
	return "localhost:" + strconv.Itoa(s.ln.Addr().(*net.TCPAddr).Port)
}

func (s *hostileServer) acceptLoop() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.serve(conn) })
	}
}

// serve runs the attack on one connection.
func (s *hostileServer) serve(conn net.Conn) {
	defer conn.Close()
	stop := closeOnTestEnd(s.t, conn)
	defer stop()
	r := bufio.NewReaderSize(conn, 4096)
	w := bufio.NewWriterSize(conn, 64<<10)
	w.WriteString("*** Welcome to a hostile server.\n*** " + proto.NickPrompt + "\n")
	w.Flush()
	nick, err := r.ReadString('\n')
	for err == nil && proto.IsResume(nick) {
		// chat asks to resume first; answer as a server without the
		// extension, which refuses it as any command before joining.
		w.WriteString("!!! " + room.VisitorRefusal + "\n*** " + proto.NickPrompt + "\n")
		w.Flush()
		nick, err = r.ReadString('\n')
	}
	if err != nil {
		return
	}
	if s.stallJoin {
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "*** still thinking about your nickname (%d)\n", i); err != nil {
				return
			}
		}
	}
	w.WriteString(stamp + "*** " + strings.TrimSpace(nick) + " joined\n")
	for i := range warmUp - 1 {
		fmt.Fprintf(w, "%s<mallory> warm-up line %d\n", stamp, i)
	}
	w.WriteString(stamp + "<mallory> " + warmedUp + "\n")
	if w.Flush() != nil {
		return
	}
	select {
	case <-s.released:
	case <-s.t.Context().Done():
		return
	}
	if s.attack(w) != nil {
		return
	}
	w.WriteString(stamp + "<mallory> " + afterFlood + "\n")
	if w.Flush() != nil {
		return
	}
	s.writtenOnce.Do(func() { close(s.written) })
	s.relay(conn, r)
}

// relay passes on the client's lines until it quits.
func (s *hostileServer) relay(conn net.Conn, r *bufio.Reader) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSpace(line)
		select {
		case s.received <- line:
		default:
		}
		if line == "/quit" {
			conn.Write([]byte("*** Goodbye.\n"))
			return
		}
	}
}

// closeOnTestEnd closes conn when the test ends, so that a blocked write or
// read returns; the function it returns stops that.
func closeOnTestEnd(t *testing.T, conn net.Conn) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-t.Context().Done():
			conn.Close()
		}
	}()
	return func() { close(done) }
}

// waitReceived waits until the client sends want.
func (s *hostileServer) waitReceived(want string) {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-s.received:
			if line == want {
				return
			}
		case <-timeout:
			s.t.Fatalf("the client did not send %q", want)
		}
	}
}

// usage is what /proc says a process uses.
type usage struct {
	rss, peak int64         // VmRSS and VmHWM, bytes
	cpu       time.Duration // user and system time
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// readUsage reads pid's memory and CPU use from /proc.
func readUsage(pid int) (usage, error) {
	var u usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.Lines(string(status)) {
		key, value, _ := strings.Cut(line, ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch {
		case err != nil:
		case key == "VmRSS":
			u.rss = kb << 10
		case key == "VmHWM":
			u.peak = kb << 10
		}
	}
	if u.peak == 0 {
		return u, fmt.Errorf("process %d has exited", pid) // a zombie has no memory
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The fields after the command name, which is in parentheses: utime
	// and stime are the 14th and 15th of the whole line.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return u, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, err
	}
	u.cpu = time.Duration(utime+stime) * clockTick
	return u, nil
}

// watchdog samples a process's memory while it runs and kills it if its
// memory runs away.
type watchdog struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	last   usage // the latest sample
	killed bool
}

func watch(t *testing.T, p *os.Process) *watchdog {
	w := &watchdog{pid: p.Pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			u, err := readUsage(w.pid)
			if err != nil {
				return // it has exited
			}
			w.mu.Lock()
			w.last = u
			if u.rss > rssKill && !w.killed {
				w.killed = true
				p.Kill()
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		u := w.usage()
		w.close()
		t.Logf("chat used: peak RSS %.1f MiB, RSS at the end %.1f MiB, CPU %v", mib(u.peak), mib(u.rss), u.cpu)
	})
	return w
}

func (w *watchdog) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// usage returns the latest sample, or a fresh one if the process is alive.
func (w *watchdog) usage() usage {
	if u, err := readUsage(w.pid); err == nil {
		return u
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// checkPeak fails the test if the process ever held more than rssLimit.
func (w *watchdog) checkPeak(t *testing.T, what string) {
	t.Helper()
	u := w.usage()
	w.mu.Lock()
	killed := w.killed
	w.mu.Unlock()
	switch {
	case killed:
		t.Errorf("%s: chat grew past %.0f MiB and was killed", what, mib(rssKill))
	case u.peak > rssLimit:
		t.Errorf("%s: chat's peak RSS was %.1f MiB, over %.0f MiB", what, mib(u.peak), mib(rssLimit))
	}
}

// checkIdle fails the test if the process uses more than idleCPU of CPU in
// idleWindow, when nothing is happening.
func (w *watchdog) checkIdle(t *testing.T, what string) {
	t.Helper()
	before := w.usage()
	time.Sleep(idleWindow) // measuring a rate over a window, not waiting for a condition
	spent := w.usage().cpu - before.cpu
	if spent > idleCPU {
		t.Errorf("%s: chat used %v of CPU in %v after the flood, while nothing happened", what, spent, idleWindow)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// outputWatch is a process's output, read as it comes without keeping it:
// floods print hundreds of megabytes. It remembers the end of the output,
// for error messages, and which wanted strings it has seen.
type outputWatch struct {
	mu      sync.Mutex
	tail    []byte
	written int64
	wants   map[string]chan struct{}
}

// tailSize is how much of the output an outputWatch keeps; a wanted string
// must be shorter.
const tailSize = 4 << 10

func newOutputWatch(wants ...string) *outputWatch {
	o := &outputWatch{wants: make(map[string]chan struct{})}
	for _, want := range wants {
		o.wants[want] = make(chan struct{})
	}
	return o
}

func (o *outputWatch) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.written += int64(len(p))
	// Look in the kept tail and p together, so that a string split across
	// two writes is found.
	seen := slices.Concat(o.tail, p)
	for want, ch := range o.wants {
		if ch != nil && bytes.Contains(seen, []byte(want)) {
			close(ch)
			o.wants[want] = nil
		}
	}
	o.tail = append(o.tail[:0], seen[max(0, len(seen)-tailSize):]...)
	return len(p), nil
}

// seen returns a channel closed once want was printed.
func (o *outputWatch) seen(want string) <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ch := o.wants[want]; ch != nil {
		return ch
	}
	if _, asked := o.wants[want]; asked {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	panic("outputWatch: " + want + " was not asked for")
}

func (o *outputWatch) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprintf("%d bytes, ending in:\n%s", o.written, o.tail)
}

// plainChat is chat --plain against a hostile server.
type plainChat struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *outputWatch
	dog   *watchdog
	done  chan struct{}
}

func startPlainChat(t *testing.T, s *hostileServer, wants ...string) *plainChat {
	t.Helper()
	c := &plainChat{
		cmd: exec.Command(chatBinary, "--plain", "--ca", s.certFile, "--nick", "victim",
			"--known-servers", filepath.Join(t.TempDir(), "known"), s.addr()),
		out:  newOutputWatch(wants...),
		done: make(chan struct{}),
	}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.dog = watch(t, c.cmd.Process)
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// waitFor waits until chat prints want.
func (c *plainChat) waitFor(t *testing.T, want string, within time.Duration) {
	t.Helper()
	select {
	case <-c.out.seen(want):
	case <-c.done:
		select {
		case <-c.out.seen(want): // printed just before exiting
		default:
			t.Fatalf("chat exited (%v) without printing %q; it printed %s", c.cmd.ProcessState, want, c.out)
		}
	case <-time.After(within):
		t.Fatalf("chat did not print %q within %v; it printed %s", want, within, c.out)
	}
}

// printed reports whether chat has printed want.
func (c *plainChat) printed(want string) bool {
	select {
	case <-c.out.seen(want):
		return true
	default:
		return false
	}
}

// waitExit waits for chat to exit and returns its exit code.
func (c *plainChat) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(floodWait):
		t.Fatalf("chat did not exit within %v; it printed %s", floodWait, c.out)
		return -1
	}
}

// screenChat is chat on a pseudo-terminal against a hostile server; a
// terminal emulator shows what a person would see.
type screenChat struct {
	cmd  *exec.Cmd
	tty  *os.File
	dog  *watchdog
	done chan struct{}

	mu  sync.Mutex
	emu *vt.Emulator
}

func startScreenChat(t *testing.T, s *hostileServer) *screenChat {
	t.Helper()
	const cols, rows = 100, 30
	c := &screenChat{
		cmd: exec.Command(chatBinary, "--ca", s.certFile, "--nick", "victim",
			"--known-servers", filepath.Join(t.TempDir(), "known"), s.addr()),
		done: make(chan struct{}),
		emu:  vt.NewEmulator(cols, rows),
	}
	c.cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	tty, err := pty.StartWithSize(c.cmd, &pty.Winsize{Cols: cols, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	c.tty = tty
	c.dog = watch(t, c.cmd.Process)
	go c.render()
	go io.Copy(tty, c.emu) // the emulator's answers to the program's queries
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
		tty.Close()
		if pw, ok := c.emu.InputPipe().(*io.PipeWriter); ok {
			pw.Close() // ends the io.Copy above
		}
	})
	return c
}

// render feeds the program's output to the emulator.
func (c *screenChat) render() {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.tty.Read(buf)
		if n > 0 {
			c.mu.Lock()
			c.emu.Write(buf[:n])
			c.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (c *screenChat) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.emu.String()
}

// waitFor waits until the screen shows every one of wants.
func (c *screenChat) waitFor(t *testing.T, within time.Duration, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		text := c.text()
		missing := ""
		for _, want := range wants {
			if !strings.Contains(text, want) {
				missing = want
				break
			}
		}
		switch {
		case missing == "":
			return
		case time.Now().After(deadline):
			t.Fatalf("the screen did not show %q within %v; it shows:\n%s", missing, within, text)
		}
		select {
		case <-c.done:
			t.Fatalf("chat exited (%v) before its screen showed %q; it shows:\n%s", c.cmd.ProcessState, missing, text)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *screenChat) typeKeys(t *testing.T, keys string) {
	t.Helper()
	if _, err := io.WriteString(c.tty, keys); err != nil {
		t.Fatalf("type %q: %v", keys, err)
	}
}

func (c *screenChat) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(floodWait):
		t.Fatalf("chat did not exit within %v; its screen shows:\n%s", floodWait, c.text())
		return -1
	}
}

// Keys as an xterm sends them.
const (
	pageUp = "\x1b[5~"
	endKey = "\x1b[F"
)

// floods are the attacks a client must get through and keep working after.
var floods = []struct {
	name   string
	attack attack
	// shows is what the screen must show after the flood, beside the
	// line sent after it: proof that the flood was taken in.
	shows []string
}{
	{"a million joins", joinFlood(1_000_000), []string{"chatd · 1000001 members · victim"}},
	{"ten thousand long lines", longLines(10_000, 60_000), []string{"hostile words wrap across"}},
	{"enormous member lists", memberLists(2_000, 5_000, 600), []string{"1000000600 members · victim"}},
}

// TestHostileServerFloodsPlainMode floods chat --plain and checks that it
// keeps its memory bounded, still prints the line after the flood, still
// sends what it reads, goes idle, and leaves cleanly.
func TestHostileServerFloodsPlainMode(t *testing.T) {
	for _, flood := range floods {
		t.Run(flood.name, func(t *testing.T) {
			s := startHostileServer(t, flood.attack)
			c := startPlainChat(t, s, afterFlood, "*** Goodbye.")
			s.release()
			start := time.Now()
			c.waitFor(t, afterFlood, floodWait)
			t.Logf("through the flood in %v, %d bytes printed", time.Since(start).Round(time.Millisecond), c.out.written)
			c.dog.checkIdle(t, flood.name)
			io.WriteString(c.stdin, "hello after the flood\n")
			s.waitReceived("hello after the flood")
			c.dog.checkPeak(t, flood.name)
			c.stdin.Close()
			c.waitFor(t, "*** Goodbye.", 10*time.Second)
			if code := c.waitExit(t); code != 0 {
				t.Errorf("chat exited %d after its input ended; it printed %s", code, c.out)
			}
		})
	}
}

// TestHostileServerFloodsScreenMode floods chat's screen, scrolled up (so it
// cannot forget the lines it rendered) and checks the same as in plain
// mode, on what the screen shows.
func TestHostileServerFloodsScreenMode(t *testing.T) {
	for _, flood := range floods {
		t.Run(flood.name, func(t *testing.T) {
			s := startHostileServer(t, flood.attack)
			c := startScreenChat(t, s)
			c.waitFor(t, 10*time.Second, "mallory: "+warmedUp)
			c.typeKeys(t, pageUp)
			c.waitFor(t, 10*time.Second, "↑ scrolled")
			s.release()
			s.waitWritten()
			c.typeKeys(t, endKey) // follow new messages again
			c.waitFor(t, floodWait, "mallory: "+afterFlood)
			c.waitFor(t, 10*time.Second, flood.shows...)
			c.dog.checkIdle(t, flood.name)
			c.typeKeys(t, "hello after the flood\r")
			s.waitReceived("hello after the flood")
			c.dog.checkPeak(t, flood.name)
			c.typeKeys(t, "\x03") // Ctrl+C
			s.waitReceived("/quit")
			if code := c.waitExit(t); code != 0 {
				t.Errorf("chat exited %d after Ctrl+C", code)
			}
		})
	}
}

// TestHostileServerEndlessLine sends a line that never ends: chat must stop
// reading it without holding it, say why and exit.
func TestHostileServerEndlessLine(t *testing.T) {
	s := startHostileServer(t, endlessLine(256<<20))
	const reason = "the server sent a line of over"
	c := startPlainChat(t, s, reason)
	s.release()
	code := c.waitExit(t)
	c.dog.checkPeak(t, "an endless line")
	if !c.printed(reason) || code != 1 {
		t.Errorf("after an endless line chat exited %d, want 1 and %q; it printed %s", code, reason, c.out)
	}
}

// TestHostileServerEndlessLineOnTheScreen sends the endless line to the
// screen, which reconnects after a lost connection: each time it must stop
// reading, show why, and keep its memory bounded.
func TestHostileServerEndlessLineOnTheScreen(t *testing.T) {
	s := startHostileServer(t, endlessLine(256<<20))
	s.release()
	c := startScreenChat(t, s)
	c.waitFor(t, floodWait, "disconnected (the server sent a line of over")
	c.dog.checkPeak(t, "an endless line, on the screen")
	c.typeKeys(t, "\x03") // Ctrl+C
	if code := c.waitExit(t); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

// TestHostileServerNeverAcceptsTheNick floods chat with notices while it
// waits for its nickname to be accepted: it must give up at once, not
// collect them until the join times out.
func TestHostileServerNeverAcceptsTheNick(t *testing.T) {
	s := startStallingServer(t)
	const reason = "without accepting the nickname"
	c := startPlainChat(t, s, reason)
	start := time.Now()
	code := c.waitExit(t)
	c.dog.checkPeak(t, "a join that never completes")
	if !c.printed(reason) || code != 1 {
		t.Errorf("chat exited %d after %v, want 1 and %q; it printed %s", code, time.Since(start), reason, c.out)
	}
}
