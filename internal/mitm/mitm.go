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
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Defaults of Config's limits.
const (
	DefaultMaxConns = 64
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
	cfg      Config
	ln       net.Listener
	upstream *x509.Certificate // the real server's leaf, read at start
	cert     *tls.Certificate  // what the proxy presents
	out      *transcript
	slots    chan struct{}
	// life ends at Close: it bounds the dials and handshakes under way.
	life   context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start reads the upstream's certificate (dialing it once), makes the
// proxy's certificate unless one is given, and listens. Serve relays.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	cfg = withDefaults(cfg)
	leaf, err := probeUpstream(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, upstream: leaf, cert: cfg.Cert, out: newTranscript(cfg.Out, cfg.Now),
		slots: make(chan struct{}, cfg.MaxConns), conns: map[net.Conn]struct{}{}}
	if p.cert == nil {
		if p.cert, err = impersonate(leaf, cfg.Upstream, cfg.Now()); err != nil {
			return nil, err
		}
	}
	if p.ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	p.life, p.cancel = context.WithCancel(context.Background())
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

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// UpstreamCert is the real server's certificate, as read at start.
func (p *Proxy) UpstreamCert() *x509.Certificate { return p.upstream }

// Cert is the certificate the proxy presents to clients.
func (p *Proxy) Cert() *x509.Certificate { return p.cert.Leaf }

// Serve accepts and relays clients until ctx ends or Close is called,
// then closes every connection and returns once their goroutines are done.
func (p *Proxy) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, p.Close)
	defer stop()
	defer p.wg.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			p.Close()
			return fmt.Errorf("accept: %w", err)
		}
		p.admit(c)
	}
}

// admit starts relaying c if a slot is free, else refuses it.
func (p *Proxy) admit(c net.Conn) {
	select {
	case p.slots <- struct{}{}:
	default:
		p.out.event(c.RemoteAddr(), fmt.Sprintf("refused: already %d connections (--max-conns)", p.cfg.MaxConns))
		c.Close()
		return
	}
	if !p.track(c) {
		<-p.slots
		c.Close()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		relayed := p.handle(c)
		p.untrack(c)
		<-p.slots
		if relayed { // said once its slot is free
			p.out.event(c.RemoteAddr(), "closed")
		}
	}()
}

// track remembers an open connection so that Close can cut it; false if
// the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close stops listening and cuts every connection. Serve returns once
// their goroutines are done.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.cancel()
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
}
