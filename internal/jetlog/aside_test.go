package jetlog

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyAsideSkipped: a stream too big to copy before start (here a
// sparse file of more than maxCopyAside bytes among its files) starts
// anyway, with a warning naming the copy's path and why; when the store
// then proves damaged, the refusal says no copy was kept rather than
// naming one.
func TestCopyAsideSkipped(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendChats(t, l, 3)
	l.Close()
	pad := filepath.Join(streamDir(dir, DefaultStream), "chatd-test-pad")
	if err := os.WriteFile(pad, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(pad, maxCopyAside+1); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	l = open(t, dir, Options{Logger: logger})
	if got, err := l.Replay(0, 10); err != nil || len(got) != 3 {
		t.Fatalf("Replay = %d events, %v", len(got), err)
	}
	l.Close()
	aside := filepath.Join(dir, beforeStartName)
	if out := buf.String(); !strings.Contains(out, "no copy of the stream's files is kept") || !strings.Contains(out, aside) {
		t.Fatalf("log:\n%s", out)
	}

	blocks, _ := filepath.Glob(filepath.Join(streamDir(dir, DefaultStream), "msgs", "*"))
	for _, b := range blocks {
		if err := os.WriteFile(b, []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(context.Background(), Options{Dir: dir, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "no copy of its files from before this start was kept") {
		t.Fatalf("Open of the damaged store = %v", err)
	}
	if _, err := os.Stat(aside); err == nil {
		t.Errorf("%s left behind", aside)
	}
}
