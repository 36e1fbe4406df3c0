package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// These tests are the openssl and ssh rows of docs/LAB.md's table of who
// notices a man in the middle: the real chatd, the real `chatd mitm`
// binary in front of it, and the real clients.

// startIntercepted starts chatd and `chatd mitm` in front of its TLS port.
func startIntercepted(t *testing.T) (*testproc.Chatd, *testproc.Mitm) {
	t.Helper()
	requireOpenSSL(t)
	s := startChatd(t, filepath.Join(t.TempDir(), "data"))
	m := testproc.StartMitm(t, chatdBinary, s.Addr(), "")
	if m.UpstreamFingerprint != s.Fingerprint || m.Fingerprint == s.Fingerprint {
		t.Fatalf("chatd mitm printed upstream %s and its own %s; chatd's is %s", m.UpstreamFingerprint, m.Fingerprint, s.Fingerprint)
	}
	return s, m
}

// throughProxy is chatd's printed openssl command aimed at the proxy,
// without the flags named in drop.
func throughProxy(s *testproc.Chatd, m *testproc.Mitm, drop ...string) []string {
	var argv []string
	for _, a := range s.ConnectCmd {
		switch {
		case slices.Contains(drop, a):
		case a == s.Addr():
			argv = append(argv, m.Addr())
		default:
			argv = append(argv, a)
		}
	}
	return argv
}

// TestMitmOpenSSLWithoutVerifyReturnErrorCarriesOn: openssl s_client
// without -verify_return_error prints a verify error and carries on; the
// proxy prints what the victim and the room say.
func TestMitmOpenSSLWithoutVerifyReturnErrorCarriesOn(t *testing.T) {
	s, m := startIntercepted(t)
	bob := s.JoinWithOpenSSL(t, "bob")
	alice := testproc.Start(t, "alice", nil, throughProxy(s, m, "-verify_return_error")...)
	alice.Expect("verify error:")
	alice.Expect("*** Choose a nickname")
	alice.Send("alice")
	alice.Expect("*** alice joined")
	alice.Send("the exam answers are in room 42")
	bob.Expect("<alice> the exam answers are in room 42")
	bob.Send("thanks \x1b[31malice")
	alice.Expect("<bob> thanks alice")
	m.Expect(" -> server: the exam answers are in room 42")
	if line := m.Expect("<- server: "); !strings.Contains(line, "] <bob> thanks alice") {
		t.Errorf("the proxy printed %q for bob's line", line)
	}
}

// TestMitmOpenSSLWithVerifyReturnErrorRefuses: with -verify_return_error
// openssl ends the handshake; nothing is relayed.
func TestMitmOpenSSLWithVerifyReturnErrorRefuses(t *testing.T) {
	s, m := startIntercepted(t)
	alice := testproc.Start(t, "alice", nil, throughProxy(s, m)...)
	alice.Send("alice")
	alice.Expect("certificate verify failed")
	if code := alice.WaitExit(); code == 0 {
		t.Error("openssl -verify_return_error exited 0 through the proxy")
	}
	m.Expect("TLS handshake with the client failed, nothing relayed")
	if out := m.Output(); strings.Contains(out, "-> server:") || strings.Contains(out, "<- server:") || strings.Contains(out, "intercepted") {
		t.Errorf("the proxy relayed something for a client that refused it:\n%s", out)
	}
	if strings.Contains(s.Output(), "joined") {
		t.Errorf("chatd saw a member join:\n%s", s.Output())
	}
}

