package main

import (
	"cmp"
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
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"chatd/certs"
	"chatd/connlimit"
	"chatd/room"
	"chatd/sshgw"
	"chatd/tlsgw"
)

// shutdownTimeout bounds how long members get to receive the goodbye.
const shutdownTimeout = 5 * time.Second

// hostKeyFileName is the SSH host key's file in the data directory.
const hostKeyFileName = "ssh_host_ed25519_key"

// frontEnd is one way into the room (TLS or SSH), ready to serve.
type frontEnd struct {
	name     string
	serve    func() error // returns once shut down
	shutdown func(context.Context) error
}

// serve runs the room and its front ends until ctx is cancelled, then shuts
// them down within shutdownTimeout.
func serve(ctx context.Context, stopSignals func(), cfg *config, stdout io.Writer, logger *slog.Logger) error {
	cert, err := loadCertificate(cfg, stdout, logger)
	if err != nil {
		return err
	}
	chatRoom := room.New(cfg.room)
	guard := connlimit.New(withRefusalLog(cfg.conns, logger))
	store := certs.NewStore(cert.Cert)
	stats := &statsCollector{room: chatRoom, guard: guard}
	fronts, err := startFrontEnds(cfg, stats, store, cert, stdout, logger)
	if err != nil {
		return err
	}
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	go reloadOnHangup(ctx, hangups, cert, store, logger)

	errs := make(chan error, len(fronts))
	for _, fe := range fronts {
		go func() {
			if err := fe.serve(); err != nil && !errors.Is(err, tlsgw.ErrServerClosed) {
				errs <- fmt.Errorf("serve %s: %w", fe.name, err)
				return
			}
			errs <- nil
		}()
	}
	var failure error
	ended := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "members", chatRoom.Len())
	case err := <-errs:
		ended++
		failure = cmp.Or(err, errors.New("a listener stopped unexpectedly"))
		logger.Error("shutting down after a failure", "err", failure)
	}
	stopSignals()
	shutDown(chatRoom, fronts, logger)
	for ; ended < len(fronts); ended++ {
		if err := <-errs; err != nil && failure == nil {
			failure = err
		}
	}
	logger.Info("stopped")
	return failure
}

// startFrontEnds listens on the TLS address and, unless they are off, the
// SSH and metrics addresses, the first two behind the connection guard, and
// says how to connect. It records the servers in stats.
func startFrontEnds(cfg *config, stats *statsCollector, store *certs.Store, cert *servedCert, stdout io.Writer, logger *slog.Logger) ([]*frontEnd, error) {
	tlsLn, err := net.Listen("tcp", cfg.tlsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for TLS: %w", err)
	}
	tlsCfg := cfg.tls
	tlsCfg.Room, tlsCfg.TLS, tlsCfg.Logger = stats.room, tlsgw.ServerConfig(store), logger
	stats.tls = tlsgw.NewServer(tlsCfg)
	fmt.Fprintf(stdout, "TLS listening on %s\n", tlsLn.Addr())
	printConnectHelp(stdout, cert, tlsLn.Addr())
	fronts := []*frontEnd{{name: "TLS", serve: func() error { return stats.tls.Serve(stats.guard.Listen(tlsLn)) }, shutdown: stats.tls.Shutdown}}
	more := []func() (*frontEnd, error){}
	if cfg.sshAddr != "" {
		more = append(more, func() (*frontEnd, error) { return startSSH(cfg, stats, stdout, logger) })
	}
	if cfg.metricsAddr != "" {
		more = append(more, func() (*frontEnd, error) { return startMetrics(cfg.metricsAddr, cfg.pprof, stats, stdout) })
	}
	for _, start := range more {
		fe, err := start()
		if err != nil {
			tlsLn.Close()
			return nil, err
		}
		fronts = append(fronts, fe)
	}
	return fronts, nil
}

// startSSH loads or makes the host key, listens on the SSH address and says
// how to connect and which fingerprint to expect.
func startSSH(cfg *config, stats *statsCollector, stdout io.Writer, logger *slog.Logger) (*frontEnd, error) {
	keyPath := filepath.Join(cfg.dataDir, hostKeyFileName)
	sshCfg := cfg.ssh
	sshCfg.Addr, sshCfg.HostKeyPath, sshCfg.Room, sshCfg.Logger = cfg.sshAddr, keyPath, stats.room, logger
	sshCfg.WriteTimeout = cfg.tls.WriteTimeout
	sshServer, err := sshgw.NewServer(sshCfg)
	if err != nil {
		return nil, err
	}
	stats.ssh = sshServer
	ln, err := net.Listen("tcp", cfg.sshAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for SSH: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Fprintf(stdout, "SSH host key: %s\n  fingerprint: %s\n", absPath(keyPath), sshServer.HostKeyFingerprint())
	fmt.Fprintf(stdout, "SSH listening on %s\nConnect with:\n  ssh -p %s NICK@localhost\n", ln.Addr(), port)
	return &frontEnd{name: "SSH", serve: func() error { return sshServer.Serve(stats.guard.Listen(ln)) }, shutdown: sshServer.Shutdown}, nil
}

// shutDown tells every member goodbye, then stops every front end at once,
// cutting what is left when shutdownTimeout runs out.
func shutDown(chatRoom *room.Room, fronts []*frontEnd, logger *slog.Logger) {
	chatRoom.Close("The server is shutting down. Goodbye!")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, fe := range fronts {
		wg.Go(func() {
			if err := fe.shutdown(ctx); err != nil {
				logger.Warn("some connections had to be cut", "front_end", fe.name, "err", err)
			}
		})
	}
	wg.Wait()
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
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, served *servedCert, store *certs.Store, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			cert, err := certs.LoadKeyPair(served.File, served.KeyFile)
			if err != nil {
				logger.Error("certificate reload failed; still serving the old certificate", "err", err,
					"fingerprint", certs.Fingerprint(store.Certificate().Leaf.Raw))
				continue
			}
			store.Set(cert)
			logger.Info("certificate reloaded", "file", served.File, "fingerprint", certs.Fingerprint(cert.Leaf.Raw),
				"not_after", cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
		}
	}
}

// loadCertificate returns --cert/--key if given, otherwise the generated
// certificate in the data directory, made if needed, and says which.
func loadCertificate(cfg *config, stdout io.Writer, logger *slog.Logger) (*servedCert, error) {
	if cfg.cert != "" {
		cert, err := certs.LoadKeyPair(cfg.cert, cfg.key)
		if err != nil {
			return nil, err
		}
		leaf := cert.Leaf
		selfSigned := certs.IsSelfSigned(leaf)
		fmt.Fprintf(stdout, "TLS certificate: %s\n", absPath(cfg.cert))
		printCertSummary(stdout, leaf)
		return &servedCert{Cert: cert, File: absPath(cfg.cert), KeyFile: absPath(cfg.key), SelfSigned: selfSigned}, nil
	}
	gen, err := certs.EnsureSelfSigned(cfg.dataDir, cfg.hosts, time.Now())
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
	hosts := certs.SubjectAltNames(leaf) // the operator's own certificate: shown as is
	fmt.Fprintf(out, "  SHA-256 fingerprint: %s\n", certs.Fingerprint(leaf.Raw))
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
