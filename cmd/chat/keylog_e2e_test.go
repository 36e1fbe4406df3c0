package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// TestKeyLogFromEnvironment runs chat --plain with SSLKEYLOGFILE, as a
// browser would take it: chat warns at start and in /tls, and the file is
// created 0600 with the session's secrets.
func TestKeyLogFromEnvironment(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	keys := filepath.Join(t.TempDir(), "keys.log")
	bob := testproc.Start(t, "chat", []string{"SSLKEYLOGFILE=" + keys}, chatBinary, "--plain", "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	bob.Expect("WARNING: TLS key log ON: secrets go to " + keys)
	bob.Expect("*** bob joined")
	bob.Send("/tls")
	bob.Expect("key log: ON, this session's TLS secrets go to " + keys)
	bob.CloseInput()
	bob.Expect("*** Goodbye.")
	if code := bob.WaitExit(); code != 0 {
		t.Errorf("chat --plain exited %d", code)
	}
	fi, err := os.Stat(keys)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key log mode %04o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(keys); !bytes.Contains(b, []byte("CLIENT_TRAFFIC_SECRET_0 ")) {
		t.Errorf("the key log holds no NSS key log lines:\n%s", b)
	}
}

// TestKeyLogRefusesSymlink: chat --keylog does not follow a symbolic link
// someone may have planted, and does not connect.
func TestKeyLogRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	link, target := filepath.Join(dir, "keys.log"), filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	out, code := runChat(t, "", "--plain", "--keylog", link, "--nick", "bob", "127.0.0.1:18922")
	if code != exitFailed || !strings.Contains(out, "unsafe key log file") {
		t.Errorf("chat --keylog SYMLINK exited %d and printed:\n%s", code, out)
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the symbolic link's target was created")
	}
}

// TestScreenModeShowsKeyLog: the screen's status line says the session's
// keys are logged.
func TestScreenModeShowsKeyLog(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	keys := filepath.Join(t.TempDir(), "keys.log")
	bob := testproc.StartScreen(t, "chat", 120, 24, chatBinary, "--keylog", keys, "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	bob.WaitFor("KEY LOG ON (decryptable)")
	bob.Type("/quit\r")
	if code := bob.WaitExit(); code != 0 {
		t.Errorf("chat exited %d after /quit", code)
	}
}
