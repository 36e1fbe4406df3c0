package tlsgw

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/certs"
	"chatd/room"
)

// lockedBuffer is a log destination that connection goroutines and the test
// share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON records logged so far with the message msg.
func (b *lockedBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log record %q: %v", sc.Text(), err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// joinedIdentity returns the identity logged when nick joined.
func (b *lockedBuffer) joinedIdentity(t *testing.T, nick string) map[string]any {
	t.Helper()
	for _, rec := range b.records(t, "joined") {
		if rec["nick"] == nick {
			id, _ := rec["identity"].(map[string]any)
			return id
		}
	}
	t.Fatalf("no joined record for %s", nick)
	return nil
}

// clientCert makes a certificate for a TLS client to present.
func clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"alice.example"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// connectWith is connect presenting cert, if it is not nil.
func (ts *testServer) connectWith(t *testing.T, cert *tls.Certificate) *client {
	t.Helper()
	cfg := &tls.Config{RootCAs: ts.roots, ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.Dial("tcp", ts.addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	c.expect("*** Choose a nickname")
	return c
}

// joinWith connects presenting cert, if it is not nil, and joins as nick.
func (ts *testServer) joinWith(t *testing.T, nick string, cert *tls.Certificate) *client {
	t.Helper()
	c := ts.connectWith(t, cert)
	c.send(nick)
	c.expect("*** " + nick + " joined")
	return c
}

// TestClientCertificateReachesTheIdentity: a client may present a
// certificate, which is not verified; its fingerprint is the member's
// identity, as the joined record shows, and a client without one still
// joins, known by its address.
func TestClientCertificateReachesTheIdentity(t *testing.T) {
	logs := &lockedBuffer{}
	ts := startServer(t, Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	cert := clientCert(t)
	alice := ts.joinWith(t, "alice", &cert)
	bob := ts.joinWith(t, "bob", nil)
	alice.expect("*** bob joined")
	bob.send("/who")
	bob.expect("*** 2 members: alice, bob")

	want := certs.Fingerprint(cert.Certificate[0])
	id := logs.joinedIdentity(t, "alice")
	if id["transport"] != "tls" || id["address"] != "127.0.0.1" || id["cert_fingerprint"] != want {
		t.Errorf("alice's identity = %v, want tls from 127.0.0.1 with cert_fingerprint %s", id, want)
	}
	id = logs.joinedIdentity(t, "bob")
	if _, ok := id["cert_fingerprint"]; ok || id["transport"] != "tls" || id["address"] != "127.0.0.1" {
		t.Errorf("bob's identity = %v, want tls from 127.0.0.1 without a certificate", id)
	}
}

// TestHeldNickGoesBackToTheSameClientCertificate: a certificate counts as a
// proven key, so the nickname of a member that presented one and lost its
// connection is held for that certificate, not for its address.
func TestHeldNickGoesBackToTheSameClientCertificate(t *testing.T) {
	ts := startServer(t, Config{})
	cert, other := clientCert(t), clientCert(t)
	watcher := ts.join(t, "watcher")
	alice := ts.joinWith(t, "alice", &cert)
	alice.conn.Close()
	watcher.expect("*** alice left (connection closed)")

	for _, c := range []*tls.Certificate{nil, &other} {
		mallory := ts.connectWith(t, c)
		mallory.send("alice")
		if line, _ := mallory.expect("!!! "); !strings.Contains(line, "held for") {
			t.Errorf("another client from the same address took alice's held nick: %q", line)
		}
	}
	ts.joinWith(t, "alice", &cert)
	if !strings.Contains(strings.Join(ts.room.Members(), " "), "alice") {
		t.Errorf("members %v, want alice back", ts.room.Members())
	}
	if st := ts.room.Stats(); st.Leaves[room.ClassDisconnected] != 1 {
		t.Errorf("leaves %v, want one disconnected", st.Leaves)
	}
}

// TestLongSNIIsCutInTheLog: a client's server name of about 3 KB is cut
// to 255 bytes, with a marker, in every log record about its connection.
func TestLongSNIIsCutInTheLog(t *testing.T) {
	logs := &lockedBuffer{}
	ts := startServer(t, Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	sni := strings.Repeat(strings.Repeat("a", 60)+".", 50) + "example"
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("*** Choose a nickname")
	c.send("longsni")
	c.expect("*** longsni joined")
	conn.Close()
	deadline := time.Now().Add(waitTime)
	for !strings.Contains(logs.String(), `"connection closed"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	records := 0
	for line := range strings.Lines(logs.String()) {
		if !strings.Contains(line, `"sni"`) {
			continue
		}
		records++
		if strings.Contains(line, sni) || !strings.Contains(line, fmt.Sprintf("…(cut, %d bytes)", len(sni))) || len(line) > 1500 {
			t.Errorf("a log record carries the whole SNI, or no marker: %d bytes", len(line))
		}
	}
	if records < 2 {
		t.Errorf("%d records with the SNI, want joined and connection closed:\n%s", records, logs.String())
	}
}

// String is what was logged so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
