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

// server is the chatd server of this run of chat: where it is and how it
// is trusted.
type server struct {
	opts  *options
	trust client.Trust
	cfg   client.Config // without the nickname
}

// newServer works out how to reach and verify the server.
func newServer(opts *options) (*server, error) {
	trust := client.Trust{CAFile: opts.caFile, Insecure: opts.insecure, Fingerprint: opts.fingerprint}
	if opts.fingerprint == "" {
		trust.Known = &client.KnownServers{Path: opts.knownPath}
	}
	s := &server{opts: opts, trust: trust}
	if err := s.configure(); err != nil {
		return nil, err
	}
	return s, nil
}

// configure makes the TLS configuration from the trust policy.
func (s *server) configure() error {
	tlsCfg, err := s.trust.ClientTLSConfig(s.opts.addr)
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
	// Ask to resume from the first join on: the server then numbers the
	// public events, and a rejoin asks for exactly what was missed.
	s.cfg = client.Config{Addr: s.opts.addr, TLS: tlsCfg, Resume: &proto.ResumePoint{}}
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

// join dials and joins as nick.
func (s *server) join(ctx context.Context, nick string) (*client.Conn, error) {
	cfg := s.cfg
	cfg.Nick = nick
	return client.Dial(ctx, cfg)
}

// session starts the chat session of a joined connection. The screen
// reconnects and shows the user's own lines; plain mode's standard input
// waits for the network rather than lose a line; askNick, if set, is how it
// asks for another nickname when the server refuses the one it had on the
// way back.
func (s *server) session(ctx context.Context, conn *client.Conn, askNick func(error)) *client.Redialer {
	screen := !s.opts.plain
	return client.NewRedialer(ctx, client.RedialConfig{Conn: s.cfg, Trust: s.trust, Reconnect: screen, Echo: screen, AskNick: askNick,
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
		return fmt.Errorf("%w\nTo trust it, run chat %s once in a terminal and check the fingerprint, or pass --fingerprint with the one chatd printed, or --ca with the server's cert.pem", unknown, s.opts.addr)
	}
	ui.showCertificate(unknown)
	if !ui.confirm(ctx, fmt.Sprintf("Trust this certificate and remember it for %s?", unknown.Addr)) {
		return errors.New("certificate not trusted; nothing was sent")
	}
	if err := s.trust.Known.Add(unknown.Addr, unknown.Fingerprint); err != nil {
		return err
	}
	ui.say(fmt.Sprintf("Remembered in %s.", s.trust.Known.Path))
	s.trust.FirstUse = true // verification is the same: the store has it now
	return nil
}
