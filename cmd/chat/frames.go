package main

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"golang.org/x/term"

	"chatd/tui"
)

// frameInterval is the least time between two frames of the chat screen.
const frameInterval = time.Second / 60

// screenProgram is the chat screen running on this terminal, drawn as
// chatd draws its SSH sessions: by the screen's own frame writer
// (tui.Framed), not Bubble Tea's renderer. The frame writer draws a row
// that holds characters whose width terminals dispute (emoji newer than
// the terminal, East Asian ambiguous symbols) whole and then the member
// list at its column, so a terminal that measures them otherwise than the
// screen never pushes the list's border or scrambles other rows; Bubble
// Tea's renderer moves the cursor by its own measure and would. Without
// its renderer Bubble Tea leaves the terminal alone, so the terminal's
// mode and size are looked after here.
type screenProgram struct {
	*tea.Program
	screen *tui.Framed
	guard  *crashGuard // the screen, run by the program, with its panics caught
	in     *os.File    // where the keys come from: standard input, or the terminal
	tty    *os.File    // the terminal opened for the keys, to close; nil if none
	raw    *term.State // the terminal's state before raw mode; nil if not a terminal
	stop   func()      // stops following the terminal's size
}

// newScreenProgram returns the program that runs model on this terminal,
// with colours brought down to what the terminal shows. Call close once
// the program has ended: it gives the terminal back.
func newScreenProgram(ctx context.Context, model *tui.Model) *screenProgram {
	s := &screenProgram{in: os.Stdin, stop: func() {}}
	if !term.IsTerminal(int(s.in.Fd())) {
		// Keys come from the terminal even when standard input does not,
		// as Bubble Tea would read them.
		if tty, err := os.Open("/dev/tty"); err == nil {
			s.in, s.tty = tty, tty
		}
	}
	if term.IsTerminal(int(s.in.Fd())) {
		s.raw, _ = term.MakeRaw(int(s.in.Fd()))
	}
	sized, w, h := terminalSize(os.Getenv, int(os.Stdout.Fd()), int(s.in.Fd()))
	s.screen = tui.NewFramed(model, colorWriter(os.Stdout, colorprofile.Detect(os.Stdout, os.Environ())), frameInterval)
	s.screen.Start()
	s.guard = &crashGuard{Model: s.screen}
	s.Program = tea.NewProgram(s.guard, tea.WithContext(ctx), tea.WithoutRenderer(), tea.WithInput(s.in), tea.WithWindowSize(w, h))
	s.guard.quit = s.Quit
	if sized >= 0 {
		s.stop = followSize(sized, s.Send)
	}
	return s
}

// close gives the terminal back as it was.
func (s *screenProgram) close() {
	s.stop()
	s.screen.Close()
	if s.raw != nil {
		_ = term.Restore(int(s.in.Fd()), s.raw)
	}
	if s.tty != nil {
		_ = s.tty.Close()
	}
}

// defaultWidth and defaultHeight are the screen's size when neither the
// output nor the input is a terminal and COLUMNS and LINES say nothing.
const (
	defaultWidth  = 80
	defaultHeight = 24
)

// terminalSize returns the size of the first of fds that is a terminal
// (the output, then the terminal the keys come from: with "chat host | tee
// log" only the latter is), and that fd. Without one it returns -1 and the
// size that COLUMNS and LINES (read with getenv) give, or 80x24.
func terminalSize(getenv func(string) string, fds ...int) (fd, w, h int) {
	for _, fd := range fds {
		if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
			return fd, w, h
		}
	}
	w, h = envSize(getenv("COLUMNS")), envSize(getenv("LINES"))
	if w == 0 || h == 0 {
		w, h = defaultWidth, defaultHeight
	}
	return -1, w, h
}

// envSize reads a number of columns or lines from the environment: 0 if it
// is not a number from 1 to 9999.
func envSize(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 9999 {
		return 0
	}
	return n
}

// sendSize sends the terminal's size to the screen (send is its program's
// Send).
func sendSize(fd int, send func(tea.Msg)) {
	if w, h, err := term.GetSize(fd); err == nil {
		send(tea.WindowSizeMsg{Width: w, Height: h})
	}
}

// colorWriter brings the screen's 256 colours down to what a terminal with
// profile shows: 16 colours, or none.
func colorWriter(w io.Writer, profile colorprofile.Profile) io.Writer {
	if profile >= colorprofile.ANSI256 {
		return w
	}
	return &colorprofile.Writer{Forward: w, Profile: max(profile, colorprofile.ASCII)}
}
