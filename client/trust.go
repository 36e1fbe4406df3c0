package client

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"chatd/certs"
)

// KnownServers is the client's trust-on-first-use store, like OpenSSH's
// known_hosts: one line per server, "host:port SHA256-FINGERPRINT", for
// servers whose certificate no certificate authority vouches for.
type KnownServers struct {
	Path string
}

// DefaultKnownServersPath is known_servers in chatd's folder of the user's
// configuration directory (~/.config/chatd/known_servers on Linux).
func DefaultKnownServersPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration directory: %w", err)
	}
	return filepath.Join(dir, "chatd", "known_servers"), nil
}

// Lookup returns the fingerprint remembered for addr, if any, as
// ParseFingerprint writes it: an entry edited by hand (lower case, without
// colons, another case in the host name) means the same as the one chat
// writes. An entry for addr that is not a fingerprint is an error.
func (k KnownServers) Lookup(addr string) (fingerprint string, found bool, err error) {
	f, err := os.Open(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read known servers: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 || strings.HasPrefix(fields[0], "#") || normalizeAddr(fields[0]) != normalizeAddr(addr) {
			continue
		}
		fp, err := ParseFingerprint(fields[1])
		if err != nil {
			return "", false, fmt.Errorf("%s, line %d, for %s: %w", k.Path, line, fields[0], err)
		}
		return fp, true, nil
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("read %s: %w", k.Path, err)
	}
	return "", false, nil
}

// Add remembers fingerprint for addr, creating the file (mode 0600) and its
// directory (0700) if needed.
func (k KnownServers) Add(addr, fingerprint string) error {
	if err := os.MkdirAll(filepath.Dir(k.Path), 0o700); err != nil {
		return fmt.Errorf("remember server: %w", err)
	}
	f, err := os.OpenFile(k.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("remember server: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", normalizeAddr(addr), fingerprint); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", k.Path, err)
	}
	return f.Close()
}

// normalizeAddr writes host:port the one way the store compares it.
func normalizeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return strings.ToLower(addr)
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

// UnknownCertError reports a server certificate that no authority vouches
// for and that the user has not trusted yet. Trusting it means adding
// Fingerprint for Addr to the known-servers store.
type UnknownCertError struct {
	Addr        string
	Cert        *x509.Certificate
	Fingerprint string
	Store       string // the known-servers file
	Cause       error  // why normal verification failed
}

func (e *UnknownCertError) Error() string {
	return fmt.Sprintf("the certificate of %s is not signed by a trusted authority and not yet trusted (SHA-256 %s): %v", e.Addr, e.Fingerprint, e.Cause)
}

// CertChangedError reports a server presenting a certificate other than the
// one remembered for it, or other than the one whose fingerprint the user
// gave: possibly a man in the middle.
type CertChangedError struct {
	Addr      string
	Known     string // the remembered (or given) fingerprint
	Presented string // the fingerprint presented now
	// Store is the known-servers file Known was remembered in; "" when the
	// user gave Known (Trust.Fingerprint).
	Store string
}

func (e *CertChangedError) Error() string {
	if e.Store == "" {
		return fmt.Sprintf("the certificate of %s is NOT the one you pinned: you gave SHA-256 %s and it presented %s. "+
			"Someone may be intercepting the connection (man in the middle), or the server got a new certificate: "+
			"ask its operator for the new fingerprint", e.Addr, e.Known, e.Presented)
	}
	return fmt.Sprintf("the certificate of %s has CHANGED: it was SHA-256 %s and is now %s. "+
		"Someone may be intercepting the connection (man in the middle), or the server got a new certificate. "+
		"If you are sure it is legitimate, remove the line for %s from %s and connect again",
		e.Addr, e.Known, e.Presented, normalizeAddr(e.Addr), e.Store)
}

// NotSignedByCAError reports a server whose certificate the CA file (chat
// --ca) does not vouch for: possibly a man in the middle. It names the
// fingerprints of the certificates in the file (for chatd's self-signed
// certificate, the one expected) and the one presented.
type NotSignedByCAError struct {
	Addr      string
	CAFile    string
	Trusted   []string // the fingerprints of the certificates in CAFile
	Presented string   // the fingerprint of the certificate presented
	Cause     error    // what x509 said
}

func (e *NotSignedByCAError) Error() string {
	return fmt.Sprintf("the certificate of %s is NOT the one your --ca trusts: %s holds SHA-256 %s and the server presented %s. "+
		"Someone may be intercepting the connection (man in the middle), or the server got a new certificate: "+
		"ask its operator for the new one (x509: certificate signed by unknown authority)", e.Addr, e.CAFile, listFingerprints(e.Trusted), e.Presented)
}

// maxListedFingerprints is how many of a CA file's fingerprints an error
// names; the rest are counted.
const maxListedFingerprints = 3

// listFingerprints joins fingerprints for a sentence, at most
// maxListedFingerprints of them.
func listFingerprints(fps []string) string {
	if len(fps) > maxListedFingerprints {
		return fmt.Sprintf("%s and %d more", strings.Join(fps[:maxListedFingerprints], ", "), len(fps)-maxListedFingerprints)
	}
	return strings.Join(fps, " and ")
}

