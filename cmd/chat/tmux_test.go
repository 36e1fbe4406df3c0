package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// tmuxPane runs one program in a pane of a private tmux server
// (testproc.Tmux), a real terminal that a test reads as a person would:
// what the pane shows, and with colours when a test needs them.
type tmuxPane struct {
	*testproc.Tmux
	t *testing.T
}

// startTmux runs argv in a cols×rows pane. When the program exits the pane
// shows "[exit N]" and stays. The tmux server is killed when the test ends.
func startTmux(t *testing.T, cols, rows int, argv ...string) *tmuxPane {
	t.Helper()
	// The shell outlives a Ctrl+C that reaches the program as SIGINT (at a
	// question asked before the screen), so that the pane shows its status.
	script := "trap : INT; " + shellJoin(argv) + `; echo "[exit $?]"; sleep 600`
	return &tmuxPane{Tmux: testproc.StartTmux(t, cols, rows, "sh", "-c", script), t: t}
}

// shellJoin quotes argv for sh.
func shellJoin(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

var exitRE = regexp.MustCompile(`\[exit (\d+)\]`)

// waitExit waits for the program to exit and returns its exit status.
func (p *tmuxPane) waitExit() int {
	p.t.Helper()
	screen := p.WaitUntil("the exit status", exitRE.MatchString)
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
	return p.WaitUntil(fmt.Sprintf("%q", want), func(screen string) bool { return strings.Contains(flowed(screen), want) })
}
