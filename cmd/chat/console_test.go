package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"chatd/certs"
	"chatd/internal/testproc"
)

// fakeFingerprint is the line a hostile certificate hopes the user reads as
// its fingerprint.
const fakeFingerprint = "SHA-256:     AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99"

// writeHostileCert writes a certificate for localhost, and its key, whose
// subject, issuer and names try to draw a fake fingerprint line (runs of
// spaces that would wrap it onto a row of its own, line separators, soft
// hyphens, CR LF, a 10 KB field). It returns the files and the real
// fingerprint.
func writeHostileCert(t *testing.T) (certFile, keyFile, fingerprint string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat(" ", 300)
	name := pkix.Name{
		CommonName:   "localhost" + pad + "\u2028" + fakeFingerprint + "\u00ad\u00ad" + pad,
		Organization: []string{strings.Repeat("W", 10<<10)},
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      name,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", pad + fakeFingerprint, "\r\n" + fakeFingerprint + "\r\n"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certs.Fingerprint(der)
}

// TestTrustPromptShowsTheRealFingerprintFirst: a server whose certificate
// text imitates the fingerprint line. The prompt
// says the real fingerprint right after the warning; every other row that
// mentions a fingerprint does so inside quotes, after a field label, and
// every row of certificate text fits 80 columns, so none wraps into a fake
// line.
func TestTrustPromptShowsTheRealFingerprintFirst(t *testing.T) {
	certFile, keyFile, real := writeHostileCert(t)
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--cert", certFile, "--key", keyFile)
	known := filepath.Join(t.TempDir(), "known_servers")
	screen := testproc.StartScreen(t, "chat", 120, 40, chatBinary, "--known-servers", known, "--nick", "bob", server.Addr())
	text := screen.WaitFor("[y/N]")

	rows := strings.Split(text, "\n")
	warning := rowContaining(rows, "presented a certificate that no authority you trust has signed")
	if warning < 0 || warning+1 >= len(rows) {
		t.Fatalf("no warning on screen:\n%s", text)
	}
	if got := strings.TrimRight(rows[warning+1], " "); got != "  SHA-256:     "+real {
		t.Errorf("the row after the warning is %q, want the real fingerprint %q", got, real)
	}
	quoted := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	labelled := regexp.MustCompile(`^  (subject:|issuer:|names \(SAN\):|) +"`)
	for i, row := range rows {
		w := ansi.StringWidth(strings.TrimRight(row, " "))
		if w >= 120 || strings.Contains(row, `"`) && w >= 80 {
			t.Errorf("row %d is %d columns wide: it would wrap on an 80-column terminal: %q", i, w, row)
		}
		if i == warning+1 || !strings.Contains(row, "AA:BB") {
			continue
		}
		if !labelled.MatchString(row) || strings.Contains(quoted.ReplaceAllString(row, `""`), "AA:BB") {
			t.Errorf("row %d shows the fake fingerprint outside a quoted field: %q", i, row)
		}
	}
	for _, want := range []string{`  subject:     "CN=localhost SHA-256: AA:BB`, `…"`, `  names (SAN): "localhost"`, `               " SHA-256: AA:BB`} {
		if !strings.Contains(text, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, text)
		}
	}
	screen.Type("n\r")
	screen.WaitExit()
}

// rowContaining returns the index of the first row containing s, or -1.
func rowContaining(rows []string, s string) int {
	for i, r := range rows {
		if strings.Contains(r, s) {
			return i
		}
	}
	return -1
}
