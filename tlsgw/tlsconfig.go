// Package tlsgw is chatd's TLS server: it accepts TLS connections, asks each
// for a nickname and serves it as one room member, speaking the line
// protocol of package proto, within its timeouts and limits, and logs each
// connection. Any TLS client that sends and reads lines can chat, `openssl
// s_client` included.
package tlsgw

import (
	"chatd/certs"
	"crypto/tls"
	"fmt"
)

// intermediateSuites are the TLS 1.2 suites of Mozilla's "intermediate"
// profile: ECDHE key exchange with AEAD ciphers only. TLS 1.3 suites are not
// configurable in Go and are all AEAD.
var intermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig returns chatd's server TLS configuration for profile. With
// ProfileIntermediate, the default: TLS 1.2 at least, TLS 1.2 limited to
// ECDHE with AEAD suites, Go's default key exchanges (X25519MLKEM768 first)
// and no renegotiation (Go servers never renegotiate). ProfileModern is TLS
// 1.3 only; ProfileOld adds TLS 1.0, 1.1 and CBC suites (see Profile).
// The certificate comes from certs on every handshake, so it can be replaced
// while the server runs.
//
// A client may present a certificate of its own: it is asked for, neither
// required nor verified against anything, and the handshake proves that the
// client holds its key. Its fingerprint is then part of the member's
// identity (room.Identity.CertFingerprint).
func ServerConfig(certs *certs.Store, profile Profile) *tls.Config {
	cfg := &tls.Config{
		// The certificate presented is noted for the member's /crypto.
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := certs.GetCertificate(hello)
			noteServed(hello.Context(), cert)
			return cert, err
		},
		ClientAuth: tls.RequestClientCert,
		// What a client sends with its certificate is kept for the whole
		// connection: refuse anything bigger than an identity needs.
		VerifyConnection: checkClientCertificate,
	}
	// Every ClientHello, resumptions too, notes the ALPN protocols the
	// client offered, and gets a copy of the configuration whose session
	// tickets carry the served certificate's fingerprint (GetCertificate
	// is not called on a resumption).
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		n := notesOf(hello.Context())
		if n == nil {
			return nil, nil
		}
		noteHello(n, hello)
		return withTicketNotes(cfg, n), nil
	}
	profile.apply(cfg)
	return cfg
}

// Bounds on what a client may present as its certificate: it is only an
// identity (its fingerprint), never verified, yet Go keeps the parsed chain
// and its stapled data for the whole connection, so a client could
// otherwise make the server hold up to 256 KiB of certificates on each.
const (
	maxClientCerts     = 4        // a leaf and a few intermediates
	maxClientCertBytes = 16 << 10 // all of them together, DER
)

// errClientCertTooBig refuses a client certificate over those bounds.
var errClientCertTooBig = fmt.Errorf("tls: client certificate refused: present at most %d certificates of %d KiB in all, without stapled OCSP or SCTs",
	maxClientCerts, maxClientCertBytes>>10)

// checkClientCertificate refuses a handshake whose client certificate is
// over the bounds, or comes with an OCSP response or timestamps, which a
// client has no reason to staple.
func checkClientCertificate(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) > maxClientCerts || len(cs.OCSPResponse) > 0 || len(cs.SignedCertificateTimestamps) > 0 {
		return errClientCertTooBig
	}
	total := 0
	for _, c := range cs.PeerCertificates {
		total += len(c.Raw)
	}
	if total > maxClientCertBytes {
		return errClientCertTooBig
	}
	return nil
}
