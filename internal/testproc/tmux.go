package testproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tmux is a private tmux server (its own socket, -L) with one session,
// "t", whose first pane runs a program: a real terminal that a test reads
// as a person would, by what the pane shows.
type Tmux struct {
	t      testing.TB
	socket string
}

var tmuxServers atomic.Int64

// StartTmux starts a tmux server on a socket of its own, in UTF-8 (-u),
// without a configuration file, with a detached session "t" of cols×rows
// that runs argv. The server is killed when the test ends; if the test
// failed, what the pane shows is logged first.
func StartTmux(t testing.TB, cols, rows int, argv ...string) *Tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("this test needs tmux (apt-get install tmux)")
	}
	tm := &Tmux{t: t, socket: fmt.Sprintf("testproc-%d-%d", os.Getpid(), tmuxServers.Add(1))}
	args := append([]string{"-u", "-L", tm.socket, "-f", "/dev/null", "new-session", "-d", "-s", "t",
		"-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows)}, argv...)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tmux", args...)
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			screen, err := tm.output("capture-pane", "-p", "-t", "t")
			if err != nil {
				screen = fmt.Sprintf("(tmux capture-pane: %v)", err)
			}
			t.Logf("the tmux pane shows:\n%s", screen)
		}
		tm.output("kill-server")
	})
	return tm
}

// output runs a tmux command on tm's server, bounded by Wait: tmux 3.3a
// spins forever measuring (#{w:}) a character it has no width for.
func (tm *Tmux) output(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", append([]string{"-u", "-L", tm.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// Cmd runs a tmux command on tm's server, bounded by Wait, and returns its
// output without the final newlines. The test fails at once if the command
// fails or does not end in time.
func (tm *Tmux) Cmd(args ...string) string {
	tm.t.Helper()
	out, err := tm.output(args...)
	if err != nil {
		tm.t.Fatalf("tmux %q: %v\n%s", args, err, out)
	}
	return strings.TrimRight(out, "\n")
}

// Capture returns what the session's pane shows, row by row.
func (tm *Tmux) Capture() string {
	tm.t.Helper()
	return tm.CaptureOf("t")
}

// CaptureColours returns what the session's pane shows, row by row, with
// the escape sequences of its attributes (colours, bold...).
func (tm *Tmux) CaptureColours() string {
	tm.t.Helper()
	return tm.capture("-p", "-e", "-t", "t")
}

// CaptureOf returns what the pane target ("t:1", a window of the session)
// shows, row by row.
func (tm *Tmux) CaptureOf(target string) string {
	tm.t.Helper()
	return tm.capture("-p", "-t", target)
}

func (tm *Tmux) capture(args ...string) string {
	tm.t.Helper()
	out, err := tm.output(append([]string{"capture-pane"}, args...)...)
	if err != nil {
		tm.t.Fatalf("tmux capture-pane %q: %v\n%s", args, err, out)
	}
	return out
}

// WaitFor waits until the session's pane shows want and returns what it
// shows.
func (tm *Tmux) WaitFor(want string) string {
	tm.t.Helper()
	return tm.WaitForIn("t", want)
}

// WaitForIn waits until the pane target shows want and returns what it
// shows.
func (tm *Tmux) WaitForIn(target, want string) string {
	tm.t.Helper()
	return tm.WaitUntilIn(target, fmt.Sprintf("%q", want), func(screen string) bool { return strings.Contains(screen, want) })
}

// WaitUntil waits until ok accepts what the session's pane shows and
// returns it; what names the awaited condition when the test fails.
func (tm *Tmux) WaitUntil(what string, ok func(screen string) bool) string {
	tm.t.Helper()
	return tm.WaitUntilIn("t", what, ok)
}

// WaitUntilIn captures the pane target until ok accepts what it shows, and
// returns that. The test fails if that takes longer than Wait.
func (tm *Tmux) WaitUntilIn(target, what string, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		screen := tm.CaptureOf(target)
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("tmux pane %s never showed %s within %v; it shows:\n%s", target, what, Wait, screen)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// Type sends text to the session's pane as typed, literally.
func (tm *Tmux) Type(text string) {
	tm.t.Helper()
	tm.Cmd("send-keys", "-t", "t", "-l", text)
}

// TypeLine types text, then Enter.
func (tm *Tmux) TypeLine(text string) {
	tm.t.Helper()
	tm.Type(text)
	tm.Key("Enter")
}

// Key sends keys to the session's pane by tmux's names for them ("Enter",
// "C-c", "PageUp").
func (tm *Tmux) Key(names ...string) {
	tm.t.Helper()
	tm.Cmd(append([]string{"send-keys", "-t", "t"}, names...)...)
}

// Widths returns how many columns tmux gives each of runes, as it measures
// them (#{w:...} uses the width function its screens use).
func (tm *Tmux) Widths(runes []rune) map[rune]int {
	tm.t.Helper()
	args := []string{}
	var format strings.Builder
	for i, r := range runes {
		args = append(args, "set-option", "-g", fmt.Sprintf("@w%d", i), string(r), ";")
		fmt.Fprintf(&format, "#{w:@w%d} ", i)
	}
	args = append(args, "display-message", "-p", format.String())
	fields := strings.Fields(tm.Cmd(args...))
	if len(fields) != len(runes) {
		tm.t.Fatalf("tmux measured %d of %d characters: %q", len(fields), len(runes), fields)
	}
	w := make(map[rune]int, len(runes))
	for i, f := range fields {
		w[runes[i]], _ = strconv.Atoi(f)
	}
	return w
}

// SeparatorColumns returns where tmux, by its own measure of each
// character, has each row's last "│" (the member list's separator): the
// width of the text before it, or -1 for a row without one.
func (tm *Tmux) SeparatorColumns(rows []string) []int {
	tm.t.Helper()
	var odd []rune
	for _, row := range rows {
		for _, r := range row {
			if r >= 0x80 && !slices.Contains(odd, r) {
				odd = append(odd, r)
			}
		}
	}
	w := tm.Widths(odd)
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
				cols[i] += w[r]
			}
		}
	}
	return cols
}
