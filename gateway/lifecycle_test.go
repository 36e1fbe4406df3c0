package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTime bounds every wait; it only matters when a test fails.
const waitTime = 5 * time.Second

// echoGateway is a gateway in miniature: each connection is a session that
// echoes lines until the client or the server closes it, or until
// EndSessions asks it to end (if endOnAsk).
type echoGateway struct {
	life     *Lifecycle
	endOnAsk bool
	asked    chan struct{} // closed by EndSessions
	cut      atomic.Bool   // Cut was called
}

func newEchoGateway(opts Options, endOnAsk bool) *echoGateway {
	g := &echoGateway{endOnAsk: endOnAsk, asked: make(chan struct{})}
	opts.EndSessions = func() { close(g.asked) }
	opts.Cut = func() { g.cut.Store(true) }
	g.life = New(opts)
	return g
}

// handle serves one connection as one session.
func (g *echoGateway) handle(c net.Conn) {
	defer g.life.Release(c)
	defer c.Close()
	if !g.life.StartSession() {
		return
	}
	defer g.life.EndSession()
	if g.endOnAsk {
		go func() {
			<-g.asked
			io.WriteString(c, "bye\n")
			c.Close()
		}()
	}
	io.Copy(c, c)
}

// serve runs g on a loopback port and returns its address and Serve's
// result.
func (g *echoGateway) serve(t *testing.T) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.life.Serve(ln, g.handle) }()
	return ln.Addr().String(), served
}

// dial connects to addr and checks that the session echoes.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitTime))
	io.WriteString(c, "ping\n")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	return c
}

// waitServed checks that Serve returned ErrServerClosed.
func waitServed(t *testing.T, served <-chan error) {
	t.Helper()
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(waitTime):
		t.Error("Serve did not return after Shutdown")
	}
}

func shutdown(t *testing.T, l *Lifecycle, timeout time.Duration) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := l.Shutdown(ctx)
	return err, time.Since(start)
}

func TestServeAfterShutdownReturnsAtOnce(t *testing.T) {
	l := New(Options{})
	if err, _ := shutdown(t, l, waitTime); err != nil {
		t.Fatalf("Shutdown of an idle lifecycle: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Serve(ln, func(net.Conn) { t.Error("a connection was handled") }); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener was left open")
	}
	if l.StartSession() {
		t.Error("a session started after Shutdown")
	}
}

func TestShutdownWaitsForSessionsAsked(t *testing.T) {
	g := newEchoGateway(Options{}, true)
	addr, served := g.serve(t)
	clients := []net.Conn{dial(t, addr), dial(t, addr)}
	if c := g.life.Counts(); c.Conns != 2 || c.Accepted != 2 || c.Sessions != 2 || c.Started != 2 {
		t.Fatalf("counts with two clients: %+v", c)
	}

	err, took := shutdown(t, g.life, waitTime)
	if err != nil {
		t.Fatalf("Shutdown: %v (after %v)", err, took)
	}
	waitServed(t, served)
	for _, c := range clients {
		if got, _ := io.ReadAll(c); string(got) != "bye\n" {
			t.Errorf("a client got %q at shutdown, want the session's goodbye", got)
		}
	}
	if g.cut.Load() {
		t.Error("Cut was called though every session ended in time")
	}
	if c := g.life.Counts(); c.Conns != 0 || c.Sessions != 0 || c.Accepted != 2 || c.Started != 2 {
		t.Errorf("counts after Shutdown: %+v", c)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestShutdownGivesUpAtContextAndCuts(t *testing.T) {
	g := newEchoGateway(Options{}, false) // sessions ignore the request to end
	addr, served := g.serve(t)
	client := dial(t, addr)

	err, took := shutdown(t, g.life, 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("Shutdown took %v, want about 200ms", took)
	}
	if !g.cut.Load() {
		t.Error("Cut was not called")
	}
	waitServed(t, served)
	client.SetReadDeadline(time.Now().Add(waitTime))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Error("the connection is still open after Shutdown")
	}
	if c := g.life.Counts(); c.Conns != 0 || c.Sessions != 0 {
		t.Errorf("counts after Shutdown: %+v", c)
	}
}

func TestShutdownLingersForClientsToClose(t *testing.T) {
	// No sessions: each connection waits for its client to close it.
	const linger = 2 * time.Second
	l := New(Options{Linger: linger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 2)
	handle := func(c net.Conn) {
		defer l.Release(c)
		accepted <- struct{}{}
		io.Copy(io.Discard, c)
		c.Close()
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(ln, handle) }()
	dialAccepted := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		<-accepted
		return c
	}

	// A client that closes during the linger ends it early.
	polite := dialAccepted()
	time.AfterFunc(50*time.Millisecond, func() { polite.Close() })
	if err, took := shutdown(t, l, waitTime); err != nil || took > linger/2 {
		t.Errorf("Shutdown with a client closing after 50ms: %v after %v", err, took)
	}
	waitServed(t, served)

	// One that does not is closed after the linger, without an error.
	l = New(Options{Linger: linger})
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { served <- l.Serve(ln, handle) }()
	idle := dialAccepted()
	err, took := shutdown(t, l, waitTime)
	if err != nil || took < linger || took > waitTime {
		t.Errorf("Shutdown with an idle client: %v after %v, want nil after %v", err, took, linger)
	}
	waitServed(t, served)
	idle.SetReadDeadline(time.Now().Add(waitTime))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the idle client read %v, want EOF", err)
	}
}

