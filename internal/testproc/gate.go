package testproc

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Gate is a TCP proxy on loopback in front of a test server, which a test
// can close as a lost network would: Cut ends every connection through it
// and may keep new ones away until Reopen. It stops when the test ends.
type Gate struct {
	ln   net.Listener
	to   string
	mu   sync.Mutex
	open bool
	live []net.Conn
	wg   sync.WaitGroup
}

// StartGate starts a gate that passes connections to the address to.
func StartGate(t *testing.T, to string) *Gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{ln: ln, to: to, open: true}
	g.wg.Go(g.accept)
	t.Cleanup(func() {
		ln.Close()
		g.Cut(false)
		g.wg.Wait()
	})
	return g
}

// Addr is the address to dial instead of the server's.
func (g *Gate) Addr() string { return g.ln.Addr().String() }

// accept passes each connection on while the gate is open, and closes it
// at once while it is not.
func (g *Gate) accept() {
	for {
		in, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		var out net.Conn
		if open {
			out, err = net.Dial("tcp", g.to)
		}
		if !open || err != nil {
			in.Close()
			continue
		}
		g.mu.Lock()
		g.live = append(g.live, in, out)
		g.mu.Unlock()
		g.wg.Go(func() { io.Copy(out, in); out.Close() })
		g.wg.Go(func() { io.Copy(in, out); in.Close() })
	}
}

// Cut closes every connection through the gate; unless open, new ones are
// turned away until Reopen.
func (g *Gate) Cut(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = open
	for _, c := range g.live {
		c.Close()
	}
	g.live = nil
}

// Reopen lets connections through again.
func (g *Gate) Reopen() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
}
