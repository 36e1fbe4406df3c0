package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"chatd/internal/testproc"
)

// These tests are a newcomer's first hour with chat, in tmux: a taken
// nickname, the labels of each way of trusting the server, a lost
// connection, and --help.

// chatIn runs chat in a 100×24 tmux pane with its own known-servers file.
func chatIn(t *testing.T, known string, args ...string) *tmuxPane {
	t.Helper()
	return startTmux(t, 100, 24, append([]string{chatBinary, "--known-servers", known}, args...)...)
}

// TestTakenNicknameOpensThePrompt: the nickname of the command line is
// taken; chat asks for another on its screen, as chatd's SSH screen does,
// and joins under it.
func TestTakenNicknameOpensThePrompt(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	holder := server.JoinWithOpenSSL(t, "alice")
	p := chatIn(t, filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", server.Addr())
	p.WaitFor(`You cannot join as "alice": nickname taken: "alice" is already in use, choose another`)
	p.WaitFor("Choose a nickname to join the chat.")
	p.TypeLine("alice2")
	p.WaitFor("chatd · 2 members · alice2 · TLS 1.3 · verified (CA)") // the count may come a frame after the nickname
	holder.Expect("*** alice2 joined")
	p.TypeLine("hello from the prompt")
	holder.Expect("<alice2> hello from the prompt")
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
	holder.Expect("*** alice2 left (quit)")
}

// TestPlainModeNicknameRefusedExits3: --plain never asks; a taken or
// invalid nickname is a clear message and exit status 3.
func TestPlainModeNicknameRefusedExits3(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	server.JoinWithOpenSSL(t, "alice")
	out, code := runChat(t, "hi\n", "--plain", "--ca", server.CertFile, "--nick", "ALICE", server.Addr())
	for _, want := range []string{`chat: the server refused the nickname "ALICE": nickname taken: "ALICE" is already in use`, "chat: choose another nickname with --nick"} {
		if code != exitNickname || !strings.Contains(out, want) {
			t.Errorf("taken nickname: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	out, code = runChat(t, "hi\n", "--plain", "--ca", server.CertFile, "--nick", "a b", server.Addr())
	if code != exitNickname || !strings.Contains(out, `--nick "a b": invalid nickname: " " is not allowed`) {
		t.Errorf("invalid nickname: exit %d, output %q", code, out)
	}
}

// TestTrustLabelsInTheStatusLine: the status line and /tls say how the
// server was trusted: "trusted on first use" in the run that accepted the
// certificate, "pinned" in the next and with --fingerprint, "verified (CA)"
// with --ca, and "NOT VERIFIED" in red with --insecure; never "verified"
// for a certificate no authority signed.
func TestTrustLabelsInTheStatusLine(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	known := filepath.Join(t.TempDir(), "known_servers")
	for _, tc := range []struct {
		name    string
		args    []string
		label   string
		explain string
	}{
		{"first use", nil, "TLS 1.3 · trusted on first use", "verification: trusted on first use: you accepted this certificate in this session"},
		{"second run", nil, "TLS 1.3 · pinned", "verification: pinned: the certificate is the one remembered in " + known},
		{"--fingerprint", []string{"--fingerprint", strings.ToLower(server.Fingerprint)}, "TLS 1.3 · pinned", "verification: pinned: the certificate is the one whose fingerprint you gave"},
		{"--ca", []string{"--ca", server.CertFile}, "TLS 1.3 · verified (CA)", "verification: verified (CA): chain verified against " + server.CertFile},
		{"--insecure", []string{"--insecure"}, "NOT VERIFIED (--insecure)", "verification: NOT VERIFIED (--insecure)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nick := strings.NewReplacer("-", "", " ", "").Replace(tc.name)
			p := chatIn(t, known, append(tc.args, "--nick", nick, server.Addr())...)
			if tc.name == "first use" {
				p.WaitFor("Trust this certificate and remember it for " + server.Addr() + "? [y/N]")
				p.TypeLine("y")
			}
			status := statusLine(p.WaitFor(tc.label))
			if !strings.Contains(status, tc.label) || (tc.name != "--ca" && strings.Contains(status, " verified")) {
				t.Errorf("status line %q, want %q and no other claim", status, tc.label)
			}
			if tc.name == "--insecure" {
				colours := p.CaptureColours()
				if !regexp.MustCompile(`48;5;160m[^\n]*NOT VERIFIED`).MatchString(colours) {
					t.Errorf("NOT VERIFIED is not on red:\n%q", statusLine(colours))
				}
			}
			p.TypeLine("/tls")
			p.waitForText(tc.explain)
			p.Key("C-c")
			if code := p.waitExit(); code != 0 {
				t.Errorf("chat exited %d after Ctrl+C", code)
			}
		})
	}
	if data, err := os.ReadFile(known); err != nil || strings.Count(string(data), "\n") != 1 {
		t.Errorf("known servers after all runs: %v %q; want the one line the first use added", err, data)
	}
}

var sgrRE = regexp.MustCompile(`\x1b\[([0-9;]*)m`)

// memberColour returns the foreground colour the member list draws nick
// in ("38;5;240"; "" for the terminal's own), from a capture with colours.
func memberColour(t *testing.T, plain, colours, nick string) string {
	t.Helper()
	plainRows, colourRows := strings.Split(plain, "\n"), strings.Split(colours, "\n")
	for i, row := range plainRows {
		if !strings.Contains(row, "│   "+nick) || i >= len(colourRows) {
			continue
		}
		cr := colourRows[i]
		at := strings.LastIndex(cr, nick)
		fg := ""
		for _, m := range sgrRE.FindAllStringSubmatch(cr[:at], -1) {
			params := strings.Split(m[1], ";")
			for j := 0; j < len(params); j++ {
				switch p := params[j]; {
				case p == "" || p == "0" || p == "39":
					fg = ""
				case p == "38" && j+2 < len(params) && params[j+1] == "5":
					fg = "38;5;" + params[j+2]
					j += 2
				case len(p) == 2 && (p[0] == '3' || p[0] == '9') && p[1] != '8':
					fg = p
				}
			}
		}
		return fg
	}
	t.Fatalf("no member list row names %s:\n%s", nick, plain)
	return ""
}

// grey is the member list's colour while the connection is down, as tmux
// writes it.
const grey = "38;5;240"

// TestDisconnectedScreenTellsTheTruth: the network is cut while chatd runs
// on; later chatd itself stops. Each time the screen greys the member list,
// drops the count, shows one status line that counts down to the next
// attempt and adds nothing to the scrollback; once back it says so in one
// line, shows what was said meanwhile and nothing twice, and is current.
func TestDisconnectedScreenTellsTheTruth(t *testing.T) {
	dataDir := t.TempDir()
	server := testproc.StartChatd(t, chatdBinary, dataDir)
	g := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	p := chatIn(t, filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", g.Addr())
	p.WaitFor("chatd · 1 member · alice")
	bob := server.JoinWithOpenSSL(t, "bob")
	bob.Send("before the cut")
	screen := p.WaitFor("bob: before the cut")
	if c := memberColour(t, screen, p.CaptureColours(), "bob"); c == grey || c == "" {
		t.Fatalf("bob is drawn in %q in the member list while connected, want his own colour", c)
	}

	// The network is cut; chatd runs on.
	g.Cut(false)
	bob.Expect("*** alice left")
	countdowns := map[string]bool{}
	screen = p.WaitUntil("two steps of the countdown", func(s string) bool {
		if st := statusLine(s); strings.Contains(st, "reconnecting in ") {
			countdowns[st] = true
		}
		return len(countdowns) >= 2
	})
	status := statusLine(screen)
	if !strings.Contains(status, "chatd · alice") || strings.Contains(status, "member") || !strings.Contains(status, "disconnected (") {
		t.Errorf("status line while away: %q", status)
	}
	if n := strings.Count(screen, "disconnected"); n != 1 {
		t.Errorf("%q is on the screen %d times, want once (the status line):\n%s", "disconnected", n, screen)
	}
	if c := memberColour(t, screen, p.CaptureColours(), "bob"); c != grey {
		t.Errorf("bob is drawn in %q in the member list while away, want grey", c)
	}
	bob.Send("while you were away")
	bob.Send("/who") // answered once the line before is stored
	bob.Expect("*** 1 member: bob")
	g.Reopen()
	screen = p.WaitFor("chatd · 2 members · alice · TLS 1.3 · verified (CA)")
	screen = p.WaitFor("bob: while you were away")
	for text, want := range map[string]int{"reconnected after": 1, "bob: before the cut": 1, "bob: while you were away": 1, "Welcome to chatd": 1, "alice joined": 1, "disconnected": 0} {
		if n := strings.Count(screen, text); n != want {
			t.Errorf("%q is on the screen %d times once back, want %d:\n%s", text, n, want, screen)
		}
	}
	if c := memberColour(t, screen, p.CaptureColours(), "bob"); c == grey || c == "" {
		t.Errorf("bob is drawn in %q in the member list once back, want his own colour", c)
	}

	// chatd stops, and starts again on the same port.
	server.Signal(syscall.SIGTERM)
	server.WaitExit()
	screen = p.WaitFor("disconnected (server shutting down); reconnecting in ")
	if c := memberColour(t, screen, p.CaptureColours(), "bob"); c != grey {
		t.Errorf("bob is drawn in %q in the member list while chatd is down, want grey", c)
	}
	restarted := testproc.StartChatd(t, chatdBinary, dataDir, "--tls-addr", ":"+server.Port)
	screen = p.WaitFor("chatd · 1 member · alice · TLS 1.3 · verified (CA)")
	if n := strings.Count(screen, "reconnected after"); n != 2 {
		t.Errorf("%d lines say it reconnected after two losses:\n%s", n, screen)
	}
	carol := restarted.JoinWithOpenSSL(t, "carol")
	p.WaitFor("chatd · 2 members · alice")
	p.TypeLine("back in business")
	carol.Expect("<alice> back in business")
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

// TestNicknameTakenWhileAwayAsksAgain: while chat was cut off, someone took
// its nickname. On the way back the screen asks for another, with the old
// one filled in, over the chat it keeps; the chat goes on under the new one.
func TestNicknameTakenWhileAwayAsksAgain(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	g := testproc.StartGate(t, "127.0.0.1:"+server.Port)
	// Without an identity, chat is known by its address alone (with one,
	// the nickname is held for its certificate: see
	// TestIdentityKeepsTheNicknameHeld).
	p := chatIn(t, filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", "--no-identity", g.Addr())
	bob := server.JoinWithOpenSSL(t, "bob")
	bob.Send("before the cut")
	p.WaitFor("bob: before the cut")
	g.Cut(false)
	bob.Expect("*** alice left")
	p.WaitFor("reconnecting in ")
	thief := server.JoinWithOpenSSL(t, "alice") // the same address: the hold is no obstacle
	g.Reopen()
	p.WaitFor(`While you were away, the server refused the nickname "alice": nickname taken`)
	p.WaitFor("nickname: alice")
	p.TypeLine("2")
	// The status line may show the new nickname a frame before the count
	// the join's member list brings: wait for both.
	p.WaitFor("chatd · 3 members · alice2 · TLS 1.3 · verified (CA)")
	p.WaitFor("bob: before the cut") // the chat it kept
	thief.Expect("*** alice2 joined")
	p.TypeLine("I am alice2 now")
	bob.Expect("<alice2> I am alice2 now")
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

// TestHelpShowsDoubleDashFlags: chat --help lists its flags as chatd does,
// --name with the argument and default, grouped, on stdout with status 0;
// every flag works with one dash or two.
func TestHelpShowsDoubleDashFlags(t *testing.T) {
	for _, arg := range []string{"--help", "-help", "-h"} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(chatBinary, arg)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("chat %s: %v, stderr %q", arg, err, stderr.String())
		}
		out := stdout.String()
		for _, want := range []string{
			"Usage:\n  chat [flags] HOST[:PORT]",
			"\nJoining:\n  --nick NICKNAME\n\t", "\n  --plain\n\t",
			"\nVerifying the server", "\n  --ca FILE\n\t", "\n  --fingerprint HEX\n\t", "\n  --known-servers FILE\n\t",
			"(default ~/.config/chatd/known_servers)", "\n  --insecure\n\t",
			"\nOther:\n  --version\n\t",
			"Exit status: 0 after /quit", "3 if --plain's nickname is invalid or taken",
			"\nYour identity (a client certificate: /register binds your nickname to it):\n  --identity FILE\n\t",
			"\n  --no-identity\n\t", "\n  --show-identity\n\t", "the server sent you away\n(kicked, banned, refused: chat says why and does not retry)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("chat %s lacks %q:\n%s", arg, want, out)
			}
		}
		if regexp.MustCompile(`(?m)^  -[a-z]`).MatchString(out) {
			t.Errorf("chat %s lists a flag with one dash:\n%s", arg, out)
		}
	}
	out, code := runChat(t, "", "--bogus", "localhost")
	if code != exitUsage || !strings.Contains(out, "Usage:") || !strings.HasSuffix(strings.TrimSpace(out), "chat: flag provided but not defined: -bogus") {
		t.Errorf("an unknown flag: exit %d, output %q", code, out)
	}

	for _, dash := range []string{"-", "--"} {
		if out, code := runChat(t, "", dash+"version"); code != 0 || !strings.HasPrefix(out, "chat ") {
			t.Errorf("%sversion: exit %d, %q", dash, code, out)
		}
	}
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	known := filepath.Join(t.TempDir(), "known")
	for _, run := range []struct {
		nick string
		args []string
	}{
		{"one", []string{"-plain", "-ca", server.CertFile, "-nick", "one", "-known-servers", known}},
		{"two", []string{"--plain", "--ca=" + server.CertFile, "--nick=two", "--known-servers", known}},
		{"three", []string{"-plain", "-fingerprint", server.Fingerprint, "-nick", "three"}},
		{"four", []string{"--plain", "--insecure", "--nick", "four", "--known-servers", known}},
	} {
		out, code := runChat(t, "/quit\n", append(run.args, server.Addr())...)
		if code != 0 || !strings.Contains(out, "*** "+run.nick+" joined") {
			t.Errorf("chat %q: exit %d, output %q", run.args, code, out)
		}
	}
	// The one run that may write the file: trust on first use, accepted.
	// Its line alone is there, and its prompt shows (no run above left a
	// pin for this server).
	p := chatIn(t, known, "--nick", "five", server.Addr())
	p.WaitFor("Trust this certificate and remember it for " + server.Addr() + "? [y/N]")
	p.TypeLine("y")
	p.WaitFor("· five · TLS 1.3 · trusted on first use")
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
	if data, err := os.ReadFile(known); err != nil || string(data) != server.Addr()+" "+server.Fingerprint+"\n" {
		t.Errorf("known servers after runs with --ca, --fingerprint, --insecure and one trust on first use: %v %q; want only the last one's line", err, data)
	}
}
