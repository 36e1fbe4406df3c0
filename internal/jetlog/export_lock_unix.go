//go:build unix

package jetlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockShared takes a shared flock on the store's lock file, if it has
// one, without creating or writing it, and returns its release. A store
// whose lock a log holds (a running chatd) is an *InUseError naming that
// process. A store without a lock file was never opened by a chatd that
// locks, and is read unlocked. While the shared lock is held a chatd
// starting on the store is refused, as in use.
//
// As lockStore, it refuses (ErrUnsafeStore) a store someone else could
// have planted files in, and a lock file that is a link or not this user's
// regular file.
func lockShared(dir string) (release func(), err error) {
	if err := checkStoreDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
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
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
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
		return nil, &InUseError{Dir: dir, Lock: path, Holder: who}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("jetlog: lock the store: %w", err)
	}
	return func() { f.Close() }, nil
}
