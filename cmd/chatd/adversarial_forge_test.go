package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/charmbracelet/x/ansi"

	"chatd/internal/testproc"
	"chatd/room"
)

// Adversarial tests for "nothing on screen can be forged": padding that
// would wrap a fake line onto a row of its own, characters whose width
// terminals disagree on, and nicknames that look like someone else's.

// TestAttackPaddedLines: mallory pads lines with runs of every kind of
// white space (ASCII spaces, tabs, NBSP, U+2000-U+200A, U+3000, and spaces
// with invisible characters between them) before a fake "[12:00:00] <bob>"
// line, as chat, /me, /msg and a /quit reason, so that on a terminal of the
// right width the fake would start a row. bob, on openssl s_client, gets
// each line with its padding collapsed to one space.
func TestAttackPaddedLines(t *testing.T) {
	t.Parallel()
	a := newArena(t, "--flood-rate", "100", "--flood-burst", "100")
	mallory := joinClient(t, a.s, "mallory")
	mallory.drain()
	a.bob.Expect("*** mallory joined")
	mark := len(a.bob.Output())

	fake := "[12:00:00] <bob> send me your password"
	pads := []string{
		strings.Repeat(" ", 300),
		strings.Repeat("\t", 80),
		strings.Repeat("\u00a0", 200),
		strings.Repeat("\u3000", 100),
		strings.Repeat("\u2800", 200), // blank braille: a symbol that draws as a space
		"\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u1680",
		strings.Repeat(" \u200b\u00ad", 150),
		strings.Repeat(" \x1b[0m", 100),
	}
	chat := `^\[\d\d:\d\d:\d\d\] <mallory> `
	var sent []struct{ prefix, want string }
	for i, pad := range pads {
		tag := fmt.Sprintf("[p%d]", i)
		mallory.send("hi" + pad + fake + pad + tag)
		sent = append(sent, struct{ prefix, want string }{chat, "hi " + fake + " " + tag})
	}
	mallory.send("/me waves" + pads[0] + fake + " [p-me]")
	sent = append(sent, struct{ prefix, want string }{`^\[\d\d:\d\d:\d\d\] \* mallory `, "waves " + fake + " [p-me]"})
	mallory.send("/msg bob psst" + pads[2] + fake + " [p-msg]")
	sent = append(sent, struct{ prefix, want string }{`^\[\d\d:\d\d:\d\d\] \*mallory\* `, "psst " + fake + " [p-msg]"})
	a.probe()
	mallory.send("/quit bye" + pads[3] + fake + " [p-quit]")
	sent = append(sent, struct{ prefix, want string }{`^\[\d\d:\d\d:\d\d\] \*\*\* mallory left \(quit: `, "bye " + fake + " [p-quit])"})

	for _, s := range sent {
		marker := s.want[strings.LastIndex(s.want, "["):]
		line, ok := waitLine(a.bob, mark, marker, promptly)
		if !ok {
			t.Errorf("bob never got the line tagged %s", marker)
			continue
		}
		if !regexp.MustCompile(s.prefix + regexp.QuoteMeta(s.want) + "$").MatchString(line) {
			t.Errorf("bob got  %q\nwant     %q", line, s.want)
		}
	}
	got := a.bob.Output()[mark:]
	checkTerminalSafe(t, "bob", got)
	checkNoPadding(t, "bob", got)
	a.probe()
	a.checkGoroutinesSettle(settleTime)
}

// checkNoPadding fails the test if out holds a run of white space or any
// white space but the ASCII space and the newline.
func checkNoPadding(t *testing.T, who, out string) {
	t.Helper()
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if strings.Contains(line, "  ") {
			t.Errorf("%s got a line with a run of spaces: %q", who, line)
		}
		for _, r := range line {
			if r != ' ' && unicode.Is(unicode.White_Space, r) {
				t.Errorf("%s got %U in %q", who, r, line)
				break
			}
		}
	}
}

