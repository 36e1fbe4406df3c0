package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

// TestCtrlCAtTheTrustPromptIsNo: Ctrl+C at the trust-on-first-use question
// answers no at once: chat exits 1 and remembers nothing.
func TestCtrlCAtTheTrustPromptIsNo(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	known := filepath.Join(t.TempDir(), "known_servers")
	p := chatIn(t, known, "--nick", "bob", server.Addr())
	p.WaitFor("Trust this certificate and remember it for " + server.Addr() + "? [y/N]")
	p.Key("C-c")
	if code := p.waitExit(); code != exitFailed {
		t.Errorf("chat exited %d after Ctrl+C at the question, want %d", code, exitFailed)
	}
	if screen := p.Capture(); !strings.Contains(screen, "chat: certificate not trusted; nothing was sent") {
		t.Errorf("after Ctrl+C at the question the pane shows:\n%s", screen)
	}
	if _, err := os.Stat(known); err == nil {
		t.Error("Ctrl+C at the question wrote the known-servers file")
	}
}

// TestCertificateChangeOnReconnectIsLoud: the server comes back with
// another certificate while the screen is open; chat gives up, and once
// the screen is gone says so as loudly as at start-up.
func TestCertificateChangeOnReconnectIsLoud(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	p := chatIn(t, filepath.Join(t.TempDir(), "known"), "--fingerprint", server.Fingerprint, "--nick", "bob", server.Addr())
	p.WaitFor("· bob · TLS 1.3 · pinned")
	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	impostor := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--tls-addr", ":"+server.Port)
	if code := p.waitExit(); code != exitFailed {
		t.Errorf("chat exited %d, want %d", code, exitFailed)
	}
	screen := flowed(p.Capture())
	for _, want := range []string{"@@@ WARNING: SERVER CERTIFICATE HAS CHANGED @@@", "NOT the one you pinned", impostor.Fingerprint[:23]} {
		if !strings.Contains(screen, want) {
			t.Errorf("after the change the pane lacks %q:\n%s", want, screen)
		}
	}
}

// TestEmptyTrustFlagIsRefused: --fingerprint "$FP" with FP unset does not
// quietly mean "no pin"; nor does an empty --ca or --known-servers.
func TestEmptyTrustFlagIsRefused(t *testing.T) {
	for _, args := range [][]string{{"--fingerprint", ""}, {"--fingerprint=  "}, {"--ca", ""}, {"-known-servers="}} {
		out, code := runChat(t, "", append(args, "--plain", "localhost")...)
		name := strings.TrimLeft(strings.SplitN(args[0], "=", 2)[0], "-")
		want := "chat: --" + name + " was given an empty value (an unset variable?): give one, or leave the flag out"
		if code != exitUsage || !strings.Contains(out, want) {
			t.Errorf("chat %q: exit %d, output %q; want %d and %q", args, code, out, exitUsage, want)
		}
	}
}
