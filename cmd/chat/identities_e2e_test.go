package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// TestVerifyIdentitiesExercise runs docs/LAB.md's "Verify identities"
// exercise with the commands it gives a student, against one chatd, and
// checks that every place shows the same two fingerprints: the TLS
// certificate's in the banner, chatd cert --print, openssl x509 on the
// public copy and on what s_client was served, the line protocol's
// /crypto, chat's trust-on-first-use question, its known_servers file and
// its /crypto (first use, then pinned with --fingerprint); the SSH host
// key's in the banner, ssh-keygen -lf on the public half, ssh -v, the
// known_hosts entry ssh wrote (ssh-keygen -lF), VisualHostKey, ssh's
// first-contact question (answered with the banner's fingerprint, which
// ssh then compares) and /crypto on the SSH screen.
func TestVerifyIdentitiesExercise(t *testing.T) {
	for _, tool := range []string{"openssl", "ssh", "ssh-keygen", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this test needs %s", tool)
		}
	}
	dir := t.TempDir()
	server := testproc.StartChatd(t, chatdBinary, filepath.Join(dir, "data"), "--ssh-addr", "127.0.0.1:0")
	tlsFP, sshFP := server.Fingerprint, server.SSHFingerprint
	same := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s shows %q, the banner %q", what, got, want)
		}
	}

	// TLS: what the server's owner publishes.
	public := filepath.Join(dir, "data", "public", "cert.pem")
	same("chatd cert --print", field(t, runTool(t, chatdBinary, "cert", "--print", public), `# SHA-256 fingerprint: (\S+)`), tlsFP)
	same("openssl x509 on the public copy", field(t, runTool(t, "openssl", "x509", "-in", public, "-noout", "-fingerprint", "-sha256"), `Fingerprint=(\S+)`), tlsFP)
	// What the server presents on the wire, as openssl sees it.
	served := runTool(t, "sh", "-c", "openssl s_client -connect localhost:"+server.Port+" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256")
	same("openssl s_client | openssl x509", field(t, served, `Fingerprint=(\S+)`), tlsFP)
	// What the server says it presented, asked over the line protocol.
	alice := server.JoinWithOpenSSL(t, "alice")
	alice.Send("/crypto")
	same("/crypto over openssl s_client", field(t, alice.Expect("server certificate SHA-256 fingerprint: "), `fingerprint: (\S+)`), tlsFP)

	// chat on first use: the question shows the fingerprint, the answer
	// is remembered, /crypto shows it again.
	known := filepath.Join(dir, "known_servers")
	first := startTmux(t, 200, 30, chatBinary, "--known-servers", known, "--nick", "bob", server.Addr())
	question := first.WaitFor("Trust this certificate and remember it for")
	same("chat's first-use question", field(t, question, `SHA-256: +(\S+)`), tlsFP)
	first.TypeLine("y")
	first.WaitFor("· bob · TLS 1.3 · trusted on first use")
	store, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	same("chat's known_servers", field(t, string(store), `^localhost:`+server.Port+` (\S+)`), tlsFP)
	first.TypeLine("/crypto")
	same("chat's /crypto (first use)", field(t, first.WaitFor("verification: "), `SHA-256 fingerprint: (\S+)`), tlsFP)
	// chat pinned to the fingerprint the banner printed.
	pinned := testproc.Start(t, "carol", nil, chatBinary, "--plain", "--fingerprint", tlsFP, "--nick", "carol",
		"--known-servers", filepath.Join(dir, "other_known"), server.Addr())
	pinned.Expect("*** carol joined")
	pinned.Send("/crypto")
	same("chat --fingerprint's /crypto", field(t, pinned.Expect("SHA-256 fingerprint: "), `fingerprint: (\S+)`), tlsFP)
	pinned.Expect("verification: ")

	// SSH: the public half of the host key, as the banner names it.
	pub := field(t, server.Output(), `public half: (\S+)`)
	same("ssh-keygen -lf on the public half", field(t, runTool(t, "ssh-keygen", "-lf", pub), `(SHA256:\S+)`), sshFP)
	// ssh on first contact: -v prints the key it was shown; accept-new
	// writes it to known_hosts, which ssh-keygen -lF reads back.
	knownHosts := filepath.Join(dir, "known_hosts")
	sshWith := func(knownHosts string, args ...string) []string {
		return append([]string{"ssh", "-p", server.SSHPort, "-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "FingerprintHash=sha256", "-o", "ConnectTimeout=10"}, args...)
	}
	firstContact := runTool(t, sshWith(knownHosts, "-v", "-o", "StrictHostKeyChecking=accept-new", "dave@127.0.0.1", "who")...)
	same("ssh -v", field(t, firstContact, `Server host key: ssh-ed25519 (SHA256:\S+)`), sshFP)
	same("ssh-keygen -lF on known_hosts", field(t, runTool(t, "ssh-keygen", "-l", "-F", "[127.0.0.1]:"+server.SSHPort, "-f", knownHosts), `(SHA256:\S+)`), sshFP)
	// Known now: VisualHostKey shows the fingerprint and its randomart.
	visual := runTool(t, sshWith(knownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "VisualHostKey=yes", "dave@127.0.0.1", "who")...)
	same("ssh -o VisualHostKey=yes", field(t, visual, `Host key fingerprint is (SHA256:\S+)`), sshFP)
	if !strings.Contains(visual, "+--[ED25519 256]--+") {
		t.Errorf("ssh -o VisualHostKey=yes drew no randomart:\n%s", visual)
	}
	// chatd's own view, without joining: ssh HOST crypto.
	same("ssh HOST crypto", field(t, runTool(t, sshWith(knownHosts, "-o", "StrictHostKeyChecking=yes", "dave@127.0.0.1", "crypto")...),
		`server host key: ssh-ed25519 (SHA256:\S+)`), sshFP)
	// A student who has not connected yet: ssh asks, showing the
	// fingerprint; answering with the banner's makes ssh compare them.
	screen := testproc.StartTmux(t, 200, 30, sshWith(filepath.Join(dir, "known_hosts_2"), "erin@localhost")...)
	ask := screen.WaitFor("Are you sure you want to continue connecting (yes/no/[fingerprint])?")
	same("ssh's first-contact question", field(t, ask, `ED25519 key fingerprint is (SHA256:\S+)\.$`), sshFP)
	screen.TypeLine(sshFP)
	screen.WaitFor("erin joined")
	screen.TypeLine("/crypto")
	same("/crypto on the SSH screen", field(t, screen.WaitFor("server's version"), `server host key: ssh-ed25519 (SHA256:\S+)`), sshFP)
}

// runTool runs argv and returns what it printed on both streams; it fails the
// test if the command fails.
func runTool(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// field returns the first submatch of pattern (multi-line) in text, or
// fails the test.
func field(t *testing.T, text, pattern string) string {
	t.Helper()
	m := regexp.MustCompile("(?m)" + pattern).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in:\n%s", pattern, text)
	}
	return m[1]
}
