package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"chatd/room"
)

// DescribeTLS explains, line by line, what a TLS connection negotiated and
// who the server's certificate says it is: for people studying TLS.
func DescribeTLS(cs tls.ConnectionState, now time.Time) []string {
	lines := []string{
		fmt.Sprintf("protocol: %s, cipher suite %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)),
		"key exchange: " + describeGroup(cs.CurveID),
		"ALPN: " + orNone(cs.NegotiatedProtocol),
		"server name sent (SNI): " + orNone(cs.ServerName),
		fmt.Sprintf("session resumed: %v; encrypted client hello: %v", yesNo(cs.DidResume), yesNo(cs.ECHAccepted)),
	}
	for i, cert := range cs.PeerCertificates {
		lines = append(lines, describeCert(i, cert, now)...)
	}
	return lines
}

func describeCert(depth int, c *x509.Certificate, now time.Time) []string {
	label := "server certificate"
	if depth > 0 {
		label = fmt.Sprintf("chain certificate %d", depth)
	}
	issuer := QuoteText(c.Issuer.String())
	if IsSelfSigned(c) {
		issuer += " (self-signed)"
	}
	// The fingerprint, the one line people check, comes first; then the
	// certificate's own text, quoted (see QuoteText).
	lines := []string{
		label + ":",
		"  SHA-256 fingerprint: " + Fingerprint(c.Raw),
		"  subject: " + QuoteText(c.Subject.String()),
		"  issuer: " + issuer,
		fmt.Sprintf("  valid %s to %s (%s)", c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly), describeExpiry(c.NotAfter, now)),
		"  public key: " + describeKey(c),
	}
	if names := Names(c); len(names) > 0 || depth == 0 {
		lines = append(lines, "  names (SAN): "+orNone(strings.Join(names, ", ")))
	}
	return lines
}

// CertTextWidth is how many display columns of one certificate field the
// client shows; longer text is cut with an ellipsis. A quoted field after
// its label fits an 80-column terminal.
const CertTextWidth = 60

// MaxCertNames is how many of a certificate's DNS names and IP addresses
// the client lists; the rest are counted.
const MaxCertNames = 8

// QuoteText returns text from a certificate (a subject, an issuer, a
// DNS name) the way the client shows it: it is the server's text, so it is
// cleaned like chat text (no controls, no invisible characters, white space
// runs as one space), cut to CertTextWidth columns with an ellipsis, and
// quoted Go-style, with any quote or backslash in it escaped. So it stays on
// its line, cannot pass for a line or a field of the client's own, and a
// field of any size costs one short line.
func QuoteText(s string) string {
	s = room.Clean(s)
	if ansi.WcWidth.StringWidth(s) > CertTextWidth {
		s = ansi.WcWidth.Truncate(s, CertTextWidth, "…")
	}
	return strconv.Quote(s)
}

// SubjectAltNames lists a certificate's subjectAltName entries that name a
// server: its DNS names as written, then its IP addresses. Text from a
// certificate someone else made must be quoted (see Names) before it is
// shown.
func SubjectAltNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// Names lists a certificate's DNS names (quoted, see QuoteText) and
// IP addresses, at most MaxCertNames of them, then how many more there are.
func Names(c *x509.Certificate) []string {
	names := SubjectAltNames(c)
	for i := range c.DNSNames {
		names[i] = QuoteText(names[i])
	}
	if more := len(names) - MaxCertNames; more > 0 {
		names = append(names[:MaxCertNames], fmt.Sprintf("and %d more", more))
	}
	return names
}

func describeGroup(id tls.CurveID) string {
	if id == 0 {
		return "unknown (TLS 1.2 resumption or RSA key exchange)"
	}
	s := id.String()
	if id == tls.X25519MLKEM768 {
		s += " (hybrid post-quantum: X25519 with ML-KEM-768)"
	}
	return s
}

func describeExpiry(notAfter, now time.Time) string {
	left := notAfter.Sub(now)
	if left < 0 {
		return "EXPIRED"
	}
	return fmt.Sprintf("%d days left", int(left.Hours()/24))
}

func describeKey(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
