// Package certs makes, loads, stores and describes the X.509 certificates of
// chatd: the self-signed one it generates, the one it serves (replaceable
// while it runs), their fingerprints, and the plain-words account of a TLS
// connection and its certificate that chatd and the client show.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// File names of the generated certificate and key inside the data directory.
const (
	CertFileName = "cert.pem"
	KeyFileName  = "key.pem"
)

// CertValidity is how long a generated certificate is valid. A generated
// certificate within RenewBefore of expiry is replaced at the next start.
const (
	CertValidity = 2 * 365 * 24 * time.Hour
	RenewBefore  = 30 * 24 * time.Hour
)

// Store holds the certificate served to new handshakes. It can be
// replaced at any time; connections already up keep theirs.
type Store struct {
	current atomic.Pointer[tls.Certificate]
}

// NewStore returns a store serving cert.
func NewStore(cert *tls.Certificate) *Store {
	s := &Store{}
	s.Set(cert)
	return s
}

// Set makes cert the one served to new handshakes.
func (s *Store) Set(cert *tls.Certificate) { s.current.Store(cert) }

// Certificate returns the certificate being served.
func (s *Store) Certificate() *tls.Certificate { return s.current.Load() }

// GetCertificate serves the current certificate; it fits tls.Config.
func (s *Store) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.current.Load(), nil
}

// LoadKeyPair reads a PEM certificate (chain) and key, such as one made with
// openssl or certbot, and parses its leaf.
func LoadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := ReadPEMFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ReadPEMFile(keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse certificate %s: %w", certFile, err)
		}
	}
	return &cert, nil
}

// MaxPEMFileBytes bounds a certificate or key file read: a chain of a few
// certificates is a few kilobytes.
const MaxPEMFileBytes = 1 << 20

// ReadPEMFile reads a certificate or key file of at most MaxPEMFileBytes;
// a larger one is an error naming the limit, never read whole. It must be
// a regular file (OpenRegular): a FIFO or a device is refused at once.
func ReadPEMFile(file string) ([]byte, error) {
	f, err := OpenRegular(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPEMFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > MaxPEMFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes (1 MiB), too large for a certificate or key file", file, MaxPEMFileBytes)
	}
	return data, nil
}

// OpenRegular opens file for reading if it is a regular file (symbolic
// links followed). It opens without blocking, so that a FIFO (which would
// wait for a writer forever, deaf to signals) or a device is refused at
// once, with an error naming file and what it is, never read.
func OpenRegular(file string) (*os.File, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", file, fi.Mode().Type())
	}
	return f, nil
}

// DefaultHosts returns the names a generated certificate always covers:
// localhost, 127.0.0.1, ::1 and this machine's host name, then extra.
func DefaultHosts(extra ...string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if name, err := os.Hostname(); err == nil && name != "" {
		hosts = append(hosts, name)
	}
	return MergeHosts(hosts, extra)
}

// GenerateSelfSigned makes an ECDSA P-256 self-signed server certificate for
// hosts (names and IP addresses), valid from now for CertValidity. It returns
// the certificate and private key, PEM encoded.
func GenerateSelfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	if certPEM, err = SelfSign(key, hosts, now); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = EncodeKey(key); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// GenerateKey makes a key of the kind chatd generates: ECDSA P-256.
func GenerateKey() (crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

// EncodeKey returns key as a PEM "PRIVATE KEY" (PKCS #8) block.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// SelfSign makes a self-signed server certificate with key for hosts (names
// and IP addresses; the first is also its common name), valid from now for
// CertValidity, and returns it PEM encoded. Signing a new certificate with
// the key of an old one renews it: the identity (the key) stays, the
// certificate and so its fingerprint change.
func SelfSign(key crypto.Signer, hosts []string, now time.Time) ([]byte, error) {
	if len(hosts) == 0 {
		return nil, errors.New("generate certificate: no host names given")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"chatd self-signed"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertValidity),
		// A self-signed end-entity certificate, not a CA: clients trust it
		// as itself (openssl -CAfile, chat --ca), and whoever holds its key
		// cannot issue certificates for other names to them.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// WriteKeyPair writes cert.pem (mode 0644) and key.pem (mode 0600) into dir,
// creating dir (mode 0700) if needed. Each file is replaced atomically.
func WriteKeyPair(dir string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, KeyFileName), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, CertFileName), certPEM, 0o644)
}

