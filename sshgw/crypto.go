package sshgw

import (
	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"chatd/tui"
)

// authExtension marks, in the permissions of a connection let in with the
// "none" method, that it was (see serverConfig); the other methods are
// told apart by the key the client proved it holds.
const authExtension = "chatd-auth"

// authNone is authExtension's value for the "none" method.
const authNone = "none"

// sessionCrypto describes the crypto of sess's connection for its screen's
// /crypto: the algorithms of the last key exchange, both keys, how the
// client signed in and both version strings. It returns nil if the
// connection does not tell (with charm.land/ssh and x/crypto v0.59 it
// always does).
func (s *Server) sessionCrypto(sess ssh.Session) *tui.SSHCrypto {
	conn, ok := sess.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	if !ok {
		return nil
	}
	negotiated, ok := conn.Conn.(gossh.AlgorithmsConnMetadata)
	if !ok {
		return nil
	}
	algs := negotiated.Algorithms()
	c := &tui.SSHCrypto{
		KeyExchange: algs.KeyExchange,
		HostKeyAlgo: algs.HostKey,
		// The server reads what the client writes.
		ClientToServer: tui.SSHDirection{Cipher: algs.Read.Cipher, MAC: algs.Read.MAC},
		ServerToClient: tui.SSHDirection{Cipher: algs.Write.Cipher, MAC: algs.Write.MAC},
		HostKey:        tui.SSHKey{Type: s.hostKeyType, Fingerprint: s.fingerprint},
		Auth:           authOf(conn, sess.PublicKey()),
		ClientVersion:  string(conn.ClientVersion()),
		ServerVersion:  string(conn.ServerVersion()),
	}
	if key := sess.PublicKey(); key != nil {
		c.ClientKey = tui.SSHKey{Type: key.Type(), Fingerprint: gossh.FingerprintSHA256(key)}
	}
	return c
}

// authOf tells how the client of conn signed in: with key if it proved
// one, with "none" if serverConfig's callback marked it, else with
// keyboard-interactive (the only other method offered).
func authOf(conn *gossh.ServerConn, key ssh.PublicKey) tui.SSHAuth {
	switch {
	case key != nil:
		return tui.AuthPublicKey
	case conn.Permissions != nil && conn.Permissions.Extensions[authExtension] == authNone:
		return tui.AuthNone
	}
	return tui.AuthKeyboardInteractive
}
