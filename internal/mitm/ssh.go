package mitm

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// MaxSessions bounds the session channels one SSH client may have open
// through the proxy at once; other channel kinds (port forwarding) are
// refused.
const MaxSessions = 4

// SSHConfig is what the SSH proxy is told.
type SSHConfig struct {
	Listen   string // address to listen on
	Upstream string // the real server's SSH address, HOST:PORT
	// HostKey is the host key the proxy presents; nil: an ed25519 key is
	// generated at start.
	HostKey  gossh.Signer
	MaxConns int           // connections relayed at once; 0: DefaultMaxConns
	Timeout  time.Duration // bounds each dial and handshake; 0: DefaultTimeout
	Out      io.Writer     // the transcript
	Now      func() time.Time
}

// SSHProxy is a running SSH interception proxy: it terminates SSH with a
// host key of its own, lets the client in with "none", logs in to the
// real server as the same user with "none" (chatd's default), and relays
// session channels: their requests (pty, window changes, shell, exit
// status) and data, printing what the user types.
type SSHProxy struct {
	*listener
	cfg      SSHConfig
	upstream gossh.PublicKey // the real server's host key, read at start
	srv      *gossh.ServerConfig
}

// StartSSH reads the upstream's host key (connecting once), makes the
// proxy's host key unless one is given, and listens. Serve relays; Close
// stops.
func StartSSH(ctx context.Context, cfg SSHConfig) (*SSHProxy, error) {
	base := withDefaults(Config{MaxConns: cfg.MaxConns, Timeout: cfg.Timeout, Out: cfg.Out, Now: cfg.Now})
	cfg.MaxConns, cfg.Timeout, cfg.Out, cfg.Now = base.MaxConns, base.Timeout, base.Out, base.Now
	key, err := probeSSHUpstream(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.HostKey == nil {
		if cfg.HostKey, err = generateHostKey(); err != nil {
			return nil, err
		}
	}
	p := &SSHProxy{cfg: cfg, upstream: key}
	p.srv = p.serverConfig()
	if p.listener, err = listen(ctx, cfg.Listen, cfg.MaxConns, newTranscript(cfg.Out, cfg.Now), p.handle); err != nil {
		return nil, err
	}
	return p, nil
}

// generateHostKey makes an ed25519 host key in memory.
func generateHostKey() (gossh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	return gossh.NewSignerFromKey(priv)
}

// errProbeDone ends the probe's handshake once the host key is seen.
var errProbeDone = errors.New("host key read")

// probeSSHUpstream connects to the upstream and returns its host key.
func probeSSHUpstream(ctx context.Context, cfg SSHConfig) (gossh.PublicKey, error) {
	var key gossh.PublicKey
	c, err := dialSSH(ctx, cfg.Upstream, probeTimeout(cfg.Timeout), &gossh.ClientConfig{User: "mitm-probe",
		HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error { key = k; return errProbeDone }})
	if c != nil {
		c.Close()
	}
	if key == nil {
		return nil, fmt.Errorf("cannot reach the SSH upstream %s (is the real server running there?): %w", cfg.Upstream, err)
	}
	return key, nil
}

// serverConfig lets every client in with "none", as chatd does by
// default: ssh then never offers a key or a password.
func (p *SSHProxy) serverConfig() *gossh.ServerConfig {
	c := &gossh.ServerConfig{NoClientAuth: true}
	c.AddHostKey(p.cfg.HostKey)
	return c
}

// UpstreamKey is the real server's host key, as read at start.
func (p *SSHProxy) UpstreamKey() gossh.PublicKey { return p.upstream }

// HostKey is the host key the proxy presents.
func (p *SSHProxy) HostKey() gossh.PublicKey { return p.cfg.HostKey.PublicKey() }

// handle intercepts one SSH client; it returns once both connections are
// closed, and whether anything was relayed. The client's global requests
// are discarded and its channels taken from the moment its handshake ends,
// while the upstream is dialed too: x/crypto's reader stalls for good on a
// client whose requests or channel opens are not read.
func (p *SSHProxy) handle(raw net.Conn) bool {
	defer raw.Close()
	who := raw.RemoteAddr()
	raw.SetDeadline(time.Now().Add(p.cfg.Timeout))
	client, chans, reqs, err := gossh.NewServerConn(writeDeadlineConn{raw}, p.srv)
	if err != nil {
		p.out.failure(who, "SSH handshake with the client failed, nothing relayed (a client that refuses the proxy's host key, or whose user answers no, ends here): "+err.Error())
		return false
	}
	defer client.Close()
	raw.SetReadDeadline(time.Time{}) // not the write deadline: a write under way keeps its own
	// dialing ends when the client leaves or the proxy closes.
	dialing, stopDialing := context.WithCancel(p.life)
	defer stopDialing()
	var ends sync.WaitGroup
	defer ends.Wait()
	ends.Add(3)
	go func() { defer ends.Done(); gossh.DiscardRequests(reqs) }()
	ready := make(chan struct{}) // closed once up is set, or the dial failed
	var up *gossh.Client
	go func() { defer ends.Done(); p.relayChannels(who, chans, ready, &up) }()
	go func() { defer ends.Done(); client.Wait(); stopDialing() }()
	up, err = p.dialUpstream(dialing, client.User())
	close(ready)
	if err != nil {
		p.out.event(who, "cannot log in to the SSH upstream "+p.cfg.Upstream+": "+err.Error())
		client.Close()
		return false
	}
	defer up.Close()
	p.out.event(who, "ssh intercepted: user \""+client.User()+"\", client \""+string(client.ClientVersion())+"\"; relaying to "+p.cfg.Upstream)
	ends.Add(1)
	go func() { defer ends.Done(); up.Wait(); client.Close() }() // one side's end ends the other
	client.Wait()
	up.Close()
	return true
}

// dialUpstream logs in to the real server as user, with "none".
func (p *SSHProxy) dialUpstream(ctx context.Context, user string) (*gossh.Client, error) {
	return dialSSH(ctx, p.cfg.Upstream, p.cfg.Timeout, &gossh.ClientConfig{User: user,
		HostKeyCallback: gossh.InsecureIgnoreHostKey()}) //nolint:gosec // the proxy is the man in the middle
}

// dialSSH connects and logs in to addr, the connection and the handshake
// within timeout; ctx's end cuts the handshake too.
func dialSSH(ctx context.Context, addr string, timeout time.Duration, cfg *gossh.ClientConfig) (*gossh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	c, chans, reqs, err := gossh.NewClientConn(writeDeadlineConn{raw}, addr, cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		raw.Close()
		return nil, errors.Join(context.Cause(ctx), err)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	raw.SetReadDeadline(time.Time{}) // not the write deadline: a write under way keeps its own
	return gossh.NewClient(c, chans, reqs), nil
}

// writeDeadlineConn bounds each write to a peer by WriteTimeout, as the
// TLS relay does: a peer that stops reading is cut.
type writeDeadlineConn struct{ net.Conn }

func (c writeDeadlineConn) Write(b []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// relayChannels takes the client's channels from the end of its handshake
// until its connection ends, and waits for the sessions it relays: at
// most MaxSessions at once, each once the upstream is up (ready closed,
// *up set; nil: refused). Other channel kinds are refused.
func (p *SSHProxy) relayChannels(who net.Addr, chans <-chan gossh.NewChannel, ready <-chan struct{}, up **gossh.Client) {
	var wg sync.WaitGroup
	defer wg.Wait()
	open := make(chan struct{}, MaxSessions) // sessions at once
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(gossh.Prohibited, "not relayed")
			continue
		}
		select {
		case open <- struct{}{}:
		default:
			nc.Reject(gossh.ResourceShortage, "too many sessions at once")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-open }()
			<-ready
			if *up == nil {
				nc.Reject(gossh.ConnectionFailed, "upstream unreachable")
				return
			}
			p.relaySession(who, nc, *up)
		}()
	}
}

