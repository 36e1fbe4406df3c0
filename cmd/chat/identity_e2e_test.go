package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// TestChatIdentityFirstUseAndReuse runs the real chat against a real
// chatd with a configuration directory of its own: the first run makes
// the identity (0600 in a 0700 directory) and presents it, the server's
// join record shows its fingerprint, chat's /crypto and --show-identity
// give the same one, the second run reuses it, the server's own /crypto
// (asked over openssl s_client with the same file as -cert and -key) names
// it, and --no-identity presents none.
func TestChatIdentityFirstUseAndReuse(t *testing.T) {
	config := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + config, "HOME=" + filepath.Join(config, "home")}
	path := filepath.Join(config, "chatd", "identity.pem")
	server := testproc.StartChatd(t, chatdBinary, t.TempDir(), "--log-format", "json")
	known := filepath.Join(t.TempDir(), "known")
	join := func(nick string, extra ...string) *testproc.Process {
		args := append([]string{chatBinary, "--plain", "--ca", server.CertFile, "--known-servers", known, "--nick", nick}, extra...)
		return testproc.Start(t, nick, env, append(args, server.Addr())...)
	}

	first := join("bob")
	first.Expect("chat: made your identity, the certificate servers know you by: " + path)
	fp := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(first.Expect("  fingerprint: sha256:")), "fingerprint: "))
	first.Expect("*** bob joined")
	if got := seenCert(t, server, "bob"); "sha256:"+got != fp {
		t.Errorf("the server saw certificate %q, chat made %q", got, fp)
	}
	first.Send("/crypto")
	first.Expect("*** your certificate: " + fp)
	leave(t, first)
	for file, want := range map[string]fs.FileMode{path: 0o600, filepath.Dir(path): 0o700 | fs.ModeDir} {
		if info, err := os.Stat(file); err != nil || info.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", file, info.Mode(), err, want)
		}
	}

	again := join("bob")
	again.Expect("*** bob joined")
	if got := seenCert(t, server, "bob"); "sha256:"+got != fp {
		t.Errorf("second run: the server saw %q, want %q", got, fp)
	}
	leave(t, again)
	if strings.Contains(again.Output(), "made your identity") {
		t.Errorf("the second run made another identity:\n%s", again.Output())
	}

	show := testproc.Start(t, "show", env, chatBinary, "--show-identity")
	if code := show.WaitExit(); code != 0 || show.Output() != "identity: "+path+"\nfingerprint: "+fp+"\n" {
		t.Errorf("--show-identity: exit %d, printed %q", code, show.Output())
	}

	// The server's own description of a connection presenting the file.
	ossl := testproc.Start(t, "openssl", nil, append(server.ConnectCmd, "-cert", path, "-key", path)...)
	ossl.Expect("*** Choose a nickname")
	ossl.Send("/crypto")
	want := "your client certificate: SHA-256 fingerprint " + strings.TrimPrefix(fp, "sha256:")
	ossl.Expect(want)

	anonymous := join("carol", "--no-identity")
	anonymous.Expect("*** carol joined")
	if got := seenCert(t, server, "carol"); got != "" {
		t.Errorf("--no-identity: the server saw certificate %q", got)
	}
	anonymous.Send("/crypto")
	anonymous.Expect("*** your certificate: none")
	leave(t, anonymous)
}

// seenCert is the fingerprint of the client certificate the server logged
// for nick's next join, "" if none.
func seenCert(t *testing.T, server *testproc.Chatd, nick string) string {
	t.Helper()
	rec := server.Record(`"msg":"joined"`)
	if rec["nick"] != nick {
		t.Fatalf("the next join is of %v, not %s: %v", rec["nick"], nick, rec)
	}
	id, _ := rec["identity"].(map[string]any)
	if id == nil {
		t.Fatalf("join record without an identity: %v", rec)
	}
	fp, _ := id["cert_fingerprint"].(string)
	return fp
}

// leave ends a --plain chat's input and waits for it to exit.
func leave(t *testing.T, p *testproc.Process) {
	t.Helper()
	p.CloseInput()
	if code := p.WaitExit(); code != 0 {
		t.Errorf("chat exited %d:\n%s", code, p.Output())
	}
}

// TestChatRefusesAnUnsafeIdentity: an identity file others can read stops
// chat before it connects, with the file named and what to do; the file
// is left as it was.
func TestChatRefusesAnUnsafeIdentity(t *testing.T) {
	file := filepath.Join(t.TempDir(), "me.pem")
	out, code := runChat(t, "", "--show-identity", "--identity", file)
	if code != 0 || !strings.Contains(out, "made your identity, the certificate servers know you by: "+file) {
		t.Fatalf("--identity FILE, missing: exit %d\n%s", code, out)
	}
	before, _ := os.ReadFile(file)
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = runChat(t, "", "--plain", "--insecure", "--identity", file, "--nick", "bob", "localhost:1")
	for _, want := range []string{"identity " + file + " cannot be used", "permissions 0644", "chmod 600 " + file, "--no-identity"} {
		if code != exitFailed || !strings.Contains(out, want) {
			t.Errorf("unsafe identity: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("chat changed the identity file it refused")
	}
}

// TestIdentityKeepsTheNicknameHeld: chat's connection is cut; its
// nickname is held for its certificate, not its address, so someone at the
// same address cannot take it meanwhile, and chat, started again with the
// same identity, has it back.
func TestIdentityKeepsTheNicknameHeld(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	g := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	known := filepath.Join(t.TempDir(), "known")
	start := func() *testproc.Process {
		return testproc.Start(t, "alice", nil, chatBinary, "--plain", "--ca", server.CertFile, "--known-servers", known, "--nick", "alice", g.Addr())
	}
	alice := start()
	alice.Expect("*** alice joined")
	bob := server.JoinWithOpenSSL(t, "bob")
	g.Cut(true)
	bob.Expect("*** alice left")
	alice.WaitExit()

	thief := server.OpenSSL(t, "thief") // the same address, no certificate
	thief.Expect("*** Choose a nickname")
	thief.Send("alice")
	thief.Expect(`nickname taken: "alice" is held`)

	back := start()
	back.Expect("*** alice joined")
	bob.Expect("*** alice joined")
	leave(t, back)
}

// TestChatsStartingAtOnceShareOneIdentity: chats started at the same time
// with no identity yet end with one, which all of them use.
func TestChatsStartingAtOnceShareOneIdentity(t *testing.T) {
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir()}
	var chats []*testproc.Process
	for range 4 {
		chats = append(chats, testproc.Start(t, "chat", env, chatBinary, "--show-identity"))
	}
	made := 0
	var fps []string
	for _, p := range chats {
		if code := p.WaitExit(); code != 0 {
			t.Fatalf("chat --show-identity exited %d:\n%s", code, p.Output())
		}
		if strings.Contains(p.Output(), "made your identity") {
			made++
		}
		line := p.Expect("fingerprint: sha256:")
		fps = append(fps, line[strings.Index(line, "sha256:"):])
	}
	for _, fp := range fps[1:] {
		if fp != fps[0] {
			t.Errorf("chats started at once use different identities: %q", fps)
		}
	}
	if made != 1 {
		t.Errorf("%d chats say they made the identity, want 1", made)
	}
}