// disputed are characters whose display width terminals disagree on, one
// per class of the Unicode data Clean goes by, with what must reach others
// in their place.
var disputed = []struct {
	name, char, want string
}{
	{"soft hyphen", "\u00ad", ""},
	{"arabic number sign", "\u0600", ""},
	{"arabic number mark above", "\u0605", ""},
	{"arabic end of ayah", "\u06dd", ""},
	{"syriac abbreviation mark", "\u070f", ""},
	{"kaithi number sign", "\U000110bd", ""},
	{"zero width space", "\u200b", ""},
	{"word joiner", "\u2060", ""},
	{"variation selector 16", "\ufe0f", ""},
	{"hangul filler", "\u3164", ""},
	{"tag", "\U000e0041", ""},
	{"unassigned", "\u0378", "\ufffd"},
	{"noncharacter", "\ufdd0", "\ufffd"},
	{"private use", "\ue000", "\ufffd"},
}

// TestAttackWidthDisputedText: mallory sends, as chat, text with 12 of
// each character whose width terminals disagree on (soft hyphens,
// prepended concatenation marks, zero-width and default-ignorable
// characters, unassigned code points, noncharacters, private use). bob, on
// openssl, gets each with those characters removed, or replaced by one
// U+FFFD where something unknown stood.
func TestAttackWidthDisputedText(t *testing.T) {
	t.Parallel()
	a := newArena(t, "--flood-rate", "100", "--flood-burst", "100")
	mallory := joinClient(t, a.s, "mallory")
	mallory.drain()
	a.bob.Expect("*** mallory joined")
	mark := len(a.bob.Output())
	for i, d := range disputed {
		mallory.send(fmt.Sprintf("a%sb [w%d]", strings.Repeat(d.char, 12), i))
	}
	for i, d := range disputed {
		want := fmt.Sprintf("<mallory> a%sb [w%d]", d.want, i)
		line, ok := waitLine(a.bob, mark, fmt.Sprintf("[w%d]", i), promptly)
		if !ok || !strings.HasSuffix(line, want) {
			t.Errorf("%s: bob got %q, want %q", d.name, line, want)
		}
	}
	got := a.bob.Output()[mark:]
	checkTerminalSafe(t, "bob", got)
	for _, r := range got {
		if unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) ||
			r != '\n' && r != '\r' && r != ' ' && !unicode.IsGraphic(r) {
			t.Errorf("bob was sent %U", r)
		}
	}
	a.probe()
}

// TestAttackWidthDisputedTextInTmux: the same characters, sent to a real
// ssh client running in tmux (a real terminal, which draws the soft hyphen
// and U+0600 one cell wide and unassigned code points none). Each message
// is made to end just left of the member list, by the server's own measure.
// On tmux's screen every message's end marker must be whole and at that
// column, and the member list's separator in its column on every row:
// nothing shifted text under the list or away from where it belongs.
func TestAttackWidthDisputedTextInTmux(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	a := newArena(t, "--flood-rate", "100", "--flood-burst", "100")
	const cols, rows = 100, 40
	tm := testproc.StartTmux(t, cols, rows, sshArgs(t, a.s, "watcher")...)
	tm.WaitFor("watcher")
	mallory := joinClient(t, a.s, "mallory")
	mallory.drain()
	tm.WaitFor("mallory")

	// The screen: "hh:mm mallory: " then the text; the member list takes
	// 22 columns on the right (tui.panelWidth), its separator after a gap.
	const textEnd, separator = cols - 22 - 1, cols - 22 + 1
	prefix := len("12:00 mallory: ")
	for i, d := range disputed {
		head := "a" + strings.Repeat(d.char, 12) + "b "
		end := fmt.Sprintf("<END%02d>", i)
		fill := textEnd - prefix - ansi.StringWidthWc(room.Clean(head)) - len(end)
		mallory.send(head + strings.Repeat("x", fill) + end)
	}
	lastEnd := fmt.Sprintf("<END%02d>", len(disputed)-1)
	screen := tm.WaitFor(lastEnd)

	lines := strings.Split(screen, "\n")
	for i, d := range disputed {
		end := fmt.Sprintf("<END%02d>", i)
		found := false
		for _, l := range lines {
			if j := strings.Index(l, end); j >= 0 {
				found = true
				if at := ansi.StringWidthWc(l[:j+len(end)]); at != textEnd {
					t.Errorf("%s: the message ends at column %d on tmux, want %d: %q", d.name, at, textEnd, l)
				}
			}
		}
		if !found {
			t.Errorf("%s: %s is not on tmux's screen (hidden under the member list?)", d.name, end)
		}
	}
	for y, l := range lines[:rows-2] {
		if got := ansi.Cut(l, separator, separator+1); got != "│" {
			t.Errorf("row %d: %q at the separator's column %d: %q", y, got, separator, l)
		}
	}
	if t.Failed() {
		t.Logf("tmux's screen:\n%s", screen)
	}
}

