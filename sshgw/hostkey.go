package sshgw

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// loadOrCreateHostKey reads the SSH host key at path, generating an ed25519
// key there (mode 0600, OpenSSH format) if there is none yet. It returns the
// key in PEM form, ready for the server, and a signer for its fingerprint.
func loadOrCreateHostKey(path string) ([]byte, gossh.Signer, error) {
	data, err := os.ReadFile(path)
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
		return os.ReadFile(path)
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

// writePublicHalf writes the host key's public half to path+".pub", in
// the authorized_keys form ssh-keygen -lf reads, readable by all (0644),
// so that a student can check the fingerprint without reading the private
// key. An up-to-date file is left alone; another is replaced whole
// (written beside it, then renamed), never written through a link.
func writePublicHalf(path string, key gossh.PublicKey) error {
	pub := path + PublicKeySuffix
	want := append(bytes.TrimSpace(gossh.MarshalAuthorizedKey(key)), " chatd host key\n"...)
	if have, err := os.ReadFile(pub); err == nil && bytes.Equal(have, want) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(pub), ".pub-*")
	if err != nil {
		return err
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
		return err
	}
	return os.Rename(tmp.Name(), pub)
}
