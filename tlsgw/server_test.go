package tlsgw

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatd/certs"
	"chatd/proto"
	"chatd/room"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTime bounds every wait for a line; it only matters when a test fails.
const waitTime = 5 * time.Second

type testServer struct {
	addr    string
	roots   *x509.CertPool
	certPEM []byte
	keyPEM  []byte
	room    *room.Room
	srv     *Server
}

// startServer runs a gateway on a loopback port with a fresh certificate and
// stops it when the test ends.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	return startServerFor(t, cfg, certs.DefaultHosts())
}

// startServerFor is startServer with a certificate for hosts.
func startServerFor(t *testing.T, cfg Config, hosts []string) *testServer {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned(hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, cfg, certPEM, keyPEM, "127.0.0.1:0")
}

// startServerWith runs a gateway on addr with the given certificate.
func startServerWith(t *testing.T, cfg Config, certPEM, keyPEM []byte, addr string) *testServer {
	t.Helper()
	return startServerWrapped(t, cfg, certPEM, keyPEM, addr, nil)
}

// startServerOn is startServer with the listener wrapped by wrap.
func startServerOn(t *testing.T, cfg Config, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned(certs.DefaultHosts(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return startServerWrapped(t, cfg, certPEM, keyPEM, "127.0.0.1:0", wrap)
}

// startServerWrapped runs a gateway on addr with the given certificate, its
// listener wrapped by wrap if it is not nil.
func startServerWrapped(t *testing.T, cfg Config, certPEM, keyPEM []byte, addr string, wrap func(net.Listener) net.Listener) *testServer {
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
	cfg.TLS = ServerConfig(certs.NewStore(&cert), cfg.Profile)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	ts := &testServer{addr: ln.Addr().String(), roots: roots, certPEM: certPEM, keyPEM: keyPEM, room: cfg.Room, srv: NewServer(cfg)}
	served := make(chan error, 1)
	go func() { served <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ts.room.Close("test over")
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

type client struct {
	t    *testing.T
	conn *tls.Conn
	r    *bufio.Reader
}

// connect opens a verified TLS connection and reads the greeting and prompt.
func (ts *testServer) connect(t *testing.T) *client {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	c.expect("*** Welcome to chatd")
	c.expect("*** Choose a nickname")
	return c
}

// join connects and joins as nick, reading up to the member list.
func (ts *testServer) join(t *testing.T, nick string) *client {
	t.Helper()
	c := ts.connect(t)
	c.send(nick)
	c.expect("*** " + nick + " joined")
	c.expect(" member")
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// readLine returns the next line, or fails the test.
func (c *client) readLine() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitTime))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// expect reads lines until one contains want and returns it; the lines
// skipped on the way are returned too.
func (c *client) expect(want string) (line string, skipped []string) {
	c.t.Helper()
	for {
		line := c.readLine()
		if strings.Contains(line, want) {
			return line, skipped
		}
		skipped = append(skipped, line)
	}
}

// expectClosed reads until the server closes the connection and returns the
// lines read on the way.
func (c *client) expectClosed() []string {
	c.t.Helper()
	var lines []string
	c.conn.SetReadDeadline(time.Now().Add(waitTime))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return lines
			}
			c.t.Fatalf("waiting for close: %v (after %q)", err, lines)
		}
		lines = append(lines, strings.TrimSuffix(line, "\n"))
	}
}

func TestJoinChatAndLeave(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	bob := ts.join(t, "bob")
	alice.expect("*** bob joined")

	alice.send("hello bob")
	if line, _ := bob.expect("<alice>"); !strings.HasSuffix(line, "] <alice> hello bob") {
		t.Errorf("bob got %q", line)
	}
	bob.send("hi alice")
	if line, skipped := alice.expect("<"); !strings.HasSuffix(line, "<bob> hi alice") || len(skipped) > 0 {
		t.Errorf("alice got %q after %q; her own line must not be echoed", line, skipped)
	}
	bob.conn.Close()
	alice.expect("*** bob left (connection closed)")
}

