package sshgw

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"chatd/room"
)

// execResult is what an exec request printed and its exit status.
type execResult struct {
	stdout, stderr string
	status         int
}

// run runs command on a new session of c, with a terminal if pty.
func run(t *testing.T, c *gossh.Client, command string, pty bool) execResult {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if pty {
		if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- sess.Run(command) }()
	select {
	case err = <-done:
	case <-time.After(waitLimit):
		t.Fatalf("%q did not end", command)
	}
	status := 0
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		status = exit.ExitStatus()
	} else if err != nil {
		t.Fatalf("%q: %v", command, err)
	}
	return execResult{stdout.String(), stderr.String(), status}
}

// TestWhoListsTheMembersWithoutJoining: "ssh host who" prints the member
// list as the line protocol words it, exits 0, and neither joins the room
// nor shows up in it.
func TestWhoListsTheMembersWithoutJoining(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	c := ts.dial(t, "carol")
	defer c.Close()
	if got := run(t, c, "who", false); got != (execResult{stdout: "*** 0 members\n"}) {
		t.Errorf("who in an empty room: %+v", got)
	}

	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Kind: room.ReasonQuit})
	alice, err := ts.room.Join("alice", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Leave(room.Reason{Kind: room.ReasonQuit})
	if got := run(t, c, " who ", false); got != (execResult{stdout: "*** 2 members: alice, bob\n"}) {
		t.Errorf("who: %+v", got)
	}
	// On a terminal ("ssh -t host who") the lines end as a terminal needs.
	if got := run(t, c, "who", true); got != (execResult{stdout: "*** 2 members: alice, bob\r\n"}) {
		t.Errorf("who on a terminal: %+v", got)
	}
	if ts.room.Len() != 2 {
		t.Errorf("%d members after who", ts.room.Len())
	}
	// bob saw alice join and nobody else: the next thing he gets is the
	// answer to his own /who.
	nextEvent(t, bob, room.Join, "alice")
	if err := bob.Who(); err != nil {
		t.Fatal(err)
	}
	evs, _ := bob.Take(nil, 10)
	if len(evs) != 1 || evs[0].Kind != room.Members {
		t.Errorf("bob got %v after alice joined, want only his /who", evs)
	}
}

// TestWhoNamesAtMostAScreenful: a client that asks who in a big room gets
// the same bounded list /who gives, not every nickname.
func TestWhoNamesAtMostAScreenful(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	for i := range room.DefaultMembersListed + 50 {
		m, err := ts.room.Join(fmt.Sprintf("m%03d", i), room.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Leave(room.Reason{Kind: room.ReasonQuit})
	}
	c := ts.dial(t, "carol")
	defer c.Close()
	got := run(t, c, "who", false)
	if want := fmt.Sprintf("*** %d members: m000, ", room.DefaultMembersListed+50); !strings.HasPrefix(got.stdout, want) ||
		!strings.HasSuffix(got.stdout, ", m099 and 50 more\n") || got.status != 0 {
		t.Errorf("who in a room of 150: %+v", got)
	}
}

// TestHelpAndUnknownCommands: "help" lists the commands and the way into
// the chat; anything else is refused with both, repeated in a bounded,
// quoted form, and exit status 1.
func TestHelpAndUnknownCommands(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	c := ts.dial(t, "alice")
	defer c.Close()
	_, port, _ := strings.Cut(ts.addr, ":")
	hint := "connect with a terminal: ssh -t -p " + port + " alice@localhost\n"

	help := run(t, c, "help", false)
	if help.status != 0 || help.stderr != "" || !strings.Contains(help.stdout, "  who    list the members of the room\n") ||
		!strings.HasSuffix(help.stdout, "To chat, "+hint) {
		t.Errorf("help: %+v", help)
	}
	for command, echoed := range map[string]string{
		"ls -l":                      `"ls -l"`,
		"who am i":                   `"who am i"`,
		"\x1b]0;owned\x07\u202e":     `"\x1b]0;owned\a\u202e"`,
		strings.Repeat("x", 100_000): `"` + strings.Repeat("x", maxEchoedCommand) + `"...`,
	} {
		got := run(t, c, command, false)
		want := "chatd: there is no command " + echoed + " here; the commands are who, crypto and help.\n" +
			"chatd: this is a chat room; " + hint
		if got.status != 1 || got.stdout != "" || got.stderr != want {
			t.Errorf("%.40q: %+v, want stderr %q", command, got, want)
		}
	}
	if ts.room.Len() != 0 {
		t.Errorf("%d members after the commands", ts.room.Len())
	}
}
