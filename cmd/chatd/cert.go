package main

import (
	"chatd/certs"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// certCommand is what `chatd cert` was told.
type certCommand struct {
	hosts  listFlag
	dir    string
	force  bool
	newKey bool
	print  bool
}

// maxPrintBytes bounds the file `chatd cert --print` reads: a certificate
// chain is a few KiB.
const maxPrintBytes = 1 << 20

// runCert is `chatd cert`: write a self-signed certificate and key, renew
// one, or print one for handing out.
func runCert(args []string, stdout, stderr io.Writer) int {
	var c certCommand
	fs := flag.NewFlagSet("chatd cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&c.hosts, "host", "host `NAME` or IP address the certificate is for (repeatable; default localhost, 127.0.0.1, ::1 and this machine's name)")
	fs.StringVar(&c.dir, "out", "chatd-data", "`DIR` to write cert.pem and key.pem into (chatd's --data-dir)")
	fs.StringVar(&c.dir, "data-dir", "chatd-data", "`DIR`, the same as --out")
	fs.BoolVar(&c.force, "force", false, "replace an existing certificate: renew it with the same key for its names and any --host")
	fs.BoolVar(&c.newKey, "new-key", false, "with --force: make a new key too, for exactly the --host names (a new identity)")
	fs.BoolVar(&c.print, "print", false, "print the certificate (FILE, or cert.pem in DIR, which chatd serves after its next start or SIGHUP, else public/cert.pem in DIR) with its fingerprint, to hand to users; writes nothing")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  chatd cert [--host NAME]... [--out DIR] [--force [--new-key]]\n  chatd cert --print [--data-dir DIR | FILE]\n\n"+
			"Writes an ECDSA P-256 self-signed certificate (cert.pem) and its key (key.pem, mode 0600),\n"+
			"or prints the certificate chatd serves so that you can hand it out.\n\nFlags:\n")
		printFlags(fs, stderr, false)
	}
	var file string
	if err := parseCertFlags(fs, args, &file); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "chatd cert:", err)
		return 2
	}
	var err error
	switch {
	case c.print && (c.force || c.newKey || len(c.hosts) > 0):
		fmt.Fprintln(stderr, "chatd cert: --print writes nothing; it takes no --host, --force or --new-key")
		return 2
	case file != "" && !c.print:
		fmt.Fprintf(stderr, "chatd cert: unexpected argument %q (see --help)\n", file)
		return 2
	case c.newKey && !c.force:
		fmt.Fprintln(stderr, "chatd cert: --new-key replaces a certificate; it needs --force")
		return 2
	case c.print:
		err = c.printAndWarn(file, stdout, stderr)
	default:
		err = c.write(stdout, stderr, time.Now())
	}
	if err != nil {
		fmt.Fprintln(stderr, "chatd cert:", err)
		return 1
	}
	return 0
}

// parseCertFlags parses args; one argument after the flags is the file of
// --print.
func parseCertFlags(fs *flag.FlagSet, args []string, file *string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		*file = fs.Arg(0)
	default:
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(1))
	}
	return nil
}

// printFile is the file --print prints: the one named, else the
// generated certificate in the data directory (the one chatd serves after
// its next start or SIGHUP: after `chatd cert --force` the public copy is
// still the old one), else, when chatd serves --cert, the public copy.
func (c *certCommand) printFile(named string) string {
	if named != "" {
		return named
	}
	generated := filepath.Join(c.dir, certs.CertFileName)
	if _, err := os.Stat(generated); err == nil {
		return generated
	}
	return c.publicFile()
}

// publicFile is the public copy in the data directory.
func (c *certCommand) publicFile() string {
	return filepath.Join(c.dir, "public", certs.CertFileName)
}

// printAndWarn prints the certificate --print is asked for, then warns on
// stderr if another user could have replaced the file, and says when the
// certificate printed is not yet the one a running chatd serves.
func (c *certCommand) printAndWarn(named string, stdout, stderr io.Writer) error {
	file := c.printFile(named)
	if err := printCert(file, stdout); err != nil {
		return err
	}
	if err := certs.ReplaceableByOthers(file); err != nil {
		fmt.Fprintf(stderr, "chatd cert: WARNING: %v.\n  Whoever could replace it may have put their own certificate there: "+
			"check its fingerprint against one the server's owner published somewhere you trust.\n", err)
	}
	if named == "" && file != c.publicFile() {
		notePending(file, c.publicFile(), stderr)
	}
	return nil
}

// notePending says on stderr, when the public copy (what a running chatd
// serves now) differs from the certificate printed, which fingerprint is
// served now and which is pending.
func notePending(printed, public string, stderr io.Writer) {
	pending, err := readCertFile(printed)
	if err != nil {
		return
	}
	served, err := readCertFile(public)
	if err != nil || served[0].Equal(pending[0]) {
		return
	}
	fmt.Fprintf(stderr, "chatd cert: note: this is the pending certificate, not yet served:\n"+
		"  served now: SHA-256 %s (the public copy %s)\n"+
		"  pending:    SHA-256 %s (printed, %s)\n"+
		"  A running chatd serves the pending one after SIGHUP (systemctl reload chatd) or a restart.\n",
		certs.Fingerprint(served[0].Raw), absPath(public), certs.Fingerprint(pending[0].Raw), absPath(printed))
}

