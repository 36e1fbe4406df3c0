package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"chatd/client"
	"chatd/internal/testproc"
)

// These tests put the bundled client in front of chatd's moderation: an
// owner (named by --admins) kicks and bans chat users over openssl
// s_client, and a chat user who is an operator moderates with ordinary
// slash lines.

// owner is an owner of a chatd: a self-signed certificate made with
// openssl, named in the --admins file.
type owner struct {
	cert, key, fingerprint string
}

// newOwner makes an owner's certificate and key in dir with openssl.
func newOwner(t *testing.T, dir string) owner {
	t.Helper()
	o := owner{cert: filepath.Join(dir, "owner.pem"), key: filepath.Join(dir, "owner.key")}
	runTool(t, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", o.key, "-out", o.cert, "-days", "2", "-subj", "/CN=owner")
	o.fingerprint = "sha256:" + field(t, runTool(t, "openssl", "x509", "-in", o.cert, "-noout", "-fingerprint", "-sha256"), `Fingerprint=(\S+)`)
	return o
}

// join connects to server with openssl s_client, presenting the owner's
// certificate, and joins as nick.
func (o owner) join(t *testing.T, server *testproc.Chatd, nick string) *testproc.Process {
	t.Helper()
	argv := append(append([]string(nil), server.ConnectCmd...), "-cert", o.cert, "-key", o.key)
	p := testproc.Start(t, nick, nil, argv...)
	p.Expect("*** Choose a nickname")
	p.Send(nick)
	p.Expect("*** " + nick + " joined")
	return p
}

// chatIdentity makes a chat identity of its own at dir/name.pem with chat
// --show-identity and returns its path and fingerprint: each chat user of
// a test is known by its own certificate.
func chatIdentity(t *testing.T, dir, name string) (path, fingerprint string) {
	t.Helper()
	path = filepath.Join(dir, name+".pem")
	return path, field(t, runTool(t, chatBinary, "--show-identity", "--identity", path), `^fingerprint: (sha256:\S+)$`)
}

// writeFile writes text to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	runTool(t, "sh", "-c", `printf '%s' "$1" > "$2"`, "sh", text, path)
	return path
}

// chatArgs is the command line of a chat that joins server as nick,
// trusting it by its CA file and presenting the identity at id.
func chatArgs(server *testproc.Chatd, dir, id, nick string, more ...string) []string {
	return chatArgsVia(server.Addr(), server, dir, id, nick, more...)
}

// chatArgsVia is chatArgs dialling addr (a testproc.Gate) instead.
func chatArgsVia(addr string, server *testproc.Chatd, dir, id, nick string, more ...string) []string {
	args := []string{chatBinary, "--ca", server.CertFile, "--known-servers", filepath.Join(dir, "known"),
		"--identity", id, "--nick", nick}
	return append(append(args, more...), addr)
}

// waitCount waits until server has printed text n times.
func waitCount(t *testing.T, server *testproc.Chatd, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for strings.Count(server.Output(), text) < n {
		if time.Now().After(deadline) {
			t.Fatalf("chatd did not print %q %d times within %v", text, n, testproc.Wait)
		}
		time.Sleep(10 * time.Millisecond) // polling its output
	}
}

var bannedUntilRE = regexp.MustCompile(`until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)`)

