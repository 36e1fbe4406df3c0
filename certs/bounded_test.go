package certs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadKeyPairBoundsItsFiles: a certificate or key file larger than
// MaxPEMFileBytes is an error naming the limit, not read whole (a large
// regular file, sparse: nothing unbounded is read).
func TestLoadKeyPairBoundsItsFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	certPEM, keyPEM := generate(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	if _, err := LoadKeyPair(certFile, keyFile); err != nil {
		t.Fatalf("a good pair: %v", err)
	}
	for _, pair := range [][2]string{{big, keyFile}, {certFile, big}} {
		_, err := LoadKeyPair(pair[0], pair[1])
		if err == nil || !strings.Contains(err.Error(), big+" is larger than 1048576 bytes (1 MiB)") {
			t.Errorf("LoadKeyPair(%s, %s): %v", filepath.Base(pair[0]), filepath.Base(pair[1]), err)
		}
	}
}

func generate(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if certPEM, err = SelfSign(key, []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if keyPEM, err = EncodeKey(key); err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}
