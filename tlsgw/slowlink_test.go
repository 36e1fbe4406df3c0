package tlsgw

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/room"
)

// smallSendBuffers wraps a listener so that the kernel buffers little of
// what the server writes to each connection: a write then lasts as long as
// the client takes to read it, as over a slow link.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetWriteBuffer(4096)
	}
	return c, err
}

// TestASlowLinkThatKeepsReadingIsNotASlowConsumer: 64 lines of 2 KB reach a
// member at once that reads at about 40 KB/s. Written in one piece they
// took longer than the write timeout, and the member, who never stopped
// reading, was dropped as a slow consumer; written in pieces of at most
// maxWriteBytes, each goes out in time.
func TestASlowLinkThatKeepsReadingIsNotASlowConsumer(t *testing.T) {
	r := room.New(room.Config{FloodBurst: 1000, FloodRate: 1000, FloodKick: 1000})
	ts := startServerOn(t, Config{Room: r, WriteTimeout: 2 * time.Second}, func(ln net.Listener) net.Listener { return smallSendBuffers{ln} })
	sender := ts.join(t, "sender")
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	conn, err := tls.DialWithDialer(dialer, "tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	slow := &client{t: t, conn: conn, r: bufio.NewReaderSize(slowReader{conn}, 4096)}
	slow.expect("*** Choose a nickname")
	slow.send("slowpoke")
	slow.expect("*** slowpoke joined")
	line := strings.Repeat("x", 2000)
	for range 64 {
		sender.send(line)
	}
	sender.send("the end")
	slow.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		got, err := slow.r.ReadString('\n')
		if err != nil {
			t.Fatalf("slowpoke was cut off (%v); slowpoke is %s", err, membership(r, "slowpoke"))
		}
		if strings.Contains(got, "<sender> the end") {
			break
		}
	}
}

// slowReader reads at most 4 KiB every 100 ms.
type slowReader struct{ c net.Conn }

func (s slowReader) Read(b []byte) (int, error) {
	time.Sleep(100 * time.Millisecond) // the link's speed, not a wait for anything
	return s.c.Read(b[:min(len(b), 4096)])
}

// membership says whether nick is still in the room.
func membership(r *room.Room, nick string) string {
	for _, n := range r.Members() {
		if n == nick {
			return "still a member"
		}
	}
	return "gone"
}
