package tlsgw

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

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
	// Certificate text comes from the server: clean it like chat text.
	issuer := room.Clean(c.Issuer.String())
	if IsSelfSigned(c) {
		issuer += " (self-signed)"
	}
	lines := []string{
		fmt.Sprintf("%s: subject %s", label, room.Clean(c.Subject.String())),
		"  issuer: " + issuer,
		"  SHA-256 fingerprint: " + Fingerprint(c.Raw),
		fmt.Sprintf("  valid %s to %s (%s)", c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly), describeExpiry(c.NotAfter, now)),
		"  public key: " + describeKey(c),
	}
	if sans := certNames(c); len(sans) > 0 {
		lines = append(lines, "  names (SAN): "+strings.Join(sans, ", "))
	} else if depth == 0 {
		lines = append(lines, "  names (SAN): none")
	}
	return lines
}

func certNames(c *x509.Certificate) []string {
	var names []string
	for _, n := range c.DNSNames {
		names = append(names, room.Clean(n))
	}
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
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