// TestMitmHelpAndBanner: `chatd mitm --help` says what it is; the banner
// is loud, and a missing upstream or flag is a clear error.
func TestMitmHelpAndBanner(t *testing.T) {
	out, err := exec.Command(chatdBinary, "mitm", "--help").CombinedOutput()
	for _, want := range []string{"chatd mitm [--upstream HOST:PORT", "A man in the middle, on purpose, for security labs", "--max-conns N", "--keylog FILE"} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("chatd mitm --help (%v) lacks %q:\n%s", err, want, out)
		}
	}
	out, _ = exec.Command(chatdBinary, "--help").CombinedOutput()
	if !strings.Contains(string(out), "chatd mitm [flags]         intercept clients (a man in the middle, for labs") {
		t.Errorf("chatd --help does not name the mitm subcommand:\n%s", out)
	}
	out, err = exec.Command(chatdBinary, "mitm").CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(out), "--upstream HOST:PORT is required") {
		t.Errorf("chatd mitm without --upstream: exit %d, %s", exitCode(err), out)
	}
	out, err = exec.Command(chatdBinary, "mitm", "--upstream", "127.0.0.1:1").CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "cannot reach the upstream 127.0.0.1:1") {
		t.Errorf("chatd mitm with its upstream down: exit %d, %s", exitCode(err), out)
	}

	s, m := startIntercepted(t)
	keylogFile := filepath.Join(t.TempDir(), "keys")
	k := testproc.StartMitm(t, chatdBinary, s.Addr(), "", "--keylog", keylogFile)
	if want := "WARNING: TLS key log ON: secrets go to " + keylogFile; !strings.Contains(k.Output(), want) {
		t.Errorf("the banner lacks %q", want)
	}
	bob := testproc.Start(t, "bob", nil, throughProxy(s, k, "-verify_return_error")...)
	bob.Expect("*** Choose a nickname")
	bob.Send("/quit")
	k.Expect(" *** closed")
	if data, err := os.ReadFile(keylogFile); err != nil || strings.Count(string(data), "CLIENT_TRAFFIC_SECRET_0") != 3 {
		// the probe at start, the client's side and the upstream's side
		t.Errorf("key log: %v\n%s", err, data)
	}
	m.Signal(syscall.SIGINT)
	if code := m.WaitExit(); code != 0 {
		t.Errorf("chatd mitm exited %d on Ctrl+C", code)
	}
}

// TestSSHRefusesAChangedHostKey: ssh, knowing the real server's host key,
// meets another key at that name and port (an impostor: here another
// chatd with a key of its own on the port) and refuses, loudly; the
// impostor sees no session.
func TestSSHRefusesAChangedHostKey(t *testing.T) {
	requireSSH(t)
	real := startChatdWithSSH(t, t.TempDir())
	args := sshArgs(t, real, "alice")
	real.Signal(syscall.SIGTERM)
	real.WaitExit()
	impostor := startChatd(t, t.TempDir(), "--ssh-addr", "127.0.0.1:"+real.SSHPort)
	if impostor.SSHFingerprint == real.SSHFingerprint {
		t.Fatal("the impostor has the real server's host key")
	}
	out, err := exec.Command(args[0], append(args[1:], "-tt")...).CombinedOutput()
	for _, want := range []string{"REMOTE HOST IDENTIFICATION HAS CHANGED", impostor.SSHFingerprint, "Host key verification failed"} {
		if exitCode(err) != 255 || !strings.Contains(string(out), want) {
			t.Errorf("ssh to a changed host key: exit %d, output lacks %q:\n%s", exitCode(err), want, out)
		}
	}
	if strings.Contains(impostor.Output(), "joined") {
		t.Errorf("the impostor saw a session:\n%s", impostor.Output())
	}
}

// startSSHIntercepted starts chatd with SSH and `chatd mitm
// --ssh-upstream` in front of its SSH port.
func startSSHIntercepted(t *testing.T) (*testproc.Chatd, *testproc.Mitm) {
	t.Helper()
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	m := testproc.StartMitm(t, chatdBinary, "", "", "--ssh-upstream", "127.0.0.1:"+s.SSHPort)
	if m.SSHUpstreamFingerprint != s.SSHFingerprint || m.SSHFingerprint == s.SSHFingerprint {
		t.Fatalf("chatd mitm printed upstream %s and its own %s; chatd's is %s", m.SSHUpstreamFingerprint, m.SSHFingerprint, s.SSHFingerprint)
	}
	return s, m
}

// TestSSHRefusesTheProxysHostKey: ssh, with the real server's host key in
// known_hosts for the address the proxy now holds, refuses the proxy's
// key; nothing is relayed.
func TestSSHRefusesTheProxysHostKey(t *testing.T) {
	s, m := startSSHIntercepted(t)
	atProxy := *s
	atProxy.SSHPort = m.SSHPort // the real key, known for the proxy's address
	args := sshArgs(t, &atProxy, "alice", "-tt")
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	for _, want := range []string{"REMOTE HOST IDENTIFICATION HAS CHANGED", m.SSHFingerprint, "Host key verification failed"} {
		if exitCode(err) != 255 || !strings.Contains(string(out), want) {
			t.Errorf("ssh to the proxy: exit %d, output lacks %q:\n%s", exitCode(err), want, out)
		}
	}
	m.Expect("SSH handshake with the client failed, nothing relayed")
	if strings.Contains(m.Output(), "ssh intercepted") || strings.Contains(s.Output(), "joined") {
		t.Errorf("a session was relayed:\n%s", m.Output())
	}
}

