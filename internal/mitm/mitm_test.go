package mitm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatd/certs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait; it only matters when a test fails.
const wait = 5 * time.Second

// syncBuffer is a transcript the test reads while the proxy writes it.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	grew chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{grew: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.grew)
	b.grew = make(chan struct{})
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the transcript holds want and returns it.
func (b *syncBuffer) waitFor(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(wait)
	for {
		b.mu.Lock()
		text, grew := b.buf.String(), b.grew
		b.mu.Unlock()
		if strings.Contains(text, want) {
			return text
		}
		select {
		case <-grew:
		case <-timeout:
			t.Fatalf("the transcript lacks %q:\n%s", want, text)
		}
	}
}

// upstream is a TLS server that answers each line with "echo: LINE" and
// remembers the SNI of each client.
type upstream struct {
	ln   net.Listener
	cert *tls.Certificate
	sni  chan string
	wg   sync.WaitGroup
}

func startUpstream(t *testing.T, hosts ...string) *upstream {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned(hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{cert: &cert, sni: make(chan string, 16)}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		select {
		case u.sni <- h.ServerName:
		default:
		}
		return nil, nil
	}}
	if u.ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg); err != nil {
		t.Fatal(err)
	}
	u.wg.Add(1)
	go u.serve()
	t.Cleanup(func() { u.ln.Close(); u.wg.Wait() })
	return u
}

func (u *upstream) serve() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := io.WriteString(c, "echo: "+sc.Text()+"\n"); err != nil {
					return
				}
			}
		}()
	}
}

func (u *upstream) addr() string { return u.ln.Addr().String() }

// startProxy runs a proxy in front of up until the test ends; Serve must
// return nil.
func startProxy(t *testing.T, cfg Config) (*Proxy, *syncBuffer) {
	t.Helper()
	out := newSyncBuffer()
	cfg.Listen, cfg.Out = "127.0.0.1:0", out
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(context.Background()) }()
	t.Cleanup(func() {
		p.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return p, out
}

// dialProxy connects to the proxy as a client that verifies nothing.
func dialProxy(t *testing.T, p *Proxy, sni string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", p.Addr().String(), &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, line)
	}
	return line
}

// TestProxyImpersonatesAndPrintsBothDirections: the proxy presents its own
// certificate for the upstream's names, passes the client's SNI on, relays
// both ways unchanged and prints each line with the client's address, an
// escape sequence made visible.
func TestProxyImpersonatesAndPrintsBothDirections(t *testing.T) {
	up := startUpstream(t, "localhost", "chat.example.test", "127.0.0.1")
	p, out := startProxy(t, Config{Upstream: up.addr()})
	<-up.sni // the probe at start

	if p.Cert().Equal(up.cert.Leaf) || !bytes.Equal(p.UpstreamCert().Raw, up.cert.Leaf.Raw) {
		t.Fatal("the proxy presents the upstream's certificate, or did not read it")
	}
	if got, want := strings.Join(certs.SubjectAltNames(p.Cert()), ","), "localhost,chat.example.test,127.0.0.1"; got != want {
		t.Errorf("the proxy's certificate names %s, want the upstream's %s", got, want)
	}
	if err := p.Cert().VerifyHostname("chat.example.test"); err != nil {
		t.Errorf("the proxy's certificate: %v", err)
	}

	c := dialProxy(t, p, "chat.example.test")
	if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(p.Cert()) {
		t.Error("the client was not shown the proxy's certificate")
	}
	r := bufio.NewReader(c)
	io.WriteString(c, "hello \x1b]0;pwned\x07there\\\n")
	if got := readLine(t, r); got != "echo: hello \x1b]0;pwned\x07there\\\n" {
		t.Errorf("relayed %q", got)
	}
	if sni := <-up.sni; sni != "chat.example.test" {
		t.Errorf("the upstream was asked for %q, want the client's SNI", sni)
	}
	who := c.LocalAddr().String()
	text := out.waitFor(t, who+" <- server: echo: hello")
	for _, want := range []string{
		who + " *** intercepted: TLS 1.3, SNI \"chat.example.test\"",
		who + ` -> server: hello \x1b]0;pwned\athere\\` + "\n",
		who + ` <- server: echo: hello \x1b]0;pwned\athere\\` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the transcript lacks %q:\n%s", want, text)
		}
	}
	if strings.ContainsAny(text, "\x1b\x07") {
		t.Errorf("the transcript passes control characters through: %q", text)
	}
}

