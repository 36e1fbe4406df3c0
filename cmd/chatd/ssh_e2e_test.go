package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

func requireSSH(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this test needs %s (apt-get install openssh-client)", tool)
		}
	}
}

// startChatdWithSSH starts chatd with SSH on a free port.
func startChatdWithSSH(t *testing.T, dataDir string) *testproc.Chatd {
	t.Helper()
	return startChatd(t, dataDir, "--ssh-addr", "127.0.0.1:0")
}

// sshArgs returns an ssh command line for user that trusts exactly chatd's
// host key, as a user who checked the fingerprint would.
func sshArgs(t *testing.T, s *testproc.Chatd, user string, extra ...string) []string {
	t.Helper()
	return append(sshOptions(t, s, "127.0.0.1", extra...), user+"@127.0.0.1")
}

// sshOptions returns "ssh" and the options of a user who connected to
// chatd as host before and accepted its host key under that name: ssh
// refuses any other name rather than ask about it.
func sshOptions(t *testing.T, s *testproc.Chatd, host string, extra ...string) []string {
	t.Helper()
	pub, err := exec.Command("ssh-keygen", "-y", "-f", s.HostKeyFile).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v", err)
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(knownHosts, []byte("["+host+"]:"+s.SSHPort+" "+string(pub)), 0o600)
	args := []string{"ssh", "-p", s.SSHPort, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"}
	return append(args, extra...)
}

func TestSSHAndTLSUsersShareTheRoom(t *testing.T) {
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	printed, err := exec.Command("ssh-keygen", "-lf", s.HostKeyFile).Output()
	if err != nil || !strings.Contains(string(printed), s.SSHFingerprint) {
		t.Errorf("chatd printed %s; ssh-keygen -lf says %q (%v)", s.SSHFingerprint, printed, err)
	}
	bob := s.JoinWithOpenSSL(t, "bob")
	bob.Send("before alice came")

	alice := testproc.StartScreen(t, "ssh alice", 100, 30, sshArgs(t, s, "alice")...)
	alice.WaitFor("bob: before alice came") // history
	alice.WaitFor("chatd · 2 members · alice")
	bob.Expect("*** alice joined")

	bob.Send("hello alice, from openssl 你好")
	alice.WaitFor("bob: hello alice, from openssl 你好")
	alice.Type("hi bob, from ssh\r")
	bob.Expect("<alice> hi bob, from ssh")
	alice.Type("/msg bob psst\r")
	bob.Expect("*alice* psst")

	alice.Type("/quit\r")
	bob.Expect("*** alice left (quit)")
	if code := alice.WaitExit(); code != 0 {
		t.Errorf("ssh exited %d after /quit", code)
	}
}

func TestSSHAsksAgainForATakenNickname(t *testing.T) {
	requireOpenSSL(t)
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	bob := s.JoinWithOpenSSL(t, "bob")
	other := testproc.StartScreen(t, "ssh bob", 100, 30, sshArgs(t, s, "BOB")...)
	other.WaitFor("already in use")
	other.Type("bobby\r")
	bob.Expect("*** bobby joined")
	other.WaitFor("chatd · 2 members · bobby")
}

func TestSSHWithoutTerminalIsRefused(t *testing.T) {
	requireSSH(t)
	s := startChatdWithSSH(t, t.TempDir())
	for name, extra := range map[string][]string{"ssh -T": {"-T"}, "a command": nil} {
		args := sshArgs(t, s, "alice", extra...)
		if extra == nil {
			args = append(args, "ls")
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if code := exitCode(err); code != 1 || !strings.Contains(string(out), "this is a chat room; connect with a terminal") {
			t.Errorf("%s: exit %d, output %q", name, code, out)
		}
	}
}

func TestSSHHostKeyIsReused(t *testing.T) {
	requireSSH(t)
	dataDir := t.TempDir()
	first := startChatdWithSSH(t, dataDir)
	info, err := os.Stat(first.HostKeyFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("host key file: %v, mode %v", err, info.Mode())
	}
	first.Signal(syscall.SIGTERM)
	first.WaitExit()
	second := startChatdWithSSH(t, dataDir)
	if second.SSHFingerprint != first.SSHFingerprint {
		t.Errorf("host key changed across restarts: %s then %s", first.SSHFingerprint, second.SSHFingerprint)
	}
}

func TestSSHConnectionLog(t *testing.T) {
	requireSSH(t)
	s := startChatd(t, t.TempDir(), "--ssh-addr", "127.0.0.1:0", "--log-format", "json")
	alice := testproc.StartScreen(t, "ssh alice", 100, 30, sshArgs(t, s, "alice")...)
	alice.WaitFor("chatd · 1 member · alice")
	alice.Type("/quit\r")
	alice.WaitExit()
	opened := logRecord(t, s, "connection opened")
	closed := logRecord(t, s, "connection closed")
	if opened["transport"] != "ssh" {
		t.Errorf("opened record %v", opened)
	}
	for k, v := range map[string]any{"transport": "ssh", "user": "alice", "reason": "quit"} {
		if closed[k] != v {
			t.Errorf("closed record %s = %v, want %v (record %v)", k, closed[k], v, closed)
		}
	}
	if v, _ := closed["client_version"].(string); !strings.HasPrefix(v, "SSH-2.0-OpenSSH") {
		t.Errorf("client_version = %q", v)
	}
	if _, ok := closed["key_type"].(string); !ok {
		t.Errorf("no key_type in %v", closed)
	}
	for _, k := range []string{"bytes_in", "bytes_out", "duration_seconds"} {
		if n, ok := closed[k].(float64); !ok || n <= 0 {
			t.Errorf("closed record %s = %v, want a positive number", k, closed[k])
		}
	}
}
