package sshgw

import (
	"net"
	"sync"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"chatd/connlimit"
	"chatd/room"
)

// connLog is an SSH connection as the log sees it: one record when it is
// accepted, one when it closes with everything learned meanwhile (user,
// client version, key, bytes, why it ended). It also closes a connection
// that goes without a session for too long, before its first or after its
// last: such a connection would otherwise hold its slot under the limits.
type connLog struct {
	net.Conn
	log   func(msg string, args ...any)
	ctx   ssh.Context
	start time.Time
	once  sync.Once

	mu       sync.Mutex
	reason   string
	channels int // session channels open now, for maxSessionsPerConn
	admits   int // questions to the door so far, for maxAdmitsPerConn
	// refusal is the class of the door's refusal of the last
	// authentication attempt, "" if it was admitted (or none was made):
	// a connection that closes refused is counted once (refused).
	refusal string
	refused func(class string)
	// counted is set once the connection was counted as refused
	// (countRefusal): a connection is counted once, whatever its keys
	// and sessions.
	counted   bool
	sessions  int           // of those, the ones still in use
	noSession *time.Timer   // runs while sessions is 0
	idle      time.Duration // how long a connection may go without a session
}

type connLogKey struct{}

// logConnections is the server's ConnCallback: it logs the new connection
// and wraps it to log its end.
func (s *Server) logConnections(ctx ssh.Context, conn net.Conn) net.Conn {
	s.log.Info("connection opened", "transport", "ssh", "remote", conn.RemoteAddr().String())
	c := &connLog{Conn: conn, log: s.log.Info, refused: s.countRefusal, ctx: ctx, start: time.Now(), idle: s.cfg.HandshakeTimeout}
	c.noSession = time.AfterFunc(c.idle, c.closeIdle)
	ctx.SetValue(connLogKey{}, c)
	return c
}

// closeIdle closes the connection if it still has no session.
func (c *connLog) closeIdle() {
	c.mu.Lock()
	idle := c.sessions == 0
	if idle {
		c.reason = "no session"
	}
	c.mu.Unlock()
	if idle {
		c.Close()
	}
}

// maxSessionsPerConn bounds the session channels one SSH connection may
// have open, as OpenSSH's MaxSessions does: each is a screen and maybe a
// member, and buffers of its own, and the connection limits count
// connections, not sessions. Extra channels are refused when they are
// opened, before they are accepted.
const maxSessionsPerConn = 3

// openChannel takes one of the connection's session slots, if one is free,
// and counts the session as live. It reports whether a slot was free.
func (c *connLog) openChannel() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.channels >= maxSessionsPerConn {
		return false
	}
	c.channels++
	c.sessions++
	c.noSession.Stop()
	return true
}

// sessionOver counts a session as no longer live: once none is, the
// connection is closed if it goes idle for too long.
func (c *connLog) sessionOver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions--; c.sessions == 0 {
		c.noSession.Reset(c.idle)
	}
}

// closeChannel frees the slot of a channel that is gone.
func (c *connLog) closeChannel() {
	c.mu.Lock()
	c.channels--
	c.mu.Unlock()
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
	c.once.Do(func() {
		c.noSession.Stop()
		c.logClose()
	})
	return c.Conn.Close()
}

func (c *connLog) logClose() {
	c.mu.Lock()
	reason, refusal := c.reason, c.refusal
	c.mu.Unlock()
	if refusal != "" {
		// It never authenticated: the door refused its last attempt.
		reason = refusedReason(refusal)
		c.countRefusal(refusal)
	}
	// The context's accessors panic on values the handshake never set.
	version, _ := c.ctx.Value(ssh.ContextKeyClientVersion).(string)
	user, _ := c.ctx.Value(ssh.ContextKeyUser).(string)
	user = boundedUser(user)
	switch {
	case version == "":
		reason = "ssh handshake failed"
	case reason == "":
		reason = room.Reason{Kind: room.ReasonClosed}.String()
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
