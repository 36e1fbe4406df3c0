package sshgw

import (
	"fmt"
	"unicode/utf8"

	"charm.land/ssh"
)

// maxUserBytes bounds the SSH user name. Longer names are refused before
// they are used anywhere, and logged only cut short.
const maxUserBytes = 64

// boundedUser returns user if it is at most maxUserBytes long, and
// otherwise its start, cut on a character boundary, with "…" appended: at
// most maxUserBytes in all. It is the only form of a user name that goes
// to the log.
func boundedUser(user string) string {
	if len(user) <= maxUserBytes {
		return user
	}
	const ellipsis = "…"
	cut := maxUserBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(user[cut]) {
		cut--
	}
	return user[:cut] + ellipsis
}

// refuseLongUser turns away a session whose user name is over
// maxUserBytes with a one-line explanation and exit status 1, before the
// name reaches the room, the nickname prompt or the session log.
func (s *Server) refuseLongUser(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if user := sess.User(); len(user) > maxUserBytes {
			s.log.Info("ssh session refused: user name too long", "user", boundedUser(user), "user_bytes", len(user), "remote", sess.RemoteAddr().String())
			setConnReason(sess.Context(), "user name too long")
			fmt.Fprintf(sess.Stderr(), "chatd: the user name is %d bytes long; at most %d are allowed\n", len(user), maxUserBytes)
			_ = sess.Exit(1)
			return
		}
		next(sess)
	}
}
