package mitm

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// sshUpstream is an SSH server that lets anyone in with "none" and, on a
// session's shell, answers each line typed (ended by \r) with
// "echo: LINE\r\n"; at the end of input it sends exit status 0.
type sshUpstream struct {
	ln  net.Listener
	cfg *gossh.ServerConfig
	key gossh.PublicKey
	wg  sync.WaitGroup
}

func startSSHUpstream(t *testing.T) *sshUpstream {
	t.Helper()
	key, err := generateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	u := &sshUpstream{cfg: &gossh.ServerConfig{NoClientAuth: true}, key: key.PublicKey()}
	u.cfg.AddHostKey(key)
	if u.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	u.wg.Add(1)
	go u.serve()
	t.Cleanup(func() { u.ln.Close(); u.wg.Wait() })
	return u
}

func (u *sshUpstream) serve() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			u.handle(c)
		}()
	}
}

func (u *sshUpstream) handle(c net.Conn) {
	defer c.Close()
	conn, chans, reqs, err := gossh.NewServerConn(c, u.cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go gossh.DiscardRequests(reqs)
	for nc := range chans {
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range chReqs {
				req.Reply(req.Type == "pty-req" || req.Type == "shell", nil)
			}
		}()
		r := bufio.NewReader(ch)
		for {
			line, err := r.ReadString('\r')
			if err != nil {
				break
			}
			io.WriteString(ch, "echo: "+line+"\n")
		}
		ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, 0))
		ch.Close()
	}
}

// TestSSHProxyRelaysASession: the client sees the proxy's host key, its
// session's requests, data and exit status cross, and what it types is
// printed, escapes made visible.
func TestSSHProxyRelaysASession(t *testing.T) {
	up := startSSHUpstream(t)
	out := newSyncBuffer()
	p, err := StartSSH(context.Background(), SSHConfig{Listen: "127.0.0.1:0", Upstream: up.ln.Addr().String(), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(context.Background()) }()
	defer func() {
		p.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	if string(p.UpstreamKey().Marshal()) != string(up.key.Marshal()) || string(p.HostKey().Marshal()) == string(up.key.Marshal()) {
		t.Fatal("the proxy did not read the upstream's host key, or presents it")
	}

	var seen gossh.PublicKey
	client, err := gossh.Dial("tcp", p.Addr().String(), &gossh.ClientConfig{User: "alice",
		HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error { seen = k; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if string(seen.Marshal()) != string(p.HostKey().Marshal()) {
		t.Error("the client was not shown the proxy's host key")
	}
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	if err := sess.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatalf("pty-req through the proxy: %v", err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatalf("shell through the proxy: %v", err)
	}
	io.WriteString(stdin, "hi \x1b[2Jthere\r")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "echo: hi \x1b[2Jthere\r\n" {
		t.Errorf("relayed %q, %v", line, err)
	}
	stdin.Close()
	if err := sess.Wait(); err != nil {
		t.Errorf("the exit status did not come back: %v", err)
	}
	who := client.LocalAddr().String()
	text := out.waitFor(t, who+` -> server (ssh, typed): hi \x1b[2Jthere`)
	for _, want := range []string{who + ` *** ssh intercepted: user "alice"`, who + " *** ssh request pty-req", who + " *** ssh request shell"} {
		if !strings.Contains(text, want) {
			t.Errorf("the transcript lacks %q:\n%s", want, text)
		}
	}
	client.Close()
	out.waitFor(t, who+" *** closed")
}