// Unwrap returns what x509 said.
func (e *NotSignedByCAError) Unwrap() error { return e.Cause }

// maxCAFileBytes bounds the CA file read: a few certificates.
const maxCAFileBytes = 1 << 20

// readCAFile reads the PEM certificates of a CA file into a pool and
// returns their fingerprints too.
func readCAFile(path string) (*x509.CertPool, []string, error) {
	f, err := certs.OpenRegular(path) // a FIFO is refused, not waited on
	if err != nil {
		return nil, nil, fmt.Errorf("read CA file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCAFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read CA file: %w", err)
	}
	if len(data) > maxCAFileBytes {
		return nil, nil, fmt.Errorf("CA file %s is larger than %d bytes (1 MiB), too large for a few certificates", path, maxCAFileBytes)
	}
	pool := x509.NewCertPool()
	var fingerprints []string
	n := 0 // CERTIFICATE blocks
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("CA file %s: CERTIFICATE block %d does not parse (fix or remove it): %w", path, n, err)
		}
		pool.AddCert(c)
		fingerprints = append(fingerprints, certs.Fingerprint(c.Raw))
	}
	if len(fingerprints) == 0 {
		return nil, nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, fingerprints, nil
}

// ParseFingerprint reads a certificate's SHA-256 fingerprint as people copy
// it: 64 hexadecimal digits in either case, with or without colons or
// spaces, optionally after "SHA256:", "SHA-256 " or openssl's
// "sha256 Fingerprint=". It returns it as certs.Fingerprint writes it.
func ParseFingerprint(s string) (string, error) {
	text := strings.TrimSpace(s)
	for _, prefix := range []string{"sha256 fingerprint=", "sha-256 fingerprint=", "sha256:", "sha-256:", "sha256 ", "sha-256 "} {
		if len(text) >= len(prefix) && strings.EqualFold(text[:len(prefix)], prefix) {
			text = text[len(prefix):]
			break
		}
	}
	hexDigits := strings.NewReplacer(":", "", " ", "").Replace(text)
	raw, err := hex.DecodeString(hexDigits)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("%q is not a SHA-256 fingerprint (64 hexadecimal digits, colons allowed, as chatd prints it)", s)
	}
	parts := make([]string, len(raw))
	for i, b := range raw {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":"), nil
}

// Trust says how a client verifies the server.
type Trust struct {
	// CAFile, if set, is the only trust anchor: no system roots, no TOFU.
	CAFile string
	// Insecure skips verification entirely (for MITM exercises in labs).
	Insecure bool
	// Fingerprint, if set, pins the server's certificate: it must be the
	// one with this SHA-256 fingerprint (as ParseFingerprint returns it),
	// for the right host name and within its validity. No authority and no
	// known-servers file is consulted.
	Fingerprint string
	// FirstUse reports that the user trusted the server's certificate on
	// first use in this run of the client (and it was remembered in
	// Known): Kind says TrustedOnFirstUse rather than Pinned for it.
	FirstUse bool
	// Known holds the servers trusted on first use. A server remembered
	// there must present the same certificate, whoever vouches for another;
	// one not remembered falls back to it when the roots do not vouch for
	// the server. Nil disables trust on first use.
	Known *KnownServers
	// Cluster lists the addresses of the servers of one room (chat's
	// several addresses), which usually share one certificate whose names
	// cover them all. A certificate remembered in Known for one of them is
	// trusted for another that Known has no entry for, if it names that
	// host too (and is within its validity), and is then remembered for it:
	// the user accepts the room's certificate once, not once per node. An
	// address Known has another certificate for is never trusted this way.
	Cluster []string
	// Roots are the authorities trusted without CAFile; nil means the
	// system's.
	Roots *x509.CertPool
	// Now is the clock for validity checks; nil means time.Now.
	Now func() time.Time
}

// ClientTLSConfig returns the client's TLS configuration for addr under this
// trust policy. The host name is verified in every mode but Insecure.
func (t Trust) ClientTLSConfig(addr string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", addr, err)
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if t.Insecure {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	roots := t.Roots // nil: the system's
	var caFingerprints []string
	if t.CAFile != "" {
		if roots, caFingerprints, err = readCAFile(t.CAFile); err != nil {
			return nil, err
		}
	}
	// Verification is done in VerifyConnection, so that a certificate no
	// authority vouches for can fall back to the known-servers store.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		err := t.verify(cs, addr, host, roots)
		var unknownCA x509.UnknownAuthorityError
		if t.CAFile != "" && errors.As(err, &unknownCA) {
			return &NotSignedByCAError{Addr: addr, CAFile: t.CAFile, Trusted: caFingerprints,
				Presented: certs.Fingerprint(cs.PeerCertificates[0].Raw), Cause: err}
		}
		return err
	}
	return cfg, nil
}

