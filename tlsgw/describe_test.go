package tlsgw

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"

	"chatd/certs"
	"chatd/proto"
)

// TestCryptoDescribesTheMembersSession: /crypto tells a TLS member what its
// own handshake negotiated, the fingerprint of the certificate it showed
// and of the one the server presented to it, as the client saw them.
func TestCryptoDescribesTheMembersSession(t *testing.T) {
	ts := startServer(t, Config{})
	mine := clientCert(t)
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost", Certificates: []tls.Certificate{mine}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("*** Choose a nickname")
	c.send("alice")
	c.expect(" member")
	c.send("/crypto")
	st := conn.ConnectionState()
	for _, want := range []string{
		"*** protocol: TLS 1.3, cipher suite " + tls.CipherSuiteName(st.CipherSuite),
		"*** key exchange: X25519MLKEM768",
		`*** server name you sent (SNI): "localhost"`,
		"*** server profile: intermediate",
		"*** your client certificate: SHA-256 fingerprint " + certs.Fingerprint(mine.Certificate[0]),
		"*** server certificate SHA-256 fingerprint: " + certs.Fingerprint(st.PeerCertificates[0].Raw),
	} {
		c.expect(want)
	}
}

// TestCryptoBeforeJoining: at the nickname prompt, /crypto (and /tls)
// describes the connection and asks again, joining and announcing nothing.
func TestCryptoBeforeJoining(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	visitor := ts.connect(t)
	for _, command := range []string{"/crypto", "/TLS"} {
		visitor.send(command)
		_, skipped := visitor.expect("*** " + proto.NickPrompt)
		text := strings.Join(skipped, "\n")
		if !strings.Contains(text, "*** Your connection: TLS") || !strings.Contains(text, "*** server certificate SHA-256 fingerprint: ") {
			t.Errorf("%s before joining showed:\n%s", command, text)
		}
	}
	if n := ts.room.Len(); n != 1 {
		t.Errorf("the room has %d members while the visitor looks, want 1", n)
	}
	visitor.send("carol")
	visitor.expect("*** carol joined")
	if line, skipped := alice.expect("carol"); len(skipped) > 0 {
		t.Errorf("alice got %q, then %q: the visitor's /crypto was shown", skipped, line)
	}
}
