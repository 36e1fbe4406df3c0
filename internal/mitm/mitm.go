// Package mitm is chatd's interception proxy for labs (`chatd mitm`): a
// man in the middle that terminates TLS with a certificate of its own,
// connects to the real server, relays both ways and prints the plaintext
// of each direction, so that students see which clients notice.
//
// It is an attacker's tool on purpose, and a careful one: what the peers
// send is printed with every control character made visible (see
// Visible), printed lines are bounded, connections are bounded, dials and
// handshakes time out, and closing one side closes the other.
package mitm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"time"
)

// Defaults of Config's limits.
const (
	// DefaultMaxConns is chatd's own bound on the connections from one
	// address (--max-conns-per-ip): chatd sees every proxied client as
	// the proxy's address.
	DefaultMaxConns = 32
	DefaultTimeout  = 10 * time.Second
	// Linger is how long a connection waits for the other direction once
	// one side has ended its stream, before it is cut.
	Linger = 5 * time.Second
	// WriteTimeout bounds each write to a peer: one that stops reading is
	// cut.
	WriteTimeout = 30 * time.Second
	// MaxCopiedNames bounds the names copied from the upstream's
	// certificate into the proxy's.
	MaxCopiedNames = 64
)

// writeTimeout is WriteTimeout; tests shorten it.
var writeTimeout = WriteTimeout

// probeTimeout bounds the one dial and handshake at start that reads the
// upstream's certificate or host key: never less than DefaultTimeout, so
// that a short Timeout for the clients does not fail the start on a busy
// machine.
func probeTimeout(timeout time.Duration) time.Duration { return max(timeout, DefaultTimeout) }

// Config is what the proxy is told.
type Config struct {
	Listen   string // address to listen on
	Upstream string // the real server, HOST:PORT
	// Cert is the certificate the proxy presents; nil: one is generated
	// for the names of the upstream's certificate.
	Cert     *tls.Certificate
	MaxConns int           // connections relayed at once; 0: DefaultMaxConns
	Timeout  time.Duration // bounds each dial and handshake; 0: DefaultTimeout
	// KeyLog, if set, receives the TLS secrets of both sides (NSS key log
	// format).
	KeyLog io.Writer
	// Out receives the transcript: one line per protocol line and per
	// connection event.
	Out io.Writer
	// Now is the transcript's clock; nil: time.Now.
	Now func() time.Time
}

// Proxy is a running interception proxy.
type Proxy struct {
	*listener
	cfg      Config
	upstream *x509.Certificate // the real server's leaf, read at start
	cert     *tls.Certificate  // what the proxy presents
}

// Start reads the upstream's certificate (dialing it once), makes the
// proxy's certificate unless one is given, and listens. Serve relays;
// Close stops.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	cfg = withDefaults(cfg)
	leaf, err := probeUpstream(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, upstream: leaf, cert: cfg.Cert}
	if p.cert == nil {
		if p.cert, err = impersonate(leaf, cfg.Upstream, cfg.Now()); err != nil {
			return nil, err
		}
	}
	if p.listener, err = listen(ctx, cfg.Listen, cfg.MaxConns, newTranscript(cfg.Out, cfg.Now), p.handle); err != nil {
		return nil, err
	}
	return p, nil
}

func withDefaults(cfg Config) Config {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	return cfg
}

// UpstreamCert is the real server's certificate, as read at start.
func (p *Proxy) UpstreamCert() *x509.Certificate { return p.upstream }

// Cert is the certificate the proxy presents to clients.
func (p *Proxy) Cert() *x509.Certificate { return p.cert.Leaf }
