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

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"chatd/certs"
	"chatd/connlimit"
	"chatd/gateway"
	"chatd/room"
	"chatd/sshgw"
	"chatd/tlsgw"
)

// shutdownTimeout bounds how long members get to receive the goodbye.
const shutdownTimeout = 5 * time.Second

// hostKeyFileName is the SSH host key's file in the data directory.
const hostKeyFileName = "ssh_host_ed25519_key"

// parts are what chatd builds once and shares between the servers it
// starts.
type parts struct {
	cfg    *config
	room   *room.Room
	guard  *connlimit.Guard // every gateway's listener goes through it
	reg    *prometheus.Registry
	stdout io.Writer
	logger *slog.Logger
}

// listening is a server with the listener it is to serve.
type listening struct {
	server gateway.Server
	ln     net.Listener
}

// run serves the listener until the server is shut down. It returns an
// error only if the server failed.
func (l listening) run() error {
	if err := l.server.Serve(l.ln); err != nil && !errors.Is(err, gateway.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", l.server.Name(), err)
	}
	return nil
}

// serve runs the room and its servers until ctx is cancelled, then shuts
// them down within shutdownTimeout.
func serve(ctx context.Context, stopSignals func(), cfg *config, stdout io.Writer, logger *slog.Logger) error {
	cert, err := loadCertificate(cfg, stdout, logger)
	if err != nil {
		return err
	}
	chatRoom := room.New(cfg.room)
	guard := connlimit.New(withRefusalLog(cfg.conns, logger))
	reg, err := newRegistry(chatRoom, guard)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	store := certs.NewStore(cert.Cert)
	p := &parts{cfg: cfg, room: chatRoom, guard: guard, reg: reg, stdout: stdout, logger: logger}
	servers, err := p.startServers(store, cert)
	if err != nil {
		return err
	}
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	go reloadOnHangup(ctx, hangups, cert, store, logger)

	errs := make(chan error, len(servers))
	for _, l := range servers {
		go func() { errs <- l.run() }()
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
	shutDown(chatRoom, servers, logger)
	for ; ended < len(servers); ended++ {
		if err := <-errs; err != nil && failure == nil {
			failure = err
		}
	}
	logger.Info("stopped")
	return failure
}

// startServers listens on the TLS address and, unless they are off, the
// SSH and metrics addresses, the first two behind the connection guard, and
// says how to connect. The gateways register their metrics.
func (p *parts) startServers(store *certs.Store, cert *servedCert) ([]listening, error) {
	starts := []func() (listening, error){func() (listening, error) { return p.startTLS(store, cert) }}
	if p.cfg.sshAddr != "" {
		starts = append(starts, p.startSSH)
	}
	if p.cfg.metricsAddr != "" {
		starts = append(starts, p.startMetrics)
	}
	var servers []listening
	for _, start := range starts {
		l, err := start()
		if err != nil {
			for _, started := range servers {
				started.ln.Close()
			}
			return nil, err
		}
		servers = append(servers, l)
	}
	return servers, nil
}

// startTLS listens on the TLS address and says how to connect.
func (p *parts) startTLS(store *certs.Store, cert *servedCert) (listening, error) {
	ln, err := net.Listen("tcp", p.cfg.tlsAddr)
	if err != nil {
		return listening{}, fmt.Errorf("listen for TLS: %w", err)
	}
	tlsCfg := p.cfg.tls
	tlsCfg.Room, tlsCfg.TLS, tlsCfg.Logger = p.room, tlsgw.ServerConfig(store), p.logger
	tlsServer := tlsgw.NewServer(tlsCfg)
	if err := tlsServer.Register(p.reg); err != nil {
		ln.Close()
		return listening{}, fmt.Errorf("TLS metrics: %w", err)
	}
	fmt.Fprintf(p.stdout, "TLS listening on %s\n", ln.Addr())
	printConnectHelp(p.stdout, cert, ln.Addr())
	return listening{server: tlsServer, ln: p.guard.Listen(ln)}, nil
}

// startSSH loads or makes the host key, listens on the SSH address and says
// how to connect and which fingerprint to expect.
func (p *parts) startSSH() (listening, error) {
	keyPath := filepath.Join(p.cfg.dataDir, hostKeyFileName)
	sshCfg := p.cfg.ssh
	sshCfg.Addr, sshCfg.HostKeyPath, sshCfg.Room, sshCfg.Logger = p.cfg.sshAddr, keyPath, p.room, p.logger
	sshCfg.WriteTimeout = p.cfg.tls.WriteTimeout
	sshCfg.Hosts = p.cfg.hosts // the name its hints give
	sshServer, err := sshgw.NewServer(sshCfg)
	if err != nil {
		return listening{}, err
	}
	if err := sshServer.Register(p.reg); err != nil {
		return listening{}, fmt.Errorf("SSH metrics: %w", err)
	}
	ln, err := net.Listen("tcp", p.cfg.sshAddr)
	if err != nil {
		return listening{}, fmt.Errorf("listen for SSH: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Fprintf(p.stdout, "SSH host key: %s\n  fingerprint: %s\n", absPath(keyPath), sshServer.HostKeyFingerprint())
	fmt.Fprintf(p.stdout, "SSH listening on %s\nConnect with:\n  ssh -p %s NICK@localhost\n", ln.Addr(), port)
	return listening{server: sshServer, ln: p.guard.Listen(ln)}, nil
}

// shutDown tells every member goodbye, then stops every server at once,
// cutting what is left when shutdownTimeout runs out.
func shutDown(chatRoom *room.Room, servers []listening, logger *slog.Logger) {
	chatRoom.Close(room.ShutdownNotice)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range servers {
		wg.Go(func() {
			if err := l.server.Shutdown(ctx); err != nil {
				logger.Warn("some connections had to be cut", "front_end", l.server.Name(), "err", err)
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
