package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// lineSSHServer is a throwaway SSH chat for testing the SSH mode against
// the plain SSH+PTY contract: anyone may log in; each session must request
// a PTY and a shell; every line a session types (ended by CR) is shown to
// every session as "<user> line", and a session's arrival as
// "*** user joined". On arrival it asks the terminal for the cursor
// position, as TUIs do, and counts the answers.
type lineSSHServer struct {
	t      *testing.T
	ln     net.Listener
	config *ssh.ServerConfig
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[*lineSession]bool
	conns    map[net.Conn]bool
	closed   bool

	ptys        atomic.Int64 // PTY requests with the expected terminal and size
	cursorPosns atomic.Int64 // cursor position reports received
}

type lineSession struct {
	user string
	ch   ssh.Channel
	mu   sync.Mutex // orders writes to ch
}

func startLineSSHServer(t *testing.T) *lineSSHServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lineSSHServer{t: t, ln: ln, config: cfg, sessions: make(map[*lineSession]bool), conns: make(map[net.Conn]bool)}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *lineSSHServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() { s.serveConn(c) })
	}
}

func (s *lineSSHServer) serveConn(c net.Conn) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		sess := &lineSession{user: sc.User(), ch: ch}
		s.wg.Go(func() { s.serveSession(sess, chReqs) })
	}
}

// serveSession answers the session's requests; on "shell" it joins the
// room, provided a PTY was requested first.
func (s *lineSSHServer) serveSession(sess *lineSession, reqs <-chan *ssh.Request) {
	defer sess.ch.Close()
	pty := false
	for req := range reqs {
		switch req.Type {
		case "pty-req":
			pty = true
			if term, cols, rows := parsePtyReq(req.Payload); term == sshTerm && cols == 100 && rows == 30 {
				s.ptys.Add(1)
			}
			req.Reply(true, nil)
		case "shell":
			req.Reply(pty, nil)
			if pty {
				s.wg.Go(func() { s.chat(sess) })
			}
		default:
			req.Reply(false, nil)
		}
	}
}

// parsePtyReq reads the terminal name and size from a pty-req payload.
func parsePtyReq(b []byte) (term string, cols, rows uint32) {
	var p struct {
		Term       string
		Cols, Rows uint32
		W, H       uint32
		Modes      string
	}
	if ssh.Unmarshal(b, &p) != nil {
		return "", 0, 0
	}
	return p.Term, p.Cols, p.Rows
}

// chat runs one joined session: it broadcasts each typed line.
func (s *lineSSHServer) chat(sess *lineSession) {
	s.mu.Lock()
	s.sessions[sess] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	sess.write("\x1b[6n") // where is the cursor? (a terminal answers ESC [ row ; col R)
	s.broadcast(fmt.Sprintf("*** %s joined", sess.user))
	var line []byte
	buf := make([]byte, 1024)
	for {
		n, err := sess.ch.Read(buf)
		for _, c := range buf[:n] {
			if c == '\r' {
				if len(line) > 0 {
					s.broadcast(fmt.Sprintf("<%s> %s", sess.user, line))
				}
				line = line[:0]
				continue
			}
			line = append(line, c)
			if c == 'R' && bytes.HasPrefix(line, []byte("\x1b[")) { // a complete cursor report
				s.cursorPosns.Add(1)
				line = line[:0]
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *lineSSHServer) broadcast(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sess := range s.sessions {
		sess.write(text + "\r\n")
	}
}

func (sess *lineSession) write(text string) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.ch.Write([]byte(text))
}

func (s *lineSSHServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func TestSSHMode(t *testing.T) {
	srv := startLineSSHServer(t)
	cfg := defaultConfig()
	cfg.sshAddr = srv.ln.Addr().String()
	cfg.sshJoin = "%s joined" // what this stand-in server prints
	cfg.clients, cfg.typers, cfg.rate, cfg.duration, cfg.settle = 6, 3, 4, 2*time.Second, 200*time.Millisecond
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "ssh" || r.Senders != 3 || r.Proto != "" {
		t.Errorf("mode %q senders %d proto %q", r.Mode, r.Senders, r.Proto)
	}
	checkFullDelivery(t, r, 6, 3, 4, 2)
	if got := srv.ptys.Load(); got != 6 {
		t.Errorf("%d sessions asked for an xterm-256color PTY of 100x30, want 6", got)
	}
	if got := srv.cursorPosns.Load(); got != 6 {
		t.Errorf("the server got %d cursor position reports, want 6 (one per screen)", got)
	}
}

func TestSSHModeChecksHostKey(t *testing.T) {
	srv := startLineSSHServer(t)
	cfg := defaultConfig()
	cfg.sshAddr, cfg.clients, cfg.duration = srv.ln.Addr().String(), 2, 100*time.Millisecond
	cfg.sshHostKey = "SHA256:not-the-key"
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "not the expected SHA256:not-the-key") {
		t.Errorf("Run with a wrong host key: %v", err)
	}
}