// rootsTrust reports whether the authorities trusted without CAFile (Roots,
// or the system's) vouch for the connection's certificate chain and name.
func (t Trust) rootsTrust(cs tls.ConnectionState) bool {
	if len(cs.PeerCertificates) == 0 {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: t.Roots, Intermediates: inter, DNSName: cs.ServerName}
	if t.Now != nil {
		opts.CurrentTime = t.Now()
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err == nil
}

func (t Trust) verify(cs tls.ConnectionState, addr, host string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	if t.Fingerprint != "" {
		return checkPinned(leaf, host, now, addr, t.Fingerprint, "")
	}
	if t.CAFile == "" && t.Known != nil {
		known, found, err := t.Known.Lookup(addr)
		if err != nil {
			return err
		}
		if found {
			return checkPinned(leaf, host, now, addr, known, t.Known.Path)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host, CurrentTime: now})
	if err == nil || t.CAFile != "" || t.Known == nil {
		return err
	}
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &hostErr) || errors.As(err, &invalid) {
		return err // wrong name or expired: no store makes that right
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return err
	}
	if ok, err := t.clusterPin(leaf, host, now, addr); ok || err != nil {
		return err
	}
	return &UnknownCertError{Addr: addr, Cert: leaf, Fingerprint: certs.Fingerprint(leaf.Raw), Store: t.Known.Path, Cause: err}
}

// clusterPin reports whether leaf, presented by addr (which Known has no
// entry for), is the certificate Known remembers for another address of
// Cluster; if it is, and names host, it remembers it for addr too.
func (t Trust) clusterPin(leaf *x509.Certificate, host string, now time.Time, addr string) (bool, error) {
	fp := certs.Fingerprint(leaf.Raw)
	for _, other := range t.Cluster {
		if normalizeAddr(other) == normalizeAddr(addr) {
			continue
		}
		known, found, err := t.Known.Lookup(other)
		if err != nil || !found || known != fp {
			continue // a bad line for another server says nothing of this one
		}
		if err := checkPinned(leaf, host, now, addr, known, t.Known.Path); err != nil {
			return false, err
		}
		if err := t.Known.Add(addr, fp); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// checkPinned accepts a remembered server only with the certificate it was
// remembered with, for the right name and within its validity.
func checkPinned(leaf *x509.Certificate, host string, now time.Time, addr, known, store string) error {
	if err := leaf.VerifyHostname(host); err != nil {
		return err
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}
	}
	if fp := certs.Fingerprint(leaf.Raw); fp != known {
		return &CertChangedError{Addr: addr, Known: known, Presented: fp, Store: store}
	}
	return nil
}

// TrustKind is how the client came to trust the server of a connection, in
// the words the status line and /tls show. The zero TrustKind is
// NotVerified, so that a connection whose kind was never worked out is not
// shown as safe.
type TrustKind int

// The kinds of trust, from none to an authority's.
const (
	// NotVerified: nothing was checked (Trust.Insecure).
	NotVerified TrustKind = iota
	// TrustedOnFirstUse: the certificate no authority vouches for was
	// accepted by the user at the prompt in this run of the client
	// (Trust.FirstUse), and remembered.
	TrustedOnFirstUse
	// Pinned: the certificate is the one remembered in the known-servers
	// file from an earlier run, or the one whose fingerprint the user gave
	// (Trust.Fingerprint).
	Pinned
	// VerifiedCA: the chain was verified against a certificate authority,
	// Trust.CAFile or the system's.
	VerifiedCA
)

// String returns the kind's words: "NOT VERIFIED", "trusted on first use",
// "pinned" or "verified (CA)".
func (k TrustKind) String() string {
	switch k {
	case TrustedOnFirstUse:
		return "trusted on first use"
	case Pinned:
		return "pinned"
	case VerifiedCA:
		return "verified (CA)"
	}
	return "NOT VERIFIED"
}

// Kind says how the server of a connection made under this policy was
// trusted. It follows the order verify checks in: the insecure mode, a
// given fingerprint, a CA file, then the known-servers file (whose entry a
// server the authorities also vouch for never needed) and the authorities.
func (t Trust) Kind(cs tls.ConnectionState) TrustKind {
	switch {
	case t.Insecure:
		return NotVerified
	case t.Fingerprint != "":
		return Pinned
	case t.CAFile != "":
		return VerifiedCA
	case t.Known != nil && !t.rootsTrust(cs):
		if t.FirstUse {
			return TrustedOnFirstUse
		}
		return Pinned
	}
	return VerifiedCA
}

// Explain says in a sentence how the server of this connection was
// verified, starting with its Kind.
func (t Trust) Explain(cs tls.ConnectionState) string {
	kind := t.Kind(cs)
	var how string
	switch {
	case kind == NotVerified:
		return "NOT VERIFIED (--insecure): anyone on the path could read and change this chat"
	case t.Fingerprint != "":
		how = "the certificate is the one whose fingerprint you gave (" + t.Fingerprint + ")"
	case t.CAFile != "":
		how = "chain verified against " + t.CAFile
	case kind == TrustedOnFirstUse:
		how = "you accepted this certificate in this session; it is remembered in " + t.Known.Path
	case kind == Pinned:
		how = "the certificate is the one remembered in " + t.Known.Path
	default:
		how = "chain verified against the system's certificate authorities"
	}
	return kind.String() + ": " + how + ", host name checked"
}
