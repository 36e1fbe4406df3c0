package main

// End-to-end tests of identity and access policy (issue 16) with the real
// binaries: chatd, openssl s_client with certificates from `openssl req
// -x509`, and ssh with keys from ssh-keygen.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

// clientCert is a self-signed client certificate made as the refusal
// texts tell s_client users to make one.
type clientCert struct {
	Cert, Key string
	FP        string // "sha256:AB:CD:...", as chatd writes it
}

// makeClientCert makes an ed25519 certificate with `openssl req -x509`.
func makeClientCert(t *testing.T, name string) clientCert {
	t.Helper()
	dir := t.TempDir()
	c := clientCert{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+".key")}
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", c.Key, "-out", c.Cert,
		"-days", "365", "-subj", "/CN="+name).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req -x509: %v\n%s", err, out)
	}
	c.FP = "sha256:" + opensslFingerprint(t, c.Cert)
	return c
}

// sshKey is a key pair made with ssh-keygen.
type sshKey struct {
	File string // the private half
	Pub  string // the authorized_keys line
	FP   string // "SHA256:...", as ssh-keygen -l prints it
}

// makeSSHKey makes an ed25519 key with ssh-keygen, comment name.
func makeSSHKey(t *testing.T, name string) sshKey {
	t.Helper()
	k := sshKey{File: filepath.Join(t.TempDir(), name)}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", k.File).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -t ed25519: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(k.File + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	k.Pub = strings.TrimSpace(string(pub))
	out, err := exec.Command("ssh-keygen", "-lf", k.File+".pub").Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) < 2 {
		t.Fatalf("ssh-keygen -lf: %v %q", err, out)
	}
	k.FP = fields[1]
	return k
}

// writeList writes an admins or allowlist file of lines.
func writeList(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// withCert starts openssl s_client with chatd's connect command, presenting
// c when it is not nil.
func withCert(t *testing.T, s *testproc.Chatd, name string, c *clientCert) *testproc.Process {
	t.Helper()
	argv := append([]string{}, s.ConnectCmd...)
	if c != nil {
		argv = append(argv, "-cert", c.Cert, "-key", c.Key)
	}
	return testproc.Start(t, name, nil, argv...)
}

// joinWithCert connects presenting c and joins as nick.
func joinWithCert(t *testing.T, s *testproc.Chatd, nick string, c clientCert) *testproc.Process {
	t.Helper()
	p := withCert(t, s, nick, &c)
	p.Expect("*** Choose a nickname")
	p.Send(nick)
	p.Expect("*** " + nick + " joined")
	return p
}

// keyArgs returns an ssh command line for user that offers key and nothing
// else the runner may have (no agent, no default keys).
// linkCode is the code in the answer to /register link: `link code for
// "NICK": CODE (good once, ...)`.
func linkCode(t *testing.T, line string) string {
	t.Helper()
	_, rest, _ := strings.Cut(line, `": `)
	code, _, _ := strings.Cut(rest, " ")
	if code == "" {
		t.Fatalf("no link code in %q", line)
	}
	return code
}

func keyArgs(t *testing.T, s *testproc.Chatd, key sshKey, user string, command ...string) []string {
	t.Helper()
	return keysArgs(t, s, []sshKey{key}, user, command...)
}

// keysArgs is keyArgs offering keys in turn.
func keysArgs(t *testing.T, s *testproc.Chatd, keys []sshKey, user string, command ...string) []string {
	t.Helper()
	opts := []string{"-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no"}
	for _, k := range keys {
		opts = append(opts, "-i", k.File)
	}
	return append(sshArgs(t, s, user, opts...), command...)
}

// sshRun runs ssh with key as user x with command, bounded, and returns
// what it printed (both streams) and its exit status.
func sshRun(t *testing.T, s *testproc.Chatd, key sshKey, command ...string) (string, int) {
	t.Helper()
	return runBounded(t, keyArgs(t, s, key, "x", command...))
}

// runBounded runs argv, bounded, and returns what it printed (both streams) and
// its exit status.
func runBounded(t *testing.T, argv []string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testproc.Wait)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(out), exitCode(err)
}

