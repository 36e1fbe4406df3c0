package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// sayCountedLines has bob say "line 1" to "line n" and waits until chatd stored
// them all.
func sayCountedLines(t *testing.T, bob *testproc.Process, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		bob.Send(fmt.Sprint("line ", i))
	}
	bob.Send("/who")
	bob.Expect("member")
}

// pageUpTo presses PageUp in tm until the pane shows want, at most presses
// times, and returns what it shows.
func pageUpTo(t *testing.T, tm *testproc.Tmux, want string, presses int) string {
	t.Helper()
	for range presses {
		tm.Key("PageUp")
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if screen := tm.Capture(); strings.Contains(screen, want) {
				return screen
			}
			time.Sleep(30 * time.Millisecond)
		}
	}
	t.Fatalf("%d PageUps did not show %q; the pane shows:\n%s", presses, want, tm.Capture())
	return ""
}

// TestSSHScreenScrollsBackThroughTheLog: chatd shows a joiner 5 events
// (--history 5) of the 41 it stored; alice, on the real ssh in tmux,
// presses PageUp past them and the screen reads older pages from the log
// (the embedded JetStream store) until "line 1", and then says it is the
// beginning of the history.
func TestSSHScreenScrollsBackThroughTheLog(t *testing.T) {
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatd(t, t.TempDir(), "--history", "5", "--ssh-addr", "127.0.0.1:0", "--flood-rate", "100", "--flood-burst", "100")
	bob := s.JoinWithOpenSSL(t, "bob")
	sayCountedLines(t, bob, 40)
	alice := testproc.StartTmux(t, 80, 16, sshArgs(t, s, "alice")...)
	screen := alice.WaitFor("chatd · 2 members · alice")
	if !strings.Contains(screen, "bob: line 40") || strings.Contains(screen, "bob: line 35") {
		t.Fatalf("the joiner's history is not the last 5 events:\n%s", screen)
	}
	pageUpTo(t, alice, "bob: line 1 ", 20)
	screen = pageUpTo(t, alice, "beginning of the history", 5)
	if !strings.Contains(screen, "bob joined") {
		t.Errorf("the top of the history lacks bob's join:\n%s", screen)
	}
	alice.Key("End")
	bob.Send("after scrolling")
	alice.WaitFor("bob: after scrolling")
}
