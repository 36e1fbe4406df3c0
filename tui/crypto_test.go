package tui

import (
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// TestSSHCryptoLines: the description says the cipher once when both
// directions agree, per direction when they differ, that an AEAD cipher's
// MAC is implicit, which key the client showed or why none, and shows the
// peer's version string cleaned, cut and quoted.
func TestSSHCryptoLines(t *testing.T) {
	aead := SSHDirection{Cipher: "chacha20-poly1305@openssh.com"}
	ctr := SSHDirection{Cipher: "aes128-ctr", MAC: "hmac-sha2-256-etm@openssh.com"}
	base := SSHCrypto{
		KeyExchange: "curve25519-sha256", HostKeyAlgo: "ssh-ed25519",
		ClientToServer: aead, ServerToClient: aead,
		HostKey:       SSHKey{Type: "ssh-ed25519", Fingerprint: "SHA256:host"},
		ClientVersion: "SSH-2.0-OpenSSH_9.2p1", ServerVersion: "SSH-2.0-chatd",
	}
	keyed := base
	keyed.ClientToServer, keyed.Auth, keyed.ClientKey = ctr, AuthPublicKey, SSHKey{Type: "ssh-ed25519", Fingerprint: "SHA256:client"}
	hostile := base
	hostile.Auth = AuthKeyboardInteractive
	hostile.ClientVersion = "SSH-2.0-x\x1b]0;pwned\x07\x1b[2J\r\n\"quoted\" " + strings.Repeat("A", 200)

	for _, tc := range []struct {
		name string
		c    SSHCrypto
		want []string
	}{
		{"none auth, AEAD both ways", base, []string{
			"key exchange: curve25519-sha256",
			"cipher (both directions): chacha20-poly1305@openssh.com, MAC implicit (AEAD cipher)",
			"server host key: ssh-ed25519 SHA256:host",
			`your key: none shown: the server let you in with "none" authentication`,
			`your client's version: "SSH-2.0-OpenSSH_9.2p1"`,
			`server's version: "SSH-2.0-chatd"`,
		}},
		{"a key, directions differ", keyed, []string{
			"cipher, client to server: aes128-ctr, MAC hmac-sha2-256-etm@openssh.com",
			"cipher, server to client: chacha20-poly1305@openssh.com, MAC implicit (AEAD cipher)",
			"your key: ssh-ed25519 SHA256:client (you proved you hold it)",
		}},
		{"keyboard-interactive, hostile version", hostile, []string{
			"your key: none shown: you signed in with keyboard-interactive",
			`your client's version: "SSH-2.0-x\"quoted\" AAAA`,
		}},
	} {
		lines := tc.c.Lines()
		text := strings.Join(lines, "\n")
		for _, want := range tc.want {
			if !strings.Contains(text, want) {
				t.Errorf("%s: no %q in\n%s", tc.name, want, text)
			}
		}
		for _, line := range lines {
			if strings.ContainsAny(line, "\x1b\x07\r\n") || len(line) > 200 {
				t.Errorf("%s: line %q is not clean or too long", tc.name, line)
			}
		}
	}
	if text := strings.Join(hostile.Lines(), "\n"); !strings.Contains(text, `…"`) || strings.Count(text, "A") > peerTextWidth {
		t.Errorf("the hostile version string was not cut:\n%s", text)
	}
}

// TestCryptoOnAnSSHScreenIsAnsweredThere: with Options.Crypto (an SSH
// session), /crypto and /tls are answered by the screen and never sent;
// without it (the bundled client) they go to the Conn, which answers them.
func TestCryptoOnAnSSHScreenIsAnsweredThere(t *testing.T) {
	c := newFakeConn("bob")
	crypto := &SSHCrypto{KeyExchange: "mlkem768x25519-sha256", HostKey: SSHKey{Fingerprint: "SHA256:abc"}}
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1, Crypto: func() *SSHCrypto { return crypto }})
	m.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
	for _, line := range []string{"/crypto", "/TLS"} {
		typeText(m, line)
		press(m, "enter")
	}
	if sent := c.Sent(); len(sent) != 0 {
		t.Errorf("the SSH screen sent %q to the room", sent)
	}
	if got := strings.Count(screenText(m), "key exchange: mlkem768x25519-sha256"); got != 2 {
		t.Errorf("the screen shows the description %d times, want 2:\n%s", got, screenText(m))
	}

	plain, pc := newTestModel(t, "carol", 120, 30)
	typeText(plain, "/crypto")
	press(plain, "enter")
	if sent := pc.Sent(); !slices.Equal(sent, []string{"/crypto"}) {
		t.Errorf("without Crypto the screen sent %q, want the line itself", sent)
	}
}

// TestCryptoIsDescribedWhenAsked: the screen calls Options.Crypto on each
// /crypto, not once when it opens, so that what a rekey changed shows.
func TestCryptoIsDescribedWhenAsked(t *testing.T) {
	c := newFakeConn("bob")
	calls := 0
	kex := []string{"curve25519-sha256", "mlkem768x25519-sha256"}
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1, Crypto: func() *SSHCrypto {
		calls++
		return &SSHCrypto{KeyExchange: kex[min(calls, len(kex))-1], HostKey: SSHKey{Fingerprint: "SHA256:abc"}}
	}})
	m.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
	if calls != 0 {
		t.Errorf("Crypto was called %d times before any /crypto", calls)
	}
	for range 2 {
		typeText(m, "/crypto")
		press(m, "enter")
	}
	if calls != 2 {
		t.Errorf("Crypto was called %d times for two /crypto, want 2", calls)
	}
	text := screenText(m)
	if !strings.Contains(text, "key exchange: curve25519-sha256") || !strings.Contains(text, "key exchange: mlkem768x25519-sha256") {
		t.Errorf("the second /crypto does not show the new key exchange:\n%s", text)
	}
}
