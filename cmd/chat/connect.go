package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"

	"chatd/client"
	"chatd/proto"
	"chatd/room"
)

// server is the chatd server of this run of chat, one or the nodes of a
// cluster: where it is and how it is trusted.
type server struct {
	opts  *options
	trust client.Trust
	cfg   client.Config // without the nickname; Addr and TLS the first node's
	nodes *client.Nodes
	ui    *console // where the nodes skipped on the way are said
}

// newServer works out how to reach and verify the server.
func newServer(opts *options, ui *console) (*server, error) {
	trust := client.Trust{CAFile: opts.caFile, Insecure: opts.insecure, Fingerprint: opts.fingerprint, Cluster: opts.addrs}
	if opts.fingerprint == "" {
		trust.Known = &client.KnownServers{Path: opts.knownPath}
	}
	s := &server{opts: opts, trust: trust, ui: ui}
	if err := s.configure(); err != nil {
		return nil, err
	}
	return s, nil
}

// configure makes each node's TLS configuration from the trust policy. A
// later change of the policy (trusted on first use) is seen by all: it is
// read at each handshake.
func (s *server) configure() error {
	list := make([]client.Node, len(s.opts.addrs))
	for i, addr := range s.opts.addrs {
		tlsCfg, err := s.trust.ClientTLSConfig(addr)
		if err != nil {
			return err
		}
		if s.opts.keyLogFile != nil {
			tlsCfg.KeyLogWriter = s.opts.keyLogFile
		}
		if s.opts.identity != nil {
			// Sent when the server asks (chatd always does), as its identity.
			tlsCfg.Certificates = []tls.Certificate{*s.opts.identity.Cert}
		}
		list[i] = client.Node{Addr: addr, TLS: tlsCfg}
	}
	nodes, err := client.NewNodes(list, nil, s.opts.shuffle)
	if err != nil {
		return err
	}
	s.nodes = nodes
	// Ask to resume from the first join on: the server then numbers the
	// public events, and a rejoin asks for exactly what was missed.
	s.cfg = client.Config{Addr: list[0].Addr, TLS: list[0].TLS, Resume: &proto.ResumePoint{}}
	return nil
}

// connect joins as the nickname of the command line, asking the user to
// trust an unknown self-signed certificate first (unless in plain mode,
// where that is an error). Plain mode checks the nickname before it
// connects; the screen leaves that to the server, so that the certificate
// is settled here, before the screen asks for another nickname.
func (s *server) connect(ctx context.Context, ui *console) (*client.Conn, error) {
	if s.opts.plain {
		if err := room.ValidateNick(s.opts.nick); err != nil {
			return nil, fmt.Errorf("--nick %q: %w", s.opts.nick, err)
		}
	}
	conn, err := s.join(ctx, s.opts.nick)
	var unknown *client.UnknownCertError
	if !errors.As(err, &unknown) {
		return conn, err
	}
	if err := s.decideTrust(ctx, unknown, ui); err != nil {
		return nil, err
	}
	return s.join(ctx, s.opts.nick)
}

// join dials and joins as nick, through the first node that takes it;
// the user is told of each node skipped on the way.
func (s *server) join(ctx context.Context, nick string) (*client.Conn, error) {
	cfg := s.cfg
	cfg.Nick = nick
	return s.nodes.Dial(ctx, cfg, s.skipped)
}

// skipped tells the user that node failed and the next is tried: loudly,
// and again on the screen, if its certificate is not trusted.
func (s *server) skipped(node string, err error) {
	var unknown *client.UnknownCertError
	if errors.As(err, &unknown) {
		// Asked about below if no other node takes the connection.
		s.ui.say("chat: skipped " + room.Clean(node) + " for now: its certificate is not yet trusted (SHA-256 " + unknown.Fingerprint + ")")
		return
	}
	if client.IsTrustError(err) {
		s.ui.warnAtStart("chat: skipped " + room.Clean(node) + ": " + errorText(err))
		return
	}
	s.ui.say("chat: could not join through " + room.Clean(node) + " (" + room.Clean(client.ShortError(err)) + "); trying the next server")
}

// session starts the chat session of a joined connection. The screen
// reconnects and shows the user's own lines; plain mode's standard input
// waits for the network rather than lose a line; askNick, if set, is how it
// asks for another nickname when the server refuses the one it had on the
// way back.
func (s *server) session(ctx context.Context, conn *client.Conn, askNick func(error)) *client.Redialer {
	screen := !s.opts.plain
	return client.NewRedialer(ctx, client.RedialConfig{Conn: s.cfg, Trust: s.trust, Nodes: s.nodes, Reconnect: screen, Echo: screen, AskNick: askNick,
		Block: !screen, KeyLog: s.keyLogName()}, conn)
}

// keyLogName is the key log file as /tls and the status line name it, ""
// when it is off.
func (s *server) keyLogName() string {
	if s.opts.keyLogFile == nil {
		return ""
	}
	if abs, err := filepath.Abs(s.opts.keylog); err == nil {
		return abs
	}
	return s.opts.keylog
}

// decideTrust shows an unknown certificate and remembers it if the user
// trusts it; this run then calls it trusted on first use. Ctrl+C at the
// question is no: nothing is remembered.
func (s *server) decideTrust(ctx context.Context, unknown *client.UnknownCertError, ui *console) error {
	if s.opts.plain || !ui.interactive() {
		return fmt.Errorf("%w\nTo trust it, run chat %s once in a terminal and check the fingerprint, or pass --fingerprint with the one chatd printed, or --ca with the server's cert.pem", unknown, unknown.Addr)
	}
	ui.showCertificate(unknown)
	if !ui.confirm(ctx, fmt.Sprintf("Trust this certificate and remember it for %s?", unknown.Addr)) {
		return errors.New("certificate not trusted; nothing was sent")
	}
	if err := s.trust.Known.Add(unknown.Addr, unknown.Fingerprint); err != nil {
		return err
	}
	ui.say(fmt.Sprintf("Remembered in %s.", s.trust.Known.Path))
	if len(s.opts.addrs) > 1 {
		ui.say("The other servers you named are trusted with this certificate too, if they present it.")
	}
	s.trust.FirstUse = true // verification is the same: the store has it now
	return nil
}
