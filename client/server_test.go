package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatd/certs"
	"chatd/room"
	"chatd/tlsgw"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTime bounds every wait for a line; it only matters when a test fails.
const waitTime = 5 * time.Second

// testServer is a real chatd TLS gateway on a loopback port.
type testServer struct {
	addr    string
	roots   *x509.CertPool
	certPEM []byte
	keyPEM  []byte
	room    *room.Room
	srv     *tlsgw.Server
}

// startServer runs a gateway on a loopback port with a fresh certificate and
// stops it when the test ends.
func startServer(t *testing.T, cfg tlsgw.Config) *testServer {
	t.Helper()
	return startServerFor(t, cfg, certs.DefaultHosts())
}

// startServerFor is startServer with a certificate for hosts.
func startServerFor(t *testing.T, cfg tlsgw.Config, hosts []string) *testServer {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned(hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, cfg, certPEM, keyPEM, "127.0.0.1:0")
}

// startServerWith runs a gateway on addr with the given certificate.
func startServerWith(t *testing.T, cfg tlsgw.Config, certPEM, keyPEM []byte, addr string) *testServer {
	t.Helper()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	if cfg.Room == nil {
		cfg.Room = room.New(room.Config{})
	}
	cfg.TLS = tlsgw.ServerConfig(certs.NewStore(&cert), tlsgw.ProfileIntermediate)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := tlsgw.NewServer(cfg)
	ts := &testServer{addr: ln.Addr().String(), roots: roots, certPEM: certPEM, keyPEM: keyPEM, room: cfg.Room, srv: srv}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ts.room.Close("test over")
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, tlsgw.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

// lineClient is a bare TLS connection that speaks the line protocol, as
// openssl s_client would.
type lineClient struct {
	t    *testing.T
	conn *tls.Conn
	r    *bufio.Reader
}

// connect opens a verified TLS connection and reads the greeting and prompt.
func (ts *testServer) connect(t *testing.T) *lineClient {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &lineClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	c.expect("*** Welcome to chatd")
	c.expect("*** Choose a nickname")
	return c
}

// join connects and joins as nick, reading up to the member list.
func (ts *testServer) join(t *testing.T, nick string) *lineClient {
	t.Helper()
	c := ts.connect(t)
	c.send(nick)
	c.expect("*** " + nick + " joined")
	c.expect(" member")
	return c
}

func (c *lineClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// expect reads lines until one contains want and returns it; the lines
// skipped on the way are returned too.
func (c *lineClient) expect(want string) (line string, skipped []string) {
	c.t.Helper()
	for {
		c.conn.SetReadDeadline(time.Now().Add(waitTime))
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (partial %q)", err, line)
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.Contains(line, want) {
			return line, skipped
		}
		skipped = append(skipped, line)
	}
}
