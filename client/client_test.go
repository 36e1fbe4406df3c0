package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chatd/certs"
	"chatd/room"
	"chatd/tlsgw"
)

// caFile writes the server's certificate where a client can be pointed at it.
func (ts *testServer) caFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, ts.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func dialClient(t *testing.T, addr, nick string, trust Trust) (*Conn, error) {
	t.Helper()
	cfg, err := trust.ClientTLSConfig(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), Config{Addr: addr, Nick: nick, TLS: cfg})
	if err == nil {
		t.Cleanup(func() {
			c.Close()
			for range c.Events() {
			}
		})
	}
	return c, err
}

// nextEvent returns the next event of one of kinds, skipping others.
func nextEvent(t *testing.T, events <-chan *room.Event, kinds ...room.Kind) *room.Event {
	t.Helper()
	return nextWhere(t, events, fmt.Sprint(kinds), func(ev *room.Event) bool { return slices.Contains(kinds, ev.Kind) })
}

// nextWhere returns the next event that ok accepts, skipping others; what
// describes it for failures.
func nextWhere(t *testing.T, events <-chan *room.Event, what string, ok func(*room.Event) bool) *room.Event {
	t.Helper()
	timeout := time.After(waitTime)
	for {
		select {
		case ev, open := <-events:
			if !open {
				t.Fatalf("events closed while waiting for %s", what)
			}
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, waitTime)
		}
	}
}

func TestClientJoinsChatsAndQuits(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	bob := ts.join(t, "bob")
	alice, err := dialClient(t, ts.addr, "alice", Trust{CAFile: ts.caFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, alice.Events(), room.Notice); !strings.HasPrefix(ev.Text, "Welcome to chatd") {
		t.Errorf("first event %q, want the greeting", ev.Text)
	}
	nextEvent(t, alice.Events(), room.HistoryEnd) // the replay holds bob's join
	if ev := nextEvent(t, alice.Events(), room.Join); ev.From != "alice" {
		t.Errorf("join event for %q", ev.From)
	}
	if ev := nextEvent(t, alice.Events(), room.Members); !slices.Equal(ev.Nicks, []string{"alice", "bob"}) {
		t.Errorf("members %q", ev.Nicks)
	}
	bob.send("hi alice \x1b[31m")
	if ev := nextEvent(t, alice.Events(), room.Chat); ev.From != "bob" || ev.Text != "hi alice" || ev.Time.IsZero() {
		t.Errorf("chat event %+v", *ev)
	}
	alice.Send("hello bob")
	bob.expect("<alice> hello bob")
	alice.Send("/nick Al")
	nextEvent(t, alice.Events(), room.NickChange)
	if alice.Nick() != "Al" {
		t.Errorf("Nick() = %q after /nick Al", alice.Nick())
	}
	alice.Send("/quit")
	for range alice.Events() {
	}
	if alice.Reason() != (room.Reason{Kind: room.ReasonQuit}) {
		t.Errorf("Reason() = %q after /quit", alice.Reason())
	}
}

func TestClientNicknameRefused(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	ts.join(t, "bob")
	_, err := dialClient(t, ts.addr, "BOB", Trust{CAFile: ts.caFile(t)})
	if !errors.Is(err, ErrNickRefused) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("Dial as a taken nick: %v", err)
	}
}