// TestSSHThroughTheProxyIsRelayedAndRead: ssh that does not check the host
// key reaches the room through the proxy, which prints what the user
// types; /quit's exit status comes back.
func TestSSHThroughTheProxyIsRelayedAndRead(t *testing.T) {
	requireOpenSSL(t)
	s, m := startSSHIntercepted(t)
	bob := s.JoinWithOpenSSL(t, "bob")
	alice := testproc.StartScreen(t, "ssh alice", 100, 30, "ssh", "-p", m.SSHPort, "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "alice@127.0.0.1")
	alice.WaitFor("chatd · 2 members · alice")
	bob.Expect("*** alice joined")
	alice.Type("my ssh secret\r")
	bob.Expect("<alice> my ssh secret")
	m.Expect(` -> server (ssh, typed): my ssh secret`)
	for _, want := range []string{`ssh intercepted: user "alice"`, "ssh request pty-req", "ssh request shell"} {
		if !strings.Contains(m.Output(), want) {
			t.Errorf("the proxy did not print %q:\n%s", want, m.Output())
		}
	}
	alice.Type("/quit\r")
	bob.Expect("*** alice left (quit)")
	if code := alice.WaitExit(); code != 0 {
		t.Errorf("ssh exited %d after /quit through the proxy", code)
	}
	m.Expect(" *** closed")
}

// TestMitmPresentsAGivenCertificate: with --cert/--key the proxy presents
// that certificate (here one made by chatd cert), and its banner says so.
func TestMitmPresentsAGivenCertificate(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, filepath.Join(t.TempDir(), "data"))
	dir := filepath.Join(t.TempDir(), "attacker")
	if out, err := exec.Command(chatdBinary, "cert", "--host", "localhost", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("chatd cert: %v\n%s", err, out)
	}
	certFile := filepath.Join(dir, "cert.pem")
	m := testproc.StartMitm(t, chatdBinary, s.Addr(), "", "--cert", certFile, "--key", filepath.Join(dir, "key.pem"))
	out, err := exec.Command("openssl", "x509", "-in", certFile, "-noout", "-fingerprint", "-sha256").Output()
	if want := afterEquals(string(out)); err != nil || m.Fingerprint != want {
		t.Errorf("the banner names %s as the proxy's certificate; openssl says %s (%v)", m.Fingerprint, want, err)
	}
	if !strings.Contains(m.Output(), "proxy's certificate ("+certFile+")") {
		t.Errorf("the banner does not name %s:\n%s", certFile, m.Output())
	}
	// Verified against exactly that certificate: the proxy presents it.
	alice := testproc.Start(t, "alice", nil, "openssl", "s_client", "-brief", "-verify_return_error", "-verify_hostname", "localhost",
		"-servername", "localhost", "-connect", m.Addr(), "-CAfile", certFile)
	alice.CloseInput()
	alice.Expect("Verification: OK")
	m.Expect("intercepted")
}

// afterEquals is what follows "=" on openssl's fingerprint line.
func afterEquals(line string) string {
	_, after, _ := strings.Cut(strings.TrimSpace(line), "=")
	return after
}

// TestSSHStderrThroughTheProxy: chatd's words on stderr (here, a user name
// too long) reach ssh through the proxy.
func TestSSHStderrThroughTheProxy(t *testing.T) {
	_, m := startSSHIntercepted(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := strings.Repeat("u", 80)
	cmd := exec.CommandContext(ctx, "ssh", "-T", "-p", m.SSHPort, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", user+"@127.0.0.1")
	var stderr bytes.Buffer
	cmd.Stdin = strings.NewReader("")
	cmd.Stderr = &stderr
	cmd.Run()
	if want := "chatd: the user name is 80 bytes long; at most 64 are allowed"; !strings.Contains(stderr.String(), want) {
		t.Errorf("ssh's stderr through the proxy lacks %q: %q", want, stderr.String())
	}
}
