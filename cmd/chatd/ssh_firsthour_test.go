package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// withoutAKey are the ssh options of a client that has no key to offer
// and must not stop to ask anything (a script, a fresh machine).
var withoutAKey = []string{"-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null"}

// runSSH runs an ssh command line without a terminal and returns what it
// printed on each stream and its exit status.
func runSSH(t *testing.T, argv []string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), exitCode(err)
}

// TestSSHHintIsTheCommandThatWorks: "ssh -T" and an unknown command are
// refused with the command that opens the chat, with the nick the person
// used and the host as they typed it (localhost, as the README says); that
// command, pasted, opens the chat without ssh asking about a new host key.
func TestSSHHintIsTheCommandThatWorks(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	hint := "ssh -t -p " + s.SSHPort + " alice@localhost"

	_, stderr, code := runSSH(t, append(sshOptions(t, s, "localhost", "-T"), "alice@localhost"))
	if want := "chatd: this is a chat room; connect with a terminal: " + hint + "\n"; code != 1 || stderr != want {
		t.Errorf("ssh -T: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
	_, stderr, code = runSSH(t, append(sshOptions(t, s, "localhost"), "alice@localhost", "ls", "-l"))
	if want := "chatd: there is no command \"ls -l\" here; the commands are who, crypto and help.\n" +
		"chatd: this is a chat room; connect with a terminal: " + hint + "\n"; code != 1 || stderr != want {
		t.Errorf("ssh host ls -l: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}

	// Paste it: the same user's ssh (its known_hosts holds localhost only,
	// and StrictHostKeyChecking refuses a host it would have asked about).
	pasted := append(sshOptions(t, s, "localhost"), strings.Fields(hint)[1:]...)
	alice := testproc.StartScreen(t, "ssh alice", 100, 30, pasted...)
	alice.WaitFor("chatd · 1 member · alice")
	alice.Type("/quit\r")
	if code := alice.WaitExit(); code != 0 {
		t.Errorf("the pasted hint: ssh exited %d", code)
	}
}

// TestSSHWhoListsTheRoomWithoutJoining: "ssh HOST who" prints the member
// list, as /who words it, and exits 0, even in BatchMode without a key;
// nobody is announced and the room is unchanged. "help" lists the
// commands.
func TestSSHWhoListsTheRoomWithoutJoining(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	bob := s.JoinWithOpenSSL(t, "bob")

	stdout, stderr, code := runSSH(t, append(sshArgs(t, s, "carol", withoutAKey...), "who"))
	if code != 0 || stdout != "*** 1 member: bob\n" || stderr != "" {
		t.Errorf("ssh carol@host who: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, _, code = runSSH(t, append(sshArgs(t, s, "carol", withoutAKey...), "help"))
	if code != 0 || !strings.Contains(stdout, "  who    list the members of the room\n") {
		t.Errorf("ssh carol@host help: exit %d, stdout %q", code, stdout)
	}
	// Had carol been announced, bob would read it before his own /who.
	bob.Send("/who")
	bob.Expect("*** 1 member: bob")
	if strings.Contains(bob.Output(), "carol") {
		t.Errorf("bob was told about carol:\n%s", bob.Output())
	}
}

// TestSSHWithoutAKeyInBatchMode: a client without any key, in BatchMode
// (which turns off keyboard-interactive and password in OpenSSH, and with
// them every way in but "none"), opens the chat.
func TestSSHWithoutAKeyInBatchMode(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	alice := testproc.StartScreen(t, "ssh alice", 100, 30, sshArgs(t, s, "alice", withoutAKey...)...)
	alice.WaitFor("chatd · 1 member · alice")
	alice.Type("/quit\r")
	if code := alice.WaitExit(); code != 0 {
		t.Errorf("ssh exited %d", code)
	}
}

// TestSSHNeverAsksForAPassword: password authentication is never offered.
// By default a client that prefers passwords is let in without a prompt;
// with --ssh-none-auth=false it is refused, and the methods ssh names are
// publickey and keyboard-interactive, which get a client without a key in
// without asking it anything.
func TestSSHNeverAsksForAPassword(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	prefersPassword := []string{"-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no"}

	open := startChatdWithSSH(t, t.TempDir())
	alice := testproc.StartScreen(t, "ssh alice", 100, 30, sshArgs(t, open, "alice", prefersPassword...)...)
	screen := alice.WaitFor("chatd · 1 member · alice")
	if strings.Contains(strings.ToLower(screen), "password") {
		t.Errorf("ssh asked for a password:\n%s", screen)
	}
	alice.Type("/quit\r")
	alice.WaitExit()

	keyed := startChatd(t, t.TempDir(), "--ssh-addr", "127.0.0.1:0", "--ssh-none-auth=false")
	_, stderr, code := runSSH(t, append(sshArgs(t, keyed, "alice", "-o", "PreferredAuthentications=password"), "who"))
	if code != 255 || !strings.Contains(stderr, "Permission denied (publickey,keyboard-interactive)") {
		t.Errorf("password only, --ssh-none-auth=false: exit %d, stderr %q; want refused, password not offered", code, stderr)
	}
	// Without a terminal ssh could not prompt: it gets in because nothing
	// is asked.
	stdout, stderr, code := runSSH(t, append(sshArgs(t, keyed, "alice", prefersPassword...), "who"))
	if code != 0 || stdout != "*** 0 members\n" {
		t.Errorf("keyboard-interactive, --ssh-none-auth=false: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
