//go:build unix

package jetlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plantedVictim is a file outside the store that planted links point to.
func plantedVictim(t *testing.T) string {
	t.Helper()
	victim := filepath.Join(t.TempDir(), "victim.txt")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return victim
}

func checkVictim(t *testing.T, victim string) {
	t.Helper()
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious\n" {
		t.Fatalf("the file a planted link points to now holds %q (%v)", b, err)
	}
}

// TestLockRefusesPlantedLink: a symbolic link (or a hard link) planted as
// the store's lock is refused, and the file it points to is left alone,
// by Open and by OpenReader (chatd export).
func TestLockRefusesPlantedLink(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{}).Close()
	victim := plantedVictim(t)
	lock := filepath.Join(dir, lockName)
	os.Remove(lock)
	if err := os.Symlink(victim, lock); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(context.Background(), Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrUnsafeStore) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("Open with a planted lock link: %v, want ErrUnsafeStore", err)
	}
	if r, err := OpenReader(context.Background(), Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrUnsafeStore) {
		if err == nil {
			r.Close()
		}
		t.Fatalf("OpenReader with a planted lock link: %v, want ErrUnsafeStore", err)
	}
	checkVictim(t, victim)

	os.Remove(lock)
	if err := os.Link(victim, lock); err != nil {
		t.Skipf("no hard link: %v", err)
	}
	if l, err := Open(context.Background(), Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrUnsafeStore) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("Open with a hard-linked lock: %v, want ErrUnsafeStore", err)
	}
	checkVictim(t, victim)
}

// TestFloorIgnoresPlantedLink: a symbolic link planted where the floor
// used to be written first (chatd-seq.tmp) is not followed.
func TestFloorIgnoresPlantedLink(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	victim := plantedVictim(t)
	if err := os.Symlink(victim, filepath.Join(dir, floorName+".tmp")); err != nil {
		t.Fatal(err)
	}
	l.writeFloor(50)
	checkVictim(t, victim)
	if b, err := os.ReadFile(filepath.Join(dir, floorName)); err != nil || strings.TrimSpace(string(b)) != "50" {
		t.Fatalf("floor %q, %v; want 50", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, floorName+".tmp-*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestUnsafeStoreDirRefused: a store directory that is a symbolic link,
// or writable by its group or others, is refused.
func TestUnsafeStoreDirRefused(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{}).Close()
	link := filepath.Join(t.TempDir(), "nats")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(context.Background(), Options{Dir: link, Logger: quiet}); !errors.Is(err, ErrUnsafeStore) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("Open of a linked store: %v, want ErrUnsafeStore", err)
	}
	for _, mode := range []os.FileMode{0o770, 0o707} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		if l, err := Open(context.Background(), Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrUnsafeStore) {
			if err == nil {
				l.Close()
			}
			t.Fatalf("Open of a store of mode %v: %v, want ErrUnsafeStore", mode, err)
		}
	}
	if os.Geteuid() == 0 {
		os.Chmod(dir, 0o700)
		if err := os.Chown(dir, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if l, err := Open(context.Background(), Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrUnsafeStore) {
			if err == nil {
				l.Close()
			}
			t.Fatalf("Open of a store owned by another user: %v, want ErrUnsafeStore", err)
		}
		os.Chown(dir, 0, 0)
	}
	os.Chmod(dir, 0o700)
	open(t, dir, Options{}).Close()
}
