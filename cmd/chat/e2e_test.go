package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

// These tests run the real chat and chatd binaries and a real openssl user.

var chatdBinary, chatBinary string

func TestMain(m *testing.M) {
	bins, cleanup, err := testproc.BuildAll("chatd/cmd/chatd", "chatd/cmd/chat")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chatdBinary, chatBinary = bins[0], bins[1]
	// chat makes its identity in the user's configuration directory: the
	// tests' chats (and run, called here) make theirs in a directory of
	// their own, never in the home of whoever runs the tests.
	config, err := os.MkdirTemp("", "chat-config-")
	if err == nil {
		err = os.Setenv("XDG_CONFIG_HOME", config)
	}
	if err == nil {
		// Made once, before the tests: no test's chat is the first, which
		// says it made one.
		err = exec.Command(chatBinary, "--show-identity").Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cleanup()
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(config)
	cleanup()
	os.Exit(code)
}

// runChat runs chat to completion with input on stdin and returns its
// combined output and exit code.
func runChat(t *testing.T, input string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(chatBinary, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run chat: %v", err)
	}
	return string(out), code
}

func TestPlainModeChatsWithAnOpenSSLUser(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	alice := server.JoinWithOpenSSL(t, "alice")
	bob := testproc.Start(t, "chat", nil, chatBinary, "--plain", "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	bob.Expect("*** Welcome to chatd. You are connected with TLS 1.3")
	bob.Expect("*** bob joined")
	bob.Expect("*** 2 members: alice, bob")
	alice.Expect("*** bob joined")

	bob.Send("hello alice, from the bundled client")
	alice.Expect("<bob> hello alice, from the bundled client")
	alice.Send("hi bob \x1b]0;pwned\x07there")
	if line := bob.Expect("<alice>"); !strings.HasSuffix(line, "<alice> hi bob there") {
		t.Errorf("bob saw %q", line)
	}
	bob.Send("/tls")
	bob.Expect("*** protocol: TLS 1.3")
	bob.Expect("*** key exchange: X25519MLKEM768")
	bob.Expect("*** verification: verified (CA): chain verified against " + server.CertFile)
	bob.CloseInput()
	bob.Expect("*** Goodbye.")
	if code := bob.WaitExit(); code != 0 {
		t.Errorf("chat --plain exited %d at the end of its input", code)
	}
	alice.Expect("*** bob left (quit)")
	if strings.Contains(bob.Output(), "Choose a nickname") {
		t.Error("the client showed the nickname prompt it answers itself")
	}
}

func TestWrongCAFailsClearly(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	other := testproc.StartChatd(t, chatdBinary, t.TempDir())
	out, code := runChat(t, "hi\n", "--plain", "--ca", other.CertFile, "--nick", "bob", server.Addr())
	if code != 1 || !strings.Contains(out, "certificate signed by unknown authority") {
		t.Errorf("wrong CA: exit %d, output %q", code, out)
	}
	out, code = runChat(t, "hi\n", "--plain", "--ca", server.CertFile, "--nick", "bob", "127.0.0.2:"+server.Port)
	if code != 1 || !strings.Contains(out, "not 127.0.0.2") {
		t.Errorf("wrong host name: exit %d, output %q", code, out)
	}
}

func TestInsecureSaysSo(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	out, code := runChat(t, "/tls\n", "--plain", "--insecure", "--nick", "eve", server.Addr())
	if code != 0 {
		t.Errorf("--insecure: exit %d\n%s", code, out)
	}
	for _, want := range []string{"WARNING: --insecure", "NOT VERIFIED (--insecure)"} {
		if !strings.Contains(out, want) {
			t.Errorf("--insecure output lacks %q:\n%s", want, out)
		}
	}
}

func TestTrustOnFirstUse(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	known := filepath.Join(t.TempDir(), "config", "known_servers")

	// Plain mode never prompts: it explains and fails.
	out, code := runChat(t, "hi\n", "--plain", "--known-servers", known, "--nick", "bob", server.Addr())
	if code != 1 || !strings.Contains(out, server.Fingerprint) || !strings.Contains(out, "once in a terminal") {
		t.Errorf("plain mode, unknown certificate: exit %d, output %q", code, out)
	}

	// In a terminal, the user sees the certificate and is asked.
	term := testproc.StartTerminal(t, "chat", nil, 100, 30, chatBinary, "--known-servers", known, "--nick", "bob", server.Addr())
	term.Expect("SHA-256:     " + server.Fingerprint)
	term.Expect(`names (SAN): "localhost"`)
	term.Expect("Trust this certificate and remember it for " + server.Addr() + "? [y/N]")
	term.Type("y\r")
	term.Expect("Remembered in " + known)
	// The chat screen. (The raw output holds the status line whole only as
	// first drawn, perhaps before the member count is known.)
	term.Expect("· bob · TLS 1.3 · trusted on first use")
	term.Signal(syscall.SIGTERM)
	term.WaitExit()
	stored, err := os.ReadFile(known)
	if err != nil || strings.TrimSpace(string(stored)) != server.Addr()+" "+server.Fingerprint {
		t.Fatalf("known servers file: %v %q", err, stored)
	}

	// Remembered: plain mode now connects.
	out, code = runChat(t, "", "--plain", "--known-servers", known, "--nick", "bob", server.Addr())
	if code != 0 || !strings.Contains(out, "*** bob joined") {
		t.Errorf("after trusting: exit %d, output %q", code, out)
	}

	// Another certificate on the same address: refused loudly.
	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	impostor := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--tls-addr", ":"+server.Port)
	out, code = runChat(t, "hi\n", "--plain", "--known-servers", known, "--nick", "bob", impostor.Addr())
	for _, want := range []string{"CHANGED", server.Fingerprint, impostor.Fingerprint, "man in the middle", "remove the line for " + server.Addr() + " from " + known} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("changed certificate: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

func TestScreenModeChatsAndReconnects(t *testing.T) {
	dataDir := t.TempDir()
	server := testproc.StartChatd(t, chatdBinary, dataDir)
	alice := testproc.StartScreen(t, "chat", 100, 24, chatBinary, "--ca", server.CertFile, "--nick", "alice",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	alice.WaitFor("chatd · 1 member · alice · TLS 1.3 · verified (CA)")
	bob := server.JoinWithOpenSSL(t, "bob")
	alice.WaitFor("chatd · 2 members · alice")

	bob.Send("hello alice")
	alice.WaitFor("bob: hello alice")
	alice.Type("hi bob, from the screen\r")
	bob.Expect("<alice> hi bob, from the screen")
	alice.WaitFor("alice: hi bob, from the screen") // her own line, echoed by the client

	// The server restarts on the same port: the client notices, retries and rejoins.
	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	alice.WaitFor("disconnected (server shutting down); reconnecting in ")
	restarted := testproc.StartChatd(t, chatdBinary, dataDir, "--tls-addr", ":"+server.Port)
	alice.WaitFor("reconnected after")
	carol := restarted.JoinWithOpenSSL(t, "carol")
	alice.WaitFor("chatd · 2 members · alice · TLS 1.3 · verified (CA)")
	alice.Type("back in business\r")
	carol.Expect("<alice> back in business")

	alice.Type("\x03") // Ctrl+C
	carol.Expect("*** alice left (quit)")
	if code := alice.WaitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

func TestScreenModeWarnsWhenInsecure(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	eve := testproc.StartScreen(t, "chat", 100, 24, chatBinary, "--insecure", "--nick", "eve", server.Addr())
	eve.WaitFor("NOT VERIFIED (--insecure)")
	eve.Type("/quit\r")
	if code := eve.WaitExit(); code != 0 {
		t.Errorf("chat exited %d after /quit", code)
	}
}
