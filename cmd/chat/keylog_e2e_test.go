package main

import (
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
	testproc.CheckKeyLog(t, keys)
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
// keys are logged, and the start-up warning, hidden by the screen, is shown
// on it again.
func TestScreenModeShowsKeyLog(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	keys := filepath.Join(t.TempDir(), "keys.log")
	bob := testproc.StartScreen(t, "chat", 120, 24, chatBinary, "--keylog", keys, "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	bob.WaitFor("KEY LOG ON (decryptable)")
	// The warning printed before the screen started is hidden by it: the
	// screen shows it again, as its first error line.
	bob.WaitFor("WARNING: TLS key log ON")
	bob.Type("/quit\r")
	if code := bob.WaitExit(); code != 0 {
		t.Errorf("chat exited %d after /quit", code)
	}
}

// TestKeyLogFromEnvironmentTooOpen: an SSLKEYLOGFILE a browser or curl
// created 0644 does not stop chat: it warns (why, and chmod 600 FILE), runs
// without a key log, and writes nothing to the file.
func TestKeyLogFromEnvironmentTooOpen(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	keys := filepath.Join(t.TempDir(), "sslkeys.log")
	if err := os.WriteFile(keys, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keys, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	bob := testproc.Start(t, "chat", []string{"SSLKEYLOGFILE=" + keys}, chatBinary, "--plain", "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	if line := bob.Expect("WARNING: SSLKEYLOGFILE is set, but chat runs WITHOUT a key log"); !strings.Contains(line, "mode 0644") || !strings.Contains(line, "chmod 600 "+keys) {
		t.Errorf("the warning does not say why, or what to do: %s", line)
	}
	bob.Expect("*** bob joined")
	bob.Send("/tls")
	bob.Expect("verification:")
	bob.CloseInput()
	bob.Expect("*** Goodbye.")
	if code := bob.WaitExit(); code != 0 {
		t.Errorf("chat --plain exited %d", code)
	}
	if out := bob.Output(); strings.Contains(out, "key log: ON") || strings.Contains(out, "TLS key log ON") {
		t.Errorf("chat says its key log is on:\n%s", out)
	}
	if b, _ := os.ReadFile(keys); len(b) != 0 {
		t.Errorf("chat wrote to the refused key log:\n%s", b)
	}
}

// TestKeyLogFlagTooOpenRefuses: an explicit --keylog naming a 0644 file
// still refuses, and chat does not connect.
func TestKeyLogFlagTooOpenRefuses(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "sslkeys.log")
	if err := os.WriteFile(keys, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keys, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runChat(t, "", "--plain", "--keylog", keys, "--nick", "bob", "127.0.0.1:19743")
	if code != exitFailed || !strings.Contains(out, "unsafe key log file") {
		t.Errorf("chat --keylog (0644) exited %d and printed:\n%s", code, out)
	}
}

// TestScreenModeEnvKeyLogTooOpen: on the screen, a refused SSLKEYLOGFILE
// leaves the status line without KEY LOG.
func TestScreenModeEnvKeyLogTooOpen(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	keys := filepath.Join(t.TempDir(), "sslkeys.log")
	if err := os.WriteFile(keys, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keys, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSLKEYLOGFILE", keys)
	bob := testproc.StartScreen(t, "chat", 120, 24, chatBinary, "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	text := bob.WaitFor("bob joined")
	if strings.Contains(text, "KEY LOG") {
		t.Errorf("the screen shows a key log that is off:\n%s", text)
	}
	bob.Type("/quit\r")
	if code := bob.WaitExit(); code != 0 {
		t.Errorf("chat exited %d after /quit", code)
	}
}