// TestLongLinesArePrintedInBoundedParts: a line longer than MaxLine, and
// one that never ends, reach the server whole and are printed in parts no
// longer than MaxLine, without splitting a character.
func TestLongLinesArePrintedInBoundedParts(t *testing.T) {
	up := startUpstream(t, "localhost")
	p, out := startProxy(t, Config{Upstream: up.addr()})
	c := dialProxy(t, p, "localhost")
	long := strings.Repeat("é", 3*MaxLine/2) // 3 MaxLine bytes
	io.WriteString(c, long+"\n")
	if got := readLine(t, bufio.NewReader(c)); got != "echo: "+long+"\n" {
		t.Errorf("the long line came back %d bytes long, want %d", len(got), len("echo: "+long+"\n"))
	}
	io.WriteString(c, "no newline")
	c.CloseWrite()
	text := out.waitFor(t, "-> server (no newline before the end): no newline")
	var parts []string
	for line := range strings.Lines(text) {
		if _, part, ok := strings.Cut(line, " -> server (part of a longer line): "); ok {
			parts = append(parts, strings.TrimSuffix(part, "\n"))
		}
		if len(line) > MaxLine+200 {
			t.Errorf("a transcript line is %d bytes long", len(line))
		}
	}
	_, last, _ := strings.Cut(text, c.LocalAddr().String()+" -> server: ")
	last, _, _ = strings.Cut(last, "\n")
	if len(parts) < 2 || strings.Join(parts, "")+last != long || strings.Contains(text, `\x`) {
		t.Errorf("the long line was printed as %d parts and %q; transcript:\n%.600s", len(parts), last, text)
	}
}

// TestClosingOneSideClosesTheOther: the client's end reaches the server,
// and the server's end reaches the client.
func TestClosingOneSideClosesTheOther(t *testing.T) {
	up := startUpstream(t, "localhost")
	p, out := startProxy(t, Config{Upstream: up.addr()})
	c := dialProxy(t, p, "localhost")
	io.WriteString(c, "bye\n")
	c.CloseWrite() // the upstream's scanner ends, and it closes
	c.SetReadDeadline(time.Now().Add(wait))
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "echo: bye\n" {
		t.Errorf("after the client's end: %q, %v; want the answer, then the end", rest, err)
	}
	out.waitFor(t, c.LocalAddr().String()+" *** closed")
}

// TestConnectionsAreBounded: beyond MaxConns a client is refused, and
// once one leaves another is let in.
func TestConnectionsAreBounded(t *testing.T) {
	up := startUpstream(t, "localhost")
	p, out := startProxy(t, Config{Upstream: up.addr(), MaxConns: 1})
	first := dialProxy(t, p, "localhost")
	io.WriteString(first, "one\n")
	readLine(t, bufio.NewReader(first))
	_, err := tls.Dial("tcp", p.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		t.Fatal("a second connection was relayed beyond --max-conns 1")
	}
	out.waitFor(t, "refused: already 1 connections (--max-conns)")
	first.Close()
	out.waitFor(t, first.LocalAddr().String()+" *** closed")
	third := dialProxy(t, p, "localhost")
	io.WriteString(third, "three\n")
	if got := readLine(t, bufio.NewReader(third)); got != "echo: three\n" {
		t.Errorf("after a slot freed: %q", got)
	}
}

// TestSilentClientTimesOut: a client that never starts its handshake is
// cut after the timeout, and nothing is dialed for it.
func TestSilentClientTimesOut(t *testing.T) {
	up := startUpstream(t, "localhost")
	p, out := startProxy(t, Config{Upstream: up.addr(), Timeout: 200 * time.Millisecond})
	<-up.sni
	raw, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetReadDeadline(time.Now().Add(wait))
	if _, err := raw.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Fatalf("a silent client was not cut: %v", err)
	}
	out.waitFor(t, "TLS handshake with the client failed, nothing relayed")
	select {
	case sni := <-up.sni:
		t.Errorf("the upstream was dialed (SNI %q) for a client with no handshake", sni)
	default:
	}
}

// TestUpstreamDownIsAClearError: the proxy does not start without its
// upstream, and says so.
func TestUpstreamDownIsAClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Start(context.Background(), Config{Listen: "127.0.0.1:0", Upstream: addr})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the upstream "+addr) {
		t.Errorf("upstream down: %v", err)
	}
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcödé 你好":                                    "plain text, ünïcödé 你好",
		"\x1b[2J\x1b]0;t\x07":                                       `\x1b[2J\x1b]0;t\a`,
		"cr\r tab\t nul\x00 del\x7f":                                `cr\r tab\t nul\x00 del\x7f`,
		"c1\u009b bidi\u202e zw\u200b ls\u2028 nbsp\u00a0 vs\ufe0f": `c1\u009b bidi\u202e zw\u200b ls\u2028 nbsp\u00a0 vs\ufe0f`,
		"bad\xff utf8\xc3":                                          `bad\xff utf8\xc3`,
		`back\slash \x1b`:                                           `back\\slash \\x1b`,
		"private\ue000 tag\U000e0041":                               `private\ue000 tag\U000e0041`,
	} {
		if got := Visible(in); got != want {
			t.Errorf("Visible(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestClientHandshakeFailureLine: the transcript's line for a failed client
// handshake names no single cause, and explains Go's "bad record MAC" when
// openssl 3 aborts.
func TestClientHandshakeFailureLine(t *testing.T) {
	line := clientHandshakeFailure(errors.New("remote error: tls: bad certificate"))
	if !strings.Contains(line, "nothing relayed (a client that refuses the proxy's certificate, or asks its user first, ends here)") || strings.Contains(line, "openssl 3") {
		t.Errorf("plain failure: %s", line)
	}
	line = clientHandshakeFailure(errors.New("local error: tls: bad record MAC"))
	if !strings.Contains(line, "how Go reports openssl 3 refusing the certificate: openssl sends its alert unencrypted") {
		t.Errorf("bad record MAC unexplained: %s", line)
	}
}
