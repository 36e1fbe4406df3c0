package jetlog

import (
	"context"
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
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// writeCert writes a certificate for name, signed by parent (self-signed
// if nil), and its key, as PEM files in dir; it returns them and their
// paths.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.Subject = pkix.Name{CommonName: name}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, certPath, keyPath
}

// TestClientCertificate: a nats-server that verifies client certificates
// takes the log with Options.CertFile and KeyFile, and refuses it without.
func TestClientCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	dir := t.TempDir()
	ca, caKey, caPath, _ := writeCert(t, dir, "ca", nil, nil, &x509.Certificate{
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
	_, _, srvCert, srvKey := writeCert(t, dir, "server", ca, caKey, &x509.Certificate{
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature})
	_, _, cliCert, cliKey := writeCert(t, dir, "chatd", ca, caKey, &x509.Certificate{
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature})

	p := testproc.Start(t, "nats-server tls", nil, buildNATS(t), "-js", "-sd", t.TempDir(), "-a", "127.0.0.1", "-p", "-1",
		"--tlscert", srvCert, "--tlskey", srvKey, "--tlsverify", "--tlscacert", caPath)
	line := p.Expect("Listening for client connections on")
	p.Expect("Server is ready")
	url := "tls://127.0.0.1:" + line[strings.LastIndexByte(line, ':')+1:]

	opts := Options{URL: url, CAFile: caPath, Shared: true, Logger: quiet, Timeout: 2 * time.Second}
	if l, err := Open(context.Background(), opts); err == nil {
		l.Close()
		t.Fatal("the server took a client without a certificate")
	}
	opts.CertFile, opts.KeyFile = cliCert, cliKey
	l, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open with the client certificate: %v", err)
	}
	defer l.Close()
	if _, err := l.Append(chat("over TLS")); err != nil {
		t.Fatal(err)
	}
}
