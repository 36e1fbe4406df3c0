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
)

// mitmCommand is what `chatd mitm` was told.
type mitmCommand struct {
	listen, upstream string
	cert, key        string
	maxConns         int
	keylog           string
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
	fs.StringVar(&m.upstream, "upstream", "", "`HOST:PORT` of the real chatd (its TLS port); required")
	fs.StringVar(&m.cert, "cert", "", "present this PEM certificate `FILE` instead of one generated at start (with --key)")
	fs.StringVar(&m.key, "key", "", "PEM private key `FILE` of --cert")
	fs.IntVar(&m.maxConns, "max-conns", mitm.DefaultMaxConns, "relay at most `N` connections at once; more are refused")
	fs.StringVar(&m.keylog, "keylog", "", "append the TLS secrets of both sides to `FILE` (NSS key log format, for Wireshark)")
	fs.Usage = func() {
		fmt.Fprint(stderr, mitmUsage)
		printFlags(fs, stderr, false)
	}
	return fs
}

const mitmUsage = `Usage:
  chatd mitm --upstream HOST:PORT [--listen ADDR] [--cert FILE --key FILE]

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

It is a separate program mode: chatd serving a room never intercepts
anything. Run it only on connections you are allowed to intercept.

Flags:
`

// validate checks the flags.
func (m *mitmCommand) validate(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	case m.upstream == "":
		return errors.New("--upstream HOST:PORT is required: the real server to relay to")
	case (m.cert == "") != (m.key == ""):
		return errors.New("--cert and --key go together")
	case m.maxConns < 1:
		return fmt.Errorf("--max-conns %d: at least 1", m.maxConns)
	}
	if _, _, err := net.SplitHostPort(m.upstream); err != nil {
		return fmt.Errorf("--upstream %q: %w", m.upstream, err)
	}
	return nil
}

// run starts the proxy, prints what it is, and relays until ctx ends.
func (m *mitmCommand) run(ctx context.Context, stdout io.Writer) error {
	cfg := mitm.Config{Listen: m.listen, Upstream: m.upstream, MaxConns: m.maxConns, Out: stdout}
	if m.cert != "" {
		cert, err := certs.LoadKeyPair(m.cert, m.key)
		if err != nil {
			return err
		}
		cfg.Cert = cert
	}
	if m.keylog != "" {
		f, err := keylog.Open(m.keylog)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.KeyLog = f
	}
	p, err := mitm.Start(ctx, cfg)
	if err != nil {
		return err
	}
	m.banner(stdout, p)
	return p.Serve(ctx)
}

// banner says loudly what this is, and the two fingerprints a careful
// client tells apart.
func (m *mitmCommand) banner(w io.Writer, p *mitm.Proxy) {
	up, own := p.UpstreamCert(), p.Cert()
	source := "generated now, in memory, for the upstream's names"
	if m.cert != "" {
		source = m.cert
	}
	fmt.Fprintf(w, "!!! chatd mitm: a DELIBERATE TLS INTERCEPTION PROXY (man in the middle), a lab tool.\n"+
		"!!! Everything both sides send is printed below in plain text. Intercept only connections you may.\n")
	if m.keylog != "" {
		fmt.Fprintln(w, "WARNING: "+keylog.Warning(m.keylog))
	}
	fmt.Fprintf(w, "Listening on %s, relaying to %s\n", p.Addr(), m.upstream)
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

// dialable is the listening address as a client on this machine dials it.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
