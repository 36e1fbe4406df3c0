package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"chatd/certs"
)

// renewCheckEvery is how often chatd checks whether the certificate it
// generated is due for renewal, so that a server that runs for years
// never serves an expired one.
const renewCheckEvery = 24 * time.Hour

// servedCert is the certificate chatd serves, where it came from, and its
// public copy.
type servedCert struct {
	Cert       *tls.Certificate
	File       string // the certificate file served
	SelfSigned bool
	Public     string // the public copy's path; "" if it could not be written
	PublicErr  error  // why other users cannot read the public copy, if they cannot
}

// certKeeper loads the certificate chatd serves (--cert/--key, or the one
// it generates in the data directory), keeps a copy every local user can
// read in the public directory, reloads it on SIGHUP, renews a generated one
// before it expires, and says loudly whenever the certificate changes.
type certKeeper struct {
	cfg       *config
	logger    *slog.Logger
	publicDir string
	store     *certs.Store // set by start
	// dataDirWas says whether the data directory existed before chatd
	// started: opening up one it just made is not news.
	dataDirWas bool
	// renewEvery is how often run checks for a due renewal, and now its
	// clock: renewCheckEvery and time.Now, but for tests.
	renewEvery time.Duration
	now        func() time.Time
}

func newCertKeeper(cfg *config, logger *slog.Logger) *certKeeper {
	_, err := os.Stat(cfg.dataDir)
	return &certKeeper{cfg: cfg, logger: logger, publicDir: absPath(publicDir(cfg)), dataDirWas: err == nil,
		renewEvery: renewCheckEvery, now: time.Now}
}

// publicDir is --public-dir, or "public" in the data directory.
func publicDir(cfg *config) string {
	if cfg.publicDir != "" {
		return cfg.publicDir
	}
	return filepath.Join(cfg.dataDir, "public")
}

// generated reports whether chatd serves the certificate it generates.
func (k *certKeeper) generated() bool { return k.cfg.cert == "" }

// certFile returns the certificate file served.
func (k *certKeeper) certFile() string {
	if k.generated() {
		return absPath(filepath.Join(k.cfg.dataDir, certs.CertFileName))
	}
	return absPath(k.cfg.cert)
}

// load reads the certificate, or, for the generated one, makes or renews
// it if due (gen says what happened).
func (k *certKeeper) load(now time.Time) (cert *tls.Certificate, gen *certs.GeneratedCert, err error) {
	if !k.generated() {
		cert, err = certs.LoadKeyPair(k.cfg.cert, k.cfg.key)
		return cert, nil, err
	}
	gen, err = certs.EnsureSelfSigned(k.cfg.dataDir, k.cfg.hosts, now)
	if err != nil {
		return nil, nil, err
	}
	return gen.Cert, gen, nil
}

// start loads the certificate, writes its public copy, logs what changed
// and returns it with the store that serves it. It fails if the public
// directory is one another user could change (see publish).
func (k *certKeeper) start(b *banner) (*servedCert, error) {
	cert, gen, err := k.load(k.now())
	if err != nil {
		return nil, err
	}
	k.store = certs.NewStore(cert)
	var created string
	var replaced *x509.Certificate
	if gen != nil && gen.Created {
		created, replaced = gen.Why, gen.Replaced
		if replaced == nil {
			k.logger.Info("generated a self-signed certificate", "file", absPath(gen.CertFile), "why", gen.Why)
		}
	}
	sc, err := k.served(cert)
	if err != nil {
		return nil, err
	}
	if replaced != nil {
		k.logReplaced(sc, replaced, created, gen.KeptKey)
	}
	k.warnIfNoSAN(sc)
	b.say(certificatePart(sc, created, replaced))
	return sc, nil
}

// served describes cert and writes its public copy. It returns an
// *unsafePublicDirError, and no copy, if another user could change the
// public directory.
func (k *certKeeper) served(cert *tls.Certificate) (*servedCert, error) {
	sc := &servedCert{Cert: cert, File: k.certFile(), SelfSigned: k.generated() || certs.IsSelfSigned(cert.Leaf)}
	sc.Public, sc.PublicErr = k.publish(cert)
	if re, ok := errors.AsType[*certs.ReplaceableError](sc.PublicErr); ok {
		return sc, &unsafePublicDirError{dir: k.publicDir, why: re}
	}
	return sc, nil
}

// unsafePublicDirError says that chatd will not publish its certificate
// in a directory another user could change, and how to fix that.
type unsafePublicDirError struct {
	dir string
	why *certs.ReplaceableError
}

func (e *unsafePublicDirError) Error() string {
	return fmt.Sprintf("refusing to publish the certificate in %s: %v, so they could put their own certificate in place of cert.pem "+
		"and users would trust it; fix: %s, or start chatd with --public-dir on a directory only its user and root can change", e.dir, e.why, e.why.Remedy())
}

func (e *unsafePublicDirError) Unwrap() error { return e.why }

