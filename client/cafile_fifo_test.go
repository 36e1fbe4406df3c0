package client

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCAFileFIFOIsRefused: a FIFO given as the CA file (--ca) is refused
// at once, the file named, rather than waited on forever.
func TestCAFileFIFOIsRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := readCAFile(fifo); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Second):
		t.Errorf("still blocked on the FIFO %s after 2s", fifo)
		if w, werr := os.OpenFile(fifo, os.O_WRONLY, 0); werr == nil { // let it end
			w.Close()
		}
		err = <-done
	}
	if err == nil || !strings.Contains(err.Error(), fifo+" is not a regular file") {
		t.Errorf("a FIFO as the CA file: %v", err)
	}
}