// wantSSH runs command with key and checks its exit status and that its
// output holds every one of wants.
func wantSSH(t *testing.T, s *testproc.Chatd, key sshKey, code int, command []string, wants ...string) string {
	t.Helper()
	out, got := sshRun(t, s, key, command...)
	if got != code {
		t.Errorf("ssh -i %s %s: exit %d, want %d; it printed:\n%s", filepath.Base(key.File), strings.Join(command, " "), got, code, out)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("ssh -i %s %s printed no %q:\n%s", filepath.Base(key.File), strings.Join(command, " "), want, out)
		}
	}
	return out
}

// accessLine returns chatd's "Access:" line.
func accessLine(t *testing.T, s *testproc.Chatd) string {
	t.Helper()
	for line := range strings.Lines(s.Output()) {
		if strings.HasPrefix(line, "Access: ") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("chatd printed no Access line:\n%s", s.Output())
	return ""
}

// since returns what p printed after mark, a length of its output.
func since(p *testproc.Process, mark int) string { return p.Output()[mark:] }

// TestRegistrationAndTakeoverOverTLSAndSSH: a nickname registered over TLS
// (certificate) or SSH (key) can be taken only with that credential; anyone
// else is asked for another; /register without a credential says how to
// make one; /whois shows fingerprints, role and presence, never an
// address; the owner comes back and gets it; /unregister frees it.
func TestRegistrationAndTakeoverOverTLSAndSSH(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	dir := t.TempDir()
	owner, bobKey, eveKey, aliceKey := makeSSHKey(t, "owner"), makeSSHKey(t, "bob"), makeSSHKey(t, "eve"), makeSSHKey(t, "alice")
	aliceCert := makeClientCert(t, "alice")
	admins := filepath.Join(dir, "admins")
	writeList(t, admins, owner.Pub)
	s := startChatd(t, filepath.Join(dir, "data"), "--ssh-addr", "127.0.0.1:0", "--admins", admins)
	if got, want := accessLine(t, s), "Access: anyone (/register keeps a nickname for your key or certificate); owners from "+admins+" (re-read on SIGHUP)"; got != want {
		t.Errorf("banner: %q, want %q", got, want)
	}

	alice := joinWithCert(t, s, "alice", aliceCert)
	alice.Send("/register")
	alice.Expect(`"alice" is now registered to tls-cert ` + aliceCert.FP + ": only a connection with it can take this nickname")
	// Her SSH key too: a one-time code from the registered connection,
	// redeemed by a connection with the key, under another nickname.
	alice.Send("/register link")
	code := linkCode(t, alice.Expect(`link code for "alice": `))
	linking := testproc.StartScreen(t, "ssh alice's key", 200, 30, keyArgs(t, s, aliceKey, "alicekey")...)
	linking.WaitFor("members · alicekey")
	linking.Type("/register " + code + "\r")
	linking.WaitFor(aliceKey.FP)
	linking.Type("/quit\r")
	linking.WaitExit()

	bob := testproc.StartScreen(t, "ssh bob", 200, 30, keyArgs(t, s, bobKey, "bob")...)
	bob.WaitFor("members · bob")
	alice.Expect("*** bob joined")
	bob.Type("/register\r")
	bob.WaitFor(`"bob" is now registered to ssh-key ` + bobKey.FP)

	// Someone without a credential: /register says how to get one.
	mallory := s.JoinWithOpenSSL(t, "mallory")
	mallory.Send("/register")
	mallory.Expect("you connected without a key or certificate, so there is nothing to register: make a certificate with " +
		"`openssl req -x509 -newkey ed25519 -nodes -keyout me.key -out me.pem -days 365 -subj /CN=NICK` and present it: " +
		"`openssl s_client -connect HOST:PORT -cert me.pem -key me.key`")

	// Over SSH without a key (keyboard-interactive): how to make a key.
	zed := testproc.StartScreen(t, "ssh zed", 200, 30, sshArgs(t, s, "zed", "-F", "/dev/null", "-o", "PubkeyAuthentication=no",
		"-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no")...)
	zed.WaitFor("members · zed")
	zed.Type("/register\r")
	zed.WaitFor("nothing to register: make a key with `ssh-keygen -t ed25519` and connect with it")
	zed.Type("/quit\r")
	mallory.Expect("*** zed left")

	// /whois: fingerprints, role, presence, and no address.
	mark := len(mallory.Output())
	mallory.Send("/whois alice")
	mallory.Expect("*** alice: member")
	mallory.Expect("*** registered since ")
	mallory.Expect("tls-cert " + aliceCert.FP)
	mallory.Expect("*** here now over tls since ")
	mallory.Expect("connected with tls-cert " + aliceCert.FP)
	mallory.Send("/whois bob")
	mallory.Expect("*** bob: member")
	mallory.Expect("ssh-key " + bobKey.FP)
	mallory.Expect("*** here now over ssh since ")
	mallory.Expect("connected with ssh-key " + bobKey.FP)
	mallory.Send("/whois mallory")
	mallory.Expect("*** mallory: member")
	mallory.Expect("*** not registered")
	mallory.Expect("*** here now over tls since ")
	if out := since(mallory, mark); strings.Contains(out, "127.0.0.1") {
		t.Errorf("/whois shows an address:\n%s", out)
	}

	// The owners leave; anyone else is asked for another nickname, over
	// TLS without a certificate and over SSH with another key.
	alice.Send("/quit")
	mallory.Expect("*** alice left")
	bob.Type("/quit\r")
	mallory.Expect("*** bob left")
	bob.WaitExit()
	mallory.Send("/whois bob")
	mallory.Expect("*** bob: member")
	mallory.Expect("*** not here now")
	thief := withCert(t, s, "thief", nil)
	thief.Expect("*** Choose a nickname")
	for _, nick := range []string{"alice", "bob", "ALICE"} {
		thief.Send(nick)
		thief.Expect(`"` + nick + `" is registered; connect with one of its credentials, or choose another`)
		thief.Expect("*** Choose a nickname")
	}
	thief.Send("thief")
	mallory.Expect("*** thief joined")
	eve := testproc.StartScreen(t, "ssh eve", 200, 30, keyArgs(t, s, eveKey, "bob")...)
	eve.WaitFor(`"bob" is registered`)
	eve.Type("eve\r")
	eve.WaitFor("members · eve")
	mallory.Expect("*** eve joined")

	// The owners come back and get their nicknames: alice with either of
	// her credentials.
	aliceSSH := testproc.StartScreen(t, "ssh alice", 200, 30, keyArgs(t, s, aliceKey, "alice")...)
	aliceSSH.WaitFor("members · alice")
	mallory.Expect("*** alice joined")
	aliceSSH.Type("/quit\r")
	mallory.Expect("*** alice left")
	alice = joinWithCert(t, s, "alice", aliceCert)
	bob = testproc.StartScreen(t, "ssh bob again", 200, 30, keyArgs(t, s, bobKey, "bob")...)
	bob.WaitFor("members · bob")
	mallory.Expect("*** bob joined")

	// Only its owner (or an operator) unregisters a nickname.
	mallory.Send("/unregister alice")
	mallory.Expect("permission denied")

	// /unregister frees the nickname: the owner moves away, mallory takes it.
	alice.Send("/unregister")
	alice.Expect(`"alice" is no longer registered`)
	mallory.Send("/whois alice")
	mallory.Expect("*** alice: member")
	mallory.Expect("*** not registered")
	alice.Send("/nick alice2")
	mallory.Expect("alice2")
	mallory.Send("/nick alice")
	alice.Expect("mallory is now known as alice")

	// Guessing at registered nicknames is rate-limited by address (a burst
	// of 5, then one per 10 s; this test has used 4): over the limit the
	// guesser is disconnected.
	bob.Type("/quit\r")
	alice.Expect("*** bob left")
	guesser := withCert(t, s, "guesser", nil)
	for i := 0; ; i++ {
		guesser.Expect("*** Choose a nickname")
		guesser.Send("bob")
		if line := guesser.Expect(`"bob" is registered`); strings.Contains(line, "too many tries for registered nicknames from your address; wait a minute") {
			if !strings.Contains(line, "disconnected") {
				t.Errorf("over the limit, the guesser is told %q and stays", line)
			}
			break
		}
		if i == 8 {
			t.Fatal("9 wrong guesses at a registered nickname, and no rate limit")
		}
	}
}

// TestRegisteredPolicySurvivesARestart: registrations made under the open
// policy survive a restart on the same data directory, and under
// --access registered only they (and the owners, and whom an owner
// /allows) get in; others are refused at the door with how to get in.
func TestRegisteredPolicySurvivesARestart(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	owner, bobKey, eveKey := makeSSHKey(t, "owner"), makeSSHKey(t, "bob"), makeSSHKey(t, "eve")
	aliceCert, strangerCert := makeClientCert(t, "alice"), makeClientCert(t, "stranger")
	admins := filepath.Join(dir, "admins")
	writeList(t, admins, owner.Pub)

	s := startChatd(t, data, "--ssh-addr", "127.0.0.1:0", "--admins", admins)
	alice := joinWithCert(t, s, "alice", aliceCert)
	alice.Send("/register")
	alice.Expect(`"alice" is now registered`)
	bob := testproc.StartScreen(t, "ssh bob", 200, 30, keyArgs(t, s, bobKey, "bob")...)
	bob.WaitFor("members · bob")
	bob.Type("/register\r")
	bob.WaitFor(`"bob" is now registered`)
	stop(t, s)

	s = startChatd(t, data, "--ssh-addr", "127.0.0.1:0", "--admins", admins, "--access", "registered")
	if got, want := accessLine(t, s), "Access: registered members and the allowlist only; owners from "+admins+" (re-read on SIGHUP)"; got != want {
		t.Errorf("banner: %q, want %q", got, want)
	}

	// Refused at the door, told how to get in.
	nobody := withCert(t, s, "no certificate", nil)
	nobody.Expect("!!! disconnected: refused: this room admits registered members only: connect with a key or certificate of your own, " +
		"then ask an operator to /allow it; make a certificate with `openssl req -x509")
	stranger := withCert(t, s, "stranger", &strangerCert)
	stranger.Expect("!!! disconnected: refused: this room admits registered members only: ask an operator to /allow your certificate " + strangerCert.FP)
	if strings.Contains(nobody.Output()+stranger.Output(), "Choose a nickname") {
		t.Error("a refused connection was asked for a nickname")
	}
	// Over SSH an unregistered key fails, ssh falls through to the
	// keyboard-interactive method, and the session is refused with the text.
	wantSSH(t, s, eveKey, 1, []string{"who"}, "*** this room admits registered members only: if you have a key, ask an operator to /allow it")
	eve := testproc.StartScreen(t, "ssh eve", 200, 30, keyArgs(t, s, eveKey, "eve")...)
	eve.WaitFor("this room admits registered members only")
	if code := eve.WaitExit(); code != 1 {
		t.Errorf("a refused SSH screen exited %d, want 1", code)
	}

	// The registered get in, the registration having survived the restart.
	alice = joinWithCert(t, s, "alice", aliceCert)
	alice.Send("/whois alice")
	alice.Expect("*** registered since ")
	wantSSH(t, s, bobKey, 0, []string{"who"}, "*** 1 member: alice")
	// ssh offers its keys in turn: the unregistered one fails, the next one
	// gets in.
	if out, code := runBounded(t, keysArgs(t, s, []sshKey{eveKey, bobKey}, "x", "who")); code != 0 {
		t.Errorf("ssh -i eve -i bob who: exit %d, want 0:\n%s", code, out)
	}
	// No "none" authentication: a non-open policy knows members by their keys.
	none := append(sshArgs(t, s, "x", "-F", "/dev/null", "-o", "PreferredAuthentications=none"), "who")
	if out, code := runBounded(t, none); code != 255 || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with the none method: exit %d, want 255 Permission denied:\n%s", code, out)
	}
	// An owner from --admins always gets in, registered or not.
	out := wantSSH(t, s, owner, 0, []string{"whois", "bob"}, "bob: member", "ssh-key "+bobKey.FP, "not here now")
	if strings.Contains(out, "127.0.0.1") {
		t.Errorf("whois on the console shows an address:\n%s", out)
	}
	boss := testproc.StartScreen(t, "ssh boss", 200, 30, keyArgs(t, s, owner, "boss")...)
	boss.WaitFor("members · boss")
	alice.Expect("*** boss joined")

	// An owner's /allow lets a new credential in.
	wantSSH(t, s, owner, 0, []string{"allow", "fp=" + strangerCert.FP}, "allowed tls-cert "+strangerCert.FP)
	joinWithCert(t, s, "stranger", strangerCert)
	alice.Expect("*** stranger joined")
}