// publish writes the public copy of cert and returns its path, and why
// other users cannot read it, if they cannot. When the public directory is
// inside the data directory, the data directory is made passable (mode
// 0711: others may open a file whose name they know, not list it; the
// private files in it stay mode 0600).
func (k *certKeeper) publish(cert *tls.Certificate) (string, error) {
	dataDir := absPath(k.cfg.dataDir)
	if rel, err := filepath.Rel(dataDir, k.publicDir); err == nil && !strings.HasPrefix(rel, "..") && rel != "." {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return k.publishFailed(err)
		}
		changed, before, err := certs.OpenToOthers(dataDir)
		if err != nil {
			return k.publishFailed(err)
		}
		if changed && k.dataDirWas {
			k.logger.Info("let other users pass the data directory to read the public copy of the certificate (the key files in it stay private)",
				"dir", dataDir, "mode_before", fmt.Sprintf("%04o", before), "mode", fmt.Sprintf("%04o", before|0o011), "public_dir", k.publicDir)
		}
	}
	path, err := certs.WritePublic(k.publicDir, cert)
	if _, unsafe := errors.AsType[*certs.ReplaceableError](err); unsafe {
		return "", err // start refuses; reload logs it
	}
	if err != nil {
		return k.publishFailed(err)
	}
	return path, certs.ReadableByOthers(path)
}

func (k *certKeeper) publishFailed(err error) (string, error) {
	k.logger.Warn("could not write the public copy of the certificate", "dir", k.publicDir, "err", err)
	return "", err
}

// logReplaced says loudly, at WARN, that a certificate replaced another,
// with both fingerprints: anyone who trusted the old one by its
// fingerprint (a known_servers line, a copy given to -CAfile) will be
// warned or refused until they get the new one.
func (k *certKeeper) logReplaced(sc *servedCert, old *x509.Certificate, why string, keptKey bool) {
	k.logger.Warn("TLS certificate replaced: users who trusted the old one by its fingerprint must get the new one",
		"file", sc.File, "why", why, "old_fingerprint", certs.Fingerprint(old.Raw),
		"fingerprint", certs.Fingerprint(sc.Cert.Leaf.Raw), "same_key", keptKey,
		"valid_for", certs.SubjectAltNames(sc.Cert.Leaf), "public_copy", sc.Public)
}

// warnIfNoSAN warns about a certificate without subjectAltName, the same
// record at start-up and at every reload.
func (k *certKeeper) warnIfNoSAN(sc *servedCert) {
	leaf := sc.Cert.Leaf
	if len(certs.SubjectAltNames(leaf)) > 0 {
		return
	}
	k.logger.Warn("TLS certificate has no subjectAltName: clients that check host names by subjectAltName (Go's, browsers, chat) will refuse it; see README",
		"file", sc.File, "fingerprint", certs.Fingerprint(leaf.Raw), "common_name", leaf.Subject.CommonName)
}

// run reloads the certificate on every signal on hangups (SIGHUP), and
// renews a generated one every renewCheckEvery if it is due, until ctx ends.
// Only a due certificate is touched between signals: an operator who
// renewed the files ahead of time (to publish the new fingerprint first)
// decides with SIGHUP when chatd serves them.
func (k *certKeeper) run(ctx context.Context, hangups <-chan os.Signal) {
	tick := time.NewTicker(k.renewEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangups:
			k.reload(true)
		case <-tick.C:
			if k.generated() && k.now().Add(certs.RenewBefore).After(k.store.Certificate().Leaf.NotAfter) {
				k.reload(false)
			}
		}
	}
}

// reload loads the certificate again (for the generated one, renewing it
// if due) and serves it to new handshakes; connections already up keep
// theirs. A file that does not load leaves the old certificate in place.
// Unless always, it says nothing when the certificate did not change.
func (k *certKeeper) reload(always bool) {
	old := k.store.Certificate()
	cert, gen, err := k.load(k.now())
	if err != nil {
		k.logger.Error("certificate reload failed; still serving the old certificate", "err", err,
			"fingerprint", certs.Fingerprint(old.Leaf.Raw))
		return
	}
	changed := !cert.Leaf.Equal(old.Leaf)
	if !changed && !always {
		return
	}
	k.store.Set(cert)
	sc, err := k.served(cert)
	if err != nil {
		k.logger.Error("the public copy of the certificate was not updated", "err", err, "public_dir", k.publicDir)
	}
	if changed && sc.SelfSigned {
		why := "its files were replaced"
		if gen != nil && gen.Created {
			why = gen.Why
		}
		k.logReplaced(sc, old.Leaf, why, samePublicKey(cert.Leaf, old.Leaf))
	}
	k.logger.Info("certificate reloaded", "file", sc.File, "fingerprint", certs.Fingerprint(cert.Leaf.Raw),
		"previous_fingerprint", certs.Fingerprint(old.Leaf.Raw), "not_after", cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
	k.warnIfNoSAN(sc)
}

// samePublicKey reports whether a and b have the same public key.
func samePublicKey(a, b *x509.Certificate) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ka, ok := a.PublicKey.(equaler)
	return ok && ka.Equal(b.PublicKey)
}

// connectHost picks the name users connect to: the first --host for a
// generated certificate (the operator's public name, a DNS name before an
// address), else localhost if the certificate covers it, else its first
// DNS name, first IP address, or common name.
func connectHost(cfg *config, leaf *x509.Certificate) string {
	if cfg.cert == "" {
		for _, h := range cfg.hosts {
			if net.ParseIP(h) == nil {
				return h
			}
		}
		if len(cfg.hosts) > 0 {
			return cfg.hosts[0]
		}
	}
	switch {
	case leaf.VerifyHostname("localhost") == nil:
		return "localhost"
	case len(leaf.DNSNames) > 0:
		return leaf.DNSNames[0]
	case len(leaf.IPAddresses) > 0:
		return leaf.IPAddresses[0].String()
	case leaf.Subject.CommonName != "":
		return leaf.Subject.CommonName
	}
	return "localhost"
}
