package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"chatd/proto"
	"chatd/room"
)

// maxQuotedLine bounds the server's line quoted in an error.
const maxQuotedLine = 120

// tlsReadBuffer bounds what one TLS client buffers: a longer line (chatd's
// member list in a big room) is skipped, not stored.
const tlsReadBuffer = 4096

// newTLSDialer returns the dialer for TLS line clients.
func newTLSDialer(cfg *config) (dialFunc, error) {
	targets := cfg.targets()
	tcs := make([]*tls.Config, len(targets))
	for i, addr := range targets {
		tc, err := clientTLSConfig(cfg, addr)
		if err != nil {
			return nil, err
		}
		tcs[i] = tc
	}
	return func(ctx context.Context, b *bench, m *member) (conn, error) {
		return dialTLS(ctx, b, m, tcs[m.target])
	}, nil
}

// clientTLSConfig builds the verification policy for the server at addr
// from --ca, --insecure and --server-name.
func clientTLSConfig(cfg *config, addr string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", addr, err)
	}
	tc := &tls.Config{ServerName: host, InsecureSkipVerify: cfg.insecure, MinVersion: tls.VersionTLS12}
	if cfg.serverName != "" {
		tc.ServerName = cfg.serverName
	}
	if cfg.ca != "" {
		pemBytes, err := os.ReadFile(cfg.ca)
		if err != nil {
			return nil, fmt.Errorf("read --ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", cfg.ca)
		}
	}
	return tc, nil
}

// sendTimeout bounds one write: a server that stops reading loses the
// client rather than freezing its sender.
const sendTimeout = 10 * time.Second

// tlsConn is one TLS line client.
type tlsConn struct {
	c       *tls.Conn
	writeMu sync.Mutex
	line    []byte // send's buffer, under writeMu
}

// dialTLS connects m, joins (for chatd: sends the nickname and waits for
// its own join line), and starts m's reader.
func dialTLS(ctx context.Context, b *bench, m *member, tc *tls.Config) (conn, error) {
	d := tls.Dialer{Config: tc}
	raw, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &tlsConn{c: raw.(*tls.Conn)}
	r := bufio.NewReaderSize(c.c, tlsReadBuffer)
	if b.cfg.proto == protoChatd {
		if deadline, ok := ctx.Deadline(); ok {
			c.c.SetDeadline(deadline)
		}
		stopCancel := context.AfterFunc(ctx, func() { c.c.Close() })
		err := joinChatd(c, r, m.nick)
		if !stopCancel() && err == nil {
			err = ctx.Err()
		}
		if err != nil {
			c.c.Close()
			return nil, err
		}
		c.c.SetDeadline(time.Time{})
	} else if err := waitGreeting(ctx, c, r, b.cfg.rawWait); err != nil {
		c.c.Close()
		return nil, err
	}
	b.readers.Go(func() { b.readLines(m, c, r) })
	return c, nil
}

// joinChatd sends nick and reads until the server announces that nick
// joined; a refusal ("!!! ...") is an error.
func joinChatd(c *tlsConn, r *bufio.Reader, nick string) error {
	if err := c.send([]byte(nick)); err != nil {
		return fmt.Errorf("send nickname: %w", err)
	}
	var last string // the last line before a failure, to explain it
	for {
		line, err := readLine(r)
		if err != nil {
			if last != "" {
				return fmt.Errorf("wait for the own join line: %w (the last line was %q)", err, last)
			}
			return fmt.Errorf("wait for the own join line: %w", err)
		}
		if line == nil {
			continue // too long to be the join line
		}
		last = string(line[:min(len(line), maxQuotedLine)])
		ev := proto.ParseLine(string(line), time.Now())
		switch {
		case ev.Kind == room.Join && ev.From == nick:
			return nil
		case ev.Kind == room.Error:
			return fmt.Errorf("server refused %q: %s", nick, ev.Text)
		}
	}
}

// waitGreeting waits up to wait for a first line from a raw server. In TLS
// 1.3 the client's handshake ends before the server has read the client's
// last flight, so a server such as ncat may not yet count the client among
// those it broadcasts to; ncat's "<announce> already connected: ..." shows
// that it does. A server that greets no one costs the wait.
func waitGreeting(ctx context.Context, c *tlsConn, r *bufio.Reader, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetReadDeadline(deadline)
	_, err := readLine(r)
	c.c.SetReadDeadline(time.Time{})
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("wait for a first line: %w", err)
	}
	return nil
}

// readLine returns the next line without its line ending, or nil for a
// line longer than the reader's buffer (which it skips).
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readLines delivers the payloads in every line m receives until the
// connection ends. If the server's last error line ("!!! ...", such as
// chatd's slow-consumer notice) came before the end, the loss is reported
// with it.
func (b *bench) readLines(m *member, c *tlsConn, r *bufio.Reader) {
	var lastError string
	for {
		line, err := readLine(r)
		if err != nil {
			if lastError != "" {
				err = fmt.Errorf("%w after %q", err, lastError)
			}
			b.lose(m, err)
			return
		}
		if text, ok := serverError(line); ok {
			lastError = string(text[:min(len(text), maxErrorLine)])
		}
		b.scan(m, line, time.Now())
	}
}

// maxErrorLine bounds how much of a server's error line is kept.
const maxErrorLine = 120

// serverError returns the body of a chatd error line, "!!! TEXT" possibly
// after a "[hh:mm:ss] " stamp (left out, so that equal errors look equal).
func serverError(line []byte) ([]byte, bool) {
	if len(line) > 11 && line[0] == '[' && line[9] == ']' && line[10] == ' ' {
		line = line[11:]
	}
	return line, bytes.HasPrefix(line, []byte("!!! "))
}

// send writes text and a newline in one write.
func (c *tlsConn) send(text []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.line = append(append(c.line[:0], text...), '\n')
	c.c.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err := c.c.Write(c.line)
	return err
}

func (c *tlsConn) close() { c.c.Close() }
