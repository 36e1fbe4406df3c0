package keylog

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpenCreates0600AndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, line := range []string{"one\n", "two\n"} {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line)
		f.Close()
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600 (even with umask 0)", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Errorf("file holds %q, want both lines appended", b)
	}
}

func TestOpenRefusesUnsafeFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nowhere"), dangling)
	readable := filepath.Join(dir, "readable")
	os.WriteFile(readable, nil, 0o600)
	os.Chmod(readable, 0o644)
	writable := filepath.Join(dir, "writable")
	os.WriteFile(writable, nil, 0o600)
	os.Chmod(writable, 0o622)
	hard := filepath.Join(dir, "hard")
	os.WriteFile(hard, nil, 0o600)
	os.Link(hard, filepath.Join(dir, "hard2"))
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"symlink": link, "dangling symlink": dangling, "group/other readable": readable,
		"group/other writable": writable, "hard link": hard, "fifo": fifo, "directory": dir,
	} {
		f, err := Open(path)
		if err == nil {
			f.Close()
			t.Errorf("%s: opened, want refused", name)
			continue
		}
		if name != "directory" && name != "fifo" && !errors.Is(err, ErrUnsafe) {
			t.Errorf("%s: %v, want ErrUnsafe", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("the dangling symlink's target was created")
	}
	if fi, _ := os.Stat(readable); fi.Mode().Perm() != 0o644 {
		t.Error("a refused file's mode was changed")
	}
}

// TestWriterReopen: after the key log is removed, Deleted says so and
// Reopen writes to a new file by the same name; a reopen that is refused
// keeps the old file.
func TestWriterReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.log")
	w, err := OpenWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte("one\n"))
	if w.Deleted() {
		t.Error("Deleted before the file was removed")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if !w.Deleted() {
		t.Error("Deleted is false after the file was removed")
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("two\n"))
	if b, _ := os.ReadFile(path); string(b) != "two\n" {
		t.Errorf("the new file holds %q, want the line written after Reopen", b)
	}
	// A link planted in its place is refused; writes go on to the old file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Reopen onto a symbolic link: %v, want ErrUnsafe", err)
	}
	w.Write([]byte("three\n"))
	if b, _ := os.ReadFile(path + ".1"); string(b) != "two\nthree\n" {
		t.Errorf("the old file holds %q after a refused Reopen", b)
	}
}
