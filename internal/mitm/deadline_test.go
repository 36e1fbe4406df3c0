package mitm

import (
	"net"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// deadlineRecorder is a connection that remembers whether anything
// cleared its write deadline (SetDeadline or SetWriteDeadline with the
// zero time).
type deadlineRecorder struct {
	net.Conn
	mu           sync.Mutex
	clearedWrite bool
}

func (d *deadlineRecorder) SetDeadline(t time.Time) error {
	d.noteWrite(t)
	return d.Conn.SetDeadline(t)
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.noteWrite(t)
	return d.Conn.SetWriteDeadline(t)
}

func (d *deadlineRecorder) noteWrite(t time.Time) {
	if t.IsZero() {
		d.mu.Lock()
		d.clearedWrite = true
		d.mu.Unlock()
	}
}

func (d *deadlineRecorder) cleared() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.clearedWrite
}

// TestSSHHandshakeEndKeepsWriteDeadlines: once the client's handshake is
// over, the proxy clears only the read deadline it had set: a write under
// way (x/crypto writes from its own goroutines, each write bounded by
// writeDeadlineConn) keeps its deadline, so a peer that stops reading is
// still cut.
func TestSSHHandshakeEndKeepsWriteDeadlines(t *testing.T) {
	up := startSSHUpstream(t)
	p, out, served := startSSH(t, up.ln.Addr().String(), 0)
	defer stopSSH(t, p, served)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	rec := &deadlineRecorder{Conn: c}
	handled := make(chan struct{})
	go func() { defer close(handled); p.handle(rec) }()
	cc, chans, reqs, err := gossh.NewClientConn(raw, "proxy", &gossh.ClientConfig{User: "alice", HostKeyCallback: gossh.InsecureIgnoreHostKey()}) //nolint:gosec // the test's own proxy
	if err != nil {
		t.Fatal(err)
	}
	client := gossh.NewClient(cc, chans, reqs)
	out.waitFor(t, "ssh intercepted")
	client.Close()
	select {
	case <-handled:
	case <-time.After(wait):
		t.Fatal("handle did not return after the client left")
	}
	if rec.cleared() {
		t.Error("the client connection's write deadline was cleared after the handshake")
	}
}
