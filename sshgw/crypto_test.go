package sshgw

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// hostileVersion is a client version string an attacker might send: C1
// controls (8-bit CSI and OSC, which the Go client lets through: it only
// refuses bytes below 32) that would clear the screen and set the title, a
// right-to-left override, a quote, and more text than a line holds (the
// server reads up to 255 bytes).
var hostileVersion = "SSH-2.0-x\u009b2J\u009d0;pwned\u009c\u202e\"q\" " + strings.Repeat("A", 200)

// TestCryptoDescribesTheSession: /crypto on an SSH screen shows what was
// negotiated for this very connection, as the Go client chose it (cipher,
// MAC), the server's host key fingerprint, the client's key or how it got
// in without one, and its version string cleaned, cut and quoted.
func TestCryptoDescribesTheSession(t *testing.T) {
	checkGoroutines(t)
	key := newClientKey(t)
	for _, tc := range []struct {
		name  string
		cfg   Config
		auth  gossh.AuthMethod
		algos gossh.Config
		want  []string
	}{
		{"a key, CTR and a MAC", Config{}, gossh.PublicKeys(key),
			gossh.Config{Ciphers: []string{gossh.CipherAES128CTR}, MACs: []string{gossh.HMACSHA256ETM}, KeyExchanges: []string{gossh.KeyExchangeCurve25519}},
			[]string{
				"key exchange: curve25519-sha256",
				"cipher (both directions): aes128-ctr, MAC hmac-sha2-256-etm@openssh.com",
				"your key: ssh-ed25519 " + gossh.FingerprintSHA256(key.PublicKey()) + " (you proved you hold it)",
			}},
		{"none auth, AEAD", Config{NoneAuth: true}, gossh.PublicKeys(key),
			gossh.Config{Ciphers: []string{gossh.CipherAES256GCM}, KeyExchanges: []string{gossh.KeyExchangeMLKEM768X25519}},
			[]string{
				"key exchange: mlkem768x25519-sha256",
				"cipher (both directions): aes256-gcm@openssh.com, MAC implicit (AEAD cipher)",
				`your key: none shown: the server let you in with "none" authentication`,
			}},
		{"keyboard-interactive", Config{}, noQuestions, gossh.Config{},
			[]string{"your key: none shown: you signed in with keyboard-interactive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServerWith(t, tc.cfg)
			client, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
				Config: tc.algos, User: "bob", Auth: []gossh.AuthMethod{tc.auth},
				HostKeyCallback: gossh.InsecureIgnoreHostKey(), ClientVersion: hostileVersion, Timeout: waitLimit,
			})
			if err != nil {
				t.Fatal(err)
			}
			term := attachTerminal(t, client)
			term.waitText("bob joined")
			term.send("/crypto\r")
			term.waitText("server's version")
			// Rows wrap at 100 columns: read the screen as one line of words.
			screen := strings.Join(strings.Fields(strings.ReplaceAll(term.screen(), "│", " ")), " ")
			want := append(tc.want, "server host key: ssh-ed25519 "+ts.srv.HostKeyFingerprint(), `server's version: "SSH-2.0-chatd"`,
				`your client's version: "SSH-2.0-x\"q\" AAAA`)
			for _, w := range want {
				if !strings.Contains(screen, w) {
					t.Errorf("the screen does not show %q:\n%s", w, screen)
				}
			}
			if strings.Contains(screen, "pwned") || strings.Count(screen, "A") > peerTextWidthForTest {
				t.Errorf("the client's version string was not cleaned and cut:\n%s", screen)
			}
			term.close()
		})
	}
}

// peerTextWidthForTest bounds the A's of hostileVersion the screen may
// show (tui cuts peer text to 80 columns; the wrapped row adds none).
const peerTextWidthForTest = 80

// TestHostKeyPublicHalf: the server writes its host key's public half
// beside it, readable by all, in the form ssh-keygen -lf reads, with the
// fingerprint the server reports; a public half someone changed is
// replaced at the next start.
func TestHostKeyPublicHalf(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	pub := ts.srv.HostKeyPublicPath()
	check := func() {
		t.Helper()
		fi, err := os.Stat(pub)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("public half mode %04o, want 0644", fi.Mode().Perm())
		}
		out, err := exec.Command("ssh-keygen", "-lf", pub).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ts.srv.HostKeyFingerprint()) {
			t.Errorf("ssh-keygen -lf %s: %v, %s; want %s", pub, err, out, ts.srv.HostKeyFingerprint())
		}
	}
	check()
	if err := os.WriteFile(pub, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl mallory\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	again, err := NewServer(Config{HostKeyPath: ts.srv.cfg.HostKeyPath, Room: ts.room})
	if err != nil {
		t.Fatal(err)
	}
	if again.HostKeyFingerprint() != ts.srv.HostKeyFingerprint() {
		t.Fatal("the host key changed")
	}
	check()
}

// TestCryptoCommandPrintsWithoutJoining: "ssh host crypto" prints what
// /crypto shows on the screen, exits 0 and joins nothing, so a script or a
// student can read the fingerprints without entering the room.
func TestCryptoCommandPrintsWithoutJoining(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	c := ts.dial(t, "alice")
	defer c.Close()
	got := run(t, c, " crypto ", false)
	for _, want := range []string{
		"Your connection: SSH, as the server sees it\n",
		"server host key: ssh-ed25519 " + ts.srv.HostKeyFingerprint() + "\n",
		"your key: ssh-ed25519 SHA256:",
		"server's version: \"SSH-2.0-chatd\"\n",
	} {
		if got.status != 0 || !strings.Contains(got.stdout, want) {
			t.Errorf("crypto: %+v; want %q in its output", got, want)
		}
	}
	if ts.room.Len() != 0 {
		t.Errorf("%d members after crypto", ts.room.Len())
	}
}
