package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// TestScreenModeKeepsTheBorderInTmux: chat's screen, in tmux, gets lines
// of characters whose width tmux and the screen dispute (tmux draws U+3248
// two columns wide where the screen counts one, U+2630 one where it counts
// two), emoji sequences and CJK, and pages through them. The member list's
// separator stays in its column on every row, as tmux measures it, and the
// status line stays whole: chat draws with the frame writer, which puts
// the list at its column, where Bubble Tea's renderer moved the cursor by
// its own measure and scrambled the rows below.
func TestScreenModeKeepsTheBorderInTmux(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--flood-rate", "100", "--flood-burst", "100")
	const cols, rows = 100, 16
	tm := testproc.StartTmux(t, cols, rows, chatBinary, "--ca", server.CertFile, "--nick", "alice",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	tm.WaitFor("1 member · alice")

	bob := server.JoinWithOpenSSL(t, "bob")
	for i, text := range []string{
		"wider " + strings.Repeat("㉈", 40),
		"narrower " + strings.Repeat("☰", 40),
		"family " + strings.Repeat("👨‍👩‍👧‍👦", 12),
		"skin " + strings.Repeat("👍🏽", 20),
		"wider " + strings.Repeat("㉈", 40),
		"cjk " + strings.Repeat("你好世界", 15),
	} {
		bob.Send(fmt.Sprintf("%s <E%d>", text, i))
	}
	bob.Send("done <END>")
	sep := cols - (2 + min(max(cols/5, 14), 24)) + 1
	check := func(step, screen string) {
		t.Helper()
		shown := strings.Split(screen, "\n")
		for y, col := range tm.SeparatorColumns(shown[:rows-2]) {
			if col != sep {
				t.Errorf("%s: row %d has the separator at column %d, want %d: %q\n%s", step, y, col, sep, shown[y], screen)
			}
		}
		if !strings.HasPrefix(shown[rows-2], " chatd · 2 members · alice") {
			t.Errorf("%s: the status line is %q", step, shown[rows-2])
		}
	}
	check("at the bottom", tm.WaitFor("<END>"))
	for i, key := range []string{"PageUp", "PageUp", "PageDown", "End"} {
		// Keys are handled in order: once the digit typed after the key
		// shows in the input line, so does what the key did.
		tm.Key(key)
		tm.Type(strconv.Itoa(i))
		check("after "+key, tm.WaitFor("> "+"0123"[:i+1]))
	}
}
