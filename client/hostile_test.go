package client

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/certs"
	"chatd/proto"
	"chatd/room"
)

// startScriptedServer runs a TLS server on loopback that greets each
// connection and accepts its nickname as chatd does, then runs script,
// and returns the address and a Trust for it. It stops when the test ends.
func startScriptedServer(t *testing.T, script func(w *bufio.Writer, nick string)) (string, Trust) {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	conns := make(chan net.Conn, 16)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- conn
			wg.Go(func() {
				defer conn.Close()
				w := bufio.NewWriter(conn)
				w.WriteString("*** Welcome.\n*** " + proto.NickPrompt + "\n")
				w.Flush()
				nick, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				script(w, strings.TrimSpace(nick))
				w.Flush()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		for len(conns) > 0 {
			(<-conns).Close() // ends a script blocked on writing
		}
		wg.Wait()
	})
	return ln.Addr().String(), Trust{CAFile: caFile}
}

func TestClientCutsLongServerLines(t *testing.T) {
	// Twice the limit, in bytes, and the limit falls inside an "é".
	long := "x" + strings.Repeat("é", maxServerLine)
	addr, trust := startScriptedServer(t, func(w *bufio.Writer, nick string) {
		w.WriteString("*** " + nick + " joined\n")
		w.WriteString("<mallory> " + long + "\n")
		w.WriteString("<mallory> and then a short one\n")
	})
	c, err := dialClient(t, addr, "alice", trust)
	if err != nil {
		t.Fatal(err)
	}
	cut := nextEvent(t, c.Events(), room.Chat)
	if cut.From != "mallory" || !strings.HasSuffix(cut.Text, "éé"+cutMark) || len(cut.Text) > maxServerLine {
		t.Errorf("a line of %d bytes came as %d bytes from %q ending in %q", len(long), len(cut.Text), cut.From, cut.Text[max(0, len(cut.Text)-8):])
	}
	if next := nextEvent(t, c.Events(), room.Chat); next.Text != "and then a short one" {
		t.Errorf("the line after the cut one came as %q", next.Text)
	}
}

func TestClientGivesUpOnAnEndlessLine(t *testing.T) {
	addr, trust := startScriptedServer(t, func(w *bufio.Writer, nick string) {
		w.WriteString("*** " + nick + " joined\n<mallory> ")
		chunk := strings.Repeat("z", 64<<10)
		for range 2 * maxServerLineRun / len(chunk) {
			if _, err := w.WriteString(chunk); err != nil {
				return
			}
		}
	})
	c, err := dialClient(t, addr, "alice", trust)
	if err != nil {
		t.Fatal(err)
	}
	for ev := range c.Events() {
		if ev.Kind == room.Chat {
			t.Errorf("a chat event came from an endless line: %d bytes", len(ev.Text))
		}
	}
	if c.Reason().String() != errEndlessLine.Error() {
		t.Errorf("Reason() = %q, want %q", c.Reason(), errEndlessLine)
	}
}

func TestClientGivesUpOnAJoinThatNeverEnds(t *testing.T) {
	addr, trust := startScriptedServer(t, func(w *bufio.Writer, nick string) {
		for {
			if _, err := w.WriteString("*** thinking about " + nick + "\n"); err != nil {
				return
			}
		}
	})
	start := time.Now()
	_, err := dialClient(t, addr, "alice", trust)
	if err == nil || !strings.Contains(err.Error(), "without accepting the nickname") {
		t.Fatalf("Dial: %v, want a refusal of a server that never accepts the nickname", err)
	}
	if took := time.Since(start); took > DefaultJoinTimeout/2 {
		t.Errorf("Dial gave up after %v, not at once", took)
	}
}
