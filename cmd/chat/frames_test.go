package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// framesTmux is a private tmux server (its own socket) running chat in a
// pane, for TestScreenModeKeepsTheBorderInTmux.
type framesTmux struct {
	t      *testing.T
	socket string
}

func (tm *framesTmux) run(args ...string) string {
	tm.t.Helper()
	// Bounded: tmux 3.3a spins forever measuring (#{w:}) a character it
	// has no width for.
	ctx, cancel := context.WithTimeout(context.Background(), testproc.Wait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", append([]string{"-u", "-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %q: %v\n%s", args, err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

// waitFor captures the pane until it shows want, and returns the capture.
func (tm *framesTmux) waitFor(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		screen := tm.run("capture-pane", "-p", "-t", "t")
		if strings.Contains(screen, want) {
			return screen
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("tmux never showed %q; it shows:\n%s", want, screen)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// separatorColumns returns where tmux, by its own measure of each
// character, has each row's last "│": -1 for a row without one.
func (tm *framesTmux) separatorColumns(rows []string) []int {
	tm.t.Helper()
	var odd []rune
	for _, row := range rows {
		for _, r := range row {
			if r >= 0x80 && !slices.Contains(odd, r) {
				odd = append(odd, r)
			}
		}
	}
	var args []string
	var format strings.Builder
	for i, r := range odd {
		args = append(args, "set-option", "-g", fmt.Sprintf("@w%d", i), string(r), ";")
		fmt.Fprintf(&format, "#{w:@w%d} ", i)
	}
	fields := strings.Fields(tm.run(append(args, "display-message", "-p", format.String())...))
	width := map[rune]int{}
	for i, f := range fields {
		width[odd[i]], _ = strconv.Atoi(f)
	}
	cols := make([]int, len(rows))
	for i, row := range rows {
		at := strings.LastIndex(row, "│")
		if at < 0 {
			cols[i] = -1
			continue
		}
		for _, r := range row[:at] {
			if r < 0x80 {
				cols[i]++
			} else {
				cols[i] += width[r]
			}
		}
	}
	return cols
}

// TestScreenModeKeepsTheBorderInTmux: chat's screen, in tmux, gets lines
// of characters whose width tmux and the screen dispute (tmux draws U+3248
// two columns wide where the screen counts one, U+2630 one where it counts
// two), emoji sequences and CJK, and pages through them. The member list's
// separator stays in its column on every row, as tmux measures it, and the
// status line stays whole: chat draws with the frame writer, which puts
// the list at its column, where Bubble Tea's renderer moved the cursor by
// its own measure and scrambled the rows below.
func TestScreenModeKeepsTheBorderInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("this test needs tmux (apt-get install tmux)")
	}
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--flood-rate", "100", "--flood-burst", "100")
	const cols, rows = 100, 16
	tm := &framesTmux{t: t, socket: fmt.Sprintf("chat-frames-%d-%d", os.Getpid(), time.Now().UnixNano())}
	cmd := exec.Command("tmux", "-u", "-L", tm.socket, "-f", "/dev/null", "new-session", "-d", "-s", "t",
		"-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows), chatBinary, "--ca", server.CertFile, "--nick", "alice",
		"--known-servers", filepath.Join(t.TempDir(), "known"), server.Addr())
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	tm.waitFor("1 member · alice")

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
		for y, col := range tm.separatorColumns(shown[:rows-2]) {
			if col != sep {
				t.Errorf("%s: row %d has the separator at column %d, want %d: %q\n%s", step, y, col, sep, shown[y], screen)
			}
		}
		if !strings.HasPrefix(shown[rows-2], " chatd · 2 members · alice") {
			t.Errorf("%s: the status line is %q", step, shown[rows-2])
		}
	}
	check("at the bottom", tm.waitFor("<END>"))
	for i, key := range []string{"PageUp", "PageUp", "PageDown", "End"} {
		// Keys are handled in order: once the digit typed after the key
		// shows in the input line, so does what the key did.
		tm.run("send-keys", "-t", "t", key)
		tm.run("send-keys", "-t", "t", "-l", strconv.Itoa(i))
		check("after "+key, tm.waitFor("> "+"0123"[:i+1]))
	}
}
