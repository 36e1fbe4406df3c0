package sshgw

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"chatd/room"
)

// nobody is the user the tests give the files of "another user".
const nobody = 65534

// TestHostKeyPublicHalfOfAnotherUserReplaced: in a sticky public directory
// all may write (allowed, as /tmp), an up-to-date public half that another
// user owns is not kept (they could rewrite it later and point students at
// another key): it is replaced by ours, as the certificate's public copy
// always is. Root can replace it; another user's chatd gets an error
// naming the file (TestHostKeyPublicHalfNotReplaceable).
func TestHostKeyPublicHalfOfAnotherUserReplaced(t *testing.T) {
	checkGoroutines(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "data", "ssh_host_ed25519_key")
	public := filepath.Join(dir, "public")
	if err := os.Mkdir(public, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(public, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	first, err := NewServer(Config{HostKeyPath: key, Room: room.New(room.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(first.HostKeyPublicPath())
	if err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(public, "ssh_host_ed25519_key.pub")
	if err := os.WriteFile(theirs, want, 0o644); err != nil { // up to date, for now
		t.Fatal(err)
	}
	if err := os.Chown(theirs, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{HostKeyPath: key, PublicDir: public, Room: room.New(room.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	if srv.HostKeyPublicPath() != theirs {
		t.Fatalf("HostKeyPublicPath %q, want %q", srv.HostKeyPublicPath(), theirs)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(theirs, &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o7777 != 0o644 || st.Nlink != 1 {
		t.Errorf("public half in the sticky directory: uid %d, mode %04o, %d links; want ours (uid %d), 0644, 1", st.Uid, st.Mode&0o7777, st.Nlink, os.Geteuid())
	}
	if got, _ := os.ReadFile(theirs); !bytes.Equal(got, want) {
		t.Errorf("public half holds %q, want %q", got, want)
	}
}

// TestHostKeyPublicHalfNotReplaceable: a public half the rename cannot
// replace is a WARN naming the file, as for the certificate's public copy;
// the server starts and names the data directory's copy instead. (The
// test puts a directory there: root, running the tests, may replace
// another user's file in a sticky directory, which another user's chatd
// may not.)
func TestHostKeyPublicHalfNotReplaceable(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "data", "ssh_host_ed25519_key")
	public := filepath.Join(dir, "public")
	theirs := filepath.Join(public, "ssh_host_ed25519_key.pub")
	if err := os.MkdirAll(filepath.Join(theirs, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	srv, err := NewServer(Config{HostKeyPath: key, PublicDir: public, Room: room.New(room.Config{}),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if srv.HostKeyPublicPath() != key+PublicKeySuffix {
		t.Errorf("HostKeyPublicPath %q, want the data directory's copy", srv.HostKeyPublicPath())
	}
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "replace "+theirs) {
		t.Errorf("no WARN naming %s:\n%s", theirs, got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
