package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// TestPlainModeSendsEveryPipedLine: 200 lines piped into --plain, more than
// the client's send queue holds, all reach a server that takes them (here
// with a flood limit above them): standard input waits for the network
// instead of dropping lines, and the /quit at the end is not lost.
func TestPlainModeSendsEveryPipedLine(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--flood-burst", "1000", "--flood-rate", "1000")
	alice := server.JoinWithOpenSSL(t, "alice")
	var in strings.Builder
	for i := range 200 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	out, code := runChat(t, in.String(), "--plain", "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	if strings.Contains(out, "not taking lines") || strings.Contains(out, "was not sent") {
		t.Errorf("the client dropped lines:\n%s", out)
	}
	if code != exitOK || !strings.Contains(out, "*** Goodbye.") {
		t.Errorf("exit %d, want %d after the server's goodbye:\n%s", code, exitOK, out)
	}
	for i := range 200 {
		alice.Expect(fmt.Sprintf("<bob> line %d", i))
	}
	alice.Expect("*** bob left (quit)")
}

// TestPlainModeRefusesAnOverlongInputLine: a line of standard input over
// 64 KiB stops the input, says so, and exits 1; the lines before it were
// sent, and the session quits politely.
func TestPlainModeRefusesAnOverlongInputLine(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	alice := server.JoinWithOpenSSL(t, "alice")
	input := "before\n" + strings.Repeat("x", 70<<10) + "\nafter\n"
	out, code := runChat(t, input, "--plain", "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	if code != exitFailed || !strings.Contains(out, "chat: reading standard input: a line is longer than 64 KiB; the lines after it were not sent") {
		t.Errorf("exit %d, want %d with the reason:\n%s", code, exitFailed, out)
	}
	alice.Expect("<bob> before")
	if line := alice.Expect("*** bob left"); !strings.HasSuffix(line, "*** bob left (quit)") || strings.Contains(alice.Output(), "after") {
		t.Errorf("alice saw %q; all:\n%s", line, alice.Output())
	}
}
