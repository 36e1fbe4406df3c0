package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestEnsureSelfSignedCreatesThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	now := time.Now()
	first, err := EnsureSelfSigned(dir, []string{"chat.example.com", "203.0.113.10"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created {
		t.Fatal("no certificate was created in an empty directory")
	}
	leaf := first.Cert.Leaf
	for _, host := range append(DefaultHosts(), "chat.example.com", "203.0.113.10") {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("certificate does not cover %s: %v", host, err)
		}
	}
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Error("the generated certificate can sign certificates")
	}
	if leaf.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Errorf("key algorithm = %v, want ECDSA", leaf.PublicKeyAlgorithm)
	}
	info, err := os.Stat(first.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}

	again, err := EnsureSelfSigned(dir, []string{"chat.example.com"}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || Fingerprint(again.Cert.Leaf.Raw) != Fingerprint(leaf.Raw) {
		t.Error("a valid certificate was not reused")
	}
}

func TestEnsureSelfSignedRenews(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	first, err := EnsureSelfSigned(dir, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	newHost, err := EnsureSelfSigned(dir, []string{"new.example.com"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !newHost.Created || newHost.Cert.Leaf.VerifyHostname("new.example.com") != nil {
		t.Errorf("asking for a new host did not renew: created=%v why=%q", newHost.Created, newHost.Why)
	}
	late, err := EnsureSelfSigned(dir, nil, first.Cert.Leaf.NotAfter.Add(-RenewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if !late.Created {
		t.Error("a certificate close to expiry was not renewed")
	}
}

func TestEnsureSelfSignedRefusesToOverwriteABrokenPair(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CertFileName), []byte("not a certificate"), 0o644)
	os.WriteFile(filepath.Join(dir, KeyFileName), []byte("not a key"), 0o600)
	if _, err := EnsureSelfSigned(dir, nil, time.Now()); err == nil {
		t.Error("a broken certificate was silently replaced")
	}
}

func TestDefaultHostsHasNoDuplicates(t *testing.T) {
	hosts := DefaultHosts("localhost", "extra", "extra")
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h] {
			t.Errorf("%s listed twice in %q", h, hosts)
		}
		seen[h] = true
	}
	if !slices.Contains(hosts, "extra") || !slices.Contains(hosts, "::1") {
		t.Errorf("DefaultHosts = %q", hosts)
	}
}
