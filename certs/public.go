package certs

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// PublicDirMode and PublicFileMode are the modes of the public copy of the
// served certificate and its directory: readable by every local user.
const (
	PublicDirMode  fs.FileMode = 0o755
	PublicFileMode fs.FileMode = 0o644
)

// ChainPEM returns the certificate chain cert serves, PEM encoded: only the
// certificates, never the key, whatever else the files it came from held.
func ChainPEM(cert *tls.Certificate) []byte {
	var out []byte
	for _, der := range cert.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

// WritePublic writes the chain cert serves to dir/cert.pem (mode 0644),
// replacing it atomically. It makes dir with mode 0755, whatever the umask,
// if it does not exist; an existing dir keeps its mode (ReadableByOthers
// tells whether others can reach the file). It returns the file's path.
func WritePublic(dir string, cert *tls.Certificate) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, PublicDirMode); err != nil {
			return "", fmt.Errorf("create %s: %w", dir, err)
		}
		if err := os.Chmod(dir, PublicDirMode); err != nil {
			return "", fmt.Errorf("create %s: %w", dir, err)
		}
	}
	path := filepath.Join(dir, CertFileName)
	return path, writeFileAtomic(path, ChainPEM(cert), PublicFileMode)
}

// addMode adds the permission bits of want that path lacks.
func addMode(path string, want fs.FileMode) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if have := info.Mode().Perm(); have&want != want {
		if err := os.Chmod(path, have|want); err != nil {
			return fmt.Errorf("change the mode of %s: %w", path, err)
		}
	}
	return nil
}

// NotReadableError says why other users cannot read a file: a directory on
// its way they may not pass, or the file's own mode.
type NotReadableError struct {
	Path string      // the file, or the directory that stops them
	Mode fs.FileMode // its permission bits
	Dir  bool        // Path is a directory on the way
}

func (e *NotReadableError) Error() string {
	if e.Dir {
		return fmt.Sprintf("other users cannot pass %s (mode %04o)", e.Path, e.Mode)
	}
	return fmt.Sprintf("other users cannot read %s (mode %04o)", e.Path, e.Mode)
}

// ReadableByOthers reports whether a user who is neither path's owner nor
// in its group can read it: the file (symbolic links followed) is readable
// by others, and so is every directory on the way to it passable. It
// returns a *NotReadableError naming the obstacle if not.
func ReadableByOthers(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if real, err = filepath.Abs(real); err != nil {
		return err
	}
	info, err := os.Stat(real)
	if err != nil {
		return err
	}
	if info.Mode().Perm()&0o004 == 0 {
		return &NotReadableError{Path: real, Mode: info.Mode().Perm()}
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		info, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o001 == 0 {
			return &NotReadableError{Path: dir, Mode: info.Mode().Perm(), Dir: true}
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}

// OpenToOthers lets other users pass dir (adds the execute bits for group
// and others, not the read bits: they can open a file in it whose name
// they know, and cannot list it). It reports whether it changed the mode.
func OpenToOthers(dir string) (changed bool, before fs.FileMode, err error) {
	info, err := os.Stat(dir)
	if err != nil {
		return false, 0, err
	}
	before = info.Mode().Perm()
	if before&0o011 == 0o011 {
		return false, before, nil
	}
	return true, before, addMode(dir, 0o011)
}
