//go:build unix

package jetlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockStore takes an exclusive flock on dir/lockName, held until the
// returned file is closed (Close, or the process ending), and writes this
// process's id into it; a store locked by another log, in this process or
// another, is an error naming that process. Two servers on one store would
// number different events with the same sequences.
//
// It first refuses (ErrUnsafeStore) a store someone else could have
// planted files in (see checkStoreDir), and opens the lock without
// following a symlink, refusing anything but a regular file of this user
// with one link: the lock is truncated and written, so a planted link
// would make chatd overwrite any file it can write.
func lockStore(dir string) (*os.File, error) {
	if err := checkStoreDir(dir); err != nil {
		return nil, err
	}
	f, err := openLock(dir, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	if err := flockLock(f, dir, syscall.LOCK_EX); err != nil {
		return nil, err
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// openLock opens dir's lock file with flag, never following a symbolic
// link (ErrUnsafeStore) nor blocking on a planted FIFO, and refuses
// anything but a regular file of this user with one link.
func openLock(dir string, flag int) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafeStore, path)
	}
	if err != nil {
		return nil, fmt.Errorf("jetlog: lock the store: %w", err)
	}
	if err := checkOwnFile(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// flockLock takes the flock how (LOCK_EX or LOCK_SH) on the lock file f of
// dir without waiting; a lock held by another log is an *InUseError naming
// the process whose id the file holds. On any error f is closed.
func flockLock(f *os.File, dir string, how int) error {
	var err error
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		who := "another process"
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			who = "process " + strconv.Itoa(pid)
		}
		return &InUseError{Dir: dir, Lock: f.Name(), Holder: who}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("jetlog: lock the store: %w", err)
	}
	return nil
}

// checkStoreDir refuses, with ErrUnsafeStore, a store directory that is a
// symbolic link, is not a directory, is owned by another user than this
// process's effective one, or can be written by its group or others: any
// of them could plant links in it.
func checkStoreDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("jetlog: store directory: %w", err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symbolic link; name the directory it points to", ErrUnsafeStore, dir)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafeStore, dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%w: %s can be written by its group or others (mode %v); chmod go-w it", ErrUnsafeStore, dir, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s is owned by user %d, not by this process's user %d", ErrUnsafeStore, dir, st.Uid, os.Geteuid())
	}
	return nil
}

// checkOwnFile refuses, with ErrUnsafeStore, an open file that is not a
// regular file of this process's effective user with a single link.
func checkOwnFile(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrUnsafeStore, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || st.Nlink != 1) {
		return fmt.Errorf("%w: %s is owned by user %d or has %d links", ErrUnsafeStore, path, st.Uid, st.Nlink)
	}
	return nil
}
