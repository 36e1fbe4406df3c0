package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// These tests run the real chatd binary on a data directory, stop it
// (SIGTERM or SIGKILL) and start it again on the same directory: what its
// store kept is what an openssl s_client joiner is replayed.

// fastTalk lets a member send many lines at once.
var fastTalk = []string{"--flood-rate", "1000", "--flood-burst", "1000"}

// stamped is the time stamp of a replayed or live line.
var stamped = regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] `)

// replayed joins s as nick with openssl s_client and returns the lines of
// its replay (between "recent history" and its end), without time
// stamps; none if chatd replays nothing.
func replayed(t *testing.T, s *testproc.Chatd, nick string) []string {
	t.Helper()
	p := s.OpenSSL(t, nick)
	p.Expect("*** Choose a nickname")
	p.Send(nick)
	p.Expect("*** " + nick + " joined")
	out := p.Output()
	begin := strings.Index(out, "*** recent history: ")
	if begin < 0 {
		return nil
	}
	end := strings.LastIndex(out[:max(begin, strings.Index(out, "*** end of recent history"))], "\n")
	if end < begin {
		t.Fatalf("%s's replay has no end:\n%s", nick, out)
	}
	return unstamped(out[begin:end])[1:]
}

// unstamped returns the lines of out without their time stamps.
func unstamped(out string) []string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		lines[i] = stamped.ReplaceAllString(strings.TrimRight(l, "\r"), "")
	}
	return lines
}

// said returns the chat lines among lines, as "<nick> text".
func said(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "<") {
			out = append(out, l)
		}
	}
	return out
}

// stop stops chatd with SIGTERM and waits for it.
func stop(t *testing.T, s *testproc.Chatd) {
	t.Helper()
	s.Signal(syscall.SIGTERM)
	if code := s.WaitExit(); code != 0 {
		t.Fatalf("chatd exited %d after SIGTERM", code)
	}
}

// sayLines has member p say n numbered lines and waits until witness, a
// member, was shown the last (so all are stored: a member's lines are
// stored in the order said); it returns them as the room shows them.
func sayLines(t *testing.T, p, witness *testproc.Process, nick string, from, n int) []string {
	t.Helper()
	var lines []string
	for i := from; i < from+n; i++ {
		text := fmt.Sprintf("line %03d", i)
		p.Send(text)
		lines = append(lines, "<"+nick+"> "+text)
	}
	witness.Expect(lines[len(lines)-1])
	return lines
}

// TestRestartKeepsHistory: what members said before chatd was stopped is
// replayed, all of it and in order, to a joiner after it started again on
// the same data directory.
func TestRestartKeepsHistory(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	args := append([]string{"--history", "500"}, fastTalk...)
	s := startChatd(t, dataDir, args...)
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	want := sayLines(t, alice, bob, "alice", 0, 30)
	want = append(want, sayLines(t, bob, alice, "bob", 30, 30)...)
	stop(t, s)

	s = startChatd(t, dataDir, args...)
	got := replayed(t, s, "carol")
	if !slices.Equal(said(got), want) {
		t.Fatalf("replayed after the restart:\n%s\nwant the %d lines said", strings.Join(got, "\n"), len(want))
	}
	if got[0] != "*** alice joined" {
		t.Errorf("the replay begins with %q, want alice's join", got[0])
	}
}

// TestKill9KeepsWhatWasShown: members talk as fast as they can while chatd
// is killed with SIGKILL; after a restart, every line any member had been
// shown is in a joiner's replay, in the order it was said, and nothing
// that was not said; and the replay is one order every member's view
// agrees with: what each was shown live (dave, silent, was shown both
// talkers' lines) is in the replay in the same order.
func TestKill9KeepsWhatWasShown(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	args := append([]string{"--history", "1000"}, fastTalk...)
	s := startChatd(t, dataDir, args...)
	dave := s.JoinWithOpenSSL(t, "dave")
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Expect("*** bob joined")
	dave.Expect("*** bob joined")
	talk := func(from, to int) {
		for i := from; i < to; i++ {
			alice.Send(fmt.Sprintf("alice %03d", i))
			bob.Send(fmt.Sprintf("bob %03d", i))
		}
	}
	talk(0, 100)
	bob.Expect("<alice> alice 000")
	talk(100, 200) // still in flight at the kill
	s.Signal(syscall.SIGKILL)
	s.WaitExit()
	alice.WaitExit()
	bob.WaitExit()
	dave.WaitExit()
	views := map[string][]string{}
	var shown []string
	for nick, p := range map[string]*testproc.Process{"alice": alice, "bob": bob, "dave": dave} {
		views[nick] = said(unstamped(p.Output()))
		shown = append(shown, views[nick]...)
	}
	if len(shown) == 0 {
		t.Fatal("nobody was shown anything before the kill")
	}

	s = startChatd(t, dataDir, args...)
	got := said(replayed(t, s, "carol"))
	for _, l := range shown {
		if !slices.Contains(got, l) {
			t.Errorf("%q was shown before the kill but is not replayed after it", l)
		}
	}
	next := map[string]int{"alice": 0, "bob": 0}
	talked := regexp.MustCompile(`^<(alice|bob)> (alice|bob) (\d{3})$`)
	for _, l := range got {
		m := talked.FindStringSubmatch(l)
		if m == nil || m[1] != m[2] {
			t.Fatalf("replayed %q, which nobody said", l)
		}
		if want := fmt.Sprintf("%03d", next[m[1]]); m[3] != want {
			t.Fatalf("replayed %q where %s's line %s was due: out of order or never said", l, m[1], want)
		}
		next[m[1]]++
	}
	for nick, view := range views {
		if i := inOrderWithin(view, got); i < len(view) {
			t.Errorf("%s was shown %d lines before the kill; the replay has them in another order from %q on", nick, len(view), view[i])
		}
	}
	t.Logf("%d lines shown before the kill (%d to dave), %d replayed after it", len(shown), len(views["dave"]), len(got))
}

// inOrderWithin returns len(sub) if sub's lines are all in all, in the
// same order (sub is a subsequence of all); else the index of the first
// line of sub that is not found after the ones before it.
func inOrderWithin(sub, all []string) int {
	i := 0
	for _, l := range all {
		if i < len(sub) && sub[i] == l {
			i++
		}
	}
	return i
}

// TestHistoryKeepAcrossRestart: --history-keep 5 keeps exactly the last
// five events, across a restart.
func TestHistoryKeepAcrossRestart(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	args := append([]string{"--history-keep", "5", "--history", "5"}, fastTalk...)
	s := startChatd(t, dataDir, args...)
	watcher := s.JoinWithOpenSSL(t, "watcher")          // event 1
	alice := s.JoinWithOpenSSL(t, "alice")              // 2
	lines := sayLines(t, alice, watcher, "alice", 0, 8) // 3..10
	alice.Send("/quit")                                 // 11
	watcher.Expect("*** alice left (quit)")
	stop(t, s)

	s = startChatd(t, dataDir, args...)
	got := replayed(t, s, "bob")
	// 12: the stop stores watcher's leave
	want := append(slices.Clone(lines[5:]), "*** alice left (quit)", "*** watcher left (server shutting down)")
	if !slices.Equal(got, want) {
		t.Fatalf("replayed with --history-keep 5:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHistoryMaxAgeForgets: with --history-max-age 2s, what was said more
// than two seconds ago is gone after a restart, and what was said since
// is replayed.
func TestHistoryMaxAgeForgets(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	args := []string{"--history-max-age", "2s"}
	s := startChatd(t, dataDir, args...)
	watcher := s.JoinWithOpenSSL(t, "watcher")
	alice := s.JoinWithOpenSSL(t, "alice")
	old := sayLines(t, alice, watcher, "alice", 0, 1)
	saidAt := time.Now()
	stop(t, s)
	time.Sleep(time.Until(saidAt.Add(2*time.Second + 200*time.Millisecond)))

	s = startChatd(t, dataDir, args...)
	watcher = s.JoinWithOpenSSL(t, "watcher")
	bob := s.JoinWithOpenSSL(t, "bob")
	recent := sayLines(t, bob, watcher, "bob", 1, 1)
	got := replayed(t, s, "carol")
	if slices.Contains(got, old[0]) || !slices.Contains(got, recent[0]) {
		t.Fatalf("replayed with --history-max-age 2s, %s after %q:\n%s\nwant %q only", time.Since(saidAt).Round(time.Millisecond), old[0], strings.Join(got, "\n"), recent[0])
	}
}

// TestMemoryStoreForgets: with --store memory a restart forgets the
// history, and nothing is written under <data-dir>/nats.
func TestMemoryStoreForgets(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	s := startChatd(t, dataDir, "--store", "memory")
	if !strings.Contains(s.Output(), "forgotten at restart") {
		t.Errorf("the banner does not say the history is forgotten at restart:\n%s", s.Output())
	}
	watcher := s.JoinWithOpenSSL(t, "watcher")
	sayLines(t, s.JoinWithOpenSSL(t, "alice"), watcher, "alice", 0, 3)
	stop(t, s)

	s = startChatd(t, dataDir, "--store", "memory")
	if got := replayed(t, s, "bob"); len(got) != 0 {
		t.Fatalf("replayed after a restart with --store memory:\n%s", strings.Join(got, "\n"))
	}
	if _, err := os.Stat(filepath.Join(dataDir, natsDirName)); err == nil {
		t.Errorf("--store memory created %s", filepath.Join(dataDir, natsDirName))
	}
}

// startRefused starts chatd, which must exit with an error at start-up
// saying want, and returns what it printed.
func startRefused(t *testing.T, dataDir, want string) string {
	t.Helper()
	p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", dataDir, "--tls-addr", ":0", "--ssh-addr", "")
	code := p.WaitExit()
	out := p.Output()
	if code == 0 || !strings.Contains(out, want) {
		t.Fatalf("chatd exited %d, want a refusal saying %q; it printed:\n%s", code, want, out)
	}
	if strings.Contains(out, "TLS listening") {
		t.Errorf("chatd listened before refusing its store:\n%s", out)
	}
	return out
}

// TestSecondChatdOnSameDataDirRefused: while one chatd runs on a data
// directory, another on it is refused, naming the first's process, and
// the first goes on as if nothing happened.
func TestSecondChatdOnSameDataDirRefused(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	s := startChatd(t, dataDir)
	watcher := s.JoinWithOpenSSL(t, "watcher")
	alice := s.JoinWithOpenSSL(t, "alice")
	sayLines(t, alice, watcher, "alice", 0, 1)
	startRefused(t, dataDir, "already in use by process")
	want := sayLines(t, alice, watcher, "alice", 1, 1)
	if got := said(replayed(t, s, "bob")); !slices.Contains(got, want[0]) {
		t.Fatalf("the first chatd's history after the refusal: %q", got)
	}
}

// TestForeignOrCorruptStoreRefused: a <data-dir>/nats that is not a chatd
// store, or whose stream the server cannot load, stops chatd at start with
// a clear error, and is left as it was.
func TestForeignOrCorruptStoreRefused(t *testing.T) {
	t.Run("Foreign", func(t *testing.T) {
		dataDir := t.TempDir()
		mine := filepath.Join(dataDir, natsDirName, "mine.txt")
		if err := os.MkdirAll(filepath.Dir(mine), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mine, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		startRefused(t, dataDir, "is not a chatd store")
		if b, err := os.ReadFile(mine); err != nil || string(b) != "keep me" {
			t.Fatalf("the foreign file is %q, %v", b, err)
		}
	})
	t.Run("Corrupt", func(t *testing.T) {
		requireOpenSSL(t)
		dataDir := t.TempDir()
		s := startChatd(t, dataDir)
		watcher := s.JoinWithOpenSSL(t, "watcher")
		sayLines(t, s.JoinWithOpenSSL(t, "alice"), watcher, "alice", 0, 1)
		stop(t, s)
		meta := filepath.Join(dataDir, natsDirName, "jetstream", "$G", "streams", "CHATD_ROOM", "meta.inf")
		const garbage = "\x00garbage{{{"
		if err := os.WriteFile(meta, []byte(garbage), 0o600); err != nil {
			t.Fatal(err)
		}
		startRefused(t, dataDir, "could not load it")
		if b, err := os.ReadFile(meta); err != nil || string(b) != garbage {
			t.Fatalf("the stream's meta.inf is now %.40q, %v: it was not left as it was", b, err)
		}
	})
}

// TestNATSCredentialsNotPrinted: a chatd that cannot reach its --nats
// server exits non-zero saying so, naming the server without the
// password its URL holds (review finding 6).
func TestNATSCredentialsNotPrinted(t *testing.T) {
	p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", t.TempDir(), "--tls-addr", "127.0.0.1:0", "--ssh-addr", "",
		"--nats", "nats://chatd:s3cretpass@127.0.0.1:1")
	if code := p.WaitExit(); code == 0 {
		t.Fatal("chatd started without its NATS server")
	}
	out := p.Output()
	if !strings.Contains(out, "nats://127.0.0.1:1") || strings.Contains(out, "s3cretpass") {
		t.Fatalf("chatd's output should name nats://127.0.0.1:1 without its password:\n%s", out)
	}
}

// TestTwoChatdsOnOneStream: two chatd processes on one nats-server. On
// one data directory the second is refused at start, naming the first;
// on two, they would share the stream: the second's first line is
// refused (the stream is not where it saw it end), its room turns
// read-only, and it logs that another writer appends to the stream; the
// first goes on, its history holding only its own lines (review
// finding 5).
func TestTwoChatdsOnOneStream(t *testing.T) {
	requireOpenSSL(t)
	bin := natsServerBinary(t)
	nats := testproc.StartNATS(t, bin, t.TempDir(), "")
	dataDir := t.TempDir()
	a := startChatd(t, dataDir, "--nats", nats.URL())

	p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", dataDir, "--tls-addr", "127.0.0.1:0", "--ssh-addr", "", "--nats", nats.URL())
	if code := p.WaitExit(); code != 1 {
		t.Errorf("a second chatd on the data directory exited %d, want 1", code)
	}
	if out := p.Output(); !strings.Contains(out, "already in use by process") {
		t.Errorf("the second chatd's error does not say the store is in use:\n%s", out)
	}

	b := startChatd(t, t.TempDir(), "--nats", nats.URL())
	alice := a.JoinWithOpenSSL(t, "alice")
	bob := b.JoinWithOpenSSL(t, "bob")
	alice.Send("from a")
	alice.Send("/who") // a round trip: "from a" is stored
	alice.Expect("*** 1 member: alice")
	bob.Send("from b")
	bob.Expect("!!! the room is read-only: storage unavailable")
	deadline := time.Now().Add(testproc.Wait)
	for !strings.Contains(b.Output(), "another writer appends to the stream") {
		if time.Now().After(deadline) {
			t.Fatalf("the second chatd does not say another writer shares its stream:\n%s", b.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	alice.Send("a goes on")
	alice.Send("/who")
	alice.Expect("*** 1 member: alice")
	if got := said(replayed(t, a, "carol")); !slices.Equal(got, []string{"<alice> from a", "<alice> a goes on"}) {
		t.Fatalf("the first chatd's history: %q; want alice's two lines only", got)
	}
}

// TestLowerHistoryMaxAgeRestarts: a chatd restarted with a
// --history-max-age below two minutes (the stream's default duplicate
// window) on an existing store starts, and keeps what was said (review
// finding 3: nats-server refused the update, and chatd did not start).
func TestLowerHistoryMaxAgeRestarts(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	s := startChatd(t, dataDir)
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	want := sayLines(t, alice, bob, "alice", 0, 1)
	stop(t, s)
	s = startChatd(t, dataDir, "--history-max-age", "1m")
	if got := said(replayed(t, s, "carol")); !slices.Equal(got, want) {
		t.Fatalf("replayed after the restart with --history-max-age 1m: %q, want %q", got, want)
	}
}
