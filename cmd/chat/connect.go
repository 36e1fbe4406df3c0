package main

import (
	"chatd/client"
	"context"
	"errors"
	"fmt"
)

// connect dials and joins, asking the user to trust an unknown self-signed
// certificate (unless in plain mode, where that is an error).
func connect(ctx context.Context, opts *options, ui *console) (*client.Redialer, error) {
	trust := client.Trust{CAFile: opts.caFile, Insecure: opts.insecure, Known: &client.KnownServers{Path: opts.knownPath}}
	tlsCfg, err := trust.ClientTLSConfig(opts.addr)
	if err != nil {
		return nil, err
	}
	cfg := client.Config{Addr: opts.addr, Nick: opts.nick, TLS: tlsCfg}
	conn, err := client.Dial(ctx, cfg)
	var unknown *client.UnknownCertError
	if errors.As(err, &unknown) {
		if err := decideTrust(unknown, opts, ui, trust.Known); err != nil {
			return nil, err
		}
		conn, err = client.Dial(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	screen := !opts.plain
	return client.NewRedialer(ctx, client.RedialConfig{Conn: cfg, Trust: trust, Reconnect: screen, Echo: screen}, conn), nil
}

// decideTrust shows an unknown certificate and remembers it if the user
// trusts it.
func decideTrust(unknown *client.UnknownCertError, opts *options, ui *console, known *client.KnownServers) error {
	if opts.plain || !ui.interactive() {
		return fmt.Errorf("%w\nTo trust it, run chat %s once in a terminal and check the fingerprint, or pass --ca with the server's cert.pem", unknown, opts.addr)
	}
	ui.showCertificate(unknown)
	if !ui.confirm(fmt.Sprintf("Trust this certificate and remember it for %s?", unknown.Addr)) {
		return errors.New("certificate not trusted; nothing was sent")
	}
	if err := known.Add(unknown.Addr, unknown.Fingerprint); err != nil {
		return err
	}
	ui.say(fmt.Sprintf("Remembered in %s.", known.Path))
	return nil
}
