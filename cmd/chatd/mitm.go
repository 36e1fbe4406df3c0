package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"chatd/certs"
	"chatd/internal/keylog"
	"chatd/internal/mitm"

	gossh "golang.org/x/crypto/ssh"
)

// mitmCommand is what `chatd mitm` was told.
type mitmCommand struct {
	listen, upstream string
	// The SSH proxy, on when sshUpstream is set.
	sshListen, sshUpstream string
	cert, key              string
	maxConns               int
	keylog                 string
}

// runMitm is `chatd mitm`: the interception proxy for labs. It runs until
// ctx ends (Ctrl+C).
func runMitm(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var m mitmCommand
	fs := m.flags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "chatd mitm:", err)
		return 2
	}
	if err := m.validate(fs); err != nil {
		fmt.Fprintln(stderr, "chatd mitm:", err)
		return 2
	}
	if err := m.run(ctx, stdout); err != nil {
		fmt.Fprintln(stderr, "chatd mitm:", err)
		return 1
	}
	return 0
}

// flags defines the subcommand's flags and its --help.
func (m *mitmCommand) flags(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("chatd mitm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&m.listen, "listen", "127.0.0.1:8443", "`ADDR` where clients connect, believing it is the server")
	fs.StringVar(&m.upstream, "upstream", "", "`HOST:PORT` of the real chatd (its TLS port)")
	fs.StringVar(&m.sshListen, "ssh-listen", "127.0.0.1:2223", "`ADDR` where SSH clients connect, with --ssh-upstream")
	fs.StringVar(&m.sshUpstream, "ssh-upstream", "", "`HOST:PORT` of the real chatd's SSH port: intercept SSH too (or only)")
	fs.StringVar(&m.cert, "cert", "", "present this PEM certificate `FILE` instead of one generated at start (with --key)")
	fs.StringVar(&m.key, "key", "", "PEM private key `FILE` of --cert")
	fs.IntVar(&m.maxConns, "max-conns", mitm.DefaultMaxConns, "relay at most `N` connections at once per listener (TLS and SSH each); more are refused")
	fs.StringVar(&m.keylog, "keylog", "", "append the TLS secrets of both sides to `FILE` (NSS key log format, for Wireshark)")
	fs.Usage = func() {
		fmt.Fprint(stderr, mitmUsage)
		printFlags(fs, stderr, false)
	}
	return fs
}

const mitmUsage = `Usage:
  chatd mitm [--upstream HOST:PORT [--listen ADDR] [--cert FILE --key FILE] [--keylog FILE]]
             [--ssh-upstream HOST:PORT [--ssh-listen ADDR]] [--max-conns N]

At least one of --upstream (TLS) and --ssh-upstream (SSH) is needed.

A man in the middle, on purpose, for security labs: it lets you see which
clients notice an interception. Clients connect to --listen believing it is
the chat server; the proxy answers with a certificate of its own (by default
generated at start for the names in the real server's certificate), connects
to the real server (--upstream, without verifying it: it is the attacker),
relays both ways and prints every line each side sends, in plain text, with
the client's address. Control characters are shown escaped (\x1b), never
passed to your terminal.

A client that verifies the server refuses it: openssl s_client with
-verify_return_error, chat with --ca, --fingerprint or a remembered
certificate. One that does not carries on, and everything it says is
printed here: openssl s_client without -verify_return_error, chat --insecure,
and a user who accepts a new fingerprint at chat's first-use question
without comparing it. docs/LAB.md, "Intercept", is the exercise.

With --ssh-upstream it does the same for SSH: its own host key (generated
at start), the user let in and logged in to the real server with "none"
(chatd's default), and what the user types printed. ssh with
the real server's key in known_hosts refuses it: REMOTE HOST IDENTIFICATION
HAS CHANGED.

chatd sees every client through the proxy as one address, the proxy's: its
per-address limits (--max-conns-per-ip, default 32; --conn-rate-per-ip and
--conn-burst-per-ip, 20 at once) apply to the whole class together, a nick's
grace is kept by that address for anyone through the proxy, and TLS client
certificates are not forwarded. For a class, start chatd with higher
per-address limits, e.g. --max-conns-per-ip 200 --conn-burst-per-ip 200
--conn-rate-per-ip 50, and this proxy with --max-conns to match (default 32).

It is a separate program mode: chatd serving a room never intercepts
anything. Run it only on connections you are allowed to intercept.

Flags:
`

// validate checks the flags.
func (m *mitmCommand) validate(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	case m.upstream == "" && m.sshUpstream == "":
		return errors.New("--upstream HOST:PORT is required (or --ssh-upstream): the real server to relay to")
	case (m.cert == "") != (m.key == ""):
		return errors.New("--cert and --key go together")
	case m.maxConns < 1:
		return fmt.Errorf("--max-conns %d: at least 1", m.maxConns)
	case m.upstream == "" && (m.cert != "" || m.keylog != ""):
		return errors.New("--cert, --key and --keylog are for the TLS proxy: they need --upstream (the SSH proxy has a host key of its own and no TLS)")
	}
	for flagName, addr := range map[string]string{"upstream": m.upstream, "ssh-upstream": m.sshUpstream} {
		if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
			return fmt.Errorf("--%s %q: %w", flagName, addr, err)
		}
	}
	return nil
}

