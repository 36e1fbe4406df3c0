// Package tlsgw is chatd's TLS server: it accepts TLS connections, asks each
// for a nickname and serves it as one room member, speaking the line
// protocol of package proto, within its timeouts and limits, and logs each
// connection. Any TLS client that sends and reads lines can chat, `openssl
// s_client` included.
package tlsgw

import (
	"chatd/certs"
	"crypto/tls"
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

// ServerConfig returns chatd's server TLS configuration: TLS 1.2 at least,
// TLS 1.2 limited to ECDHE with AEAD suites, Go's default key exchanges
// (X25519MLKEM768 first) and no renegotiation (Go servers never renegotiate).
// The certificate comes from certs on every handshake, so it can be replaced
// while the server runs.
//
// A client may present a certificate of its own: it is asked for, neither
// required nor verified against anything, and the handshake proves that the
// client holds its key. Its fingerprint is then part of the member's
// identity (room.Identity.CertFingerprint).
func ServerConfig(certs *certs.Store) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   intermediateSuites,
		GetCertificate: certs.GetCertificate,
		ClientAuth:     tls.RequestClientCert,
	}
}