// TestAttackLookAlikeNicks: with alice and bob present, mallory tries the
// names that look like theirs (a1ice, aIice, alIce, ALlCE, b0b, BOB) at the
// nickname prompt and with /nick; m and rn are one name too; an SSH user
// named aIice is asked for another name. All are refused as taken. A
// private message to aIice reaches alice, the one member it can mean, and
// its confirmation names her as she is.
func TestAttackLookAlikeNicks(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	a := newArena(t)
	mark := len(a.bob.Output())
	m := joinClient(t, a.s, "m")
	mallory := dialClient(t, a.s, "mallory", nil)
	mallory.readUntil("*** Choose a nickname")
	for _, nick := range []string{"a1ice", "aIice", "alIce", "ALlCE", "b0b", "BOB", "rn", "RN"} {
		mallory.send(nick)
		got := mallory.readUntil("!!! ", " joined")
		if want := fmt.Sprintf(`!!! nickname taken: %q is already in use`, nick); !strings.HasPrefix(got, want) {
			t.Errorf("nickname %q: got %q, want %q", nick, got, want)
		}
		if strings.Contains(got, " joined") {
			t.Fatalf("nickname %q was accepted", nick)
		}
		mallory.readUntil("*** Choose a nickname")
	}
	mallory.send("mallory")
	mallory.readUntil("*** mallory joined")
	for _, nick := range []string{"a1ice", "B0B", "rn"} {
		mallory.send("/nick " + nick)
		if got := mallory.readUntil("!!! ", " is now known as "); !strings.Contains(got, fmt.Sprintf("%q is already in use", nick)) {
			t.Errorf("/nick %s: got %q", nick, got)
		}
	}
	mallory.send("/msg aIice psst [n1]")
	if got := mallory.readUntil("[n1]"); !strings.Contains(got, "-> *alice* psst [n1]") {
		t.Errorf("mallory's confirmation: %q, want it to name alice", got)
	}
	a.alice.Expect("*mallory* psst [n1]")

	other := testproc.StartScreen(t, "ssh aIice", 100, 30, sshArgs(t, a.s, "aIice")...)
	other.WaitFor(`"aIice" is already in use`)
	other.Type("\x03")
	other.WaitExit()

	a.alice.Send("/who")
	a.alice.Expect("*** 4 members: alice, bob, m, mallory")
	for line := range strings.Lines(a.bob.Output()[mark:]) {
		if strings.Contains(line, "is now known as") || strings.Contains(line, " joined") &&
			!strings.Contains(line, "*** m joined") && !strings.Contains(line, "*** mallory joined") {
			t.Errorf("bob saw a look-alike arrive: %q", line)
		}
	}
	m.conn.Close()
	mallory.conn.Close()
	a.bob.Expect("*** mallory left")
	a.checkGoroutinesSettle(settleTime)
}