// TestAllowlistPolicy: under --access allowlist only credentials on the
// list (seeded from --allowlist FILE, then /allow and /disallow) and the
// owners get in; an unlisted SSH key does not even authenticate. The list
// lives in the store: it survives a restart without the file.
func TestAllowlistPolicy(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	owner, listedKey, newKey, eveKey := makeSSHKey(t, "owner"), makeSSHKey(t, "listed"), makeSSHKey(t, "new"), makeSSHKey(t, "eve")
	listedCert, newCert, strangerCert := makeClientCert(t, "carol"), makeClientCert(t, "dave"), makeClientCert(t, "stranger")
	admins, allowlist := filepath.Join(dir, "admins"), filepath.Join(dir, "allowlist")
	writeList(t, admins, owner.Pub)
	writeList(t, allowlist, "# the first members", listedKey.Pub, listedCert.FP)
	args := []string{"--ssh-addr", "127.0.0.1:0", "--admins", admins, "--access", "allowlist"}

	s := startChatd(t, data, append(args, "--allowlist", allowlist)...)
	if got, want := accessLine(t, s), "Access: the allowlist only (SSH keys not on it do not even authenticate); owners from "+admins+
		" (re-read on SIGHUP); allowlist seeded from "+allowlist+" ("; !strings.HasPrefix(got, want) {
		t.Errorf("banner: %q, want %q", got, want)
	}
	wantSSH(t, s, eveKey, 255, []string{"who"}, "Permission denied")
	wantSSH(t, s, listedKey, 0, []string{"who"}, "*** 0 members")
	carol := joinWithCert(t, s, "carol", listedCert)
	lister := testproc.StartScreen(t, "ssh lister", 200, 30, keyArgs(t, s, listedKey, "lister")...)
	lister.WaitFor("members · lister")
	carol.Expect("*** lister joined")
	lister.Type("/quit\r")
	carol.Expect("*** lister left")
	stranger := withCert(t, s, "stranger", &strangerCert)
	stranger.Expect("!!! disconnected: refused: this room admits allowlisted members only: ask an operator to /allow your certificate " + strangerCert.FP)
	nobody := withCert(t, s, "no certificate", nil)
	nobody.Expect("!!! disconnected: refused: this room admits allowlisted members only")

	// The owner lets a new key and a new certificate in, and the key out again.
	wantSSH(t, s, owner, 0, []string{"allow", "fp=" + newKey.FP}, "allowed ssh-key "+newKey.FP)
	wantSSH(t, s, newKey, 0, []string{"who"}, "*** 1 member: carol")
	wantSSH(t, s, owner, 0, []string{"disallow", "fp=" + newKey.FP})
	wantSSH(t, s, newKey, 255, []string{"who"}, "Permission denied")
	wantSSH(t, s, owner, 0, []string{"allow", "fp=" + newCert.FP}, "allowed tls-cert "+newCert.FP)
	joinWithCert(t, s, "dave", newCert)
	carol.Expect("*** dave joined")
	stop(t, s)

	// Restarted without --allowlist: the list was in the store.
	s = startChatd(t, data, args...)
	if got := accessLine(t, s); strings.Contains(got, "seeded") {
		t.Errorf("banner without --allowlist: %q", got)
	}
	wantSSH(t, s, listedKey, 0, []string{"who"}, "*** 0 members")
	joinWithCert(t, s, "dave", newCert)
	joinWithCert(t, s, "carol", listedCert)
	wantSSH(t, s, newKey, 255, []string{"who"}, "Permission denied")
	wantSSH(t, s, eveKey, 255, []string{"who"}, "Permission denied")
	wantSSH(t, s, owner, 0, []string{"who"}, "*** 2 members")
}

