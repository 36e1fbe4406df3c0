package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/tui"
)

// End-to-end tests of the chat screen as an SSH user sees it: the real
// ssh in a real terminal (tmux), what tmux shows, its bell flag and its
// pane title.

// waitFormat expands the format for tmux's pane target until it is want.
func waitFormat(t *testing.T, tm *testproc.Tmux, target, format, want string) {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		got := tm.Cmd("display-message", "-p", "-t", target, format)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tmux %s: %s is %q, want %q; the pane shows:\n%s", target, format, got, want, tm.CaptureOf(target))
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// separatorColumn is where a screen cols wide draws the member list's
// separator (tui.panelWidth: a gap, then the separator).
func separatorColumn(cols int) int {
	return cols - (2 + min(max(cols/5, 14), 24)) + 1
}

// TestScreenKeepsTheBorderWithEmojiAndCJKInTmux: bob, on openssl, sends
// lines full of family emoji (ZWJ sequences), flags, skin tones, keycaps,
// CJK without spaces, and two kinds of character whose width tmux and the
// screen dispute (tmux draws U+3248 two columns wide where the screen
// counts one, and U+2630 one where the screen counts two). Two SSH users in
// tmux, 100 and 71 columns wide, see them arrive and then page up and
// down through them, so that rows are drawn over rows: on every row the
// member list's separator stays in its column as tmux measures it, and
// every message but the too-wide one shows its end marker.
func TestScreenKeepsTheBorderWithEmojiAndCJKInTmux(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatd(t, t.TempDir(), "--ssh-addr", "127.0.0.1:0", "--flood-rate", "100", "--flood-burst", "100")
	const rows = 16
	screens := map[int]*testproc.Tmux{}
	for _, cols := range []int{100, 71} {
		nick := fmt.Sprintf("watcher%d", cols)
		screens[cols] = testproc.StartTmux(t, cols, rows, sshArgs(t, s, nick)...)
		screens[cols].WaitFor(nick)
	}
	bob := s.JoinWithOpenSSL(t, "bob")
	lines := []struct {
		text   string
		hidden bool // wider on tmux than the screen counts: its end is under the list
	}{
		{"family " + strings.Repeat("👨‍👩‍👧‍👦", 12), false},
		{"flags " + strings.Repeat("🇩🇪🇫🇷🇯🇵🇺🇸", 8), false},
		{"wider " + strings.Repeat("㉈", 40), true},
		{"skin " + strings.Repeat("👍🏽👋🏿", 10), false},
		{"keycaps " + strings.Repeat("1️⃣#️⃣*️⃣", 10), false},
		{"wider " + strings.Repeat("㉈", 40), true},
		{"cjk " + strings.Repeat("你好世界", 15), false},
		{"mixed " + strings.Repeat("日本語のテキストと English words and 한국어 텍스트도 ", 3), false},
		{"narrower " + strings.Repeat("☰", 30), false},
	}
	for i, l := range lines {
		bob.Send(fmt.Sprintf("%s <E%d>", l.text, i))
	}
	bob.Send("done <END>")
	for cols, tm := range screens {
		seen := tm.WaitFor("<END>")
		check := func(step string) {
			t.Helper()
			screen := tm.Capture()
			seen += screen
			shown := strings.Split(screen, "\n")[:rows-2]
			sep := separatorColumn(cols)
			for y, col := range tm.SeparatorColumns(shown) {
				if col != sep {
					t.Errorf("%d columns, %s: row %d has the separator at column %d, want %d: %q\n%s", cols, step, y, col, sep, shown[y], screen)
				}
			}
		}
		check("at the bottom")
		for i, key := range []string{"PageUp", "PageUp", "PageDown", "PageUp", "End"} {
			// Keys are handled in order: once the digit typed after the
			// key shows in the input line, so does what the key did.
			tm.Key(key)
			tm.Type(strconv.Itoa(i))
			tm.WaitFor("> " + "01234"[:i+1])
			check("after " + key)
		}
		for i, l := range lines {
			if !l.hidden && !strings.Contains(seen, fmt.Sprintf("<E%d>", i)) {
				t.Errorf("%d columns: the end of %q was never on the screen", cols, l.text[:12])
			}
		}
	}
}

// TestScreenWrapsAndDatesTheHistoryOverSSH: alice comes in over SSH after
// bob spoke; the divider above the replayed history says when it was
// said. bob's long word and CJK text without spaces start on the row of
// his name and break at the width, never leaving "bob:" alone on a row.
func TestScreenWrapsAndDatesTheHistoryOverSSH(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	bob := s.JoinWithOpenSSL(t, "bob")
	bob.Send("said before alice came")
	const cols = 80
	tm := testproc.StartTmux(t, cols, 30, sshArgs(t, s, "alice")...)
	screen := tm.WaitFor("── now ──")
	divider := regexp.MustCompile(`\d\d:\d\d ── earlier messages, .*\d\d:\d\d [A-Za-z+\-0-9:]+ ──`)
	if !divider.MatchString(screen) {
		t.Errorf("no divider with the history's times:\n%s", screen)
	}
	bob.Expect("*** alice joined")
	bob.Send(strings.Repeat("y", 150) + " <LONG>")
	bob.Send(strings.Repeat("中文没有空格", 12) + "<CJK>")
	screen = tm.WaitFor("<CJK>")
	for _, want := range []string{"bob: yyyy", "bob: 中文"} {
		found := false
		for _, row := range strings.Split(screen, "\n") {
			if strings.Contains(row, want) {
				found = true
			}
			if strings.HasSuffix(strings.TrimRight(strings.Split(row, "│")[0], " "), "bob:") {
				t.Errorf("bob's name is alone on a row: %q", row)
			}
		}
		if !found {
			t.Errorf("no row starts %q:\n%s", want, screen)
		}
	}
}

// TestScreenHelpListsItsKeysOverSSH: /help on the SSH screen lists the
// room's commands and after them the screen's keys; an openssl user's
// /help stays the room's list alone.
func TestScreenHelpListsItsKeysOverSSH(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	tm := testproc.StartTmux(t, 100, 40, sshArgs(t, s, "alice")...)
	tm.WaitFor("alice")
	tm.TypeLine("/help")
	screen := tm.WaitFor("Ctrl+C Leave the room.")
	order := []string{"/nick NEW", "/quit [REASON]", "Start a line with //", "Keys on this screen:",
		"PgUp/PgDn", "End Back to the newest", "Up/Down Recall", "Ctrl+C Leave the room.", "/title on|off", "/bell on|off"}
	last := -1
	for _, want := range order {
		at := strings.Index(screen, want)
		if at <= last {
			t.Errorf("%q is missing or out of order on the screen:\n%s", want, screen)
		}
		last = at
	}

	bob := s.JoinWithOpenSSL(t, "bob")
	bob.Send("/help")
	bob.Expect("Start a line with //")
	bob.Send("/who")
	bob.Expect("2 members")
	if out := bob.Output(); strings.Contains(out, "PgUp") || strings.Contains(out, "Keys on this screen") {
		t.Errorf("openssl's /help lists the screen's keys:\n%s", out)
	}
}

// TestScreenBellAndTitleInTmux: alice's SSH screen runs in a tmux window
// that is not the current one, where tmux flags a bell. bob's ordinary
// line rings no bell; a line that mentions alice does; a second mention
// at once does not (the bell rings at most every 5 s). With /title on the
// pane's title is alice's nick and the messages unread since her last key.
func TestScreenBellAndTitleInTmux(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	tm := testproc.StartTmux(t, 100, 30, "sleep", "600")
	tm.Cmd(append([]string{"new-window", "-d", "-t", "t:1"}, sshArgs(t, s, "alice")...)...)
	const alice = "t:1"
	tm.WaitForIn(alice, "1 member · alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	bell := "#{window_bell_flag}"

	bob.Send("an ordinary line [1]")
	tm.WaitForIn(alice, "[1]")
	if got := tm.Cmd("display-message", "-p", "-t", alice, bell); got != "0" {
		t.Errorf("an ordinary line rang the bell (flag %s)", got)
	}
	rang := time.Now()
	bob.Send("Alice, a question [2]")
	tm.WaitForIn(alice, "[2]")
	waitFormat(t, tm, alice, bell, "1")

	// Looking at the window clears its flag; a second mention at once
	// does not ring again.
	tm.Cmd("select-window", "-t", alice)
	tm.Cmd("select-window", "-t", "t:0")
	waitFormat(t, tm, alice, bell, "0")
	bob.Send("alice? [3]")
	tm.WaitForIn(alice, "[3]")
	got := tm.Cmd("display-message", "-p", "-t", alice, bell)
	switch took := time.Since(rang); {
	case took >= tui.BellEvery:
		t.Logf("the second mention came %v after the first, too late to show the bell's limit", took)
	case got != "0":
		t.Errorf("a second mention %v after the first rang the bell again", took)
	}

	title := "#{pane_title}"
	tm.Cmd("send-keys", "-t", alice, "-l", "/title on")
	tm.Cmd("send-keys", "-t", alice, "Enter")
	waitFormat(t, tm, alice, title, "chatd: alice")
	bob.Send("one [4]")
	bob.Send("two [5]")
	tm.WaitForIn(alice, "[5]")
	waitFormat(t, tm, alice, title, "(2) chatd: alice")
	tm.Cmd("send-keys", "-t", alice, "PageUp")
	waitFormat(t, tm, alice, title, "chatd: alice")
}
