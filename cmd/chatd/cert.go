package main

import (
	"chatd/certs"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// runCert is `chatd cert`: write a fresh self-signed certificate and key.
func runCert(args []string, stdout, stderr io.Writer) int {
	var (
		hosts listFlag
		out   string
		force bool
	)
	fs := flag.NewFlagSet("chatd cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&hosts, "host", "host `NAME` or IP address the certificate is for (repeatable; default localhost, 127.0.0.1, ::1 and this machine's name)")
	fs.StringVar(&out, "out", "chatd-data", "`DIR` to write cert.pem and key.pem into")
	fs.BoolVar(&force, "force", false, "replace an existing certificate")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  chatd cert [--host NAME]... [--out DIR] [--force]\n\nWrites an ECDSA P-256 self-signed certificate (cert.pem) and its key (key.pem, mode 0600).\n\nFlags:\n")
		printFlags(fs, stderr, false)
	}
	if err := parseFlags(fs, args, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "chatd cert:", err)
		return 2
	}
	if err := writeCert(hosts, out, force, stdout); err != nil {
		fmt.Fprintln(stderr, "chatd cert:", err)
		return 1
	}
	return 0
}

func writeCert(hosts []string, dir string, force bool, stdout io.Writer) error {
	certFile := filepath.Join(dir, certs.CertFileName)
	if _, err := os.Stat(certFile); err == nil && !force {
		return fmt.Errorf("%s already exists; pass --force to replace it", certFile)
	}
	if len(hosts) == 0 {
		hosts = certs.DefaultHosts()
	}
	certPEM, keyPEM, err := certs.GenerateSelfSigned(hosts, time.Now())
	if err != nil {
		return err
	}
	if err := certs.WriteKeyPair(dir, certPEM, keyPEM); err != nil {
		return err
	}
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("read back certificate: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", absPath(certFile), absPath(filepath.Join(dir, certs.KeyFileName)))
	printCertSummary(stdout, leaf)
	fmt.Fprintf(stdout, "serve it with: chatd --cert %s --key %s\n", absPath(certFile), absPath(filepath.Join(dir, certs.KeyFileName)))
	return nil
}
