package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/certs"
	"chatd/client"
	"chatd/proto"
)

// TestQuitWhileRejoiningEndsAtOnce: the user quits the screen while the
// client is rejoining a server that took the TLS handshake but has not
// answered the nickname yet. runScreen waits for the forwarder, which waits
// for the Redialer to close Events, which waits for Dial: its nickname
// exchange must end when the Redialer is closed, not at JoinTimeout (15 s).
func TestQuitWhileRejoiningEndsAtOnce(t *testing.T) {
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stalled := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for i := 0; ; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			go func(i int) {
				r := bufio.NewReader(conn)
				io.WriteString(conn, "*** Welcome.\n*** "+proto.NickPrompt+"\n")
				nick, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if i == 0 {
					io.WriteString(conn, "[12:00:00] *** "+strings.TrimSpace(nick)+" joined\n")
					time.Sleep(100 * time.Millisecond)
					conn.Close() // the connection is lost: the client rejoins
					return
				}
				once.Do(func() { close(stalled) }) // and this time no answer comes yet
			}(i)
		}
	}()
	cfg := client.Config{Addr: ln.Addr().String(), Nick: "alice", TLS: &tls.Config{InsecureSkipVerify: true}}
	first, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	session := client.NewRedialer(context.Background(), client.RedialConfig{Conn: cfg, Reconnect: true, Echo: true,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, first)
	select {
	case <-stalled:
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not rejoin")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the program ends at once, as after Ctrl+C
	start := time.Now()
	sess := &screenSession{Redialer: session}
	s := &screen{ctx: ctx, session: sess}
	sess.send = func(msg tea.Msg) { s.program.Send(msg) }
	s.run(ctx, sess, "")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("runScreen took %v to return after its program ended (2333681 returned at once)", d.Round(100*time.Millisecond))
	}
}