func TestPrivateMessagesStayPrivate(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	bob := ts.join(t, "bob")
	carol := ts.join(t, "carol")

	alice.send("/msg bob the password is swordfish")
	if line, _ := bob.expect("swordfish"); !strings.HasSuffix(line, "*alice* the password is swordfish") {
		t.Errorf("bob got %q", line)
	}
	if line, _ := alice.expect("swordfish"); !strings.HasSuffix(line, "-> *bob* the password is swordfish") {
		t.Errorf("alice got %q", line)
	}
	alice.send("marker")
	_, skipped := carol.expect("<alice> marker")
	for _, line := range skipped {
		if strings.Contains(line, "swordfish") {
			t.Errorf("carol saw the private message: %q", line)
		}
	}
}

func TestWhoHelpAndHistory(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	alice.send("first")
	alice.send("/me second")
	alice.send("/who")
	alice.expect("*** 1 member: alice")

	bob := ts.connect(t)
	bob.send("bob")
	want := []string{"*** recent history: 3 events", "*** alice joined", "<alice> first", "* alice second", "*** end of recent history", "*** bob joined", "*** 2 members: alice, bob"}
	for _, w := range want {
		if line := bob.readLine(); !strings.HasSuffix(line, w) {
			t.Errorf("bob got %q, want ...%q", line, w)
		}
	}
	bob.send("!users")
	bob.expect("*** 2 members: alice, bob")
	bob.send("/help")
	for _, c := range room.Commands() {
		bob.expect("*** " + c.Usage())
	}
	bob.expect(room.LiteralSlashHelp)
	bob.send("/quit")
	if lines := bob.expectClosed(); len(lines) == 0 || lines[len(lines)-1] != "*** Goodbye." {
		t.Errorf("after /quit bob got %q, want a goodbye", lines)
	}
	alice.expect("*** bob left (quit)")
}

func TestCRLFAndInvalidUTF8(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	bob := ts.join(t, "bob")
	io.WriteString(alice.conn, "windows line\r\nbad \xff\xfe bytes\r\nescape \x1b[2Jclear\n")
	for _, want := range []string{"<alice> windows line", "<alice> bad \uFFFD bytes", "<alice> escape clear"} {
		if line, _ := bob.expect("<alice>"); !strings.HasSuffix(line, want) {
			t.Errorf("bob got %q, want ...%q", line, want)
		}
	}
}

func TestNicknamePromptExplainsAndRetries(t *testing.T) {
	ts := startServer(t, Config{})
	ts.join(t, "alice")
	c := ts.connect(t)
	c.send("bad nick!")
	c.expect("!!! invalid nickname")
	c.expect("*** Choose a nickname")
	c.send("ALICE")
	c.expect("!!! nickname taken")
	c.expect("*** Choose a nickname")
	c.send("")
	c.expect("*** Choose a nickname")
	c.send("alice2")
	c.expect("*** alice2 joined")
}

func TestLongLinesAreRefusedAndEndlessOnesDisconnect(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	bob := ts.join(t, "bob")

	alice.send(strings.Repeat("x", room.DefaultMaxLineBytes+1))
	alice.expect("!!! line too long")
	alice.send("still here")
	bob.expect("<alice> still here")

	io.WriteString(alice.conn, strings.Repeat("y", 3*DefaultReadBuffer))
	lines := alice.expectClosed()
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "disconnected: "+proto.DetailNoNewline) {
		t.Errorf("alice's last lines %q do not explain the disconnect", lines)
	}
	bob.expect("*** alice left (" + proto.DetailNoNewline + ")")
}

func TestTLSPolicy(t *testing.T) {
	ts := startServer(t, Config{})
	dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
		cfg.RootCAs, cfg.ServerName = ts.roots, "localhost"
		conn, err := tls.Dial("tcp", ts.addr, cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.ConnectionState(), nil
	}
	if _, err := dial(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 client was accepted")
	}
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
		t.Error("a TLS 1.2 client offering only CBC suites was accepted")
	}
	st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 client: %v", err)
	}
	if st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 && st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 && st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("TLS 1.2 negotiated %s", tls.CipherSuiteName(st.CipherSuite))
	}
	st, err = dial(&tls.Config{})
	if err != nil {
		t.Fatalf("default client: %v", err)
	}
	if st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519MLKEM768 {
		t.Errorf("default client got %s with %s, want TLS 1.3 with X25519MLKEM768", tls.VersionName(st.Version), st.CurveID)
	}
}

