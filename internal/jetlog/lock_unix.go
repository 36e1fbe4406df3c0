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
func lockStore(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jetlog: lock the store: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
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
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
