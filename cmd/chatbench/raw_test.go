package main

import (
	"bufio"
	"chatd/certs"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// slowRawServer is a line-broadcast TLS server like ncat --chat, except
// that it takes its time: it counts a client among its receivers only
// registerAfter after the handshake, and then greets it (if greet is set).
type slowRawServer struct {
	ln            net.Listener
	registerAfter time.Duration
	greet         bool
	wg            sync.WaitGroup

	mu      sync.Mutex
	clients map[net.Conn]int
	next    int
}

func startSlowRawServer(t *testing.T, registerAfter time.Duration, greet bool) (addr, caFile string) {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := &slowRawServer{ln: ln, registerAfter: registerAfter, greet: greet, clients: make(map[net.Conn]int)}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.clients {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return net.JoinHostPort("localhost", port), caFile
}

func (s *slowRawServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *slowRawServer) serve(c net.Conn) {
	defer c.Close()
	if c.(*tls.Conn).Handshake() != nil {
		return
	}
	time.Sleep(s.registerAfter)
	s.mu.Lock()
	s.next++
	id := s.next
	s.clients[c] = id
	if s.greet {
		fmt.Fprintf(c, "<announce> you are <user%d>\n", id)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := fmt.Sprintf("<user%d> %s\n", id, sc.Text())
		s.mu.Lock()
		for other := range s.clients {
			if other != c {
				other.Write([]byte(line))
			}
		}
		s.mu.Unlock()
	}
}

// TestRawWaitsForTheServersGreeting: a raw client counts as joined only
// once the server has greeted it, so no message goes to a client the server
// does not know yet.
func TestRawWaitsForTheServersGreeting(t *testing.T) {
	addr, ca := startSlowRawServer(t, 300*time.Millisecond, true)
	cfg := defaultConfig()
	cfg.addr, cfg.ca, cfg.proto, cfg.settle = addr, ca, protoRaw, 0
	cfg.clients, cfg.rate, cfg.duration = 5, 10, time.Second
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFullDelivery(t, r, 5, 5, 10, 1)
	if r.ConnectSeconds < 0.3 {
		t.Errorf("connecting took %.2fs, less than the server's 0.3s delay", r.ConnectSeconds)
	}
}

// TestRawSilentServer: with a server that greets no one, a client counts
// as joined after --raw-wait.
func TestRawSilentServer(t *testing.T) {
	addr, ca := startSlowRawServer(t, 0, false)
	cfg := defaultConfig()
	cfg.addr, cfg.ca, cfg.proto, cfg.rawWait = addr, ca, protoRaw, 200*time.Millisecond
	cfg.clients, cfg.rate, cfg.duration, cfg.settle = 3, 10, 500*time.Millisecond, 0
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFullDelivery(t, r, 3, 3, 10, 0.5)
	if r.ConnectSeconds < 0.2 {
		t.Errorf("connecting took %.2fs, less than --raw-wait", r.ConnectSeconds)
	}
}
