//go:build unix

package jetlog

import (
	"errors"
	"io/fs"
	"os"
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
	f, err := openLock(dir, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := flockLock(f, dir, syscall.LOCK_SH); err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
