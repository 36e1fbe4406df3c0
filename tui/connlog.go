package tui

import (
	"net"
	"sync"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"chatd/connlimit"
)

// connLog is an SSH connection as the log sees it: one record when it is
// accepted, one when it closes with everything learned meanwhile (user,
// client version, key, bytes, why it ended).
type connLog struct {
	net.Conn
	log   func(msg string, args ...any)
	ctx   ssh.Context
	start time.Time
	once  sync.Once

	mu     sync.Mutex
	reason string
}

type connLogKey struct{}

// logConnections is the server's ConnCallback: it logs the new connection
// and wraps it to log its end.
func (s *SSHServer) logConnections(ctx ssh.Context, conn net.Conn) net.Conn {
	s.log.Info("connection opened", "transport", "ssh", "remote", conn.RemoteAddr().String())
	c := &connLog{Conn: conn, log: s.log.Info, ctx: ctx, start: time.Now()}
	ctx.SetValue(connLogKey{}, c)
	return c
}

// setConnReason records why the connection of a session is ending.
func setConnReason(ctx ssh.Context, reason string) {
	if c, ok := ctx.Value(connLogKey{}).(*connLog); ok {
		c.mu.Lock()
		c.reason = reason
		c.mu.Unlock()
	}
}

// Close logs the connection's end, once, and closes it.
func (c *connLog) Close() error {
	c.once.Do(c.logClose)
	return c.Conn.Close()
}

func (c *connLog) logClose() {
	c.mu.Lock()
	reason := c.reason
	c.mu.Unlock()
	// The context's accessors panic on values the handshake never set.
	version, _ := c.ctx.Value(ssh.ContextKeyClientVersion).(string)
	user, _ := c.ctx.Value(ssh.ContextKeyUser).(string)
	switch {
	case version == "":
		reason = "ssh handshake failed"
	case reason == "":
		reason = ReasonConnectionClosed
	}
	keyType, keyFingerprint := "none", ""
	if pk, ok := c.ctx.Value(ssh.ContextKeyPublicKey).(ssh.PublicKey); ok && pk != nil {
		keyType, keyFingerprint = pk.Type(), gossh.FingerprintSHA256(pk)
	}
	in, out := connlimit.Bytes(c.Conn)
	c.log("connection closed", "transport", "ssh", "remote", c.RemoteAddr().String(),
		"user", user, "client_version", version, "key_type", keyType, "key_fingerprint", keyFingerprint,
		"reason", reason, "duration", time.Since(c.start).Round(time.Millisecond), "bytes_in", in, "bytes_out", out)
}
