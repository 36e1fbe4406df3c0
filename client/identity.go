package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"chatd/certs"
)

// IdentityFileName is the client's identity file in chatd's folder of the
// user's configuration directory.
const IdentityFileName = "identity.pem"

// Bounds on an identity file: a certificate and its key are well under a
// kilobyte each; the chain may hold a few certificates, as many as chatd
// accepts from a client.
const (
	MaxIdentityFileBytes = 64 << 10
	MaxIdentityCerts     = 4
	MaxIdentityCertBytes = 16 << 10 // the chain's DER, together
)

// DefaultIdentityPath is identity.pem in chatd's folder of the user's
// configuration directory (~/.config/chatd/identity.pem on Linux).
func DefaultIdentityPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration directory: %w", err)
	}
	return filepath.Join(dir, "chatd", IdentityFileName), nil
}

// Identity is the client's own certificate and key, which it presents to
// servers that ask for one: the server knows it by the certificate's
// fingerprint, as an SSH server knows a user by a key's.
type Identity struct {
	Path    string
	Cert    *tls.Certificate
	Created bool // made by this call of LoadOrCreateIdentity
}

// Fingerprint is the certificate's SHA-256 fingerprint in the form a
// chatd operator's /allow and allowlist file take: "sha256:AB:CD:...".
func (id *Identity) Fingerprint() string {
	return CertFingerprint(id.Cert)
}

// CertFingerprint is cert's SHA-256 fingerprint as Identity.Fingerprint
// writes it.
func CertFingerprint(cert *tls.Certificate) string {
	return "sha256:" + certs.Fingerprint(cert.Certificate[0])
}

// IdentityError says why an identity file cannot be used, naming the file,
// and what to do about it.
type IdentityError struct {
	Path   string
	Err    error
	Remedy string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("identity %s cannot be used: %v\nTo fix it: %s", e.Path, e.Err, e.Remedy)
}

func (e *IdentityError) Unwrap() error { return e.Err }

// moveAway is the remedy for an identity file that is not one.
func moveAway(path string) string {
	return "move it away (mv " + path + " " + path + ".old) and a new identity is made in its place, with a new fingerprint"
}

// LoadOrCreateIdentity loads the identity in path, first making one if
// there is nothing at path: a new key and self-signed client certificate
// (certs.GenerateClientIdentity) in one file of mode 0600, in a directory
// made with mode 0700 if missing. The file appears whole or not at all,
// and never replaces one: of clients starting at once, one makes it and
// all use it. What is at path is then checked as LoadIdentity does.
func LoadOrCreateIdentity(path string, now time.Time) (*Identity, error) {
	created := false
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if created, err = createIdentity(path, now); err != nil {
			return nil, err
		}
	}
	id, err := LoadIdentity(path)
	if err != nil {
		return nil, err
	}
	id.Created = created
	return id, nil
}

// createIdentity writes a new identity to path unless a file appears there
// first, and reports whether it wrote it. The file is written under a
// temporary name and linked to path: a link never replaces a file, and
// another client sees either no file or all of it.
func createIdentity(path string, now time.Time) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create the directory of identity %s: %w", path, err)
	}
	data, err := certs.GenerateClientIdentity(now)
	if err != nil {
		return false, err
	}
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return false, fmt.Errorf("create identity %s: %w", path, err)
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist): // another client made it first
		return false, nil
	}
	// A file system without hard links: create it exclusively instead.
	return writeExclusive(path, data)
}

// writeTemp writes data to a new file of mode 0600 in dir, synced, and
// returns its name.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+IdentityFileName+".*")
	if err != nil {
		return "", err
	}
	if err := writeClose(f, data); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// writeExclusive creates path, mode 0600, only if nothing is there, and
// writes data to it.
func writeExclusive(path string, data []byte) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create identity %s: %w", path, err)
	}
	if err := writeClose(f, data); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("create identity %s: %w", path, err)
	}
	return true, nil
}

// writeClose writes data to f, syncs and closes it.
func writeClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadIdentity reads the identity in path: a certificate (chain) and its
// private key, PEM encoded, in one file. It refuses, with an
// *IdentityError naming the file and what to do, a file that is not the
// user's own and private (certs.OpenPrivate: group- or world-readable,
// another user's, a symbolic link another user planted), one that others
// could replace (certs.ReplaceableByOthers), one that is not a
// certificate and the key that matches it, or one over the bounds.
func LoadIdentity(path string) (*Identity, error) {
	data, err := readIdentity(path)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, &IdentityError{Path: path, Err: fmt.Errorf("not a certificate and its private key, PEM encoded: %w", err), Remedy: moveAway(path)}
	}
	if err := checkChain(cert.Certificate); err != nil {
		return nil, &IdentityError{Path: path, Err: err, Remedy: moveAway(path)}
	}
	return &Identity{Path: path, Cert: &cert}, nil
}

// readIdentity reads the identity file at path if it is private to the
// user, at most MaxIdentityFileBytes.
func readIdentity(path string) ([]byte, error) {
	f, err := certs.OpenPrivate(path)
	if err != nil {
		return nil, privateError(path, err)
	}
	defer f.Close()
	if err := certs.ReplaceableByOthers(path); err != nil {
		return nil, privateError(path, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxIdentityFileBytes+1))
	if err != nil {
		return nil, &IdentityError{Path: path, Err: err, Remedy: moveAway(path)}
	}
	if len(data) > MaxIdentityFileBytes {
		return nil, &IdentityError{Path: path, Err: fmt.Errorf("larger than %d KiB, too large for a certificate and its key", MaxIdentityFileBytes>>10), Remedy: moveAway(path)}
	}
	return data, nil
}

// privateError explains why the file at path could not be opened or
// trusted.
func privateError(path string, err error) error {
	var private *certs.PrivateFileError
	var replaceable *certs.ReplaceableError
	switch {
	case errors.As(err, &private):
		return &IdentityError{Path: path, Err: err, Remedy: private.Remedy()}
	case errors.As(err, &replaceable):
		return &IdentityError{Path: path, Err: err, Remedy: replaceable.Remedy()}
	case errors.Is(err, fs.ErrPermission):
		return &IdentityError{Path: path, Err: err, Remedy: "make it readable by you (chmod u+r " + path + "), or give another file"}
	}
	return &IdentityError{Path: path, Err: err, Remedy: moveAway(path)}
}

// checkChain refuses a chain over the bounds chatd accepts from a client.
func checkChain(chain [][]byte) error {
	total := 0
	for _, der := range chain {
		total += len(der)
	}
	if len(chain) > MaxIdentityCerts || total > MaxIdentityCertBytes {
		return fmt.Errorf("%d certificates of %d bytes: a server takes at most %d, of %d KiB in all",
			len(chain), total, MaxIdentityCerts, MaxIdentityCertBytes>>10)
	}
	return nil
}

// OwnCertificateLine is the line of /crypto (and /tls) that tells the user
// which certificate the client presents to a server that asks, under cfg:
// its fingerprint as an operator's /allow takes it, or none.
func OwnCertificateLine(cfg *tls.Config) string {
	if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return "your certificate: none (the server knows you by your address only)"
	}
	return "your certificate: " + CertFingerprint(&cfg.Certificates[0]) + " (presented when the server asks for one)"
}
