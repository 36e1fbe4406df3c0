package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// tmuxPane runs one program in a pane of a private tmux server (its own
// socket), a real terminal that a test reads as a person would: what the
// pane shows, and with colours when a test needs them.
type tmuxPane struct {
	t      *testing.T
	socket string
}

var tmuxServers atomic.Int64

// startTmux runs argv in a cols×rows pane. When the program exits the pane
// shows "[exit N]" and stays. The tmux server is killed when the test ends.
func startTmux(t *testing.T, cols, rows int, argv ...string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("this test needs tmux (apt-get install tmux)")
	}
	p := &tmuxPane{t: t, socket: fmt.Sprintf("chat-test-%d-%d", os.Getpid(), tmuxServers.Add(1))}
	// The shell outlives a Ctrl+C that reaches the program as SIGINT (at a
	// question asked before the screen), so that the pane shows its status.
	script := "trap : INT; " + shellJoin(argv) + `; echo "[exit $?]"; sleep 600`
	cmd := exec.Command("tmux", "-u", "-L", p.socket, "-f", "/dev/null", "new-session", "-d", "-s", "t",
		"-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows), "sh", "-c", script)
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the tmux pane shows:\n%s", p.capture(false))
		}
		exec.Command("tmux", "-L", p.socket, "kill-server").Run()
	})
	return p
}

// shellJoin quotes argv for sh.
func shellJoin(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// capture returns what the pane shows, row by row; with colours, the
// escape sequences of its attributes too.
func (p *tmuxPane) capture(colours bool) string {
	args := []string{"-u", "-L", p.socket, "capture-pane", "-p", "-t", "t"}
	if colours {
		args = append(args, "-e")
	}
	out, err := exec.Command("tmux", args...).Output()
	if err != nil {
		return fmt.Sprintf("(tmux capture-pane: %v)", err)
	}
	return string(out)
}

// waitFor waits until the pane shows want and returns what it shows.
func (p *tmuxPane) waitFor(want string) string {
	p.t.Helper()
	return p.waitUntil(fmt.Sprintf("%q", want), func(screen string) bool { return strings.Contains(screen, want) })
}

// waitUntil waits until ok accepts what the pane shows and returns it.
func (p *tmuxPane) waitUntil(what string, ok func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		screen := p.capture(false)
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("tmux never showed %s within %v; it shows:\n%s", what, testproc.Wait, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// typeKeys sends text as typed, then Enter if enter.
func (p *tmuxPane) typeKeys(text string, enter bool) {
	p.t.Helper()
	args := []string{"-L", p.socket, "send-keys", "-t", "t", "-l", text}
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		p.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
	if enter {
		p.key("Enter")
	}
}

// key sends one key by tmux's name for it ("Enter", "C-c").
func (p *tmuxPane) key(name string) {
	p.t.Helper()
	if out, err := exec.Command("tmux", "-L", p.socket, "send-keys", "-t", "t", name).CombinedOutput(); err != nil {
		p.t.Fatalf("tmux send-keys %s: %v\n%s", name, err, out)
	}
}

var exitRE = regexp.MustCompile(`\[exit (\d+)\]`)

// waitExit waits for the program to exit and returns its exit status.
func (p *tmuxPane) waitExit() int {
	p.t.Helper()
	screen := p.waitUntil("the exit status", exitRE.MatchString)
	var code int
	fmt.Sscan(exitRE.FindStringSubmatch(screen)[1], &code)
	return code
}

// statusLine returns the pane's status line: the second row from the
// bottom.
func statusLine(screen string) string {
	rows := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if len(rows) < 2 {
		return ""
	}
	return rows[len(rows)-2]
}

// flowed is the text of a screen's rows without the member list, the rows
// joined by single spaces: a wrapped line reads as one.
func flowed(screen string) string {
	var rows []string
	for _, row := range strings.Split(screen, "\n") {
		if i := strings.LastIndex(row, " │"); i >= 0 {
			row = row[:i]
		}
		rows = append(rows, strings.Join(strings.Fields(row), " "))
	}
	return strings.Join(rows, " ")
}

// waitForText waits until the pane shows want, perhaps wrapped over rows.
func (p *tmuxPane) waitForText(want string) string {
	p.t.Helper()
	return p.waitUntil(fmt.Sprintf("%q", want), func(screen string) bool { return strings.Contains(flowed(screen), want) })
}
