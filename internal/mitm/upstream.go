package mitm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"chatd/certs"
)

// upstreamTLS is how the proxy talks to the real server: as the attacker
// it verifies nothing, and it names the server the client named (SNI),
// else the upstream's host.
func (cfg Config) upstreamTLS(serverName string) *tls.Config {
	if serverName == "" {
		serverName = hostOf(cfg.Upstream)
	}
	if net.ParseIP(serverName) != nil {
		serverName = "" // an IP address is not sent as SNI
	}
	return &tls.Config{ServerName: serverName, InsecureSkipVerify: true, KeyLogWriter: cfg.KeyLog} //nolint:gosec // the proxy is the man in the middle
}

// hostOf is the host of a HOST:PORT address, or the address itself.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// dialUpstream connects to the real server and completes the handshake,
// within the timeout and the proxy's life.
func dialUpstream(ctx context.Context, cfg Config, serverName string) (*tls.Conn, error) {
	return dialTLS(ctx, cfg, serverName, cfg.Timeout)
}

// dialTLS connects to the real server and completes the handshake, within
// timeout and ctx.
func dialTLS(ctx context.Context, cfg Config, serverName string, timeout time.Duration) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg.upstreamTLS(serverName)}
	c, err := d.DialContext(ctx, "tcp", cfg.Upstream)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// probeUpstream dials the upstream once and returns its leaf certificate.
func probeUpstream(ctx context.Context, cfg Config) (*x509.Certificate, error) {
	c, err := dialTLS(ctx, cfg, "", probeTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("cannot reach the upstream %s over TLS (is the real server running there?): %w", cfg.Upstream, err)
	}
	defer c.Close()
	peers := c.ConnectionState().PeerCertificates
	if len(peers) == 0 {
		return nil, fmt.Errorf("the upstream %s sent no certificate", cfg.Upstream)
	}
	return peers[0], nil
}

// impersonate makes the proxy's certificate: a new ECDSA key, self-signed,
// for the names of the upstream's certificate (at most MaxCopiedNames;
// the upstream's host if it names none), so that only the fingerprint,
// the issuer's signature, tells it from the real one.
func impersonate(leaf *x509.Certificate, upstream string, now time.Time) (*tls.Certificate, error) {
	hosts := certs.SubjectAltNames(leaf)
	if len(hosts) == 0 {
		hosts = []string{hostOf(upstream)}
	}
	hosts = hosts[:min(len(hosts), MaxCopiedNames)]
	key, err := certs.GenerateKey()
	if err != nil {
		return nil, err
	}
	certPEM, err := certs.SelfSign(key, hosts, now)
	if err != nil {
		return nil, fmt.Errorf("make the proxy's certificate for the upstream's names: %w", err)
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, errors.Join(errors.New("load the proxy's certificate"), err)
	}
	return &cert, nil
}
