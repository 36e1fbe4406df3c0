package sshgw

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"chatd/certs"

	gossh "golang.org/x/crypto/ssh"
)

// loadOrCreateHostKey reads the SSH host key at path, generating an ed25519
// key there (mode 0600, OpenSSH format) if there is none yet. It returns the
// key in PEM form, ready for the server, and a signer for its fingerprint.
func loadOrCreateHostKey(path string) ([]byte, gossh.Signer, error) {
	data, err := readHostKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = createHostKey(path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ssh host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh host key %s: %w", path, err)
	}
	return data, signer, nil
}

// maxHostKey bounds what is read of the host key file (an ed25519 key in
// OpenSSH form is about 400 bytes; an RSA one a few KiB).
const maxHostKey = 64 << 10

// readHostKey reads the host key file: a regular file (a FIFO or a device
// is refused without blocking on it) of at most maxHostKey bytes.
func readHostKey(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxHostKey+1))
	if err == nil && len(data) > maxHostKey {
		err = fmt.Errorf("%s is bigger than %d KiB: not a host key", path, maxHostKey>>10)
	}
	return data, err
}

// createHostKey writes a new ed25519 key to path, creating its directory if
// needed. It never overwrites a key: if another process created one first,
// that key is the one returned.
func createHostKey(path string) ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "chatd host key")
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(block)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readHostKey(path)
	}
	if err != nil {
		return nil, err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // do not leave half a key behind
		return nil, err
	}
	return data, nil
}

// PublicKeySuffix ends the name of the file that holds the public half of
// the host key, next to it, as OpenSSH names it: ssh-keygen -lf reads it.
const PublicKeySuffix = ".pub"

// maxPublicHalf bounds what is read of an existing public half: the real
// one is about 100 bytes.
const maxPublicHalf = 8 << 10

// publicHalf is the content of the host key's public half.
func publicHalf(key gossh.PublicKey) []byte {
	return append(bytes.TrimSpace(gossh.MarshalAuthorizedKey(key)), " chatd host key\n"...)
}

// writePublicHalf writes the host key's public half to path+".pub", in
// the authorized_keys form ssh-keygen -lf reads, readable by all (0644),
// so that a student can check the fingerprint without reading the private
// key. An up-to-date file of ours is left alone; anything else is replaced
// whole (written beside it, then renamed), never written through a link.
func writePublicHalf(path string, key gossh.PublicKey) error {
	return writePublicFile(path+PublicKeySuffix, publicHalf(key))
}

// writePublicFile writes want to pub (mode 0644) unless pub is already
// ours as it would be written: a regular file owned by this process's
// user, mode 0644, with one link, holding exactly want. What is there is
// read without following a link, without blocking (a FIFO), and at most
// maxPublicHalf bytes of it; anything else (a link, a FIFO, a device, a
// bigger or different file, one another user owns and could rewrite
// later, one hard-linked elsewhere) is replaced atomically by the rename,
// as the certificate's public copy always is (certs.WritePublic). If the
// rename fails (another user's file in a sticky directory, which only
// they can replace), the error names pub.
func writePublicFile(pub string, want []byte) error {
	if have, ok := readOwnPublicFile(pub, maxPublicHalf); ok && bytes.Equal(have, want) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(pub), ".pub-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", pub, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is there
	_, err = tmp.Write(want)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", pub, err)
	}
	if err := os.Rename(tmp.Name(), pub); err != nil {
		return fmt.Errorf("replace %s (another user's file there, in a sticky directory, can only be replaced by them): %w", pub, err)
	}
	return nil
}

// readOwnPublicFile reads path if it is a regular file (not through a
// symbolic link) of at most limit bytes, owned by this process's
// (effective) user, mode 0644 and with one link: a file only we can
// change; ok is false otherwise. It never blocks on a FIFO and never
// reads more than limit+1 bytes.
func readOwnPublicFile(path string, limit int64) (data []byte, ok bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > limit || fi.Mode().Perm() != 0o644 {
		return nil, false
	}
	st, isStat := fi.Sys().(*syscall.Stat_t)
	if !isStat || int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
		return nil, false
	}
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil || int64(len(data)) > limit {
		return nil, false
	}
	return data, true
}

// PublishPublicHalf writes the host key's public half into dir (the
// public directory, where the certificate's public copy lives), under the
// name base+".pub", with the same checks as that copy: dir is made (0755)
// if missing, and refused if another user could change it
// (certs.ReplaceableByOthers); the file is kept only if it is ours and up
// to date, else replaced by a rename, and a file the rename cannot
// replace (another user's, in a sticky directory) is an error naming it
// (writePublicFile). It returns the file's path.
func PublishPublicHalf(dir, base string, key gossh.PublicKey) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, certs.PublicDirMode); err != nil {
			return "", err
		}
		if err := os.Chmod(dir, certs.PublicDirMode); err != nil {
			return "", err
		}
	}
	if err := certs.ReplaceableByOthers(dir); err != nil {
		return "", err
	}
	pub := filepath.Join(dir, base+PublicKeySuffix)
	return pub, writePublicFile(pub, publicHalf(key))
}
