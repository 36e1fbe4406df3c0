package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/certs"
	"chatd/internal/testproc"
)

// These tests run the real chatd binary, as a user would, and talk to it with
// the real openssl s_client.

// The binaries under test: chatd, and the bundled client chat (the labs
// use it).
var chatdBinary, chatBinary string

func TestMain(m *testing.M) {
	bins, cleanup, err := testproc.BuildAll("chatd/cmd/chatd", "chatd/cmd/chat")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chatdBinary, chatBinary = bins[0], bins[1]
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func requireOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("these tests need the openssl binary (apt-get install openssl)")
	}
}

func startChatd(t *testing.T, dataDir string, args ...string) *testproc.Chatd {
	t.Helper()
	return testproc.StartChatd(t, chatdBinary, dataDir, args...)
}

func TestOpenSSLConversationWithGeneratedCert(t *testing.T) {
	requireOpenSSL(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startChatd(t, dataDir)
	want := []string{"openssl", "s_client", "-quiet", "-verify_return_error", "-verify_hostname", "localhost", "-servername", "localhost",
		"-connect", "localhost:" + s.Port, "-CAfile", filepath.Join(dataDir, "public", "cert.pem")}
	if strings.Join(s.ConnectCmd, " ") != strings.Join(want, " ") {
		t.Errorf("printed connect command %q, want %q", s.ConnectCmd, want)
	}
	if got := opensslFingerprint(t, filepath.Join(dataDir, "cert.pem")); got != s.Fingerprint {
		t.Errorf("printed fingerprint %s, openssl says %s", s.Fingerprint, got)
	}
	converse(t, s)
}

// converse drives two openssl users through a conversation.
func converse(t *testing.T, s *testproc.Chatd) {
	t.Helper()
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("hello before bob")
	bob := s.JoinWithOpenSSL(t, "bob") // the join line comes after the history
	alice.Expect("*** bob joined")
	bob.Expect("*** 2 members: alice, bob")

	alice.Send("hi bob, this is encrypted")
	if line := bob.Expect("<alice>"); !regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] <alice> hi bob, this is encrypted$`).MatchString(line) {
		t.Errorf("bob saw %q", line)
	}
	bob.Send("/me waves")
	alice.Expect("* bob waves")
	bob.Send("/msg alice just between us")
	alice.Expect("*bob* just between us")
	bob.Expect("-> *alice* just between us")
	alice.Send("!users")
	alice.Expect("*** 2 members: alice, bob")
	bob.Send("/quit")
	bob.Expect("*** Goodbye.")
	alice.Expect("*** bob left (quit)")
	if code := bob.WaitExit(); code != 0 {
		t.Errorf("bob's openssl exited %d after /quit", code)
	}
	if strings.Contains(alice.Output(), "hi bob, this is encrypted") {
		t.Errorf("alice's own message was echoed back:\n%s", alice.Output())
	}
}

func TestHistoryReplayForLateJoiner(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir())
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("said before you came")
	alice.Send("/who") // a round trip, so the message is in before bob joins
	alice.Expect("*** 1 member: alice")
	bob := s.OpenSSL(t, "bob")
	bob.Expect("*** Choose a nickname")
	bob.Send("bob")
	bob.Expect("*** recent history: 2 events")
	bob.Expect("*** alice joined")
	bob.Expect("<alice> said before you came")
	bob.Expect("*** end of recent history")
	bob.Expect("*** bob joined")
}

func TestWrongCAIsRefusedByOpenSSL(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir())
	other := t.TempDir()
	if out, err := exec.Command(chatdBinary, "cert", "--out", other).CombinedOutput(); err != nil {
		t.Fatalf("chatd cert: %v\n%s", err, out)
	}
	args := append([]string(nil), s.ConnectCmd[:len(s.ConnectCmd)-1]...)
	args = append(args, filepath.Join(other, "cert.pem"))
	p := testproc.Start(t, "mallory", nil, args...)
	if code := p.WaitExit(); code == 0 {
		t.Error("openssl accepted a server whose certificate is not the CA it was given")
	}
	if strings.Contains(p.Output(), "Welcome") {
		t.Errorf("the client got past verification:\n%s", p.Output())
	}
}

func TestCertificateIsReusedAcrossRestarts(t *testing.T) {
	dataDir := t.TempDir()
	first := startChatd(t, dataDir)
	first.Signal(syscall.SIGTERM)
	first.WaitExit()
	second := startChatd(t, dataDir)
	if second.Fingerprint != first.Fingerprint {
		t.Errorf("fingerprint changed across restarts: %s then %s", first.Fingerprint, second.Fingerprint)
	}
	if strings.Contains(second.Output(), "(new:") {
		t.Errorf("second start made a new certificate:\n%s", second.Output())
	}
}

// The recipe from the seed project's README, run as written.
const seedOpenSSLConf = `[ req ]
default_bits       = 2048
prompt             = no
default_md         = sha256
distinguished_name = dn
req_extensions     = req_ext

[ dn ]
CN = localhost

[ req_ext ]
subjectAltName = @alt_names

[ alt_names ]
DNS.1 = localhost
`

func TestSeedOpenSSLRecipeCertificate(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "openssl.cnf")
	os.WriteFile(conf, []byte(seedOpenSSLConf), 0o644)
	certFile, keyFile := filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.key")
	req := exec.Command("openssl", "req", "-x509", "-nodes", "-days", "365", "-newkey", "rsa:2048",
		"-keyout", keyFile, "-out", certFile, "-config", conf)
	if out, err := req.CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	s := startChatd(t, filepath.Join(dir, "unused-data"), "--cert", certFile, "--key", keyFile)
	public := filepath.Join(dir, "unused-data", "public", "cert.pem")
	if s.ConnectCmd[len(s.ConnectCmd)-1] != public || !sameFile(t, public, certFile) {
		t.Errorf("connect command %q does not use the public copy of the given certificate as CA", s.ConnectCmd)
	}
	if got := opensslFingerprint(t, certFile); got != s.Fingerprint {
		t.Errorf("printed fingerprint %s, openssl says %s", s.Fingerprint, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused-data", "cert.pem")); err == nil {
		t.Error("chatd generated a certificate although --cert was given")
	}
	converse(t, s)
}

func TestSignalsShutDownGracefully(t *testing.T) {
	requireOpenSSL(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startChatd(t, t.TempDir())
			alice := s.JoinWithOpenSSL(t, "alice")
			start := time.Now()
			s.Signal(sig)
			alice.Expect("*** The server is shutting down. Goodbye!")
			if code := s.WaitExit(); code != 0 {
				t.Errorf("chatd exited %d after %v", code, sig)
			}
			if took := time.Since(start); took > shutdownTimeout+time.Second {
				t.Errorf("shutdown took %v", took)
			}
			alice.WaitExit()
		})
	}
}

func TestCertCommand(t *testing.T) {
	requireOpenSSL(t)
	out := filepath.Join(t.TempDir(), "certs")
	cmd := exec.Command(chatdBinary, "cert", "--host", "chat.example.com", "--host", "203.0.113.10", "--out", out)
	printed, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chatd cert: %v\n%s", err, printed)
	}
	text, err := exec.Command("openssl", "x509", "-in", filepath.Join(out, "cert.pem"), "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, text)
	}
	for _, want := range []string{"DNS:chat.example.com", "IP Address:203.0.113.10", "ASN1 OID: prime256v1"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("certificate lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "DNS:localhost") {
		t.Error("certificate has SANs that were not asked for")
	}
	if !strings.Contains(string(printed), opensslFingerprint(t, filepath.Join(out, "cert.pem"))) {
		t.Errorf("chatd cert did not print the fingerprint:\n%s", printed)
	}
	info, err := os.Stat(filepath.Join(out, "key.pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v, mode %v", err, info.Mode())
	}
	again, err := exec.Command(chatdBinary, "cert", "--out", out).CombinedOutput()
	if err == nil || !strings.Contains(string(again), "--force") {
		t.Errorf("a second chatd cert overwrote the pair or did not mention --force: %v\n%s", err, again)
	}

	// --force renews: the same key, the old names and the new one, and a
	// warning with the old fingerprint.
	certFile, keyFile := filepath.Join(out, "cert.pem"), filepath.Join(out, "key.pem")
	oldFP, oldKey := opensslFingerprint(t, certFile), readFile(t, keyFile)
	renewed, err := exec.Command(chatdBinary, "cert", "--out", out, "--force", "--host", "extra.example.com").CombinedOutput()
	leaf := readLeaf(t, certFile)
	if err != nil || !strings.Contains(string(renewed), "WARNING") || !strings.Contains(string(renewed), oldFP) {
		t.Errorf("chatd cert --force: %v\n%s", err, renewed)
	}
	if readFile(t, keyFile) != oldKey || strings.Join(certs.SubjectAltNames(leaf), " ") != "chat.example.com extra.example.com 203.0.113.10" {
		t.Errorf("--force changed the key or lost names: %v", certs.SubjectAltNames(leaf))
	}
	// --force --new-key: a new identity for exactly the names given.
	if out, err := exec.Command(chatdBinary, "cert", "--out", out, "--force", "--new-key", "--host", "only.example.com").CombinedOutput(); err != nil {
		t.Fatalf("chatd cert --force --new-key: %v\n%s", err, out)
	}
	if leaf := readLeaf(t, certFile); readFile(t, keyFile) == oldKey || strings.Join(certs.SubjectAltNames(leaf), " ") != "only.example.com" {
		t.Errorf("--new-key kept the key or the names: %v", certs.SubjectAltNames(leaf))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHelpAndVersion(t *testing.T) {
	out, err := exec.Command(chatdBinary, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "chatd e2e-test" {
		t.Errorf("--version: %v %q", err, out)
	}
	out, err = exec.Command(chatdBinary, "--help").CombinedOutput()
	if err != nil {
		t.Errorf("--help exited with %v", err)
	}
	for _, want := range []string{"--data-dir", "CHATD_DATA_DIR", "--tls-addr", `":7443"`, "--ssh-addr", `":2222"`, "--cert", "--key", "--host", "CHATD_HOST"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not mention %s:\n%s", want, out)
		}
	}
	out, err = exec.Command(chatdBinary, "--no-such-flag").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "no-such-flag") {
		t.Errorf("an unknown flag: exit %d, output %q", code, out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// opensslFingerprint asks openssl for a certificate's SHA-256 fingerprint.
func opensslFingerprint(t *testing.T, certFile string) string {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-in", certFile, "-noout", "-fingerprint", "-sha256").Output()
	if err != nil {
		t.Fatalf("openssl x509 -fingerprint: %v", err)
	}
	_, fp, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
	return fp
}