// TestAdminsFileIsReReadOnSIGHUP: a key added to --admins is an owner once
// chatd got a SIGHUP (its console works, and /kick in the room from a
// connection made before); a file that does not parse changes nothing; a
// key taken out is not an owner any more.
func TestAdminsFileIsReReadOnSIGHUP(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	requireSSH(t)
	dir := t.TempDir()
	first, second := makeSSHKey(t, "first"), makeSSHKey(t, "second")
	admins := filepath.Join(dir, "admins")
	writeList(t, admins, first.Pub)
	s := startChatd(t, filepath.Join(dir, "data"), "--ssh-addr", "127.0.0.1:0", "--admins", admins)
	mallory := s.JoinWithOpenSSL(t, "mallory")

	wantSSH(t, s, first, 0, []string{"banned"})
	wantSSH(t, s, second, 1, []string{"kick", "mallory", "spam"}, "permission denied")
	member := testproc.StartScreen(t, "ssh second", 200, 30, keyArgs(t, s, second, "second")...)
	member.WaitFor("members · second")
	mallory.Expect("*** second joined")
	member.Type("/kick mallory spam\r")
	member.WaitFor("permission denied")
	writeList(t, admins, first.Pub, second.Pub)
	s.Signal(syscall.SIGHUP)
	s.Expect("owners re-read")
	wantSSH(t, s, second, 0, []string{"banned"})
	// In the room too, at once, without reconnecting.
	member.Type("/kick mallory spam\r")
	mallory.Expect("kicked by second: spam")

	// A file that does not parse changes nothing.
	writeList(t, admins, second.Pub, "ssh-ed25519 not-a-key")
	s.Signal(syscall.SIGHUP)
	s.Expect("the owners file could not be re-read; the owners stay as they were")
	wantSSH(t, s, first, 0, []string{"banned"})

	// Taken out of the file: no longer an owner.
	writeList(t, admins, second.Pub)
	s.Signal(syscall.SIGHUP)
	s.Expect("owners re-read")
	wantSSH(t, s, first, 1, []string{"banned"}, "permission denied")
	wantSSH(t, s, second, 0, []string{"banned"})
}

