package tui

import (
	"strconv"

	"github.com/charmbracelet/x/ansi"

	"chatd/room"
)

// SSHCrypto describes an SSH session's crypto as the server negotiated it,
// for /crypto (and /tls) on an SSH screen, as the bundled client's /tls
// describes its TLS session. The SSH server fills it in (it is typed, never
// parsed); the screen renders it (Lines). Peer-chosen text in it (the
// client's version string, its key type) is quoted and cut when shown.
type SSHCrypto struct {
	KeyExchange    string       // e.g. "mlkem768x25519-sha256"
	HostKeyAlgo    string       // the host key signature algorithm negotiated, e.g. "ssh-ed25519"
	ClientToServer SSHDirection // what the client sends
	ServerToClient SSHDirection // what the server sends
	HostKey        SSHKey       // the server's host key
	Auth           SSHAuth      // how the client signed in
	ClientKey      SSHKey       // the key it signed in with; zero unless Auth is AuthPublicKey
	ClientVersion  string       // the client's version string, as it sent it
	ServerVersion  string       // the server's
}

// SSHDirection is the cipher and MAC of one direction of an SSH session.
// MAC is empty for an AEAD cipher, whose integrity check is part of it.
type SSHDirection struct {
	Cipher string
	MAC    string
}

// SSHKey is an SSH public key as people compare it: its type and its
// SHA-256 fingerprint in OpenSSH's form ("SHA256:" and unpadded base64).
type SSHKey struct {
	Type        string
	Fingerprint string
}

// SSHAuth is how an SSH client signed in.
type SSHAuth uint8

const (
	// AuthNone: the "none" method (chatd's default, --ssh-none-auth): ssh
	// tries it first, it succeeds, and the client never shows a key.
	AuthNone SSHAuth = iota
	// AuthPublicKey: the client proved it holds the key SSHCrypto.ClientKey.
	AuthPublicKey
	// AuthKeyboardInteractive: keyboard-interactive, with no questions.
	AuthKeyboardInteractive
)

// peerTextWidth is how many columns of a peer's text /crypto shows.
const peerTextWidth = 80

// Lines renders the description, one line each, as /crypto shows it.
func (c SSHCrypto) Lines() []string {
	lines := []string{
		"Your connection: SSH, as the server sees it",
		"key exchange: " + c.KeyExchange,
	}
	lines = append(lines, c.cipherLines()...)
	lines = append(lines,
		"server host key: "+c.HostKeyAlgo+" "+c.HostKey.Fingerprint,
		"your key: "+c.clientKeyText(),
		"your client's version: "+quotePeer(c.ClientVersion),
		"server's version: "+quotePeer(c.ServerVersion),
	)
	return lines
}

// cipherLines says the cipher and MAC, once if both directions agree.
func (c SSHCrypto) cipherLines() []string {
	if c.ClientToServer == c.ServerToClient {
		return []string{"cipher (both directions): " + c.ClientToServer.String()}
	}
	return []string{
		"cipher, client to server: " + c.ClientToServer.String(),
		"cipher, server to client: " + c.ServerToClient.String(),
	}
}

// String names the cipher and its MAC.
func (d SSHDirection) String() string {
	if d.MAC == "" {
		return d.Cipher + ", MAC implicit (AEAD cipher)"
	}
	return d.Cipher + ", MAC " + d.MAC
}

// clientKeyText says which key the client showed, or why none.
func (c SSHCrypto) clientKeyText() string {
	switch c.Auth {
	case AuthPublicKey:
		return cleanPeer(c.ClientKey.Type) + " " + c.ClientKey.Fingerprint + " (you proved you hold it)"
	case AuthKeyboardInteractive:
		return "none shown: you signed in with keyboard-interactive (no questions asked); you are known by your address"
	}
	return `none shown: the server let you in with "none" authentication (chatd's default), so your client never offered a key; you are known by your address`
}

// quotePeer shows text the peer chose freely: cleaned and cut
// (cleanPeer), then quoted, so that it stays on its line and cannot pass
// for the screen's own words.
func quotePeer(s string) string { return strconv.Quote(cleanPeer(s)) }

// cleanPeer cleans text the peer chose like chat text and cuts it to
// peerTextWidth columns.
func cleanPeer(s string) string {
	s = room.Clean(s)
	if ansi.WcWidth.StringWidth(s) > peerTextWidth {
		s = ansi.WcWidth.Truncate(s, peerTextWidth, "…")
	}
	return s
}

// showCrypto answers /crypto on a screen that has an SSHCrypto, and reports
// whether it did; without one (the bundled client) the line goes to the
// Conn, which answers it.
func (m *Model) showCrypto(line string) bool {
	cmd, _, found := room.LookupCommand(line)
	if !found || cmd.Name != room.CryptoCommand || m.opts.Crypto == nil {
		return false
	}
	crypto := m.opts.Crypto() // now, not when the screen opened
	if crypto == nil {
		return false
	}
	for _, text := range crypto.Lines() {
		m.localEvent(room.Notice, text)
	}
	return true
}