// write makes a new pair in c.dir, or with --force renews the one there
// (same key, its names and any new ones) or, with --new-key, replaces it.
func (c *certCommand) write(stdout, stderr io.Writer, now time.Time) error {
	certFile, keyFile := filepath.Join(c.dir, certs.CertFileName), filepath.Join(c.dir, certs.KeyFileName)
	_, err := os.Stat(certFile)
	exists := err == nil
	if exists && !c.force {
		return fmt.Errorf("%s already exists; pass --force to renew it (same key, its names plus any --host), or --force --new-key for a new key", certFile)
	}
	var old *tls.Certificate
	if exists && !c.newKey {
		if old, err = certs.LoadKeyPair(certFile, keyFile); err != nil {
			return fmt.Errorf("%w\n(to replace it with a new key, pass --force --new-key)", err)
		}
	}
	if exists && old == nil {
		if chain, err := readCertFile(certFile); err == nil {
			old = &tls.Certificate{Leaf: chain[0]}
		}
	}
	if err := c.writePair(old, certFile, keyFile, now); err != nil {
		return err
	}
	chain, err := readCertFile(certFile)
	if err != nil {
		return fmt.Errorf("read back certificate: %w", err)
	}
	verb := "wrote"
	if old != nil && old.PrivateKey != nil {
		verb = "renewed (same key)"
	}
	fmt.Fprintf(stdout, "%s %s and %s\n", verb, absPath(certFile), absPath(keyFile))
	printCertSummary(stdout, chain[0])
	fmt.Fprintf(stdout, "serve it with: chatd --cert %s --key %s (or --data-dir %s)\n", absPath(certFile), absPath(keyFile), absPath(c.dir))
	if old != nil {
		fmt.Fprintf(stderr, "chatd cert: WARNING: this replaces the certificate with SHA-256 fingerprint\n  %s\n"+
			"Users who trusted it (chat's known_servers, a cert.pem given to -CAfile) will be warned or refused\n"+
			"until they get the new one. A running chatd serves the old one until SIGHUP (systemctl reload chatd)\n"+
			"or a restart: publish the new fingerprint first.\n", certs.Fingerprint(old.Leaf.Raw))
	}
	return nil
}

// writePair writes the certificate, renewing old's if it has a key, else
// with a new key.
func (c *certCommand) writePair(old *tls.Certificate, certFile, keyFile string, now time.Time) error {
	if old != nil && old.PrivateKey != nil {
		certPEM, err := certs.Renew(old, c.hosts, now)
		if err != nil {
			return err
		}
		return certs.WriteCert(c.dir, certPEM)
	}
	hosts := []string(c.hosts)
	if len(hosts) == 0 {
		hosts = certs.DefaultHosts()
	}
	certPEM, keyPEM, err := certs.GenerateSelfSigned(hosts, now)
	if err != nil {
		return err
	}
	return certs.WriteKeyPair(c.dir, certPEM, keyPEM)
}

// printCert prints the certificates in file, PEM encoded, after comment
// lines giving the first one's fingerprint, names and expiry, so that an
// owner can paste it to users: openssl and chat read past the comments.
// Only certificates are printed, whatever else the file holds (a key).
func printCert(file string, out io.Writer) error {
	chain, err := readCertFile(file)
	if err != nil {
		return err
	}
	leaf := chain[0]
	names := strings.Join(certs.SubjectAltNames(leaf), ", ")
	if names == "" {
		names = "common name " + leaf.Subject.CommonName + " (no subjectAltName)"
	}
	fmt.Fprintf(out, "# chatd TLS certificate from %s\n# SHA-256 fingerprint: %s\n# valid for %s; until %s\n"+
		"# Save this as cert.pem; check it with: openssl x509 -in cert.pem -noout -fingerprint -sha256\n",
		absPath(file), certs.Fingerprint(leaf.Raw), names, leaf.NotAfter.UTC().Format(time.DateOnly))
	for _, c := range chain {
		pem.Encode(out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return nil
}

// readCertFile returns the certificates in a PEM file, at least one.
func readCertFile(file string) ([]*x509.Certificate, error) {
	f, err := certs.OpenRegular(file) // a FIFO is refused, not waited on
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no certificate at %s (is --data-dir right?)", file)
		}
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPrintBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > maxPrintBytes {
		return nil, fmt.Errorf("%s is over %d bytes: not a certificate chain", file, maxPrintBytes)
	}
	var chain []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate in %s: %w", file, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("no certificate in %s", file)
	}
	return chain, nil
}
