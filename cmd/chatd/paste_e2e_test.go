package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// These tests are the openssl student's first hour: pasting into
// openssl s_client, a client that floods, and looking who is on before
// choosing a nickname, each with the real openssl.

// opensslPipe starts sh running feed (a shell command) piped into the
// openssl command chatd printed, as a person scripting openssl would.
func opensslPipe(t *testing.T, s *testproc.Chatd, name, feed string, env ...string) *testproc.Process {
	t.Helper()
	quoted := make([]string, len(s.ConnectCmd))
	for i, arg := range s.ConnectCmd {
		quoted[i] = shellQuote(arg)
	}
	return testproc.Start(t, name, env, "sh", "-c", feed+" | "+strings.Join(quoted, " "))
}

// TestOpenSSLPasteIsDeliveredInOrder: 40 lines pasted into openssl
// s_client on a terminal all reach the others, in order, at the flood
// rate; the paster is told once that they are queued, and stays.
func TestOpenSSLPasteIsDeliveredInOrder(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	// 10 lines at once, then 20 a second: the 30 others take 1.5 s.
	s := startChatd(t, t.TempDir(), "--flood-rate", "20")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice := testproc.StartTerminal(t, "alice", nil, 100, 30, s.ConnectCmd...)
	alice.Expect("*** Choose a nickname")
	alice.Send("alice")
	alice.Expect("*** alice joined")
	bob.Expect("*** alice joined")

	var paste strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&paste, "pasted line %02d\n", i)
	}
	alice.Type(paste.String())
	for i := 1; i <= 40; i++ {
		bob.Expect(fmt.Sprintf("<alice> pasted line %02d", i)) // each after the one before
	}
	alice.Expect("*** 30 lines queued; they go out at 20 per second, the last in about ")
	alice.Send("/who")
	alice.Expect("*** 2 members: alice, bob")
	if out := alice.Output(); strings.Count(out, "lines queued") != 1 || strings.Contains(out, "!!!") {
		t.Errorf("alice, who pasted, got more than one notice, or an error:\n%s", out)
	}
	if strings.Contains(bob.Output(), "alice left") {
		t.Error("alice was disconnected for pasting")
	}
}

// TestOpenSSLFloodIsDisconnected: a client that writes lines without
// pause is disconnected for flooding, after the burst; its queue never
// reaches anyone.
func TestOpenSSLFloodIsDisconnected(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--flood-rate", "20")
	bob := s.JoinWithOpenSSL(t, "bob")
	mallory := opensslPipe(t, s, "mallory", "(echo mallory; yes 'flood line')")
	mallory.Expect("!!! slow down: you may send 10 lines at once and 20 per second after that, and 64 more wait their turn")
	mallory.Expect("!!! disconnected: flooding (too many lines too fast)")
	bob.Expect("*** mallory left (flooding)")
	mallory.WaitExit()
	if n := strings.Count(bob.Output(), "<mallory> flood line"); n < 10 || n > 14 {
		t.Errorf("bob got %d of mallory's lines, want the burst of 10 (and a few more that went out before the flood overflowed the queue)", n)
	}
}

// TestOpenSSLWhoBeforeJoining: /who typed before choosing a nickname
// lists the members and asks again; /quit then leaves. Nobody is told.
func TestOpenSSLWhoBeforeJoining(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir())
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Expect("*** bob joined")

	looker := opensslPipe(t, s, "looker", `printf '/who\n/nick x\n/quit\n'`)
	if line := looker.Expect("*** 2 members: "); !regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] \*\*\* 2 members: alice, bob$`).MatchString(line) {
		t.Errorf("the member list reads %q", line)
	}
	looker.Expect("*** Choose a nickname")
	looker.Expect("!!! choose a nickname first: before you join, /who lists the members and /quit leaves")
	looker.Expect("*** Choose a nickname")
	looker.Expect("*** Goodbye.")
	if code := looker.WaitExit(); code != 0 {
		t.Errorf("openssl exited %d after /quit", code)
	}
	bob.Send("/who")
	bob.Expect("*** 2 members: alice, bob")
	alice.Send("still just us")
	bob.Expect("<alice> still just us")
	out := bob.Output()
	if _, after, _ := strings.Cut(out, "*** bob joined"); strings.Contains(after, "joined") || strings.Contains(after, " left") {
		t.Errorf("bob saw someone come or go after he joined:\n%s", out)
	}
}
