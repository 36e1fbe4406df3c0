package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// TestOpenSSLCryptoDescribesTheSession: an openssl s_client member that
// sends /crypto (and /tls) is told its own session: version, suite, group,
// the SNI it sent, the fingerprint of the client certificate it showed,
// as openssl computes it, and the server certificate's, as the banner
// printed it.
func TestOpenSSLCryptoDescribesTheSession(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	dir := t.TempDir()
	s := startChatd(t, filepath.Join(dir, "data"))
	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-subj", "/CN=student", "-days", "1", "-keyout", key, "-out", cert).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	alice := testproc.Start(t, "alice", nil, append(s.ConnectCmd, "-cert", cert, "-key", key, "-groups", "X25519")...)
	alice.Expect("*** Choose a nickname")
	alice.Send("alice")
	alice.Expect("*** alice joined")
	for _, command := range []string{"/crypto", "/tls"} {
		alice.Send(command)
		for _, want := range []string{
			"*** Your connection: TLS (the line protocol), as the server sees it",
			"*** protocol: TLS 1.3, cipher suite TLS_",
			"*** key exchange: X25519",
			`*** server name you sent (SNI): "localhost"`,
			"*** ALPN: none",
			"*** server profile: intermediate",
			"*** your client certificate: SHA-256 fingerprint " + opensslFingerprint(t, cert),
			"*** server certificate SHA-256 fingerprint: " + s.Fingerprint,
		} {
			alice.Expect(want)
		}
	}
	alice.Send("/help")
	alice.Expect("/crypto          Show your connection's crypto")

	// Without a certificate and without SNI (an address, as the banner's
	// command for an IP would connect), the lines say so.
	bob := testproc.Start(t, "bob", nil, "openssl", "s_client", "-quiet", "-noservername", "-connect", "127.0.0.1:"+s.Port)
	bob.Expect("*** Choose a nickname")
	bob.Send("bob")
	bob.Expect("*** bob joined")
	bob.Send("/crypto")
	bob.Expect("*** server name you sent (SNI): none")
	bob.Expect("*** your client certificate: none shown")
	bob.Expect("*** server certificate SHA-256 fingerprint: " + s.Fingerprint)
}

// TestSSHCryptoOnTheScreen: the real ssh in tmux, /crypto on the chat
// screen: with chatd's default "none" authentication it says no key was
// shown; with --ssh-none-auth=false and a key made by ssh-keygen it shows
// that key's fingerprint, as ssh-keygen -lf prints it; both show the host
// key's fingerprint as the banner printed it, the cipher ssh was told to
// use, and ssh's own version string.
func TestSSHCryptoOnTheScreen(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "student", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	keyFP := sshKeygenFingerprint(t, keyFile+".pub")
	sshVersion := strings.Fields(runOutput(t, "ssh", "-V"))[0] // OpenSSH_9.2p1, on stderr
	for _, tc := range []struct {
		name  string
		args  []string // chatd's
		extra []string // ssh's
		want  []string
	}{
		{"none auth", nil, []string{"-c", "chacha20-poly1305@openssh.com"}, []string{
			"cipher (both directions): chacha20-poly1305@openssh.com, MAC implicit (AEAD cipher)",
			`your key: none shown: the server let you in with "none" authentication`,
		}},
		{"a key", []string{"--ssh-none-auth=false"},
			[]string{"-i", keyFile, "-o", "IdentitiesOnly=yes", "-c", "aes256-ctr", "-m", "hmac-sha2-512-etm@openssh.com"}, []string{
				"cipher (both directions): aes256-ctr, MAC hmac-sha2-512-etm@openssh.com",
				"your key: ssh-ed25519 " + keyFP + " (you proved you hold it)",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startChatd(t, t.TempDir(), append([]string{"--ssh-addr", "127.0.0.1:0"}, tc.args...)...)
			tm := testproc.StartTmux(t, 200, 40, sshArgs(t, s, "carol", tc.extra...)...)
			tm.WaitFor("carol joined")
			tm.TypeLine("/crypto")
			screen := tm.WaitFor("server's version")
			want := append(tc.want,
				"Your connection: SSH, as the server sees it",
				"server host key: ssh-ed25519 "+s.SSHFingerprint,
				`your client's version: "SSH-2.0-`+sshVersion,
				`server's version: "SSH-2.0-chatd"`)
			for _, w := range want {
				if !strings.Contains(screen, w) {
					t.Errorf("the screen does not show %q:\n%s", w, screen)
				}
			}
		})
	}
}

// sshKeygenFingerprint is the SHA-256 fingerprint ssh-keygen -lf prints
// for a public key file.
func sshKeygenFingerprint(t *testing.T, file string) string {
	t.Helper()
	fields := strings.Fields(runOutput(t, "ssh-keygen", "-E", "sha256", "-lf", file))
	if len(fields) < 2 || !strings.HasPrefix(fields[1], "SHA256:") {
		t.Fatalf("ssh-keygen -lf %s printed %q", file, fields)
	}
	return fields[1]
}

// runOutput runs a command and returns what it printed, both streams.
func runOutput(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