// flakyListener fails its first Accepts with errs, then accepts from the
// real listener.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func acceptError(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// syncBuffer is a log destination that tests may read while it is written.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestTemporaryAcceptErrorsAreRetried(t *testing.T) {
	var logs syncBuffer
	g := newEchoGateway(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: ln, errs: []error{acceptError(syscall.EMFILE), acceptError(syscall.ENFILE), acceptError(syscall.ECONNABORTED)}}
	served := make(chan error, 1)
	go func() { served <- g.life.Serve(flaky, g.handle) }()

	dial(t, ln.Addr().String()) // served despite the errors before it
	if n := strings.Count(logs.String(), "accept failed; retrying"); n != 3 {
		t.Errorf("%d retries logged, want 3:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
	if err, _ := shutdown(t, g.life, waitTime); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitServed(t, served)
}

func TestOtherAcceptErrorsEndServe(t *testing.T) {
	l := New(Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broken := acceptError(syscall.EINVAL)
	err = l.Serve(&flakyListener{Listener: ln, errs: []error{broken}}, func(net.Conn) {})
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Serve = %v, want the listener's error", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("Serve did not close the listener")
	}
}

// failingListener fails every Accept with a temporary error.
type failingListener struct {
	net.Listener
}

func (l failingListener) Accept() (net.Conn, error) { return nil, acceptError(syscall.EMFILE) }

func TestShutdownInterruptsTheRetryPause(t *testing.T) {
	l := New(Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(failingListener{ln}, func(net.Conn) {}) }()
	time.Sleep(1500 * time.Millisecond) // the pause grows to its longest, a second
	start := time.Now()
	if err, _ := shutdown(t, l, waitTime); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitServed(t, served)
	if d := time.Since(start); d > maxBackoff/2 {
		t.Errorf("Serve returned %v after Shutdown, want at once", d)
	}
}

func TestSessionsRefusedOnceClosing(t *testing.T) {
	var l *Lifecycle
	var startedDuringEnd bool
	l = New(Options{EndSessions: func() {
		if !l.Closing() {
			t.Error("EndSessions was called before Closing reports true")
		}
		startedDuringEnd = l.StartSession()
	}})
	if !l.StartSession() || l.Closing() {
		t.Fatal("a session was refused before Shutdown")
	}
	ending := make(chan struct{}) // closed just before the session ends: Shutdown cannot return before
	time.AfterFunc(50*time.Millisecond, func() {
		close(ending)
		l.EndSession()
	})
	if err, _ := shutdown(t, l, waitTime); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-ending:
	default:
		t.Error("Shutdown returned before the session ended")
	}
	if startedDuringEnd {
		t.Error("a session started after Shutdown began")
	}
	if c := l.Counts(); c.Sessions != 0 || c.Started != 1 {
		t.Errorf("counts: %+v", c)
	}
}

func TestReleaseIsIdempotent(t *testing.T) {
	g := newEchoGateway(Options{}, true)
	addr, served := g.serve(t)
	c := dial(t, addr)
	c.Close()
	deadline := time.Now().Add(waitTime)
	for g.life.Counts().Conns != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the closed connection is still counted: %+v", g.life.Counts())
		}
		time.Sleep(5 * time.Millisecond)
	}
	g.life.Release(c) // not tracked (any more): nothing happens
	if err, _ := shutdown(t, g.life, waitTime); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitServed(t, served)
}
