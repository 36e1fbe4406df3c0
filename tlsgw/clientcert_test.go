package tlsgw

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

// bigChain is a client certificate followed by extra copies of a small
// self-signed certificate: what a client may send when it is asked for one.
func bigChain(t *testing.T, extra int) tls.Certificate {
	cert := clientCert(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	for range extra {
		cert.Certificate = append(cert.Certificate, der)
	}
	t.Logf("chain: %d certificates, the extra ones %d bytes each", len(cert.Certificate), len(der))
	return cert
}

// TestOversizedClientCertificatesAreRefused: a client certificate is only an
// identity, but Go keeps what a client presents for the whole connection; a
// 1400-certificate chain (about 250 KB) or a 60 KiB stapled OCSP response
// is refused at the handshake instead of held.
func TestOversizedClientCertificatesAreRefused(t *testing.T) {
	ts := startServer(t, Config{})
	chain := bigChain(t, 1400)
	staple := clientCert(t)
	staple.OCSPStaple = make([]byte, 60<<10)
	for _, c := range []tls.Certificate{chain, staple} {
		cfg := &tls.Config{RootCAs: ts.roots, ServerName: "localhost", Certificates: []tls.Certificate{c}}
		conn, err := tls.Dial("tcp", ts.addr, cfg)
		if err == nil {
			_, err = conn.Read(make([]byte, 1)) // TLS 1.3: the refusal comes after the client's Finished
			conn.Close()
		}
		t.Logf("refused: %v", err)
		if err == nil {
			t.Error("accepted")
		}
	}
}
