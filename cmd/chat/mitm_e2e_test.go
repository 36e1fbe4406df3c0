package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

// These tests are chat's rows of docs/LAB.md's table of who notices a man
// in the middle: the real chatd, the real `chatd mitm` in front of it, and
// the real chat.

// intercepted starts chatd and `chatd mitm` in front of it.
func intercepted(t *testing.T) (*testproc.Chatd, *testproc.Mitm) {
	t.Helper()
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	proxy := testproc.StartMitm(t, chatdBinary, server.Addr(), "")
	if proxy.UpstreamFingerprint != server.Fingerprint || proxy.Fingerprint == server.Fingerprint {
		t.Fatalf("chatd mitm printed upstream %s and its own %s; chatd's is %s", proxy.UpstreamFingerprint, proxy.Fingerprint, server.Fingerprint)
	}
	return server, proxy
}

// refusedLoudly checks that chat refused the proxy with both fingerprints
// named and nothing relayed.
func refusedLoudly(t *testing.T, out string, code int, proxy *testproc.Mitm, want ...string) {
	t.Helper()
	want = append(want, proxy.UpstreamFingerprint, proxy.Fingerprint, "man in the middle")
	for _, w := range want {
		if code != exitFailed || !strings.Contains(out, w) {
			t.Errorf("chat through the proxy: exit %d, output lacks %q:\n%s", code, w, out)
		}
	}
	proxy.Expect("TLS handshake with the client failed, nothing relayed")
	if strings.Contains(proxy.Output(), "-> server:") {
		t.Errorf("the proxy relayed something:\n%s", proxy.Output())
	}
}

// TestMitmChatWithCARefuses: chat --ca with the real certificate refuses
// the proxy and names the fingerprint in the file and the one presented.
func TestMitmChatWithCARefuses(t *testing.T) {
	server, proxy := intercepted(t)
	out, code := runChat(t, "hi\n", "--plain", "--ca", server.CertFile, "--nick", "bob", proxy.Addr())
	refusedLoudly(t, out, code, proxy, "@@@ WARNING: SERVER CERTIFICATE IS NOT THE ONE YOUR --ca TRUSTS @@@")
}

// TestMitmChatWithFingerprintRefuses: chat --fingerprint with the real
// server's refuses the proxy and names both fingerprints.
func TestMitmChatWithFingerprintRefuses(t *testing.T) {
	server, proxy := intercepted(t)
	out, code := runChat(t, "hi\n", "--plain", "--fingerprint", server.Fingerprint, "--nick", "bob", proxy.Addr())
	refusedLoudly(t, out, code, proxy, "NOT the one you pinned")
}

// TestMitmChatRememberedServerRefuses: chat remembers the real server
// from a direct connection (trust on first use); the proxy then stands at
// the remembered address (here the line chat stored is moved to the
// proxy's address: no port of a stopped server is taken again, which a
// parallel test could take first) and chat refuses, naming both
// fingerprints.
func TestMitmChatRememberedServerRefuses(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	known := filepath.Join(t.TempDir(), "known_servers")
	first := testproc.StartTerminal(t, "chat", nil, 100, 30, chatBinary, "--known-servers", known, "--nick", "bob", server.Addr())
	first.Expect("SHA-256:     " + server.Fingerprint)
	first.Type("y\r")
	first.Expect("· bob · TLS 1.3 · trusted on first use")
	first.Signal(syscall.SIGTERM)
	first.WaitExit()

	proxy := testproc.StartMitm(t, chatdBinary, server.Addr(), "")
	stored, err := os.ReadFile(known)
	if err != nil || !strings.Contains(string(stored), server.Addr()) {
		t.Fatalf("chat did not remember %s: %v\n%s", server.Addr(), err, stored)
	}
	if err := os.WriteFile(known, []byte(strings.ReplaceAll(string(stored), server.Addr(), proxy.Addr())), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := proxy.Addr()
	out, code := runChat(t, "hi\n", "--plain", "--known-servers", known, "--nick", "bob", addr)
	refusedLoudly(t, out, code, proxy, "@@@ WARNING: SERVER CERTIFICATE HAS CHANGED @@@", "remove the line for "+addr+" from "+known)
}

// TestMitmChatFirstUseShowsTheProxysFingerprint: on first use chat shows
// the fingerprint presented, the proxy's and not the server's, for the
// user to compare; a user who says yes without comparing is intercepted.
func TestMitmChatFirstUseShowsTheProxysFingerprint(t *testing.T) {
	server, proxy := intercepted(t)
	known := filepath.Join(t.TempDir(), "known_servers")
	bob := testproc.StartTerminal(t, "chat", nil, 100, 30, chatBinary, "--known-servers", known, "--nick", "bob", proxy.Addr())
	bob.Expect("SHA-256:     " + proxy.Fingerprint)
	bob.Expect("Compare this fingerprint with the one the server's operator gave you")
	bob.Expect("Trust this certificate and remember it for " + proxy.Addr() + "? [y/N]")
	if strings.Contains(bob.Output(), server.Fingerprint) {
		t.Errorf("chat showed the real server's fingerprint, which it never saw:\n%s", bob.Output())
	}
	bob.Type("y\r")
	bob.Expect("· bob · TLS 1.3 · trusted on first use")
	bob.Type("my password is hunter2\r")
	proxy.Expect(" -> server: my password is hunter2")
	if stored, err := os.ReadFile(known); err != nil || !strings.Contains(string(stored), proxy.Fingerprint) {
		t.Errorf("chat remembered %q (%v), want the proxy's fingerprint", stored, err)
	}
}

// TestMitmChatInsecureCarriesOnInRed: chat --insecure warns in red, says
// NOT VERIFIED, and everything it says crosses the proxy.
func TestMitmChatInsecureCarriesOnInRed(t *testing.T) {
	_, proxy := intercepted(t)
	eve := testproc.StartTerminal(t, "chat", nil, 100, 30, chatBinary, "--insecure", "--nick", "eve", proxy.Addr())
	eve.Expect("\x1b[1;31mWARNING: --insecure: the server's certificate is NOT verified.")
	eve.Expect("NOT VERIFIED")
	eve.Type("nobody checked\r")
	proxy.Expect(" -> server: nobody checked")
}

// TestInsecureWarningShownOnTheScreen: --insecure's warning, printed before
// the full-screen view starts and hidden by it, is shown again on the
// screen while it runs.
func TestInsecureWarningShownOnTheScreen(t *testing.T) {
	_, proxy := intercepted(t)
	eve := testproc.StartScreen(t, "chat", 120, 24, chatBinary, "--insecure", "--nick", "eve", proxy.Addr())
	eve.WaitFor("NOT VERIFIED")
	eve.WaitFor("WARNING: --insecure: the server's certificate is NOT verified.")
	eve.Type("/quit\r")
	if code := eve.WaitExit(); code != 0 {
		t.Errorf("chat exited %d after /quit", code)
	}
}
