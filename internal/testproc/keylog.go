package testproc

import (
	"bytes"
	"os"
	"testing"
)

// CheckKeyLog fails the test unless path is a key log as chatd and chat
// write one: mode 0600, holding NSS key log lines of a TLS 1.3 session.
func CheckKeyLog(t testing.TB, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key log mode %04o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte("CLIENT_TRAFFIC_SECRET_0 ")) {
		t.Errorf("the key log holds no NSS key log lines:\n%s", b)
	}
}
