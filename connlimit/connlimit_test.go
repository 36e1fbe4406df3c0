package connlimit

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func addr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func mustOpen(t *testing.T, g *Guard, remote string) func() {
	t.Helper()
	release, refusal := g.Open(addr(remote))
	if refusal != "" {
		t.Fatalf("connection from %s refused: %s", remote, refusal)
	}
	return release
}

func expectRefused(t *testing.T, g *Guard, remote, want string) {
	t.Helper()
	if release, refusal := g.Open(addr(remote)); refusal != want {
		if release != nil {
			release()
		}
		t.Errorf("connection from %s: refusal %q, want %q", remote, refusal, want)
	}
}

func TestPerAddressCap(t *testing.T) {
	g := New(Limits{MaxPerIP: 2})
	first := mustOpen(t, g, "192.0.2.1:1000")
	mustOpen(t, g, "192.0.2.1:1001")
	expectRefused(t, g, "192.0.2.1:1002", ReasonPerIP)
	mustOpen(t, g, "192.0.2.2:1000") // another address is not affected
	first()
	first() // releasing twice counts once
	mustOpen(t, g, "192.0.2.1:1003")
	expectRefused(t, g, "192.0.2.1:1004", ReasonPerIP)
}

func TestIPv4MappedAddressesCountAsIPv4(t *testing.T) {
	g := New(Limits{MaxPerIP: 1})
	mustOpen(t, g, "192.0.2.1:1000")
	expectRefused(t, g, "[::ffff:192.0.2.1]:1001", ReasonPerIP)
}

func TestIPv6CountsPerSlash64(t *testing.T) {
	g := New(Limits{MaxPerIP: 2})
	mustOpen(t, g, "[2001:db8:1:2::1]:1000")
	mustOpen(t, g, "[2001:db8:1:2:ffff::9]:1000")
	expectRefused(t, g, "[2001:db8:1:2:abcd::7]:1000", ReasonPerIP)
	mustOpen(t, g, "[2001:db8:1:3::1]:1000") // another /64
}

func TestTotalCap(t *testing.T) {
	g := New(Limits{MaxConns: 2})
	release := mustOpen(t, g, "192.0.2.1:1")
	mustOpen(t, g, "192.0.2.2:1")
	expectRefused(t, g, "192.0.2.3:1", ReasonTotal)
	if got := g.Refused()[ReasonTotal]; got != 1 {
		t.Errorf("Refused()[%q] = %d, want 1", ReasonTotal, got)
	}
	release()
	mustOpen(t, g, "192.0.2.3:1")
	if g.OpenConns() != 2 {
		t.Errorf("OpenConns() = %d, want 2", g.OpenConns())
	}
}

func TestNewConnectionRatePerAddress(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	g := New(Limits{RatePerIP: 1, BurstPerIP: 3, Now: func() time.Time { return now }})
	for range 3 {
		mustOpen(t, g, "192.0.2.1:1")()
	}
	expectRefused(t, g, "192.0.2.1:1", ReasonRate)
	mustOpen(t, g, "192.0.2.9:1")() // others unaffected
	now = now.Add(time.Second)
	mustOpen(t, g, "192.0.2.1:1")()
	expectRefused(t, g, "192.0.2.1:1", ReasonRate)
}

func TestListenerClosesRefusedConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	g := New(Limits{MaxPerIP: 1, Refused: func(_ net.Addr, reason string) { refused = append(refused, reason) }})
	ln := g.Listen(inner)
	defer ln.Close()

	accepted := make(chan net.Conn)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	first, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	served := <-accepted

	second, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("a connection over the limit: read = %v, want EOF", err)
	}
	served.Close()
	if g.OpenConns() != 0 {
		t.Errorf("OpenConns() = %d after the only connection closed", g.OpenConns())
	}
	third, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	(<-accepted).Close()
	ln.Close()
	for range accepted {
	}
	if len(refused) != 1 || refused[0] != ReasonPerIP {
		t.Errorf("Refused was told %q", refused)
	}
}
