// Package keylog opens a TLS key log file (the NSS key log format that
// crypto/tls writes through Config.KeyLogWriter, and Wireshark and tshark
// read to decrypt a capture) for chatd's and chat's --keylog, safely.
//
// Whoever reads the file, together with a capture, reads every session
// logged into it, so Open refuses anything another user could have prepared
// or could read: a symbolic link, something that is not a regular file, a
// file owned by someone else, a file that group or others may read or
// write, a file with several names (hard links).
package keylog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// Mode is the mode a new key log file is created with.
const Mode fs.FileMode = 0o600

// EnvVar is the environment variable that browsers, curl and chat read for a
// key log file.
const EnvVar = "SSLKEYLOGFILE"

// ErrUnsafe is wrapped by the error Open returns when it refuses a file.
var ErrUnsafe = errors.New("unsafe key log file")

// Open opens path for appending TLS secrets, creating it with Mode if it
// does not exist. It refuses (with an error wrapping ErrUnsafe) a symbolic
// link, a file that is not regular, one owned by another user, one with any
// permission for group or others, or one with more than one link.
func Open(path string) (*os.File, error) {
	if path == "" {
		return nil, errors.New("key log: empty file name")
	}
	// O_NOFOLLOW refuses a symbolic link as the last element; O_NONBLOCK
	// keeps a FIFO from blocking the open until it is refused below.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, Mode)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("key log %s: %w: it is a symbolic link", path, ErrUnsafe)
		}
		return nil, fmt.Errorf("key log: %w", err)
	}
	if err := check(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("key log %s: %w: %v", path, ErrUnsafe, err)
	}
	return f, nil
}

// check refuses an open file that others could have prepared or could read.
func check(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("mode %04o lets other users at it; chmod 600 it", perm)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot tell who owns it")
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("owned by user %d, not by us (%d)", st.Uid, os.Geteuid())
	}
	if st.Nlink != 1 {
		return fmt.Errorf("it has %d names (hard links)", st.Nlink)
	}
	return nil
}

// Warning is what chatd and chat say, wherever a user looks, while a key
// log is on.
func Warning(path string) string {
	return fmt.Sprintf("TLS key log ON: secrets go to %s; whoever has that file and a capture can decrypt the session", path)
}

// Writer is a key log that can be reopened by name (chatd's SIGHUP, as
// logrotate expects): crypto/tls writes to it through Config.KeyLogWriter,
// and Reopen swaps the file under it.
type Writer struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenWriter opens path as Open does.
func OpenWriter(path string) (*Writer, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	return &Writer{path: path, f: f}, nil
}

// Path is the name the key log was opened by.
func (w *Writer) Path() string { return w.path }

// Write appends p (one NSS key log line) to the current file.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Write(p)
}

// Reopen opens the key log by its name again, with Open's checks, and
// writes there from now on. If that fails, the old file stays in use and
// the error says why.
func (w *Writer) Reopen() error {
	f, err := Open(w.path)
	if err != nil {
		return err
	}
	w.mu.Lock()
	old := w.f
	w.f = f
	w.mu.Unlock()
	return old.Close()
}

// Deleted reports whether the file being written has no name left (it was
// removed or renamed away and replaced): whatever is written now is lost to
// whoever looks for it by name.
func (w *Writer) Deleted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi, err := w.f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}
