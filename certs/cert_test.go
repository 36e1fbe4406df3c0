package certs

import (
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	first, err := EnsureSelfSigned(dir, []string{"old.example.com"}, now)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := os.ReadFile(first.KeyFile)
	newHost, err := EnsureSelfSigned(dir, []string{"new.example.com"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !newHost.Created || newHost.Cert.Leaf.VerifyHostname("new.example.com") != nil {
		t.Errorf("asking for a new host did not renew: created=%v why=%q", newHost.Created, newHost.Why)
	}
	assertRenewal(t, first.Cert.Leaf, newHost, keyPEM)
	late, err := EnsureSelfSigned(dir, nil, newHost.Cert.Leaf.NotAfter.Add(-RenewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if !late.Created || !strings.Contains(late.Why, "expires") {
		t.Errorf("a certificate close to expiry was not renewed: created=%v why=%q", late.Created, late.Why)
	}
	assertRenewal(t, newHost.Cert.Leaf, late, keyPEM)
}

// assertRenewal checks that renewed replaced old, with old's key (the key
// file unchanged) and every one of old's names.
func assertRenewal(t *testing.T, old *x509.Certificate, renewed *GeneratedCert, keyPEM []byte) {
	t.Helper()
	leaf := renewed.Cert.Leaf
	if renewed.Replaced == nil || !renewed.Replaced.Equal(old) || !renewed.KeptKey {
		t.Errorf("renewal does not say what it replaced: replaced=%v kept key=%v", renewed.Replaced != nil, renewed.KeptKey)
	}
	if Fingerprint(leaf.Raw) == Fingerprint(old.Raw) {
		t.Error("the renewed certificate has the old fingerprint")
	}
	if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(old.PublicKey) {
		t.Error("the renewal changed the key")
	}
	if now, _ := os.ReadFile(renewed.KeyFile); string(now) != string(keyPEM) {
		t.Error("the renewal rewrote key.pem")
	}
	for _, name := range SubjectAltNames(old) {
		if !slices.Contains(SubjectAltNames(leaf), name) {
			t.Errorf("the renewal dropped %s: %v, was %v", name, SubjectAltNames(leaf), SubjectAltNames(old))
		}
	}
	if leaf.Subject.CommonName != old.Subject.CommonName {
		t.Errorf("common name %q, was %q", leaf.Subject.CommonName, old.Subject.CommonName)
	}
}

func TestEnsureSelfSignedSaysWhenTheKeyWasLost(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureSelfSigned(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(first.KeyFile)
	again, err := EnsureSelfSigned(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Created || again.KeptKey || again.Replaced == nil || !again.Replaced.Equal(first.Cert.Leaf) || !strings.Contains(again.Why, "missing") {
		t.Errorf("a lost key: created=%v kept=%v replaced=%v why=%q", again.Created, again.KeptKey, again.Replaced != nil, again.Why)
	}
}

// TestLostKeyKeepsEveryOldName: a certificate whose key was lost is
// replaced with a new key that still covers every name the old one had,
// the old common name first, as well as the default ones.
func TestLostKeyKeepsEveryOldName(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureSelfSigned(dir, []string{"old.example.com", "203.0.113.7"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(first.KeyFile)
	again, err := EnsureSelfSigned(dir, []string{"new.example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	names := SubjectAltNames(again.Cert.Leaf)
	for _, name := range append(SubjectAltNames(first.Cert.Leaf), "new.example.com") {
		if !slices.Contains(names, name) {
			t.Errorf("the certificate made after the key was lost dropped %s: %v", name, names)
		}
	}
	if again.KeptKey || again.Cert.Leaf.Subject.CommonName != first.Cert.Leaf.Subject.CommonName {
		t.Errorf("kept key %v, common name %q, was %q", again.KeptKey, again.Cert.Leaf.Subject.CommonName, first.Cert.Leaf.Subject.CommonName)
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