// relaySession opens the same channel upstream and relays its requests
// both ways and its data and extended data (stderr), printing what the
// user types.
func (p *SSHProxy) relaySession(who net.Addr, nc gossh.NewChannel, up *gossh.Client) {
	upCh, upReqs, err := up.OpenChannel(nc.ChannelType(), nc.ExtraData())
	if err != nil {
		nc.Reject(gossh.ConnectionFailed, "upstream refused")
		return
	}
	defer upCh.Close()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	var fromClient, fromServer sync.WaitGroup
	fromClient.Add(2)
	fromServer.Add(2)
	go func() { defer fromClient.Done(); p.forwardRequests(who, reqs, upCh, true) }()
	go func() {
		defer fromClient.Done()
		typed := p.out.typed(who)
		copyBoth(upCh, ch, typed)
		typed.Close()
		upCh.CloseWrite()
	}()
	go func() { defer fromServer.Done(); p.forwardRequests(who, upReqs, ch, false) }()
	go func() {
		defer fromServer.Done()
		copyBoth(ch, upCh, io.Discard)
		ch.CloseWrite()
	}()
	// The server ends a session: its data, then its exit status, then the
	// channel's close, all passed on before the client's channel closes.
	fromServer.Wait()
	ch.Close()
	upCh.Close()
	fromClient.Wait()
}

// copyBoth copies src's data to dst and to seen, and its extended data
// (stderr) to dst's, until src's end.
func copyBoth(dst, src gossh.Channel, seen io.Writer) {
	var stderr sync.WaitGroup
	stderr.Add(1)
	go func() { defer stderr.Done(); io.Copy(dst.Stderr(), src.Stderr()) }()
	io.Copy(io.MultiWriter(seen, dst), src)
	stderr.Wait()
}

// forwardRequests passes channel requests on (pty-req, window-change,
// shell from the client; exit-status from the server), printing the
// client's.
func (p *SSHProxy) forwardRequests(who net.Addr, reqs <-chan *gossh.Request, to gossh.Channel, fromClient bool) {
	for req := range reqs {
		if fromClient {
			p.out.event(who, "ssh request "+req.Type)
		}
		ok, err := to.SendRequest(req.Type, req.WantReply, req.Payload)
		if req.WantReply {
			req.Reply(ok && err == nil, nil)
		}
	}
}
