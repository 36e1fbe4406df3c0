package mitm

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestHeldBackCountSaidWhenTheSecondEnds: the count of the failures held
// back is printed when their second ends, without waiting for another one
// to pass (the last burst's count was never shown), and it counts every
// client's (one client's failures no longer hide another's without a
// trace).
func TestHeldBackCountSaidWhenTheSecondEnds(t *testing.T) {
	out := newSyncBuffer()
	tr := newTranscript(out, time.Now)
	defer tr.Close()
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	b := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 2}
	tr.failure(a, "handshake failed")
	for range 3 {
		tr.failure(a, "handshake failed")
	}
	tr.failure(b, "handshake failed")
	tr.refusal(a, "refused")
	tr.refusal(b, "refused")
	out.waitFor(t, "1 more refused connections in the second before, not printed")
	got := out.waitFor(t, "4 more handshake failures in the second before, not printed")
	if !strings.Contains(got, b.String()+" *** 4 more handshake failures") {
		t.Errorf("the count is not under the last client's address:\n%s", got)
	}
	if n := strings.Count(got, "\n"); n != 4 {
		t.Errorf("%d lines, want 4 (a failure, a refusal, two counts):\n%s", n, got)
	}
}

// TestHeldBackCountSaidAtClose: Close prints the counts still held back
// and stops their timers: nothing is printed after it, and no goroutine
// is left.
func TestHeldBackCountSaidAtClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTranscript(&b, func() time.Time { return now })
	who := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	for range 3 {
		tr.failure(who, "handshake failed")
	}
	tr.Close()
	got := b.String()
	if !strings.Contains(got, "2 more handshake failures in the second before, not printed") {
		t.Errorf("Close did not say the count held back:\n%s", got)
	}
	tr.Close()
	time.Sleep(1100 * time.Millisecond) // past the second: a timer left would print
	if b.String() != got {
		t.Errorf("printed after Close:\n%s", b.String()[len(got):])
	}
}

// TestHeldBackCountSaidWhenTheProxyStops: the proxy's Serve closes its
// transcript once its connections are done, so the count of the last
// failures held back is printed before it returns.
func TestHeldBackCountSaidWhenTheProxyStops(t *testing.T) {
	up := startUpstream(t, "localhost")
	out := newSyncBuffer()
	now := time.Now() // fixed: the second never ends by the clock
	p, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", Upstream: up.addr(), Out: out, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(context.Background()) }()
	for range 3 {
		c, err := net.Dial("tcp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("not TLS\n"))
		c.SetReadDeadline(time.Now().Add(wait))
		io.Copy(io.Discard, c) // until the proxy, having failed the handshake, hangs up
		c.Close()
	}
	p.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if got := out.String(); !strings.Contains(got, "2 more handshake failures in the second before, not printed") {
		t.Errorf("the count held back is not said when the proxy stops:\n%s", got)
	}
}
