package mitm

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// serverTLS is what the proxy presents to clients: its own certificate.
func (p *Proxy) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{*p.cert}, KeyLogWriter: p.cfg.KeyLog}
}

// handle intercepts one client: the handshake with the proxy's
// certificate, then one to the real server with the client's SNI, then the
// relay. It returns when both are closed, and whether anything was
// relayed.
func (p *Proxy) handle(raw net.Conn) bool {
	defer raw.Close()
	who := raw.RemoteAddr()
	client := tls.Server(raw, p.serverTLS())
	if err := p.handshake(client); err != nil {
		p.out.failure(who, clientHandshakeFailure(err))
		return false
	}
	cs := client.ConnectionState()
	up, err := dialUpstream(p.life, p.cfg, cs.ServerName)
	if err != nil {
		p.out.event(who, "cannot reach the upstream "+p.cfg.Upstream+": "+err.Error())
		return false
	}
	defer up.Close()
	if !p.track(up) {
		return false
	}
	defer p.untrack(up)
	p.out.event(who, fmt.Sprintf("intercepted: %s, SNI \"%s\"; relaying to %s", tls.VersionName(cs.Version), cs.ServerName, p.cfg.Upstream))
	p.relay(who, client, up)
	return true
}

// handshake completes the client's handshake within the timeout and the
// proxy's life.
func (p *Proxy) handshake(c *tls.Conn) error {
	ctx, cancel := context.WithTimeout(p.life, p.cfg.Timeout)
	defer cancel()
	return c.HandshakeContext(ctx)
}

// relay copies both ways, printing each direction's lines, until both
// directions are done. A direction that ends cleanly passes the end on
// (close_notify) and gives the other Linger to finish; one that fails, or
// a linger that runs out, closes both connections.
func (p *Proxy) relay(who net.Addr, client, up *tls.Conn) {
	var closeOnce sync.Once
	closeBoth := func() { closeOnce.Do(func() { client.Close(); up.Close() }) }
	done := make(chan struct{}, 2)
	pipe := func(dst, src *tls.Conn, dir Direction) {
		defer func() { done <- struct{}{} }()
		lines := p.out.lines(who, dir)
		_, err := io.Copy(io.MultiWriter(lines, deadlineWriter{dst}), src)
		lines.Close()
		if err != nil || dst.CloseWrite() != nil {
			closeBoth()
		}
	}
	go pipe(up, client, ToServer)
	go pipe(client, up, ToClient)
	<-done
	select {
	case <-done:
	case <-time.After(Linger):
		closeBoth()
		<-done
	}
	closeBoth()
}

// deadlineWriter writes to a connection within WriteTimeout: a peer that
// stops reading cannot hold the relay (and the goroutines) forever.
type deadlineWriter struct{ c *tls.Conn }

func (w deadlineWriter) Write(b []byte) (int, error) {
	if err := w.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return 0, err
	}
	return w.c.Write(b)
}

// clientHandshakeFailure is the transcript's line for a client whose TLS
// handshake with the proxy did not finish. It says what may have ended it
// without claiming one cause: a client that refuses the certificate, one
// that shows it to its user first (chat's first-use question hangs up and
// dials again after a y), or one that is not TLS at all.
func clientHandshakeFailure(err error) string {
	msg := "TLS handshake with the client failed, nothing relayed (a client that refuses the proxy's certificate, or asks its user first, ends here): " + err.Error()
	if strings.Contains(err.Error(), "bad record MAC") {
		msg += " (how Go reports openssl 3 refusing the certificate: openssl sends its alert unencrypted, before it uses the handshake's keys, and Go cannot decrypt it; nothing was tampered with)"
	}
	return msg
}
