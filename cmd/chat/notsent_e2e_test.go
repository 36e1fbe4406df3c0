package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

// TestLineRefusedAsTheStoreFailsIsNotShownAsSent: chatd keeps its history
// on a real nats-server, which is killed; the line carol types next in
// chat is refused with the read-only notice. Once the refusal is on her
// screen, that line is nowhere on it looking sent: marked "(not sent)",
// or not shown at all (if chat knew the room was read-only before she
// typed it). bob, on openssl, never sees it. dave, who joins meanwhile,
// is told that the history cannot be read, and not the store's error.
func TestLineRefusedAsTheStoreFailsIsNotShownAsSent(t *testing.T) {
	natsBin, err := testproc.Build("github.com/nats-io/nats-server/v2", t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	nats := testproc.Start(t, "nats-server", nil, natsBin, "-js", "-sd", t.TempDir(), "-a", "127.0.0.1", "-p", "-1")
	line := nats.Expect("Listening for client connections on")
	nats.Expect("Server is ready")
	url := "nats://127.0.0.1:" + line[strings.LastIndexByte(line, ':')+1:]
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--nats", url)
	p := startTmux(t, 100, 30, chatBinary, "--known-servers", filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "carol", server.Addr())
	p.WaitFor("chatd · 1 member · carol")
	bob := server.JoinWithOpenSSL(t, "bob")
	p.TypeLine("stored before")
	bob.Expect("<carol> stored before")

	nats.Signal(syscall.SIGKILL)
	nats.WaitExit()
	p.TypeLine("my important sentence")
	screen := flowed(p.WaitFor("!! the room is read-only: storage unavailable"))
	if regexp.MustCompile(`carol: my important sentence( |$)`).MatchString(screen) && !strings.Contains(screen, "carol: my important sentence (not sent)") {
		t.Errorf("the refused line is on the screen looking sent:\n%s", screen)
	}
	if strings.Contains(screen, "stored before (not sent)") {
		t.Errorf("the stored line is marked as not sent:\n%s", screen)
	}
	bob.Send("/who")
	bob.Expect("member")
	if strings.Contains(bob.Output(), "my important sentence") {
		t.Errorf("bob was shown the refused line:\n%s", bob.Output())
	}

	// A joiner meanwhile is told plainly that the history cannot be
	// read, not what the store said.
	dave := server.JoinWithOpenSSL(t, "dave")
	dave.Send("/who")
	dave.Expect("member")
	if out := dave.Output(); !strings.Contains(out, "!!! the history cannot be read now: storage unavailable") || strings.Contains(out, "jetlog") || strings.Contains(out, "nats") {
		t.Errorf("the joiner was not told plainly that the history cannot be read:\n%s", out)
	}
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}