// TestClosedRoomNobodyCanEnter: a closed room that nobody could ever
// enter (no owners, an empty allowlist, no registered account) is refused
// at start, saying why; once the store holds an account, the same flags
// start a registered-only room.
func TestClosedRoomNobodyCanEnter(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	data := t.TempDir()
	for _, policy := range []string{"registered", "allowlist"} {
		p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", data, "--tls-addr", "127.0.0.1:0", "--ssh-addr", "", "--access", policy)
		if code := p.WaitExit(); code != 1 {
			t.Errorf("--access %s with nobody to let in: exit %d, want 1", policy, code)
		}
		if out := p.Output(); !strings.Contains(out, "--access "+policy+": nobody could ever get in") {
			t.Errorf("--access %s with nobody to let in says:\n%s", policy, out)
		}
	}
	cert := makeClientCert(t, "alice")
	s := startChatd(t, data, "--ssh-addr", "")
	alice := joinWithCert(t, s, "alice", cert)
	alice.Send("/register")
	alice.Expect(`"alice" is now registered`)
	alice.Send("/quit")
	alice.WaitExit()
	s.Signal(syscall.SIGTERM)
	s.WaitExit()
	s = startChatd(t, data, "--ssh-addr", "", "--access", "registered")
	joinWithCert(t, s, "alice", cert)
}
