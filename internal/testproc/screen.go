package testproc

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"
)

// Screen is a program running on a pseudo-terminal whose output drives a
// terminal emulator, so a test reads what a person would see. The
// emulator's answers to the program's queries go back to the program, as a
// real terminal's would.
type Screen struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	tty  *os.File
	done chan struct{}

	mu  sync.Mutex
	emu *vt.Emulator
	raw []byte // the newest rawKept bytes the program wrote, for failures
}

// rawKept is how much of a screen program's raw output a Screen keeps to
// show when a wait fails: what it drew may have been cleared since.
const rawKept = 4 << 10

// StartScreen runs argv on a cols×rows terminal. The program is killed when
// the test ends.
func StartScreen(t testing.TB, name string, cols, rows int, argv ...string) *Screen {
	t.Helper()
	s := &Screen{t: t, name: name, cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{}), emu: vt.NewEmulator(cols, rows)}
	s.cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	tty, err := pty.StartWithSize(s.cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		t.Fatalf("start %s on a terminal: %v", name, err)
	}
	s.tty = tty
	go s.render()
	go s.answer()
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		tty.Close()
		// Ends answer's Read. (Emulator.Close would race with that Read.)
		if pw, ok := s.emu.InputPipe().(*io.PipeWriter); ok {
			pw.Close()
		}
	})
	return s
}

// render feeds the program's output to the emulator.
func (s *Screen) render() {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.tty.Read(buf)
		if n > 0 {
			s.mu.Lock()
			s.emu.Write(buf[:n])
			s.raw = append(s.raw, buf[:n]...)
			if extra := len(s.raw) - rawKept; extra > 0 {
				s.raw = append(s.raw[:0], s.raw[extra:]...)
			}
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// answer passes the emulator's replies (to cursor and device queries) back.
func (s *Screen) answer() {
	io.Copy(s.tty, s.emu)
}

// Type sends keystrokes; "\r" is Enter.
func (s *Screen) Type(keys string) {
	s.t.Helper()
	if _, err := io.WriteString(s.tty, keys); err != nil {
		s.t.Fatalf("%s: type %q: %v", s.name, keys, err)
	}
}

// Text returns what the screen shows now.
func (s *Screen) Text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emu.String()
}

// WaitFor waits until the screen shows want and returns the screen.
func (s *Screen) WaitFor(want string) string {
	s.t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		text := s.Text()
		if strings.Contains(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s's screen did not show %q within %v; it shows:\n%s\n%s", s.name, want, Wait, text, s.state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitExit waits for the program to exit and returns its exit code.
func (s *Screen) WaitExit() int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(Wait):
		s.t.Fatalf("%s did not exit within %v; its screen shows:\n%s\n%s", s.name, Wait, s.Text(), s.state())
		return -1
	}
}

// state describes, for a failure, whether the program still runs and the
// last bytes it wrote, escaped: a screen it drew and then cleared, or an
// exit, explains an empty screen.
func (s *Screen) state() string {
	running := "it is still running"
	select {
	case <-s.done:
		running = "it has exited: " + s.cmd.ProcessState.String()
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%s; the last %d bytes it wrote were:\n%q", running, len(s.raw), s.raw)
}
