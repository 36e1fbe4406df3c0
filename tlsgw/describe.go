package tlsgw

import (
	"context"
	"crypto/tls"
	"fmt"

	"chatd/certs"
)

// servedKey is the context key under which a session's handshake carries
// where to note the certificate the server presented (see ServerConfig).
type servedKey struct{}

// noteServed records cert as the one presented on the handshake whose
// context is ctx, if that handshake asked for it.
func noteServed(ctx context.Context, cert *tls.Certificate) {
	if slot, ok := ctx.Value(servedKey{}).(**tls.Certificate); ok && cert != nil {
		*slot = cert
	}
}

// handshakeContext returns the context of a handshake that notes the
// certificate it presents in *served. It never ends: the connection's
// deadline bounds the handshake.
func handshakeContext(served **tls.Certificate) context.Context {
	return context.WithValue(context.Background(), servedKey{}, served)
}

// describe is the member's /crypto (room.JoinOptions.Describe): what its
// TLS session negotiated, whether it showed a certificate, and the
// fingerprint of the server's. Everything the client chose (SNI, ALPN) is
// quoted, as the certificate texts the client shows are.
func (s *session) describe() []string {
	st := s.conn.ConnectionState()
	lines := []string{
		"Your connection: TLS (the line protocol), as the server sees it",
		fmt.Sprintf("protocol: %s, cipher suite %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)),
		"key exchange: " + groupName(st.CurveID),
		"server name you sent (SNI): " + quotedOrNone(st.ServerName),
		"ALPN: " + quotedOrNone(st.NegotiatedProtocol),
		"server profile: " + s.srv.cfg.Profile.String(),
		"your client certificate: " + clientCertLine(st),
		"server certificate SHA-256 fingerprint: " + s.servedFingerprint(),
	}
	if s.srv.cfg.KeyLog != "" {
		lines = append(lines, KeyLogGreeting)
	}
	if s.srv.cfg.Profile.Weak() {
		lines = append(lines, WeakWarning)
	}
	return lines
}

// servedFingerprint is the fingerprint of the certificate the server
// presented on this connection; it may have replaced it since.
func (s *session) servedFingerprint() string {
	if s.served == nil || len(s.served.Certificate) == 0 {
		return "unknown"
	}
	return certs.Fingerprint(s.served.Certificate[0])
}

// clientCertLine says whether the client showed a certificate, and its
// fingerprint if so.
func clientCertLine(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return "none shown (you are known by your address)"
	}
	return "SHA-256 fingerprint " + certs.Fingerprint(st.PeerCertificates[0].Raw) + " (not verified: it only shows the same key came back)"
}

// groupName names a key exchange group; 0 means none was used (TLS 1.2
// resumption or RSA key exchange).
func groupName(id tls.CurveID) string {
	if id == 0 {
		return "none (RSA key exchange or resumed session)"
	}
	return id.String()
}

// quotedOrNone quotes text the client chose, or says "none".
func quotedOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return certs.QuoteText(s)
}