// TestChatIsSentAwayForGood: a chat user kicked or banned while chatting,
// in plain mode and on the screen, is told so in the server's words
// (room.Reason.Farewell), exits 1 and does not reconnect; banned, it is
// then refused at the door, again in the server's words, with exit 1 and
// no retry, in both modes.
func TestChatIsSentAwayForGood(t *testing.T) {
	dir := t.TempDir()
	boss := newOwner(t, dir)
	admins := writeFile(t, dir, "admins", boss.fingerprint+" boss\n")
	server := testproc.StartChatd(t, chatdBinary, filepath.Join(dir, "data"), "--admins", admins)
	op := boss.join(t, server, "boss")

	// Plain mode, kicked.
	bobID, _ := chatIdentity(t, dir, "bob")
	bob := testproc.Start(t, "bob", nil, chatArgs(server, dir, bobID, "bob", "--plain")...)
	op.Expect("*** bob joined")
	op.Send("/kick bob spamming")
	bob.Expect("!!! disconnected: kicked by boss: spamming")
	bob.Expect("chat: You were kicked by boss: spamming.")
	if strings.Contains(bob.Output(), "reconnect") {
		t.Errorf("chat --plain, kicked, speaks of reconnecting:\n%s", bob.Output())
	}
	if code := bob.WaitExit(); code != exitFailed {
		t.Errorf("chat --plain exited %d after a kick, want %d", code, exitFailed)
	}
	op.Expect("*** bob left (kicked by boss: spamming)")

	// The screen, kicked.
	ginaID, _ := chatIdentity(t, dir, "gina")
	gina := startTmux(t, 100, 24, chatArgs(server, dir, ginaID, "gina")...)
	gina.WaitFor("· gina · TLS 1.3")
	op.Expect("*** gina joined")
	op.Send("/kick gina off topic")
	gina.waitForText("You were kicked by boss: off topic.")
	gina.Type("x")
	if code := gina.waitExit(); code != exitFailed {
		t.Errorf("chat exited %d after a kick, want %d", code, exitFailed)
	}
	gina.waitForText("chat: You were kicked by boss: off topic.")

	// The screen, away when banned: on the way back it is refused at the
	// door, says so in the server's words, and stops there.
	daveID, daveFP := chatIdentity(t, dir, "dave")
	gate := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	dave := startTmux(t, 100, 24, chatArgsVia(gate.Addr(), server, dir, daveID, "dave")...)
	dave.WaitFor("· dave · TLS 1.3")
	op.Expect("*** dave joined")
	gate.Cut(false)
	dave.WaitFor("reconnecting in ")
	op.Expect("*** dave left")
	op.Send("/ban fp=" + daveFP + " 1h evading")
	op.Expect("banned " + daveFP + " until ")
	gate.Reopen()
	dave.waitForText(client.FinalText)
	screen := dave.waitForText(": evading.")
	if !strings.Contains(flowed(screen), "You are banned until ") {
		t.Errorf("the screen refused at the door on the way back does not say so:\n%s", screen)
	}
	dave.Type("x")
	if code := dave.waitExit(); code != exitFailed {
		t.Errorf("chat refused on the way back exited %d, want %d", code, exitFailed)
	}
	dave.waitForText("chat: You are banned until ")

	// The screen, banned: the farewell is the last thing shown, any key
	// closes it, and the terminal keeps the words.
	carolID, _ := chatIdentity(t, dir, "carol")
	carol := startTmux(t, 100, 24, chatArgs(server, dir, carolID, "carol")...)
	carol.WaitFor("· carol · TLS 1.3")
	op.Expect("*** carol joined")
	op.Send("/ban carol 1h trolling")
	screen = carol.waitForText(": trolling.")
	until := bannedUntilRE.FindStringSubmatch(op.Expect("*** carol left (banned by boss until "))
	if until == nil {
		t.Fatalf("no end of the ban in %q", op.Output())
	}
	farewell := "You were banned by boss until " + until[1] + ": trolling."
	if !strings.Contains(flowed(screen), farewell) {
		t.Errorf("the screen does not say %q:\n%s", farewell, screen)
	}
	carol.Type("x") // if the screen still shows the farewell
	if code := carol.waitExit(); code != exitFailed {
		t.Errorf("chat exited %d after a ban, want %d", code, exitFailed)
	}
	after := carol.waitForText("chat: " + farewell)
	for _, bad := range []string{"reconnecting", "reconnected"} {
		if strings.Contains(screen+after, bad) {
			t.Errorf("the banned screen says %q:\n%s\n%s", bad, screen, after)
		}
	}

	// Refused at the door, in both modes: the server's words, exit 1, once.
	door := "chat: You are banned until " + until[1] + ": trolling."
	opened, refused := strings.Count(server.Output(), "connection opened"), strings.Count(server.Output(), "refused at the door")
	out, code := runChat(t, "hello\n", chatArgs(server, dir, carolID, "carol", "--plain")[1:]...)
	if code != exitFailed || !strings.Contains(out, door) {
		t.Errorf("chat --plain, banned: exit %d, want %d and %q:\n%s", code, exitFailed, door, out)
	}
	waitCount(t, server, "refused at the door", refused+1) // logged after the connection
	if n := strings.Count(server.Output(), "connection opened") - opened; n != 1 {
		t.Errorf("chat --plain, banned at the door, connected %d times, want once", n)
	}
	again := startTmux(t, 100, 24, chatArgs(server, dir, carolID, "carol")...)
	if code := again.waitExit(); code != exitFailed {
		t.Errorf("chat on a terminal, banned: exit %d, want %d", code, exitFailed)
	}
	if screen := again.waitForText(door); strings.Count(screen, "banned until") != 1 {
		t.Errorf("chat, banned at the door, said it more than once (a retry?):\n%s", screen)
	}
}

