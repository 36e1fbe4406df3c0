package main

import (
	"os/exec"
	"path/filepath"
	"slices"
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
			"*** ALPN offered by your client: none; chatd negotiates none (one protocol)",
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

// TestOpenSSLCryptoShowsOfferedALPN: /crypto quotes the ALPN protocols the
// client offered (openssl -alpn h2,foo) and says chatd negotiates none.
func TestOpenSSLCryptoShowsOfferedALPN(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	s := startChatd(t, filepath.Join(t.TempDir(), "data"))
	alice := testproc.Start(t, "alice", nil, append(s.ConnectCmd, "-alpn", "h2,foo")...)
	alice.Expect("*** Choose a nickname")
	alice.Send("alice")
	alice.Expect("*** alice joined")
	alice.Send("/crypto")
	alice.Expect(`*** ALPN offered by your client: "h2", "foo"; chatd negotiates none (one protocol)`)
}

// TestOpenSSLCryptoAfterResumption: a TLS 1.3 session resumed by the real
// openssl (-sess_out, then -sess_in) presents no certificate; /crypto says
// the session was resumed and gives the fingerprint of the certificate of
// the original handshake, which the session ticket carries.
func TestOpenSSLCryptoAfterResumption(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	dir := t.TempDir()
	s := startChatd(t, filepath.Join(dir, "data"))
	sess := filepath.Join(dir, "session.pem")
	first := testproc.Start(t, "first", nil, append(s.ConnectCmd, "-tls1_3", "-sess_out", sess)...)
	first.Expect("*** Choose a nickname")
	first.Send("alice")
	first.Expect("*** alice joined")
	first.Send("/crypto")
	first.Expect("*** server certificate SHA-256 fingerprint: " + s.Fingerprint)
	first.Send("/quit")
	first.WaitExit()

	argv := append(slices.Clone(s.ConnectCmd), "-tls1_3", "-sess_in", sess)
	argv = slices.DeleteFunc(argv, func(a string) bool { return a == "-quiet" }) // to see "Reused"
	again := testproc.Start(t, "again", nil, argv...)
	again.Expect("Reused, TLSv1.3")
	again.Expect("*** Choose a nickname")
	again.Send("alice")
	again.Expect("*** alice joined")
	again.Send("/crypto")
	again.Expect("*** server certificate: resumed session; certificate of the original handshake: SHA-256 fingerprint " + s.Fingerprint)
}

// TestRSAKeyExchangeIsNamed: with the old profile, an RSA certificate and
// openssl offering only TLS_RSA_WITH_AES_128_CBC_SHA, no (EC)DHE group is
// used: the greeting says "none (RSA key exchange)", the log's group= and
// the handshake metric's group label say "none", never "CurveID(0)".
func TestRSAKeyExchangeIsNamed(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "rsa.pem"), filepath.Join(dir, "rsa.key")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
		"-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1", "-keyout", key, "-out", cert).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	s := startChatd(t, filepath.Join(dir, "data"), "--tls-profile", "old", "--cert", cert, "--key", key, "--metrics-addr", "127.0.0.1:0")
	alice := testproc.Start(t, "alice", nil, "openssl", "s_client", "-quiet", "-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0",
		"-servername", "localhost", "-connect", "127.0.0.1:"+s.Port)
	alice.Expect("*** Welcome to chatd. You are connected with TLS 1.2, TLS_RSA_WITH_AES_128_CBC_SHA, key exchange none (RSA key exchange).")
	alice.Expect("*** Choose a nickname")
	alice.Send("alice")
	alice.Expect("*** alice joined")
	alice.Send("/crypto")
	alice.Expect("*** key exchange: none (RSA key exchange)")
	if line := s.Expect("msg=joined"); !strings.Contains(line, "group=none ") {
		t.Errorf("the joined record's group: %s", line)
	}
	page := httpGet(t, s.MetricsURL+"/metrics")
	if v, ok := metric(page, `chatd_tls_handshakes_total{group="none",version="TLS 1.2"}`); !ok || v != 1 {
		t.Errorf("handshake metric for RSA key exchange: %v %v\n%s", v, ok, page)
	}
	if strings.Contains(page+s.Output()+alice.Output(), "CurveID") {
		t.Errorf("CurveID(0) shows somewhere:\n%s\n%s", s.Output(), alice.Output())
	}
}
