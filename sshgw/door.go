package sshgw

import (
	"errors"
	"fmt"
	"net"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"chatd/access"
	"chatd/connlimit"
	"chatd/room"
)

// maxAdmitsPerConn bounds how many times one connection's authentication
// attempts may ask the door (Config.Door): ssh offers each of its keys in
// turn, and each key is one question, but a client that keeps offering
// new ones is failed without asking once it has used them up. Go's SSH
// server ends the connection after MaxAuthTries failures anyway
// (sshMaxAuthTries); this is the door's own bound, whatever the client
// does that does not count as a failure there.
const maxAdmitsPerConn = 2*sshMaxAuthTries + 2

// sshMaxAuthTries is the authentication failures after which a connection
// is disconnected, as OpenSSH's MaxAuthTries.
const sshMaxAuthTries = 6

// authIdentity is the identity a session of the connection would have if
// it authenticated now, with key (nil for keyboard-interactive and
// "none"): as sessionIdentity builds it.
func authIdentity(remote net.Addr, key gossh.PublicKey) room.Identity {
	id := room.Identity{Transport: room.TransportSSH, Address: connlimit.Source(remote)}
	if key != nil {
		id.KeyFingerprint = gossh.FingerprintSHA256(key)
	}
	return id
}

// admitAuth reports whether an authentication attempt of the connection
// of ctx, from remote, as id, may succeed: only a refusal that asks to fail the
// authentication itself (access.Refusal.FailAuth) fails it; any other
// refusal is told when the session starts (see refuseAtDoor). Without a
// door every attempt succeeds. An address the door refused too often
// lately (authRefusals) fails at once, without asking the door.
func (s *Server) admitAuth(ctx ssh.Context, remote net.Addr, id room.Identity) bool {
	if s.cfg.Door == nil {
		return true
	}
	cl, _ := ctx.Value(connLogKey{}).(*connLog)
	if cl != nil && !cl.takeAdmit() {
		s.log.Info("ssh authentication refused: too many attempts", "remote", remote.String())
		return false
	}
	if s.authRefusals.over(id.Address, time.Now()) {
		s.log.Info("ssh authentication refused: too many refusals from the address", "remote", remote.String())
		return false
	}
	err := s.cfg.Door.Admit(id)
	var refusal *access.Refusal
	if !errors.As(err, &refusal) || !refusal.FailAuth {
		cl.authRefused("")
		return true
	}
	s.authRefusals.take(id.Address, time.Now())
	class := access.RefusalClass(err)
	cl.authRefused(class)
	s.log.Info("ssh authentication refused at the door", "remote", remote.String(), "identity", id, "refusal", class)
	return false
}

// publicKeyAuth is the public key handler: any key the door admits.
func (s *Server) publicKeyAuth(ctx ssh.Context, key ssh.PublicKey) bool {
	return s.admitAuth(ctx, ctx.RemoteAddr(), authIdentity(ctx.RemoteAddr(), key))
}

// keyboardInteractiveAuth is the keyboard-interactive handler: no
// questions, and a client without a key, if the door admits one.
func (s *Server) keyboardInteractiveAuth(ctx ssh.Context, _ gossh.KeyboardInteractiveChallenge) bool {
	return s.admitAuth(ctx, ctx.RemoteAddr(), authIdentity(ctx.RemoteAddr(), nil))
}

// noneAuth is the "none" method's callback (Config.NoneAuth) for the
// connection of ctx: a client that shows nothing, if the door admits one.
func (s *Server) noneAuth(ctx ssh.Context) func(gossh.ConnMetadata) (*gossh.Permissions, error) {
	return func(meta gossh.ConnMetadata) (*gossh.Permissions, error) {
		// ctx is not filled in yet for this method (charm.land/ssh
		// fills it for its own handlers): the address comes from meta.
		if !s.admitAuth(ctx, meta.RemoteAddr(), authIdentity(meta.RemoteAddr(), nil)) {
			return nil, errors.New("chatd: not admitted")
		}
		// Permissions rather than none: charm.land/ssh keeps them in
		// the session's context; the mark is for /crypto (authOf).
		return &gossh.Permissions{Extensions: map[string]string{authExtension: authNone}}, nil
	}
}

// refuseAtDoor asks the door again when a session starts (a ban may have
// come since the authentication), and turns a refused session away with
// "*** " and the refusal's words, and exit status 1, before anything
// joins the room or starts a program: a chat screen, an exec command, or
// a shell without a terminal alike.
func (s *Server) refuseAtDoor(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if s.cfg.Door == nil {
			next(sess)
			return
		}
		id := sessionIdentity(sess)
		err := s.cfg.Door.Admit(id)
		if err == nil {
			next(sess)
			return
		}
		class := access.RefusalClass(err)
		s.countConnRefusal(sess.Context(), class)
		setConnReason(sess.Context(), refusedReason(class))
		s.log.Info("ssh session refused at the door", "user", boundedUser(sess.User()), "remote", sess.RemoteAddr().String(),
			"identity", id, "refusal", class)
		fmt.Fprintf(s.guarded(sess, messages(sess)), "*** %s\n", access.RefusalText(err))
		_ = sess.Exit(1)
	}
}

// authRefused records the door's answer to the connection's latest
// authentication attempt: the refusal's class, or "" if it was admitted.
// c may be nil (a connection without its log, in no server of ours).
func (c *connLog) authRefused(class string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refusal = class
}

// takeAdmit counts one question to the door for the connection; it
// reports false once the connection has asked maxAdmitsPerConn.
func (c *connLog) takeAdmit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admits >= maxAdmitsPerConn {
		return false
	}
	c.admits++
	return true
}

// Refusal classes, as counted in Stats.Refused and labelled in metrics.
const (
	RefusedPolicy = access.ClassPolicy // access.RefusedByPolicy
	RefusedBanned = access.ClassBanned // access.RefusedBanned
	RefusedOther  = access.ClassOther  // an error that is not an *access.Refusal
)

// refusedReason is why a connection refused with a refusal of class
// ended, as its log record says: "refused: banned".
func refusedReason(class string) string { return "refused: " + class }

// countRefusal counts a refusal at the door, of class: a connection whose
// authentication it failed, or a session it turned away.
func (s *Server) countRefusal(class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[class]++
}
