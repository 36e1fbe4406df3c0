// Package testproc runs the project's real binaries in tests, as a user
// would, and reads what they print.
package testproc

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Wait bounds every wait for output or exit; it only matters when a test
// fails.
const Wait = 15 * time.Second

// Build compiles the main package pkg (an import path or directory) into
// dir, with version stamped in, and returns the binary's path.
func Build(pkg, dir, version string) (string, error) {
	name := pkg[strings.LastIndex(pkg, "/")+1:]
	bin := dir + "/" + name
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", bin, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return bin, nil
}

// BuildAll builds the main packages pkgs, stamped with version "e2e-test",
// into a new temporary directory, for a TestMain. It returns their paths in
// order and a function that removes them.
func BuildAll(pkgs ...string) (bins []string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "chatd-e2e")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	for _, pkg := range pkgs {
		bin, err := Build(pkg, dir, "e2e-test")
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		bins = append(bins, bin)
	}
	return bins, cleanup, nil
}

// outputLinger bounds how long WaitExit waits, once the process has
// exited, for the end of its output.
const outputLinger = 5 * time.Second

// Process is a running program whose output a test reads.
type Process struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	ended chan struct{} // closed when the output has ended

	mu      sync.Mutex
	out     []byte        // everything printed so far
	pos     int           // how far Expect has read
	grew    chan struct{} // closed and replaced when out grows
	readEnd bool          // the output has ended
}

// Start runs argv with standard input and output as pipes; standard error
// is merged into the output. The process is killed when the test ends.
func Start(t testing.TB, name string, env []string, argv ...string) *Process {
	t.Helper()
	p := newProcess(t, name, env, argv)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	// Our own pipe, not StdoutPipe: Wait closes a StdoutPipe as soon as the
	// process exits, which can lose the last thing it printed.
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w // one stream, in order
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { out.Close() })
	p.run(out)
	return p
}

// StartTerminal runs argv on a new pseudo-terminal of the given size, as if
// a person had started it in a terminal window.
func StartTerminal(t testing.TB, name string, env []string, cols, rows uint16, argv ...string) *Process {
	t.Helper()
	p := newProcess(t, name, env, argv)
	tty, err := pty.StartWithSize(p.cmd, &pty.Winsize{Cols: cols, Rows: rows})
	if err != nil {
		t.Fatalf("start %s on a terminal: %v", name, err)
	}
	t.Cleanup(func() { tty.Close() })
	p.stdin = tty
	p.run(tty)
	return p
}

func newProcess(t testing.TB, name string, env, argv []string) *Process {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	return &Process{t: t, name: name, cmd: cmd, done: make(chan struct{}), ended: make(chan struct{}), grew: make(chan struct{})}
}

func (p *Process) run(out io.Reader) {
	go p.collect(out)
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	p.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
}

func (p *Process) collect(out io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Read(buf)
		p.mu.Lock()
		p.out = append(p.out, buf[:n]...)
		if err != nil {
			p.readEnd = true
		}
		close(p.grew)
		p.grew = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			close(p.ended)
			return
		}
	}
}

// Send writes a line to the process's input.
func (p *Process) Send(line string) { p.Type(line + "\n") }

// Type writes text to the process's input as is.
func (p *Process) Type(text string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, text); err != nil {
		p.t.Fatalf("%s: write %q: %v", p.name, text, err)
	}
}

// CloseInput closes the process's standard input.
func (p *Process) CloseInput() { p.stdin.Close() }

// Expect waits until the output, past what earlier calls consumed, contains
// want; it consumes through the end of that line and returns the line.
func (p *Process) Expect(want string) string {
	p.t.Helper()
	timeout := time.After(Wait)
	for {
		p.mu.Lock()
		if i := bytes.Index(p.out[p.pos:], []byte(want)); i >= 0 {
			line := p.takeLine(p.pos + i)
			p.mu.Unlock()
			return line
		}
		grew, ended := p.grew, p.readEnd
		p.mu.Unlock()
		if ended {
			p.t.Fatalf("%s ended without printing %q; it printed:\n%s", p.name, want, p.Output())
		}
		select {
		case <-grew:
		case <-timeout:
			p.t.Fatalf("%s did not print %q within %v; it printed:\n%s", p.name, want, Wait, p.Output())
		}
	}
}

// takeLine returns the line holding offset at and consumes through its end.
// The caller holds p.mu.
func (p *Process) takeLine(at int) string {
	start := bytes.LastIndexByte(p.out[:at], '\n') + 1
	end := len(p.out)
	if j := bytes.IndexByte(p.out[at:], '\n'); j >= 0 {
		end = at + j
	}
	p.pos = min(end+1, len(p.out))
	return strings.TrimRight(string(p.out[start:end]), "\r")
}

// Output returns everything the process has printed.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out)
}

// Tail returns the last n bytes the process has printed, or all of it if
// it printed less: a cheap look at the newest output while a test polls a
// long-running, talkative process.
func (p *Process) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out[max(0, len(p.out)-n):])
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) { p.cmd.Process.Signal(sig) }

// WaitExit waits for the process to exit and returns its exit code. It
// also waits, for a few seconds at most, until everything the process
// printed has been read, so that Output after WaitExit holds its last
// words (a child that inherited the output and lives on keeps it open: the
// bound is for that).
func (p *Process) WaitExit() int {
	p.t.Helper()
	select {
	case <-p.done:
		select {
		case <-p.ended:
		case <-time.After(outputLinger):
		}
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(Wait):
		p.t.Fatalf("%s did not exit within %v", p.name, Wait)
		return -1
	}
}
