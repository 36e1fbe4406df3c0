package main

// End-to-end tests of registration (issue 16) with the bundled client's
// own identity: the real chat and chatd binaries, chat in its own
// configuration directory.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

// chatUser is someone who runs chat with a configuration directory of
// their own, so with an identity of their own.
type chatUser struct {
	env   []string // XDG_CONFIG_HOME and HOME
	known string   // the known-servers file
}

// newChatUser makes a user with an empty configuration directory.
func newChatUser(t *testing.T) chatUser {
	t.Helper()
	config := t.TempDir()
	home := filepath.Join(config, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return chatUser{env: []string{"XDG_CONFIG_HOME=" + config, "HOME=" + home}, known: filepath.Join(config, "known")}
}

// plain runs chat --plain for u against server as nick.
func (u chatUser) plain(t *testing.T, server *testproc.Chatd, nick string, extra ...string) *testproc.Process {
	t.Helper()
	args := append([]string{chatBinary, "--plain", "--ca", server.CertFile, "--known-servers", u.known, "--nick", nick}, extra...)
	return testproc.Start(t, nick, u.env, append(args, server.Addr())...)
}

// screen runs chat's screen for u in a wide tmux pane.
func (u chatUser) screen(t *testing.T, server *testproc.Chatd, nick string) *tmuxPane {
	t.Helper()
	argv := append([]string{"env"}, u.env...)
	argv = append(argv, chatBinary, "--known-servers", u.known, "--ca", server.CertFile, "--nick", nick, server.Addr())
	return startTmux(t, 200, 24, argv...)
}

// madeIdentity reads the fingerprint chat prints when it makes its identity.
func madeIdentity(p *testproc.Process) string {
	p.Expect("chat: made your identity")
	line := strings.TrimSpace(p.Expect("  fingerprint: sha256:"))
	return strings.TrimPrefix(line, "fingerprint: ")
}

// TestChatRegistersItsOwnIdentity: chat's own certificate registers its
// nickname; another user's chat (screen or --plain) is told it is
// registered and asked for another; the owner's chat gets it back; /whois
// shows the fingerprint; --no-identity has nothing to register; /unregister
// frees the nickname.
func TestChatRegistersItsOwnIdentity(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	watcher := server.JoinWithOpenSSL(t, "watcher")
	alice, bob := newChatUser(t), newChatUser(t)

	first := alice.plain(t, server, "alice")
	fp := madeIdentity(first)
	first.Expect("*** alice joined")
	first.Send("/register")
	first.Expect(`*** "alice" is now registered to tls-cert ` + fp + ": only a connection with it can take this nickname")
	leave(t, first)
	watcher.Expect("*** alice left")

	// Another user's screen asks for another nickname.
	other := bob.screen(t, server, "alice")
	other.WaitFor(`You cannot join as "alice": nickname taken: "alice" is registered; connect with one of its credentials, or choose another`)
	other.WaitFor("Choose a nickname to join the chat.")
	other.TypeLine("bob")
	other.WaitFor("members · bob")
	watcher.Expect("*** bob joined")

	// --plain never asks: it says so and exits 3. --identity names the file.
	theirs := filepath.Join(t.TempDir(), "theirs.pem")
	refused := bob.plain(t, server, "alice", "--identity", theirs)
	refused.Expect(`chat: the server refused the nickname "alice": nickname taken: "alice" is registered`)
	if code := refused.WaitExit(); code != 3 {
		t.Errorf("--plain with a registered nickname: exit %d, want 3", code)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("--identity %s was not made: %v", theirs, err)
	}

	// The owner's chat gets it back, with the same identity.
	back := alice.plain(t, server, "alice")
	back.Expect("*** alice joined")
	if strings.Contains(back.Output(), "made your identity") {
		t.Errorf("the owner's second chat made another identity:\n%s", back.Output())
	}
	watcher.Send("/whois alice")
	watcher.Expect("*** alice: member")
	watcher.Expect("tls-cert " + fp)
	watcher.Expect("*** here now over tls since ")
	watcher.Expect("connected with tls-cert " + fp)

	// Without an identity there is nothing to register.
	anonymous := bob.plain(t, server, "carol", "--no-identity")
	anonymous.Expect("*** carol joined")
	anonymous.Send("/register")
	anonymous.Expect("you connected without a key or certificate, so there is nothing to register")
	leave(t, anonymous)

	// /unregister frees it for anyone.
	back.Send("/unregister")
	back.Expect(`*** "alice" is no longer registered`)
	leave(t, back)
	watcher.Expect("*** alice left")
	taker := bob.plain(t, server, "alice", "--identity", theirs)
	taker.Expect("*** alice joined")
	leave(t, taker)
}

// showIdentity makes u's identity with chat --show-identity and returns its
// fingerprint.
func (u chatUser) showIdentity(t *testing.T) string {
	t.Helper()
	p := testproc.Start(t, "show", u.env, chatBinary, "--show-identity")
	line := strings.TrimSpace(p.Expect("fingerprint: sha256:"))
	if code := p.WaitExit(); code != 0 {
		t.Fatalf("chat --show-identity exited %d:\n%s", code, p.Output())
	}
	return strings.TrimPrefix(line, "fingerprint: ")
}

// TestChatAtARegisteredOnlyDoor: under --access registered a chat whose
// identity is not known is turned away with the reason and its own
// fingerprint, on the screen and with --plain, and does not redial; an
// owner named by its chat's certificate in --admins gets in and /allows
// it; then it gets in.
func TestChatAtARegisteredOnlyDoor(t *testing.T) {
	alice, bob := newChatUser(t), newChatUser(t)
	aliceFP, bobFP := alice.showIdentity(t), bob.showIdentity(t)
	admins := filepath.Join(t.TempDir(), "admins")
	if err := os.WriteFile(admins, []byte("# alice's chat\n"+aliceFP+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--access", "registered", "--admins", admins)
	refusal := "This room admits registered members only: ask an operator to /allow your certificate " + bobFP

	turned := bob.plain(t, server, "bob")
	turned.Expect(refusal)
	if code := turned.WaitExit(); code != 1 {
		t.Errorf("chat --plain turned away: exit %d, want 1", code)
	}
	screen := bob.screen(t, server, "bob")
	screen.WaitFor("registered members only")
	if code := screen.waitExit(); code != 1 {
		t.Errorf("chat's screen turned away: exit %d, want 1\n%s", code, screen.Capture())
	}

	owner := alice.plain(t, server, "alice")
	owner.Expect("*** alice joined")
	owner.Send("/whois alice")
	owner.Expect("*** alice: owner")
	owner.Send("/allow fp=" + bobFP)
	owner.Expect("*** allowed tls-cert " + bobFP)
	in := bob.plain(t, server, "bob")
	in.Expect("*** bob joined")
	owner.Expect("*** bob joined")
	leave(t, in)
	leave(t, owner)
}

// TestChatKeepsItsRegisteredNicknameAcrossARestart: chatd restarts on the
// same data directory and port, now registered-only; chat redials with its
// identity and is let in under its registered nickname.
func TestChatKeepsItsRegisteredNicknameAcrossARestart(t *testing.T) {
	data := t.TempDir()
	alice := newChatUser(t)
	server := testproc.StartChatd(t, chatdBinary, data)
	p := alice.screen(t, server, "alice")
	p.WaitFor("· alice ·")
	p.TypeLine("/register")
	p.WaitFor(`"alice" is now registered`)

	server.Signal(syscall.SIGTERM)
	if code := server.WaitExit(); code != 0 {
		t.Fatalf("chatd exited %d on SIGTERM", code)
	}
	p.WaitFor("reconnecting in ")
	server = testproc.StartChatd(t, chatdBinary, data, "--tls-addr", "127.0.0.1:"+server.Port, "--access", "registered")
	if line := server.Expect("msg=joined"); !strings.Contains(line, " nick=alice ") {
		t.Errorf("after the restart chatd let in: %s", line)
	}
	p.WaitFor("· alice ·")
}
