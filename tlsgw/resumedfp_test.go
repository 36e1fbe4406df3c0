package tlsgw

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"chatd/certs"
)

// TestResumedFingerprintOnlyFromTheAcceptedTicket: a client may offer
// several session tickets (PSK identities); crypto/tls unwraps each in
// turn until one is accepted. The fingerprint /crypto shows for a
// resumed session is that of the ticket accepted, never one left over
// from a ticket that decrypted before it and was rejected.
func TestResumedFingerprintOnlyFromTheAcceptedTicket(t *testing.T) {
	cfg, ss := sessionStateForTest(t)
	cs := tls.ConnectionState{}
	ss.Extra = [][]byte{[]byte(ticketFPPrefix + "SHA256:first")}
	withFP, err := cfg.EncryptTicket(cs, ss)
	if err != nil {
		t.Fatal(err)
	}
	ss.Extra = nil // a ticket without the fingerprint (an older chatd's)
	without, err := cfg.EncryptTicket(cs, ss)
	if err != nil {
		t.Fatal(err)
	}
	n := &handshakeNotes{}
	c := withTicketNotes(cfg, n)
	if got, err := c.UnwrapSession(withFP, cs); err != nil || got == nil || n.resumedFP != "SHA256:first" {
		t.Fatalf("the first ticket: %v, %v, noted %q", got, err, n.resumedFP)
	}
	// Say the server rejected that one (another cipher suite, too old):
	// it tries the next identity.
	if got, err := c.UnwrapSession(without, cs); err != nil || got == nil {
		t.Fatalf("the second ticket: %v, %v", got, err)
	}
	if n.resumedFP != "" {
		t.Errorf("after a ticket without a fingerprint, noted %q from the one before", n.resumedFP)
	}
	c.UnwrapSession(withFP, cs)
	if got, _ := c.UnwrapSession([]byte("not a ticket"), cs); got != nil || n.resumedFP != "" {
		t.Errorf("after a ticket that does not decrypt: %v, noted %q", got, n.resumedFP)
	}
}

// sessionStateForTest returns a server config and the state of a TLS 1.3
// session it made, as WrapSession sees it.
func sessionStateForTest(t *testing.T) (*tls.Config, *tls.SessionState) {
	t.Helper()
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	states := make(chan *tls.SessionState, 4)
	srvCfg := cfg.Clone()
	srvCfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		select {
		case states <- ss:
		default:
		}
		return cfg.EncryptTicket(cs, ss)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		done <- tls.Server(c, srvCfg).Handshake()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, ClientSessionCache: tls.NewLRUClientSessionCache(1)}).Handshake(); err != nil { //nolint:gosec // a test of tickets only
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case ss := <-states:
		return cfg, ss
	default:
		t.Fatal("the server sent no session ticket")
		return nil, nil
	}
}
