package client

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatd/certs"
)

// TestCAFileTooLargeIsAnError: a CA file beyond 1 MiB is refused, the
// limit named, rather than read in part.
func TestCAFileTooLargeIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxCAFileBytes + 1); err != nil { // sparse: nothing unbounded
		t.Fatal(err)
	}
	f.Close()
	_, _, err = readCAFile(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes (1 MiB)") {
		t.Errorf("a CA file of 1 MiB + 1: %v", err)
	}
}

// TestCAFileBadBlockIsNamed: a CERTIFICATE block that does not parse is
// fatal, the file and the block's number named.
func TestCAFileBadBlockIsNamed(t *testing.T) {
	key, err := certs.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good, err := certs.SelfSign(key, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, append(good, bad...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = readCAFile(path)
	if err == nil || !strings.Contains(err.Error(), "CA file "+path+": CERTIFICATE block 2 does not parse") {
		t.Errorf("a CA file with a bad second block: %v", err)
	}
}
