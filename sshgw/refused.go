package sshgw

import (
	"errors"
	"fmt"

	"charm.land/ssh"

	"chatd/access"
)

// tooManyClaimsReason is why a connection whose session was ended for
// trying too many registered nicknames closed, as its log record says.
const tooManyClaimsReason = "too many registered nicknames tried"

// finalJoinError reports whether err, a Join's, ends the session rather
// than asking for another nickname: the room's policy refused the
// holder (an *access.Refusal: a ban or a /disallow made since the door
// admitted the session), or its address tried too many registered
// nicknames (access.ErrTooManyClaims), which asking again would let it go
// on doing.
func finalJoinError(err error) bool {
	var refusal *access.Refusal
	return errors.As(err, &refusal) || errors.Is(err, access.ErrTooManyClaims)
}

// endRefused records err, a Join's final refusal (finalJoinError), as how
// the session ends, stops later joins, and quits its screen if one runs;
// the session then tells why and exits 1 (tellRefused).
func (cs *chatSession) endRefused(err error) {
	cs.mu.Lock()
	if cs.refusal == nil {
		cs.refusal = err
	}
	cs.ended = true
	cs.mu.Unlock()
	cs.srv.mu.Lock()
	p := cs.program
	cs.srv.mu.Unlock()
	if p != nil {
		// Quit waits until the program takes it, or has ended; the join
		// that calls this runs in one of the program's commands.
		go p.Quit()
	}
}

// refused returns the final refusal that ended the session, or nil.
func (cs *chatSession) refused() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.refusal
}

// tellRefused ends a session whose Join was refused for good (endRefused)
// as refuseAtDoor ends one the door refused: "*** " and the refusal's
// words, once the screen has given the terminal back. A refusal of the
// room's policy is counted as a refusal at the door, once for the
// connection; one for too many registered nicknames is not.
func (s *Server) tellRefused(sess ssh.Session, err error) {
	reason := tooManyClaimsReason
	var refusal *access.Refusal
	if errors.As(err, &refusal) {
		class := refusal.Class()
		s.countConnRefusal(sess.Context(), class)
		reason = refusedReason(class)
	}
	setConnReason(sess.Context(), reason)
	s.log.Info("ssh session refused on joining", "user", boundedUser(sess.User()), "remote", sess.RemoteAddr().String(),
		"identity", sessionIdentity(sess), "reason", reason)
	fmt.Fprintf(s.guarded(sess, messages(sess)), "*** %s\r\n", access.RefusalText(err))
}

// countConnRefusal counts a refusal of class for the connection of ctx,
// once however many of its sessions are refused (and however many of its
// authentication attempts were); without the connection's log, it counts
// it at once.
func (s *Server) countConnRefusal(ctx ssh.Context, class string) {
	if c, ok := ctx.Value(connLogKey{}).(*connLog); ok {
		c.countRefusal(class)
		return
	}
	s.countRefusal(class)
}

// countRefusal counts the connection refused, with class, unless it was
// counted already.
func (c *connLog) countRefusal(class string) {
	c.mu.Lock()
	counted := c.counted
	c.counted = true
	c.mu.Unlock()
	if !counted {
		c.refused(class)
	}
}