// TestOperatorModeratesWithChat: a chat user who is an owner moderates
// with ordinary slash lines, which chat passes to the server (it answers
// only /crypto, /tls, /older and /resume itself), and sees the answers,
// /whois and /banned over several lines; a muted chat user's lines are
// marked "(not sent)" on the screen, and get through again once unmuted.
func TestOperatorModeratesWithChat(t *testing.T) {
	dir := t.TempDir()
	aliceID, aliceFP := chatIdentity(t, dir, "alice")
	admins := writeFile(t, dir, "admins", aliceFP+" alice\n")
	server := testproc.StartChatd(t, chatdBinary, filepath.Join(dir, "data"), "--admins", admins)
	alice := testproc.Start(t, "alice", nil, chatArgs(server, dir, aliceID, "alice", "--plain")...)
	alice.Expect("*** alice joined")

	alice.Send("/register")
	alice.Expect("registered")
	alice.Send("/whois alice")
	alice.Expect("alice: owner")
	alice.Expect(aliceFP)

	erinID, erinFP := chatIdentity(t, dir, "erin")
	erin := startTmux(t, 200, 30, chatArgs(server, dir, erinID, "erin")...)
	erin.WaitFor("· erin · TLS 1.3")
	alice.Expect("*** erin joined")
	// On the screen too, the server's commands reach it and its answers,
	// over several lines, are shown.
	erin.TypeLine("/whois alice")
	erin.waitForText("alice: owner")
	erin.waitForText("registered since ")
	erin.waitForText("tls-cert " + aliceFP)
	erin.TypeLine("/kick alice")
	erin.waitForText("permission denied")
	erin.TypeLine("/register")
	erin.waitForText(`"erin" is now registered to tls-cert ` + erinFP)
	alice.Send("/whois erin")
	alice.Expect("erin: member")
	alice.Expect("registered since ")
	alice.Expect(erinFP)

	alice.Send("/mute erin 1h")
	alice.Expect("erin")
	erin.waitForText("muted")
	erin.TypeLine("can anyone hear me")
	screen := erin.waitForText("can anyone hear me (not sent)")
	if !strings.Contains(flowed(screen), "you are muted by an operator until") {
		t.Errorf("the muted screen does not say why:\n%s", screen)
	}
	alice.Send("/unmute erin")
	alice.Expect("unmuted")
	erin.TypeLine("back again")
	alice.Expect("<erin> back again")
	if screen := erin.waitForText("erin: back again"); strings.Contains(flowed(screen), "back again (not sent)") {
		t.Errorf("a line sent after the unmute is marked not sent:\n%s", screen)
	}
	if strings.Contains(alice.Output(), "can anyone hear me") {
		t.Error("the muted line reached the room")
	}

	alice.Send("/ban fp=" + erinFP + " 2h flooding")
	erin.waitForText(": flooding.")
	alice.Send("/banned")
	alice.Expect("1 ban:")
	alice.Expect("fp=" + erinFP + " by alice")
	alice.Send("/unban fp=" + erinFP)
	alice.Expect("lifted the ban on " + erinFP)
	alice.Send("/kick nobody")
	alice.Expect(`!!! no one called "nobody" is here`)
	alice.Send("/unregister")
	alice.Expect(`"alice" is no longer registered`)
	alice.CloseInput()
	if code := alice.WaitExit(); code != exitOK {
		t.Errorf("the operator's chat exited %d at the end of its input", code)
	}
}

// TestChatRefusedByThePolicy: under --access registered, a chat whose
// identity is not allowed is refused at the door in the server's words,
// which name its certificate, and exits 1 without retrying; without an
// identity (--no-identity) chat adds how to present one. Once an owner,
// itself a chat user named by --admins, has allowed the certificate with
// /allow, the same chat joins.
func TestChatRefusedByThePolicy(t *testing.T) {
	dir := t.TempDir()
	ownerID, ownerFP := chatIdentity(t, dir, "owner")
	admins := writeFile(t, dir, "admins", ownerFP+" owner\n")
	server := testproc.StartChatd(t, chatdBinary, filepath.Join(dir, "data"), "--admins", admins, "--access", "registered")
	owner := testproc.Start(t, "owner", nil, chatArgs(server, dir, ownerID, "owner", "--plain")...)
	owner.Expect("*** owner joined")

	frankID, frankFP := chatIdentity(t, dir, "frank")
	out, code := runChat(t, "hello\n", chatArgs(server, dir, frankID, "frank", "--plain")[1:]...)
	want := "chat: This room admits registered members only: ask an operator to /allow your certificate " + frankFP + "."
	if code != exitFailed || !strings.Contains(out, want) {
		t.Errorf("chat, not allowed: exit %d, want %d and %q:\n%s", code, exitFailed, want, out)
	}
	out, code = runChat(t, "hello\n", "--plain", "--no-identity", "--ca", server.CertFile, "--known-servers", filepath.Join(dir, "known"),
		"--nick", "frank", server.Addr())
	if want := "without that flag chat presents your identity"; code != exitFailed || !strings.Contains(out, want) {
		t.Errorf("chat --no-identity, not allowed: exit %d, want %d and %q:\n%s", code, exitFailed, want, out)
	}

	owner.Send("/allow fp=" + frankFP)
	owner.Expect(frankFP)
	frank := startTmux(t, 200, 30, chatArgs(server, dir, frankID, "frank")...)
	frank.WaitFor("· frank · TLS 1.3")
	owner.Expect("*** frank joined")
	frank.TypeLine("/quit")
	if code := frank.waitExit(); code != exitOK {
		t.Errorf("chat, allowed, exited %d after /quit", code)
	}
}