func TestClientTrustOnFirstUse(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	store := &KnownServers{Path: filepath.Join(t.TempDir(), "chatd", "known_servers")}
	trust := Trust{Known: store}

	_, err := dialClient(t, ts.addr, "alice", trust)
	var unknown *UnknownCertError
	if !errors.As(err, &unknown) {
		t.Fatalf("first contact: %v, want an UnknownCertError", err)
	}
	if want := fingerprintOfPEM(t, ts.certPEM); unknown.Fingerprint != want {
		t.Errorf("reported fingerprint %s, want %s", unknown.Fingerprint, want)
	}
	if err := store.Add(unknown.Addr, unknown.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(store.Path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("store file: %v %v", err, info.Mode())
	}
	if _, err := dialClient(t, ts.addr, "alice", trust); err != nil {
		t.Fatalf("after trusting: %v", err)
	}

	// Another server answering where a known one was: refused loudly.
	impostor := startServer(t, tlsgw.Config{})
	store.Add(impostor.addr, unknown.Fingerprint)
	_, err = dialClient(t, impostor.addr, "alice", trust)
	var changed *CertChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("changed certificate: %v, want a CertChangedError", err)
	}
	for _, want := range []string{"CHANGED", "man in the middle", store.Path, "remove the line"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestClientRefusesWrongCAAndWrongName(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	other := startServer(t, tlsgw.Config{})
	_, err := dialClient(t, ts.addr, "alice", Trust{CAFile: other.caFile(t)})
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Errorf("wrong CA: %v, want an unknown authority error", err)
	}
	var notCA *NotSignedByCAError
	trusted, presented := fingerprintOfPEM(t, other.certPEM), fingerprintOfPEM(t, ts.certPEM)
	if !errors.As(err, &notCA) || !slices.Equal(notCA.Trusted, []string{trusted}) || notCA.Presented != presented ||
		!strings.Contains(err.Error(), trusted) || !strings.Contains(err.Error(), presented) {
		t.Errorf("wrong CA: %v, want a NotSignedByCAError naming %s (trusted) and %s (presented)", err, trusted, presented)
	}

	elsewhere := startServerFor(t, tlsgw.Config{}, []string{"chat.example.com"})
	_, err = dialClient(t, elsewhere.addr, "alice", Trust{CAFile: elsewhere.caFile(t)})
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Errorf("wrong name with its CA: %v, want a host name error", err)
	}
	store := &KnownServers{Path: filepath.Join(t.TempDir(), "known")}
	store.Add(elsewhere.addr, fingerprintOfPEM(t, elsewhere.certPEM))
	_, err = dialClient(t, elsewhere.addr, "alice", Trust{Known: store})
	if !errors.As(err, &hostErr) {
		t.Errorf("wrong name, trusted fingerprint: %v, want a host name error", err)
	}
	if _, err := dialClient(t, elsewhere.addr, "alice", Trust{Insecure: true}); err != nil {
		t.Errorf("--insecure: %v", err)
	}
}

func TestDescribeTLSReportsTheConnection(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	c, err := dialClient(t, ts.addr, "alice", Trust{CAFile: ts.caFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ConnectionState()
	text := strings.Join(certs.DescribeTLS(cs, time.Now()), "\n")
	for _, want := range []string{
		"protocol: TLS 1.3, cipher suite " + tls.CipherSuiteName(cs.CipherSuite),
		"key exchange: X25519MLKEM768 (hybrid post-quantum",
		"ALPN: none",
		"server name sent (SNI): none", // an IP address is never sent as SNI
		"SHA-256 fingerprint: " + certs.Fingerprint(cs.PeerCertificates[0].Raw),
		"(self-signed)",
		"public key: ECDSA P-256",
		`names (SAN): "localhost"`,
		"days left",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("description lacks %q:\n%s", want, text)
		}
	}
}

func TestClientSeesShutdown(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	c, err := dialClient(t, ts.addr, "alice", Trust{CAFile: ts.caFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts.room.Close("The server is shutting down. Goodbye!")
	for range c.Events() {
	}
	if c.Reason() != (room.Reason{Kind: room.ReasonShutdown}) {
		t.Errorf("Reason() = %q, want %q", c.Reason(), room.Reason{Kind: room.ReasonShutdown})
	}
}

func fingerprintOfPEM(t *testing.T, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return certs.Fingerprint(block.Bytes)
}

func TestRememberedFingerprintBeatsAnAuthority(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	store := &KnownServers{Path: filepath.Join(t.TempDir(), "known")}
	store.Add(ts.addr, strings.Repeat("00:", 31)+"11") // remembered: some other certificate
	// An authority vouches for what the server presents now: still refused.
	_, err := dialClient(t, ts.addr, "alice", Trust{Known: store, Roots: ts.roots})
	var changed *CertChangedError
	if !errors.As(err, &changed) {
		t.Errorf("a remembered server with a new, CA-signed certificate: %v, want a CertChangedError", err)
	}
	// Not remembered: the authority is enough.
	if _, err := dialClient(t, ts.addr, "alice", Trust{Known: &KnownServers{Path: filepath.Join(t.TempDir(), "none")}, Roots: ts.roots}); err != nil {
		t.Errorf("a server vouched for by an authority: %v", err)
	}
}

func TestDescribeTLSCleansCertificateText(t *testing.T) {
	ts := startServerFor(t, tlsgw.Config{}, []string{"localhost\x1b]0;owned\x07", "127.0.0.1", "evil\x1b[2J.example"})
	c, err := dialClient(t, ts.addr, "alice", Trust{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(certs.DescribeTLS(c.ConnectionState(), time.Now()), "\n")
	if strings.ContainsAny(text, "\x1b\x07") {
		t.Errorf("the description carries terminal controls from the certificate: %q", text)
	}
	if !strings.Contains(text, `names (SAN): "localhost", "evil.example", 127.0.0.1`) {
		t.Errorf("the cleaned name is missing: %q", text)
	}
}
