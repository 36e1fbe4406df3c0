package certs

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"runtime"
	"time"
)

// ClientCommonName is the subject of the client certificates chat makes:
// it says nothing about who uses one. The server knows a client by its
// certificate's fingerprint, never by what the certificate says.
const ClientCommonName = "chatd client"

// ClientNotAfter is the end of a generated client certificate's validity:
// RFC 5280's "no well-defined expiration date". A client certificate is
// bound by its fingerprint, not chained, so renewing it would only change
// the fingerprint an account was registered with.
var ClientNotAfter = time.Date(9999, time.December, 31, 23, 59, 59, 0, time.UTC)

// GenerateClientIdentity makes a new key (ECDSA P-256, which every TLS
// version and profile chatd serves can sign with) and a self-signed client
// certificate for it, and returns both PEM encoded, the certificate first:
// the content of a client's identity file, which openssl s_client also
// takes as both -cert and -key.
func GenerateClientIdentity(now time.Time) ([]byte, error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ClientCommonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              ClientNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create client certificate: %w", err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM...), nil
}

// PrivateFileError says why a file holding a private key cannot be trusted
// to be the user's own: others may read it, another user owns it, or it is
// a symbolic link another user owns (planted).
type PrivateFileError struct {
	Path  string
	Mode  fs.FileMode // the file's permission bits
	Owner int         // the owner's user ID (of the link, if Link)
	// WrongOwner: another user than this process's (or root) owns it.
	WrongOwner bool
	Link       bool // Path is a symbolic link another user owns
}

func (e *PrivateFileError) Error() string {
	switch {
	case e.Link:
		return fmt.Sprintf("%s is a symbolic link owned by %s, not by %s: someone else may have put it there", e.Path, userName(e.Owner), userName(os.Geteuid()))
	case e.WrongOwner:
		return fmt.Sprintf("%s is owned by %s, not by %s: it is not your private key", e.Path, userName(e.Owner), userName(os.Geteuid()))
	}
	return fmt.Sprintf("permissions %04o for %s are too open: it holds a private key, which no other user may read", e.Mode.Perm(), e.Path)
}

// Remedy is what the user can do about e.
func (e *PrivateFileError) Remedy() string {
	if e.Link || e.WrongOwner {
		return "if you did not put it there, remove it: rm " + e.Path
	}
	return "chmod 600 " + e.Path
}

// OpenPrivate opens path, a file holding a private key, for reading, if
// it is the user's own: a regular file (OpenRegular) owned by this
// process's user (or root) that neither its group nor others may read or
// write, and, if path is a symbolic link, one owned by this user or root.
// Otherwise the error is a *PrivateFileError, or what stopped the check.
func OpenPrivate(path string) (*os.File, error) {
	link, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if link.Mode()&fs.ModeSymlink != 0 && !ownedByUs(link) {
		return nil, &PrivateFileError{Path: path, Owner: ownerOf(link), Link: true}
	}
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	e := &PrivateFileError{Path: path, Mode: info.Mode().Perm(), Owner: ownerOf(info)}
	e.WrongOwner = !ownedByUs(info)
	// Windows has no permission bits for group and others to check.
	if e.WrongOwner || e.Mode&0o077 != 0 && runtime.GOOS != "windows" {
		f.Close()
		return nil, e
	}
	return f, nil
}

// ownedByUs reports whether info's file is owned by this process's
// (effective) user or root, or the system does not say.
func ownedByUs(info fs.FileInfo) bool {
	owner := ownerOf(info)
	return owner == -1 || owner == 0 || owner == os.Geteuid()
}
