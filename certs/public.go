package certs

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
// tells whether others can reach the file). It refuses, with a
// *ReplaceableError, to write into a dir that another user could change
// (ReplaceableByOthers): they could put their own certificate in place of
// ours. It returns the file's path.
func WritePublic(dir string, cert *tls.Certificate) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, PublicDirMode); err != nil {
			return "", fmt.Errorf("create %s: %w", dir, err)
		}
		if err := os.Chmod(dir, PublicDirMode); err != nil {
			return "", fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := ReplaceableByOthers(dir); err != nil {
		return "", err
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
// by others, and every directory on the way to it is passable, both on
// the path as given (each directory it names, a symbolic link through a
// closed directory is closed too) and on the path the links resolve to. It
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
	given, err := pathPrefixes(path)
	if err != nil {
		return err
	}
	resolved, _ := pathPrefixes(real)
	for _, dir := range slices.Concat(given[:len(given)-1], resolved[:len(resolved)-1]) {
		info, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o001 == 0 {
			return &NotReadableError{Path: dir, Mode: info.Mode().Perm(), Dir: true}
		}
	}
	return nil
}

// pathPrefixes returns every path the kernel walks to reach path, from
// the root down to path itself: "/", "/a", "/a/b" for "/a/b". A relative
// path is taken from the working directory. It does not clean the path: in
// "/a/closed/../b" the kernel passes /a/closed too.
func pathPrefixes(path string) ([]string, error) {
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		path = wd + string(filepath.Separator) + path
	}
	prefixes := []string{string(filepath.Separator)}
	prefix := ""
	for part := range strings.SplitSeq(path, string(filepath.Separator)) {
		if part == "" || part == "." {
			continue
		}
		prefix += string(filepath.Separator) + part
		prefixes = append(prefixes, prefix)
	}
	return prefixes, nil
}

// ReplaceableError says who besides this process's user and root could
// replace a file: a directory on its way (or the file itself) that is
// writable by its group or by others, or that another user owns. A
// directory with the sticky bit (such as /tmp) may be writable by all:
// others cannot rename or remove what they do not own in it.
type ReplaceableError struct {
	Path     string      // the file, or the directory on its way
	Mode     fs.FileMode // its permission bits (and the sticky bit)
	Owner    int         // its owner's user ID
	WrongOwn bool        // owned by another user; else writable by group or others
	Link     bool        // Path is a symbolic link (owned by another user)
}

func (e *ReplaceableError) Error() string {
	if e.WrongOwn {
		what := "it"
		if e.Link {
			what = "the symbolic link"
		}
		return fmt.Sprintf("%s is owned by %s, not by %s or root: %s can be replaced by that user",
			e.Path, userName(e.Owner), userName(os.Geteuid()), what)
	}
	return fmt.Sprintf("%s is writable by %s (mode %04o): those users can replace what is in it",
		e.Path, writers(e.Mode), e.Mode&(fs.ModePerm|fs.ModeSticky))
}

// Remedy is the command that removes the danger e names.
func (e *ReplaceableError) Remedy() string {
	if e.WrongOwn {
		return fmt.Sprintf("chown %d %s", os.Geteuid(), e.Path)
	}
	return "chmod go-w " + e.Path
}

// writers names who may write to a file of mode m besides its owner.
func writers(m fs.FileMode) string {
	switch {
	case m&0o022 == 0o022:
		return "its group and all users"
	case m&0o002 != 0:
		return "all users"
	}
	return "its group"
}

// userName is "uid N (name)", or "uid N" when the name is unknown.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
}

// ReplaceableByOthers reports, like sshd's StrictModes, whether a user
// other than this process's (effective) user and root could replace path
// or what it holds: path itself and every directory on the way to it,
// both as given and as its symbolic links resolve, must be owned by this
// user or root and not writable by group or others (a directory with the
// sticky bit, such as /tmp, may be writable by all). A symbolic link on
// the way must be owned by this user or root. It returns a
// *ReplaceableError naming the first danger from path up, nil if there is
// none, or the error that stopped the check.
func ReplaceableByOthers(path string) error {
	given, err := pathPrefixes(path)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	resolved, err := pathPrefixes(real)
	if err != nil {
		return err
	}
	for _, chain := range [][]string{given, resolved} {
		for i := len(chain) - 1; i >= 0; i-- {
			if err := replaceable(chain[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// replaceable checks one path of ReplaceableByOthers, not following a
// symbolic link it names.
func replaceable(p string) error {
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	mode := info.Mode()
	e := &ReplaceableError{Path: p, Mode: mode & (fs.ModePerm | fs.ModeSticky), Owner: -1, Link: mode&fs.ModeSymlink != 0}
	e.Owner = ownerOf(info)
	if e.Owner != -1 && e.Owner != 0 && e.Owner != os.Geteuid() {
		e.WrongOwn = true
		return e
	}
	if e.Link { // its own mode means nothing
		return nil
	}
	if mode.Perm()&0o022 != 0 && !(mode.IsDir() && mode&fs.ModeSticky != 0) {
		return e
	}
	return nil
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
