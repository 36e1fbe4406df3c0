package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
	"chatd/room"
)

// TestResumeShowsExactlyTheMissedEvents: chat, cut off by the network while
// bob says more than chatd's history holds (--history 5), comes back and
// shows exactly the events it missed that chatd still keeps, each once, its
// own line not again, and one notice of how many are gone. bob, an openssl
// s_client member, sees nothing of the extension. A chatd restarted with
// its memory log (--store memory) is another log: chat is told so and
// shown its history.
func TestResumeShowsExactlyTheMissedEvents(t *testing.T) {
	dataDir := t.TempDir()
	server := testproc.StartChatd(t, chatdBinary, dataDir, "--history", "5", "--store", "memory")
	g := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	p := startTmux(t, 100, 50, chatBinary, "--known-servers", filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", g.Addr())
	p.WaitFor("chatd · 1 member · alice")
	bob := server.JoinWithOpenSSL(t, "bob") // 2
	bob.Send("before the cut")              // 3
	p.WaitFor("bob: before the cut")
	p.TypeLine("my own line") // 4
	bob.Expect("<alice> my own line")

	g.Cut(false)
	bob.Expect("*** alice left") // 5
	for i := range 8 {
		bob.Send(fmt.Sprint("away ", i)) // 6..13
	}
	bob.Send("/who")
	bob.Expect("*** 1 member: bob")
	g.Reopen()
	screen := p.WaitFor("bob: away 7")
	screen = p.WaitFor("chatd · 2 members · alice")
	// Missed after 3: 4..13, ten; chatd keeps five (9..13: away 3..7).
	for text, want := range map[string]int{
		"5 events were missed and are no longer kept": 1,
		"bob: before the cut":                         1, "alice: my own line": 1, "reconnected after": 1,
		"away 0": 0, "away 1": 0, "away 2": 0,
		"bob: away 3": 1, "bob: away 4": 1, "bob: away 5": 1, "bob: away 6": 1, "bob: away 7": 1,
		"Welcome to chatd": 1, "alice joined": 1,
	} {
		if n := strings.Count(screen, text); n != want {
			t.Errorf("%q is on the screen %d times once back, want %d:\n%s", text, n, want, screen)
		}
	}
	p.TypeLine("back again")
	bob.Expect("<alice> back again")
	bob.Send("/who")
	bob.Expect("*** 2 members: alice, bob")
	if out := bob.Output(); regexp.MustCompile(`(?m)^#`).MatchString(out) || strings.Contains(out, "resume after") {
		t.Errorf("the openssl member was shown something of the resume extension:\n%s", out)
	}

	// A restarted chatd has a new memory log: its numbers are not the
	// old ones, and chat says so rather than show nothing.
	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	restarted := testproc.StartChatd(t, chatdBinary, dataDir, "--history", "5", "--store", "memory", "--tls-addr", ":"+server.Port)
	carol := restarted.JoinWithOpenSSL(t, "carol")
	carol.Send("after the restart")
	carol.Send("/who")
	carol.Expect("member")
	p.WaitFor("carol: after the restart")
	screen = p.WaitFor("chatd · 2 members · alice")
	if n := strings.Count(flowed(screen), room.ResumeResetNotice); n != 1 {
		t.Errorf("the notice that the log changed is on the screen %d times:\n%s", n, screen)
	}
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

// TestResumeAfterDurableRestart: chat is cut off, chatd (on its durable
// store, the default) restarts, and members talk before chat is back;
// chat resumes in the same log (its LogID survived the restart) and shows
// exactly the events it missed, each once, nothing again that it had
// shown, and no notice that its place was lost or events are gone.
func TestResumeAfterDurableRestart(t *testing.T) {
	dataDir := t.TempDir()
	server := testproc.StartChatd(t, chatdBinary, dataDir)
	g := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	p := startTmux(t, 100, 50, chatBinary, "--known-servers", filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", g.Addr())
	p.WaitFor("chatd · 1 member · alice")
	bob := server.JoinWithOpenSSL(t, "bob")
	bob.Send("before the restart")
	p.WaitFor("bob: before the restart")
	p.TypeLine("my own line")
	bob.Expect("<alice> my own line")

	g.Cut(false)
	bob.Expect("*** alice left")
	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	restarted := testproc.StartChatd(t, chatdBinary, dataDir, "--tls-addr", ":"+server.Port)
	carol := restarted.JoinWithOpenSSL(t, "carol")
	for i := range 4 {
		carol.Send(fmt.Sprint("while you were away ", i))
	}
	carol.Send("/who")
	carol.Expect("*** 1 member: carol")
	g.Reopen()
	carol.Expect("*** alice joined")
	screen := flowed(p.WaitFor("chatd · 2 members · alice"))
	p.WaitFor("carol: while you were away 3")
	screen = flowed(p.WaitFor("chatd · 2 members · alice"))
	for text, want := range map[string]int{
		"bob: before the restart": 1, "alice: my own line": 1,
		"carol joined":                 1,
		"carol: while you were away 0": 1, "carol: while you were away 1": 1,
		"carol: while you were away 2": 1, "carol: while you were away 3": 1,
		room.ResumeResetNotice: 0, "no longer kept": 0,
	} {
		if n := strings.Count(screen, text); n != want {
			t.Errorf("%q is on the screen %d times once back, want %d:\n%s", text, n, want, screen)
		}
	}
	p.TypeLine("back after the restart")
	carol.Expect("<alice> back after the restart")
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

// TestResumeAcrossARestoredBackup: chatd is stopped, its data directory
// copied (a backup), and started again; chat sees gina talk, is cut off,
// and chatd is started on the backup, which numbers henry's events as the
// lost ones were. chat, back, asks to resume after the last event it
// showed, naming it by its stamp: the restored log has another event
// there, so chat is told its place is not in the log and shown the recent
// history, every event henry's visit stored, rather than only those
// numbered above its old place.
func TestResumeAcrossARestoredBackup(t *testing.T) {
	dataDir := t.TempDir()
	server := testproc.StartChatd(t, chatdBinary, dataDir)
	g := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	p := startTmux(t, 100, 50, chatBinary, "--known-servers", filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", g.Addr())
	p.WaitFor("chatd · 1 member · alice")
	bob := server.JoinWithOpenSSL(t, "bob")
	bob.Send("before the backup")
	p.WaitFor("bob: before the backup")

	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dataDir, backup)
	server = testproc.StartChatd(t, chatdBinary, dataDir, "--tls-addr", ":"+server.Port)
	p.WaitFor("reconnected")
	gina := server.JoinWithOpenSSL(t, "gina")
	for i := range 3 {
		gina.Send(fmt.Sprint("lost ", i))
	}
	gina.Send("/quit")
	p.WaitFor("gina left")

	g.Cut(false)
	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, dataDir)
	server = testproc.StartChatd(t, chatdBinary, dataDir, "--tls-addr", ":"+server.Port)
	henry := server.JoinWithOpenSSL(t, "henry")
	for i := range 8 {
		henry.Send(fmt.Sprint("after restore ", i))
	}
	henry.Send("/who")
	henry.Expect("*** 1 member: henry")
	henry.Send("/quit")
	henry.WaitExit()
	g.Reopen()
	p.WaitFor("henry left")
	screen := flowed(p.WaitFor("chatd · 1 member · alice"))
	for i := range 8 {
		if n := strings.Count(screen, fmt.Sprint("henry: after restore ", i)); n != 1 {
			t.Errorf("henry's line %d is on the screen %d times once back, want 1:\n%s", i, n, screen)
		}
	}
	if n := strings.Count(screen, "henry joined"); n != 1 {
		t.Errorf("henry's join is on the screen %d times, want 1:\n%s", n, screen)
	}
	// Another event at its place, or (should a restored log take another
	// name) another log: either way chat is told, once.
	if n := strings.Count(screen, room.ResumeOtherEventNotice) + strings.Count(screen, room.ResumeResetNotice); n != 1 {
		t.Errorf("the notice that chat's place is not in the log is on the screen %d times:\n%s", n, screen)
	}
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

// copyDir copies the directory from, files and modes, to to (a backup as
// cp -a takes it, of a stopped chatd's data directory).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, info.Mode().Perm())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}

// TestResumeShowsMoreThanTheHistory: chatd shows a joiner 3 events
// (--history 3); chat, cut off while bob says 10 lines, comes back and is
// shown all it missed, which the log keeps, with no notice that some are
// not shown.
func TestResumeShowsMoreThanTheHistory(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--history", "3")
	g := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	p := startTmux(t, 100, 50, chatBinary, "--known-servers", filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", g.Addr())
	p.WaitFor("chatd · 1 member · alice")
	bob := server.JoinWithOpenSSL(t, "bob")
	bob.Send("before the cut")
	p.WaitFor("bob: before the cut")

	g.Cut(false)
	bob.Expect("*** alice left")
	for i := range 10 {
		bob.Send(fmt.Sprint("away ", i))
	}
	bob.Send("/who")
	bob.Expect("*** 1 member: bob")
	g.Reopen()
	p.WaitFor("bob: away 9")
	screen := flowed(p.WaitFor("chatd · 2 members · alice"))
	for i := range 10 {
		if n := strings.Count(screen, fmt.Sprintf("bob: away %d ", i)); n != 1 {
			t.Errorf("bob's line %d is on the screen %d times once back, want 1:\n%s", i, n, screen)
		}
	}
	if strings.Contains(screen, "not shown") || strings.Contains(screen, "no longer kept") {
		t.Errorf("chat says some of what it missed is not shown:\n%s", screen)
	}
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}
