package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// fakeFingerprint is what a hostile certificate hopes to pass off as its
// fingerprint.
const fakeFingerprint = "SHA-256 fingerprint: AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99"

// hostileChain makes a leaf certificate for localhost signed by a CA, both
// of whose names try to draw a fake fingerprint line: long runs of spaces,
// line separators, soft hyphens, a 10 KB organisation and DNS names that
// carry the fake text.
func hostileChain(t *testing.T) (leaf, ca *x509.Certificate, leafKey *ecdsa.PrivateKey) {
	t.Helper()
	pad := strings.Repeat(" ", 200)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Trusted CA" + pad + "\u2028  " + fakeFingerprint + "\u00ad\u00ad"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject: pkix.Name{
			CommonName:   "localhost\n  " + fakeFingerprint + pad + "\u2029\u3000\u00a0x",
			Organization: []string{strings.Repeat("W", 10<<10)},
		},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "x" + pad + fakeFingerprint, "\r\n" + fakeFingerprint,
			"a1", "a2", "a3", "a4", "a5", "a6", "a7"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(leafDER)
	return leaf, ca, leafKey
}

// quotedRE matches a Go-quoted string.
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// checkCertLines fails if lines, what the client shows about certificates,
// has any fingerprint other than the real ones outside quotes, a quoted
// field over CertTextWidth columns, a run of spaces or a character that
// some terminal would draw as a line break or not at all.
func checkCertLines(t *testing.T, lines []string, real ...string) {
	t.Helper()
	for _, l := range lines {
		if strings.ContainsAny(l, "\n\r\u2028\u2029\u00ad\u3000\u00a0\x1b") {
			t.Errorf("line %q holds a line break, an invisible character or odd white space", l)
		}
		for _, q := range quotedRE.FindAllString(l, -1) {
			if w := ansi.StringWidth(q); w > CertTextWidth+2+strings.Count(q, `\`) {
				t.Errorf("a quoted field is %d columns wide: %s", w, q)
			}
		}
		outside := quotedRE.ReplaceAllString(l, `""`)
		if strings.Contains(strings.TrimLeft(outside, " "), "  ") {
			t.Errorf("line %q has a run of spaces outside its indentation", l)
		}
		if strings.Contains(outside, "fingerprint") || strings.Contains(outside, "SHA-256") {
			ok := false
			for _, fp := range real {
				ok = ok || strings.Contains(outside, fp)
			}
			if !ok {
				t.Errorf("line %q shows a fingerprint that is not the certificate's", l)
			}
		}
	}
}

func TestDescribeTLSQuotesAndCutsCertificateText(t *testing.T) {
	leaf, ca, _ := hostileChain(t)
	lines := DescribeTLS(tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{leaf, ca}}, time.Now())
	text := strings.Join(lines, "\n")
	checkCertLines(t, lines, Fingerprint(leaf.Raw), Fingerprint(ca.Raw))
	// The fingerprint is the first thing said about each certificate.
	for _, c := range []struct {
		label string
		cert  *x509.Certificate
	}{{"server certificate:", leaf}, {"chain certificate 1:", ca}} {
		if !strings.Contains(text, c.label+"\n  SHA-256 fingerprint: "+Fingerprint(c.cert.Raw)+"\n") {
			t.Errorf("%s is not followed by its fingerprint:\n%s", c.label, text)
		}
	}
	for _, want := range []string{
		`  subject: "CN=localhost ` + fakeFingerprint[:21],
		`…"`,
		`  names (SAN): "localhost", "x ` + fakeFingerprint[:20],
		`"a5", and 3 more`, // 8 of 11 names
	} {
		if !strings.Contains(text, want) {
			t.Errorf("description lacks %q:\n%s", want, text)
		}
	}
	if len(text) > 4096 {
		t.Errorf("the description is %d bytes long for a certificate with a 10 KB field", len(text))
	}
}

func TestQuoteCertText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"CN=chat.example", `"CN=chat.example"`},
		{`CN=a "b" \c`, `"CN=a \"b\" \\c"`},
		{"a    \u2028\u00a0  b\u00adc\x1b[31m", `"a bc"`},
		{strings.Repeat("x", 10<<10), `"` + strings.Repeat("x", CertTextWidth-1) + `…"`},
		{strings.Repeat("世", 100), `"` + strings.Repeat("世", CertTextWidth/2-1) + `…"`},
	} {
		if got := QuoteText(tc.in); got != tc.want {
			t.Errorf("QuoteText(%.40q) = %.80q, want %.80q", tc.in, got, tc.want)
		}
	}
}