// WriteCert replaces cert.pem (mode 0644) in dir atomically, leaving the key
// as it is: a renewal.
func WriteCert(dir string, certPEM []byte) error {
	return writeFileAtomic(filepath.Join(dir, CertFileName), certPEM, 0o644)
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// GeneratedCert describes the outcome of EnsureSelfSigned.
type GeneratedCert struct {
	Cert     *tls.Certificate
	CertFile string
	KeyFile  string
	// Created is true if a new certificate was made; Why says why.
	Created bool
	Why     string
	// Replaced is the certificate a new one replaced, nil if there was
	// none. The new one keeps its key (KeptKey) and every one of its names.
	Replaced *x509.Certificate
	KeptKey  bool
}

// EnsureSelfSigned loads the certificate in dir, or makes a new one if there
// is none, if it has expired or expires within RenewBefore, or if it does not
// cover every one of extraHosts. A first certificate gets a new key and
// DefaultHosts(extraHosts...). A later one renews the old: the same key, and
// the old names followed by any of DefaultHosts(extraHosts...) it lacked,
// so that nothing that reached the server by one name stops working. If
// the old key is lost, the new certificate has a new key and still every
// old name, then the default ones.
func EnsureSelfSigned(dir string, extraHosts []string, now time.Time) (*GeneratedCert, error) {
	g := &GeneratedCert{CertFile: filepath.Join(dir, CertFileName), KeyFile: filepath.Join(dir, KeyFileName)}
	old, err := LoadKeyPair(g.CertFile, g.KeyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		g.Why = "no certificate yet"
		if g.Replaced = readLeaf(g.CertFile); g.Replaced != nil {
			g.Why = "the old one's key " + g.KeyFile + " is missing"
		}
	case err != nil:
		return nil, fmt.Errorf("existing certificate in %s is unusable (move it away to generate a new one): %w", dir, err)
	case now.Add(RenewBefore).After(old.Leaf.NotAfter):
		g.Why = "the old one expires " + old.Leaf.NotAfter.UTC().Format(time.DateOnly)
	default:
		if missing := uncoveredHosts(old.Leaf, extraHosts); len(missing) > 0 {
			g.Why = "the old one does not cover " + strings.Join(missing, ", ")
		}
	}
	if g.Why == "" {
		g.Cert = old
		return g, nil
	}
	hosts := DefaultHosts(extraHosts...)
	switch {
	case old != nil:
		err = g.renew(old, hosts, now)
	case g.Replaced != nil: // the key is lost: a new one, for every old name too
		err = g.create(dir, MergeHosts(SubjectAltNames(g.Replaced), hosts), now)
	default:
		err = g.create(dir, hosts, now)
	}
	if err != nil {
		return nil, err
	}
	if g.Cert, err = LoadKeyPair(g.CertFile, g.KeyFile); err != nil {
		return nil, err
	}
	g.Created = true
	return g, nil
}

// create writes a first pair: a new key, for hosts.
func (g *GeneratedCert) create(dir string, hosts []string, now time.Time) error {
	certPEM, keyPEM, err := GenerateSelfSigned(hosts, now)
	if err != nil {
		return err
	}
	return WriteKeyPair(dir, certPEM, keyPEM)
}

// renew replaces old's certificate file with a new certificate for the
// same key, covering old's names and then hosts.
func (g *GeneratedCert) renew(old *tls.Certificate, hosts []string, now time.Time) error {
	certPEM, err := Renew(old, hosts, now)
	if err != nil {
		return err
	}
	g.Replaced, g.KeptKey = old.Leaf, true
	return WriteCert(filepath.Dir(g.CertFile), certPEM)
}

// Renew makes a new self-signed certificate with old's key for old's names
// (DNS names and IP addresses) followed by any of extra it lacks, valid
// from now, and returns it PEM encoded.
func Renew(old *tls.Certificate, extra []string, now time.Time) ([]byte, error) {
	key, ok := old.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("renew certificate: cannot sign with a %T key", old.PrivateKey)
	}
	return SelfSign(key, MergeHosts(SubjectAltNames(old.Leaf), extra), now)
}

// MergeHosts returns the hosts of first, then those of more that first
// lacks, each once and none empty.
func MergeHosts(first, more []string) []string {
	var hosts []string
	for _, h := range slices.Concat(first, more) {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// readLeaf returns the first certificate in file, or nil if there is none.
func readLeaf(file string) *x509.Certificate {
	data, err := ReadPEMFile(file)
	if err != nil {
		return nil
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return leaf
}

// uncoveredHosts returns the hosts the certificate is not valid for.
func uncoveredHosts(leaf *x509.Certificate, hosts []string) []string {
	var missing []string
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			missing = append(missing, h)
		}
	}
	return missing
}

// IsSelfSigned reports whether c is signed by its own key: its issuer is its
// subject and its signature checks out with its own public key. Unlike
// CheckSignatureFrom, it does not require c to be a CA.
func IsSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// Fingerprint returns the SHA-256 fingerprint of a DER certificate in the
// form `openssl x509 -fingerprint -sha256` prints: AB:CD:...
func Fingerprint(der []byte) string {
	return FormatFingerprint(sha256.Sum256(der))
}

// FormatFingerprint writes a SHA-256 sum as `openssl x509 -fingerprint
// -sha256` prints it: upper-case hex pairs joined by colons.
func FormatFingerprint(sum [sha256.Size]byte) string {
	var b bytes.Buffer
	b.Grow(3*len(sum) - 1)
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
