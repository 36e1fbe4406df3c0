package certs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadKeyPairRefusesAFIFO: a FIFO given as the certificate or the key
// (--cert/--key) is refused at once, the file named, rather than waited on
// forever (deaf to SIGTERM, at start and at a SIGHUP reload).
func TestLoadKeyPairRefusesAFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := generate(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	for _, pair := range [][2]string{{fifo, keyFile}, {certFile, fifo}} {
		err := withinOrUnblock(t, fifo, func() error { _, err := LoadKeyPair(pair[0], pair[1]); return err })
		if err == nil || !strings.Contains(err.Error(), fifo+" is not a regular file") {
			t.Errorf("LoadKeyPair(%s, %s): %v", filepath.Base(pair[0]), filepath.Base(pair[1]), err)
		}
	}
}

// withinOrUnblock runs read, which may block opening or reading fifo; if
// it has not returned within two seconds, the test fails and a writer
// opens and closes fifo so that read (and its goroutine) ends.
func withinOrUnblock(t *testing.T, fifo string, read func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Second):
		t.Errorf("still blocked on the FIFO %s after 2s", fifo)
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		return <-done
	}
}
