package testproc

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// natsModule is the nats-server chatd embeds; tests that need an external
// server build and run this one (BuildNATS).
const natsModule = "github.com/nats-io/nats-server/v2"

// BuildNATS builds nats-server, from the module chatd embeds, into dir
// and returns the binary's path.
func BuildNATS(dir string) (string, error) { return Build(natsModule, dir, "test") }

// NATS is a real nats-server process, with JetStream on and its store in
// Dir, listening on 127.0.0.1:Port. It is killed when the test ends.
type NATS struct {
	Bin, Dir, Port string
	p              *Process
}

// StartNATS starts the nats-server binary bin with its store in dir, on
// port, or on a free port if port is "", and waits until it is ready.
func StartNATS(t testing.TB, bin, dir, port string) *NATS {
	t.Helper()
	if port == "" {
		port = "-1"
	}
	p := Start(t, "nats-server", nil, bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", port)
	line := p.Expect("Listening for client connections on")
	p.Expect("Server is ready")
	return &NATS{Bin: bin, Dir: dir, Port: line[strings.LastIndexByte(line, ':')+1:], p: p}
}

// URL is the server's client URL.
func (n *NATS) URL() string { return "nats://127.0.0.1:" + n.Port }

// Restart starts the same binary again on the same store and port, as
// an operator brings a stopped server back, and returns it.
func (n *NATS) Restart(t testing.TB) *NATS {
	t.Helper()
	return StartNATS(t, n.Bin, n.Dir, n.Port)
}

// Kill stops the server with SIGKILL and waits for it to exit.
func (n *NATS) Kill() {
	n.p.Signal(syscall.SIGKILL)
	n.p.WaitExit()
}

// Pause stops the server with SIGSTOP and waits until the kernel shows
// it stopped (state T in /proc/PID/stat): the signal is delivered
// asynchronously, and what reaches the server before it takes effect is
// handled as usual.
func (n *NATS) Pause(t testing.TB) {
	t.Helper()
	n.p.Signal(syscall.SIGSTOP)
	stat := "/proc/" + strconv.Itoa(n.p.cmd.Process.Pid) + "/stat"
	deadline := time.Now().Add(Wait)
	for {
		state, err := procState(stat)
		if state == 'T' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server (store %s) not stopped: state %q, %v", n.Dir, state, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume lets a paused server run again (SIGCONT).
func (n *NATS) Resume() { n.p.Signal(syscall.SIGCONT) }

// procState reads a process's state letter from its /proc stat file.
func procState(stat string) (byte, error) {
	b, err := os.ReadFile(stat)
	if err != nil {
		return 0, err
	}
	if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) {
		return b[i+2], nil
	}
	return 0, nil
}