// run starts the proxies, prints what they are, and relays until ctx
// ends. Nothing is printed before both have started.
func (m *mitmCommand) run(ctx context.Context, stdout io.Writer) error {
	out := mitm.SyncWriter(stdout)
	var serve []func(context.Context) error
	var banners []func()
	if m.upstream != "" {
		p, closeKeyLog, err := m.startTLS(ctx, out)
		if err != nil {
			return err
		}
		defer closeKeyLog()
		defer p.Close()
		serve = append(serve, p.Serve)
		banners = append(banners, func() { m.banner(out, p) })
	}
	if m.sshUpstream != "" {
		p, err := m.startSSH(ctx, out)
		if err != nil {
			return err // the TLS proxy, if any, is closed on the way out
		}
		defer p.Close()
		serve = append(serve, p.Serve)
		banners = append(banners, func() { m.sshBanner(out, p) })
	}
	fmt.Fprintf(out, "!!! chatd mitm: a DELIBERATE INTERCEPTION PROXY (man in the middle), a lab tool.\n"+
		"!!! Everything both sides send is printed below in plain text. Intercept only connections you may.\n")
	for _, b := range banners {
		b()
	}
	return serveAll(ctx, serve)
}

// serveAll runs each serve until ctx ends or one fails, and returns the
// first failure.
func serveAll(ctx context.Context, serve []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(serve))
	for _, s := range serve {
		go func() {
			err := s(ctx)
			cancel()
			errs <- err
		}()
	}
	var first error
	for range serve {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// startTLS starts the TLS proxy. The function it
// returns closes the key log.
func (m *mitmCommand) startTLS(ctx context.Context, out io.Writer) (*mitm.Proxy, func(), error) {
	cfg := mitm.Config{Listen: m.listen, Upstream: m.upstream, MaxConns: m.maxConns, Out: out}
	if m.cert != "" {
		cert, err := certs.LoadKeyPair(m.cert, m.key)
		if err != nil {
			return nil, nil, err
		}
		cfg.Cert = cert
	}
	closeKeyLog := func() {}
	if m.keylog != "" {
		f, err := keylog.Open(m.keylog)
		if err != nil {
			return nil, nil, err
		}
		closeKeyLog = func() { f.Close() }
		cfg.KeyLog = f
	}
	p, err := mitm.Start(ctx, cfg)
	if err != nil {
		closeKeyLog()
		return nil, nil, err
	}
	return p, closeKeyLog, nil
}

// startSSH starts the SSH proxy.
func (m *mitmCommand) startSSH(ctx context.Context, out io.Writer) (*mitm.SSHProxy, error) {
	return mitm.StartSSH(ctx, mitm.SSHConfig{Listen: m.sshListen, Upstream: m.sshUpstream, MaxConns: m.maxConns, Out: out})
}

// sshBanner says what the SSH proxy is, and the two host keys.
func (m *mitmCommand) sshBanner(out io.Writer, p *mitm.SSHProxy) {
	fmt.Fprintf(out, "SSH listening on %s, relaying to %s\n", p.Addr(), m.sshUpstream)
	fmt.Fprintf(out, "  upstream's host key (the real server): %s\n", gossh.FingerprintSHA256(p.UpstreamKey()))
	fmt.Fprintf(out, "  proxy's host key (generated now, in memory): %s\n", gossh.FingerprintSHA256(p.HostKey()))
	fmt.Fprintf(out, "ssh with the real key in known_hosts refuses it (REMOTE HOST IDENTIFICATION HAS CHANGED).\n")
	fmt.Fprintf(out, "Try: ssh -p %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null NICK@%s\n",
		portOf(p.Addr()), hostOf(dialable(p.Addr())))
}

// banner says loudly what this is, and the two fingerprints a careful
// client tells apart.
func (m *mitmCommand) banner(w io.Writer, p *mitm.Proxy) {
	up, own := p.UpstreamCert(), p.Cert()
	source := "generated now, in memory, for the upstream's names"
	if m.cert != "" {
		source = m.cert
	}
	if m.keylog != "" {
		fmt.Fprintln(w, "WARNING: "+keylog.Warning(m.keylog))
	}
	fmt.Fprintf(w, "TLS listening on %s, relaying to %s\n", p.Addr(), m.upstream)
	fmt.Fprintf(w, "  upstream's certificate (the real server): SHA-256 %s\n", certs.Fingerprint(up.Raw))
	fmt.Fprintf(w, "    valid for: %s\n", strings.Join(certs.Names(up), ", "))
	fmt.Fprintf(w, "  proxy's certificate (%s): SHA-256 %s\n", source, certs.Fingerprint(own.Raw))
	fmt.Fprintf(w, "    valid for: %s\n", strings.Join(certs.Names(own), ", "))
	fmt.Fprintf(w, "A client that checks the server's fingerprint sees the proxy's, not the server's, and should refuse.\n")
	fmt.Fprintf(w, "Try: openssl s_client -quiet -servername %s -connect %s\n", sniFor(up, m.upstream), dialable(p.Addr()))
}

// sniFor is the name a client would ask the real server for: the first
// DNS name of its certificate if it is a plain one, else the upstream's
// host.
func sniFor(c *x509.Certificate, upstream string) string {
	if len(c.DNSNames) > 0 && !strings.ContainsFunc(c.DNSNames[0], func(r rune) bool { return r <= ' ' || r > '~' }) {
		return c.DNSNames[0]
	}
	host, _, _ := net.SplitHostPort(upstream)
	return host
}

// portOf is the port of a listening address.
func portOf(addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	return port
}

// hostOf is the host of a HOST:PORT address.
func hostOf(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return host
}

// dialable is the listening address as a client on this machine dials it.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
