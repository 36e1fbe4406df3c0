package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"chatd/connlimit"
	"chatd/room"
	"chatd/tlsgw"
)

// shutdownTimeout bounds how long members get to receive the goodbye.
const shutdownTimeout = 5 * time.Second

// serve runs the room and its listeners until ctx is cancelled.
func serve(ctx context.Context, stopSignals func(), cfg *config, stdout io.Writer, logger *slog.Logger) error {
	cert, err := loadCertificate(cfg, stdout, logger)
	if err != nil {
		return err
	}
	chatRoom := room.New(cfg.room)
	certs := tlsgw.NewCertStore(cert.Cert)
	tlsCfg := cfg.tls
	tlsCfg.Room, tlsCfg.TLS, tlsCfg.Logger = chatRoom, tlsgw.ServerConfig(certs), logger
	tlsServer := tlsgw.NewServer(tlsCfg)
	guard := connlimit.New(withRefusalLog(cfg.conns, logger))

	tlsLn, err := net.Listen("tcp", cfg.tlsAddr)
	if err != nil {
		return fmt.Errorf("listen for TLS: %w", err)
	}
	tlsLn = guard.Listen(tlsLn)
	fmt.Fprintf(stdout, "TLS listening on %s\n", tlsLn.Addr())
	printConnectHelp(stdout, cert, tlsLn.Addr())

	serveErr := make(chan error, 1)
	go func() { serveErr <- tlsServer.Serve(tlsLn) }()
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	go reloadOnHangup(ctx, hangups, cert, certs, logger)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		chatRoom.Close("the server hit an error and is stopping")
		return fmt.Errorf("serve TLS: %w", err)
	}
	stopSignals()
	logger.Info("shutting down", "members", chatRoom.Len())
	chatRoom.Close("The server is shutting down. Goodbye!")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := tlsServer.Shutdown(shutdownCtx); err != nil {
		logger.Warn("some connections had to be cut", "err", err)
	}
	if err := <-serveErr; !errors.Is(err, tlsgw.ErrServerClosed) {
		return fmt.Errorf("serve TLS: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// withRefusalLog makes the guard log refused connections, at most once a
// second so that a flood of them cannot flood the log too.
func withRefusalLog(limits connlimit.Limits, logger *slog.Logger) connlimit.Limits {
	sometimes := &rate.Sometimes{Interval: time.Second}
	limits.Refused = func(remote net.Addr, reason string) {
		sometimes.Do(func() {
			logger.Warn("connection refused (logged at most once a second)", "remote", remote.String(), "reason", reason)
		})
	}
	return limits
}

// servedCert is the certificate chatd serves and where it came from.
type servedCert struct {
	Cert       *tls.Certificate
	File       string
	KeyFile    string
	SelfSigned bool
}

// reloadOnHangup re-reads the certificate and key files on every signal on
// hangups (SIGHUP) until ctx ends. New handshakes get the new certificate;
// connections already up keep theirs. A file that does not load leaves the
// old certificate in place.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, served *servedCert, certs *tlsgw.CertStore, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			cert, err := tlsgw.LoadKeyPair(served.File, served.KeyFile)
			if err != nil {
				logger.Error("certificate reload failed; still serving the old certificate", "err", err,
					"fingerprint", tlsgw.Fingerprint(certs.Certificate().Leaf.Raw))
				continue
			}
			certs.Set(cert)
			logger.Info("certificate reloaded", "file", served.File, "fingerprint", tlsgw.Fingerprint(cert.Leaf.Raw),
				"not_after", cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
		}
	}
}

// loadCertificate returns --cert/--key if given, otherwise the generated
// certificate in the data directory, made if needed, and says which.
func loadCertificate(cfg *config, stdout io.Writer, logger *slog.Logger) (*servedCert, error) {
	if cfg.cert != "" {
		cert, err := tlsgw.LoadKeyPair(cfg.cert, cfg.key)
		if err != nil {
			return nil, err
		}
		leaf := cert.Leaf
		selfSigned := leaf.CheckSignatureFrom(leaf) == nil
		fmt.Fprintf(stdout, "TLS certificate: %s\n", absPath(cfg.cert))
		printCertSummary(stdout, leaf)
		return &servedCert{Cert: cert, File: absPath(cfg.cert), KeyFile: absPath(cfg.key), SelfSigned: selfSigned}, nil
	}
	gen, err := tlsgw.EnsureSelfSigned(cfg.dataDir, cfg.hosts, time.Now())
	if err != nil {
		return nil, err
	}
	leaf := gen.Cert.Leaf
	if gen.Created {
		logger.Info("generated a self-signed certificate", "file", gen.CertFile, "why", gen.Why)
		fmt.Fprintf(stdout, "TLS certificate: %s (new: %s)\n", absPath(gen.CertFile), gen.Why)
	} else {
		fmt.Fprintf(stdout, "TLS certificate: %s\n", absPath(gen.CertFile))
	}
	printCertSummary(stdout, leaf)
	return &servedCert{Cert: gen.Cert, File: absPath(gen.CertFile), KeyFile: absPath(gen.KeyFile), SelfSigned: true}, nil
}

// printCertSummary prints what a user needs to check a certificate: its
// fingerprint, the names it is valid for and until when.
func printCertSummary(out io.Writer, leaf *x509.Certificate) {
	hosts := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	fmt.Fprintf(out, "  SHA-256 fingerprint: %s\n", tlsgw.Fingerprint(leaf.Raw))
	if len(hosts) == 0 {
		fmt.Fprintf(out, "  valid for: no subjectAltName, only the common name %q; until %s\n", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly))
		fmt.Fprintln(out, "  warning: clients that check host names by subjectAltName (Go's, browsers, chat) will refuse it; see README")
		return
	}
	fmt.Fprintf(out, "  valid for: %s; until %s\n", strings.Join(hosts, ", "), leaf.NotAfter.UTC().Format(time.DateOnly))
}

// printConnectHelp prints the openssl command that connects with full
// verification: the certificate as trust anchor when it is self-signed, and
// the host name checked.
func printConnectHelp(out io.Writer, cert *servedCert, addr net.Addr) {
	host := connectHost(cert.Cert.Leaf)
	_, port, _ := net.SplitHostPort(addr.String())
	cmd := fmt.Sprintf("openssl s_client -quiet -verify_return_error -verify_hostname %s -connect %s", host, net.JoinHostPort(host, port))
	if cert.SelfSigned {
		cmd += " -CAfile " + cert.File
	}
	fmt.Fprintf(out, "Connect with:\n  %s\n", cmd)
}

// connectHost picks the name to connect to: localhost if the certificate
// covers it, else its first DNS name, else its common name.
func connectHost(leaf *x509.Certificate) string {
	if leaf.VerifyHostname("localhost") == nil || len(leaf.DNSNames) == 0 && leaf.Subject.CommonName == "" {
		return "localhost"
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	return leaf.Subject.CommonName
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
