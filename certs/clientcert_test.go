package certs

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGenerateClientIdentity(t *testing.T) {
	now := time.Now()
	data, err := GenerateClientIdentity(now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(data, data) // one file: certificate, then key
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key is a %T", cert.PrivateKey)
	}
	if leaf.Subject.String() != "CN=chatd client" || leaf.Issuer.String() != leaf.Subject.String() || !IsSelfSigned(leaf) ||
		len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses)+len(leaf.URIs) != 0 || leaf.IsCA {
		t.Errorf("certificate: subject %q issuer %q, names %v %v, CA %v", leaf.Subject, leaf.Issuer, leaf.DNSNames, leaf.IPAddresses, leaf.IsCA)
	}
	if leaf.NotBefore.After(now) || !leaf.NotAfter.Equal(ClientNotAfter) {
		t.Errorf("valid %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if !leaf.BasicConstraintsValid || leaf.IsCA || leaf.KeyUsage != x509.KeyUsageDigitalSignature ||
		len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("usage: basic constraints %v, CA %v, key usage %v, extended %v", leaf.BasicConstraintsValid, leaf.IsCA, leaf.KeyUsage, leaf.ExtKeyUsage)
	}
}

func TestOpenPrivate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(file, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenPrivate(file)
	if err != nil {
		t.Fatalf("a 0600 file of the user's own: %v", err)
	}
	f.Close()
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o700 | 0o004} {
		os.Chmod(file, mode)
		var e *PrivateFileError
		if _, err := OpenPrivate(file); !errors.As(err, &e) || e.Mode != mode || e.Remedy() != "chmod 600 "+file {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if _, err := OpenPrivate(dir); err == nil {
		t.Error("a directory was opened as a private file")
	}
}
