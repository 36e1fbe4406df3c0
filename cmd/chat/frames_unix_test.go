//go:build unix

package main

import (
	"os"
	"testing"

	"github.com/creack/pty"
)

// TestScreenSizeWithoutATerminalOutput: with "chat host | tee log" the
// output is a pipe, so the screen takes its size from the terminal the keys
// come from; with no terminal at all, from COLUMNS and LINES, or 80x24
// when they are missing or absurd. Before, it was 0x0 and drew nothing.
func TestScreenSizeWithoutATerminalOutput(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 100, Rows: 30}); err != nil {
		t.Fatalf("size the pty: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	out, in := int(w.Fd()), int(tty.Fd())

	env := func(cols, lines string) func(string) string {
		return func(k string) string {
			return map[string]string{"COLUMNS": cols, "LINES": lines}[k]
		}
	}
	for _, tc := range []struct {
		name       string
		fds        []int
		getenv     func(string) string
		fd, wd, ht int
	}{
		{"output a pipe, keys from the terminal", []int{out, in}, env("", ""), in, 100, 30},
		{"output the terminal", []int{in, out}, env("", ""), in, 100, 30},
		{"no terminal, COLUMNS and LINES", []int{out, int(r.Fd())}, env("120", " 40"), -1, 120, 40},
		{"no terminal, nothing said", []int{out}, env("", ""), -1, 80, 24},
		{"no terminal, absurd", []int{out}, env("0", "99999999999"), -1, 80, 24},
	} {
		fd, gw, gh := terminalSize(tc.getenv, tc.fds...)
		if fd != tc.fd || gw != tc.wd || gh != tc.ht {
			t.Errorf("%s: fd %d, %dx%d; want fd %d, %dx%d", tc.name, fd, gw, gh, tc.fd, tc.wd, tc.ht)
		}
	}
}