func TestSilentConnectionsTimeOut(t *testing.T) {
	ts := startServer(t, Config{HandshakeTimeout: 100 * time.Millisecond, NickTimeout: 100 * time.Millisecond})
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetReadDeadline(time.Now().Add(waitTime))
	if _, err := raw.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("a client that never starts TLS: read = %v, want EOF", err)
	}

	c := ts.connect(t)
	lines := c.expectClosed()
	if len(lines) != 1 || !strings.Contains(lines[0], "no nickname chosen in time") {
		t.Errorf("a client that never picks a nickname got %q", lines)
	}
}

func TestShutdownTellsMembersAndClosesEveryone(t *testing.T) {
	r := room.New(room.Config{})
	ts := startServer(t, Config{Room: r})
	alice := ts.join(t, "alice")
	undecided := ts.connect(t) // still at the nickname prompt

	r.Close("server shutting down for a test")
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if lines := alice.expectClosed(); len(lines) != 1 || !strings.HasSuffix(lines[0], "*** server shutting down for a test") {
		t.Errorf("alice got %q at shutdown", lines)
	}
	if lines := undecided.expectClosed(); len(lines) != 0 {
		t.Errorf("a client at the prompt got %q at shutdown", lines)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}

func TestPlainTextAndHTTPGetAHint(t *testing.T) {
	ts := startServer(t, Config{})
	for request, want := range map[string]string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n": "HTTP/1.0 400 Bad Request",
		"hello is anyone there\n":           "This is chatd's TLS port",
	} {
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, request)
		conn.SetReadDeadline(time.Now().Add(waitTime))
		reply, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || !strings.HasPrefix(string(reply), want) || !strings.Contains(string(reply), "openssl s_client") {
			t.Errorf("sent %q, got %q (%v), want %q...", request, reply, err, want)
		}
	}
	// The server still serves TLS clients.
	ts.join(t, "alice")
}

func TestStatsCountHandshakes(t *testing.T) {
	ts := startServer(t, Config{})
	ts.join(t, "alice")
	tls11, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		tls11.Close()
	}
	plain, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(plain, "GET / HTTP/1.0\r\n\r\n")
	io.ReadAll(plain)
	plain.Close()

	deadline := time.Now().Add(waitTime)
	for {
		st := ts.srv.Stats()
		ok := st.Accepted == 3 && st.Open == 1 &&
			st.Handshakes[HandshakeLabel{Version: "TLS 1.3", Group: "X25519MLKEM768"}] == 1 &&
			st.HandshakeFailures["protocol version"] == 1 && st.HandshakeFailures["not tls"] == 1
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBigRoomSumsUpJoinsAndCapsTheMemberList(t *testing.T) {
	r := room.New(room.Config{QuietJoinsAbove: 1, MembersListed: 1, PresenceEvery: 20 * time.Millisecond})
	ts := startServer(t, Config{Room: r})
	alice := ts.join(t, "alice")
	bob := ts.connect(t)
	bob.send("bob")
	bob.expect("*** bob joined")
	line, _ := bob.expect(" member")
	if !strings.HasSuffix(line, "] *** 2 members: alice and 1 more") {
		t.Errorf("bob's member list %q", line)
	}
	if ev := proto.ParseLine(line, time.Now()); ev.Kind != room.Members || ev.Count != 2 || !slices.Equal(ev.Nicks, []string{"alice"}) {
		t.Errorf("ParseLine(%q) = %+v", line, *ev)
	}
	line, skipped := alice.expect(" now")
	if !strings.HasSuffix(line, "] *** 1 joined, 0 left, 2 members now") || len(skipped) > 0 {
		t.Errorf("alice got %q after %q, want only the summary", line, skipped)
	}
}
