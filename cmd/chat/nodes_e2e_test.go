package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"chatd/internal/testproc"
)

// TestSeveralServersOnTheCommandLine: chat takes the nodes of one room as
// HOST[:PORT],HOST[:PORT],...; an empty one, or too many, is a mistake of
// the command line; --help says how several are used and trusted.
func TestSeveralServersOnTheCommandLine(t *testing.T) {
	var out, errs bytes.Buffer
	o, err := parseOptions([]string{"--ca", "ca.pem", "a:6697, b ,[::1]"}, &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:6697", "b:" + defaultPort, "[::1]:" + defaultPort}; !slices.Equal(o.addrs, want) {
		t.Errorf("addresses %q, want %q", o.addrs, want)
	}
	many := strings.TrimSuffix(strings.Repeat("h,", 17), ",")
	for _, bad := range []string{"a,,b", "a,", many, "a:99999"} {
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{bad}, strings.NewReader(""), &out, &stderr); code != exitUsage {
			t.Errorf("chat %s: exit %d, want %d:\n%s", bad, code, exitUsage, stderr.String())
		}
	}
	out.Reset()
	run(context.Background(), []string{"--help"}, strings.NewReader(""), &out, &errs)
	for _, want := range []string{"HOST1[:PORT],HOST2[:PORT],...", "tries the next one first", "certificate whose names cover them all", "--shuffle"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestPlainJoinsThroughTheNextServer: the first server named does not
// answer; chat says so and joins through the next.
func TestPlainJoinsThroughTheNextServer(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	alice := server.JoinWithOpenSSL(t, "alice")
	dead := deadAddr(t)
	out, code := runChat(t, "hello through the second\n", "--plain", "--ca", server.CertFile, "--nick", "bob",
		"--known-servers", filepath.Join(t.TempDir(), "known"), dead+","+server.Addr())
	alice.Expect("<bob> hello through the second")
	for _, want := range []string{"chat: could not join through " + dead + " (connection refused); trying the next server", "*** bob joined"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

// TestScreenFailsOverToTheNextServer: chat on its screen, given two
// addresses of the room (two gates in front of one chatd, as two nodes
// sharing one log), loses the first: it rejoins through the second, says
// so and names it on the status line, and shows what was said meanwhile
// once and nothing twice.
func TestScreenFailsOverToTheNextServer(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	gA, gB := testproc.StartGate(t, "127.0.0.1:"+server.Port), testproc.StartGate(t, "127.0.0.1:"+server.Port)
	p := chatIn(t, filepath.Join(t.TempDir(), "known"), "--ca", server.CertFile, "--nick", "alice", gA.Addr()+","+gB.Addr())
	p.WaitFor("chatd · 1 member · alice · " + gA.Addr() + " · TLS 1.3 · verified (CA)")
	bob := server.JoinWithOpenSSL(t, "bob")
	bob.Send("before the cut")
	p.WaitFor("bob: before the cut")

	gA.Cut(false)
	bob.Expect("*** alice left")
	bob.Send("while you were away")
	p.WaitFor("chatd · 2 members · alice · " + gB.Addr() + " · TLS 1.3 · verified (CA)")
	screen := p.WaitFor("bob: while you were away")
	for text, want := range map[string]int{"reconnected to " + gB.Addr() + " after": 1, "bob: before the cut": 1, "bob: while you were away": 1} {
		if n := strings.Count(screen, text); n != want {
			t.Errorf("%q is on the screen %d times once back, want %d:\n%s", text, n, want, screen)
		}
	}
	p.TypeLine("back through the second")
	bob.Expect("<alice> back through the second")
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}

// TestTrustOnFirstUseOnceForTheNodes: the nodes of one room share one
// self-signed certificate; chat asks about it once, for the first node,
// and fails over to another later without asking again, trusting and
// remembering it there because it is the same certificate.
func TestTrustOnFirstUseOnceForTheNodes(t *testing.T) {
	server := testproc.StartChatd(t, chatdBinary, t.TempDir())
	gA, gB := testproc.StartGate(t, "127.0.0.1:"+server.Port), testproc.StartGate(t, "127.0.0.1:"+server.Port)
	known := filepath.Join(t.TempDir(), "known")
	p := chatIn(t, known, "--nick", "alice", gA.Addr()+","+gB.Addr())
	p.WaitFor("Trust this certificate and remember it for " + gA.Addr() + "? [y/N]")
	p.TypeLine("y")
	p.WaitFor("chatd · 1 member · alice · " + gA.Addr() + " · TLS 1.3 · trusted on first use")
	bob := server.JoinWithOpenSSL(t, "bob")
	p.WaitFor("chatd · 2 members")

	gA.Cut(false)
	bob.Expect("*** alice left")
	screen := p.WaitFor("chatd · 2 members · alice · " + gB.Addr() + " · TLS 1.3 · trusted on first use")
	if strings.Contains(screen, "skipped") || !strings.Contains(screen, "reconnected to "+gB.Addr()) {
		t.Errorf("failing over to the other node:\n%s", screen)
	}
	store, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*testproc.Gate{gA, gB} {
		if want := g.Addr() + " " + server.Fingerprint; !strings.Contains(string(store), want) {
			t.Errorf("known servers lack %q:\n%s", want, store)
		}
	}
	if n := strings.Count(string(store), "\n"); n != 2 {
		t.Errorf("known servers hold %d lines, want 2:\n%s", n, store)
	}
	p.Key("C-c")
	if code := p.waitExit(); code != 0 {
		t.Errorf("chat exited %d after Ctrl+C", code)
	}
}
