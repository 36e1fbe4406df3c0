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
// pause overflows its queue: it is told once how many lines were
// dropped, and disconnected for flooding as soon as more than 16 queues'
// worth of its lines were dropped (it is not read for --flood-kick turns).
func TestOpenSSLFloodIsDisconnected(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--flood-rate", "20")
	bob := s.JoinWithOpenSSL(t, "bob")
	mallory := opensslPipe(t, s, "mallory", "(echo mallory; yes 'flood line')")
	mallory.Expect("lines dropped: at most 64 lines wait their turn; paste less at once")
	mallory.Expect("!!! disconnected: flooding (too many lines too fast)")
	bob.Expect("*** mallory left (flooding)")
	mallory.WaitExit()
	if n := strings.Count(mallory.Output(), "lines dropped"); n != 1 {
		t.Errorf("mallory was told %d times that lines were dropped, want once", n)
	}
	if n := strings.Count(bob.Output(), "<mallory> flood line"); n < 10 || n > 16 {
		t.Errorf("bob got %d of mallory's lines, want the burst of 10 (and a few more as the bucket refilled)", n)
	}
}

// TestOpenSSLBigPasteIsNotDisconnected: one paste of 150 lines, far more
// than the queue holds, is not a flood: what fits goes out in order, the
// paster is told once how many lines were dropped, and stays.
func TestOpenSSLBigPasteIsNotDisconnected(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--flood-rate", "20")
	bob := s.JoinWithOpenSSL(t, "bob")
	carol := opensslPipe(t, s, "carol", "(echo carol; seq 150 | sed 's/^/line /')")
	line := carol.Expect(" lines dropped: at most 64 lines wait their turn; paste less at once")
	var dropped int
	if _, err := fmt.Sscanf(line[strings.Index(line, "!!! "):], "!!! %d lines dropped", &dropped); err != nil || dropped < 60 || dropped > 76 {
		t.Fatalf("carol was told %q, want about 76 lines dropped", line)
	}
	prev := 0
	for range 150 - dropped {
		got := bob.Expect("<carol> line ")
		var n int
		fmt.Sscan(got[strings.Index(got, "<carol> line ")+len("<carol> line "):], &n)
		if n <= prev {
			t.Fatalf("bob got line %d after line %d", n, prev)
		}
		prev = n
	}
	bob.Send("/who")
	bob.Expect("*** 2 members: bob, carol")
	if out := carol.Output(); strings.Count(out, "lines dropped") != 1 || strings.Contains(out, "disconnected") {
		t.Errorf("carol, who pasted once, was told more than once, or disconnected:\n%s", out)
	}
}

// TestOpenSSLQuitInAPasteTakesItsTurn: a script piped into openssl that
// sends more lines than the burst and ends with /quit has every line
// delivered, in order, before it leaves with its parting message; it is
// told once that it leaves after its queued lines.
func TestOpenSSLQuitInAPasteTakesItsTurn(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--flood-rate", "20")
	bob := s.JoinWithOpenSSL(t, "bob")
	bot := opensslPipe(t, s, "bot", `(printf 'bot\n'; seq 20 | sed 's/^/line /'; printf '/quit done\n')`)
	for i := 1; i <= 20; i++ {
		bob.Expect(fmt.Sprintf("<bot> line %d", i))
	}
	bob.Expect("*** bot left (quit: done)")
	bot.Expect("*** leaving after the ")
	bot.Expect("*** Goodbye.")
	if code := bot.WaitExit(); code != 0 {
		t.Errorf("openssl exited %d", code)
	}
	if out := bot.Output(); strings.Contains(out, "not sent") || strings.Contains(out, "!!!") {
		t.Errorf("bot was told that lines were not sent, or an error:\n%s", out)
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
	looker.Expect("!!! choose a nickname first: before you join, /who lists the members, /crypto describes your connection and /quit leaves")
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
