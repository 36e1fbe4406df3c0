package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// TestChatScrollsBackThroughTheLog: chatd shows a joiner 5 events
// (--history 5) of the 41 it stored; chat, in tmux, pages up past them and
// the screen reads older pages from chatd's log over the line protocol
// (/older) until "line 1", and then says it is the beginning of the
// history; live lines still arrive, and bob, on openssl, sees nothing of
// the extension.
func TestChatScrollsBackThroughTheLog(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--history", "5", "--flood-rate", "100", "--flood-burst", "100")
	bob := server.JoinWithOpenSSL(t, "bob")
	for i := 1; i <= 40; i++ {
		bob.Send(fmt.Sprint("line ", i))
	}
	bob.Send("/who")
	bob.Expect("member")
	p := startTmux(t, 80, 16, chatBinary, "--known-servers", filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", server.Addr())
	screen := p.WaitFor("chatd · 2 members · alice")
	if !strings.Contains(screen, "bob: line 40") || strings.Contains(screen, "bob: line 35") {
		t.Fatalf("the joiner's history is not the last 5 events:\n%s", screen)
	}
	p.pageUpTo("bob: line 1 ", 20)
	screen = p.pageUpTo("beginning of the history", 5)
	if !strings.Contains(screen, "bob joined") {
		t.Errorf("the top of the history lacks bob's join:\n%s", screen)
	}
	p.Key("End")
	bob.Send("after scrolling")
	p.WaitFor("bob: after scrolling")
	if out := bob.Output(); strings.Contains(out, "older") {
		t.Errorf("the openssl member was shown something of the extension:\n%s", out)
	}
}

// pageUpTo presses PageUp until the pane shows want, at most presses
// times, and returns what it shows.
func (p *tmuxPane) pageUpTo(want string, presses int) string {
	p.t.Helper()
	for range presses {
		p.Key("PageUp")
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if screen := p.Capture(); strings.Contains(screen, want) {
				return screen
			}
			time.Sleep(30 * time.Millisecond)
		}
	}
	p.t.Fatalf("%d PageUps did not show %q; the pane shows:\n%s", presses, want, p.Capture())
	return ""
}
