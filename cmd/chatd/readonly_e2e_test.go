package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// These tests run chatd with its history on a real nats-server process
// (built from the module chatd embeds) and stop that server under it:
// failure is visible, never silent, and chatd recovers by itself.

// natsBuild is nats-server's binary, built once for the package next to
// chatd's.
var natsBuild struct {
	once sync.Once
	bin  string
	err  error
}

// natsServerBinary returns a nats-server built from the module chatd
// uses, building it on the first call.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsBuild.once.Do(func() {
		natsBuild.bin, natsBuild.err = testproc.BuildNATS(filepath.Dir(chatdBinary))
	})
	if natsBuild.err != nil {
		t.Fatal(natsBuild.err)
	}
	return natsBuild.bin
}

// TestStoreOutageIsVisibleAndRecovers: chatd keeps its history on an
// external nats-server, which is killed: the members stay connected; a
// line is refused with the read-only notice, and every member, on openssl
// and on an SSH screen, is told once; the log and the metrics say why.
// Once the server is back on the same port and store, chatd is writable
// again by itself, everyone is told, and new lines are stored (a joiner's
// history holds them, not the refused ones).
func TestStoreOutageIsVisibleAndRecovers(t *testing.T) {
	requireOpenSSL(t)
	requireSSH(t)
	bin := natsServerBinary(t)
	nats := testproc.StartNATS(t, bin, t.TempDir(), "")
	s := startChatd(t, t.TempDir(), "--nats", nats.URL(), "--ssh-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Expect("*** bob joined")
	carol := testproc.StartScreen(t, "ssh carol", 100, 30, sshArgs(t, s, "carol")...)
	carol.WaitFor("chatd · 3 members · carol")
	bob.Expect("*** carol joined")
	alice.Expect("*** carol joined")
	erin := testproc.StartScreen(t, "chat erin", 100, 24, chatBinary, "--ca", s.CertFile, "--nick", "erin",
		"--known-servers", filepath.Join(t.TempDir(), "known"), s.Addr())
	erin.WaitFor("chatd · 4 members · erin")
	alice.Expect("*** erin joined")
	alice.Send("stored before")
	bob.Expect("<alice> stored before")
	carol.WaitFor("alice: stored before")
	erin.WaitFor("alice: stored before")

	nats.Kill()
	killed := time.Now()
	alice.Send("lost during")
	alice.Expect("*** " + "the room is read-only: storage unavailable; you can read")
	t.Logf("read-only %v after the kill", time.Since(killed).Round(time.Millisecond))
	alice.Expect("!!! the room is read-only: storage unavailable")
	bob.Expect("*** the room is read-only: storage unavailable; you can read")
	carol.WaitFor("the room is read-only: storage unavailable")
	bob.Send("bob tries")
	bob.Expect("!!! the room is read-only: storage unavailable")
	carol.Type("carol tries\r") // refused on her screen too: the notice, then the error
	waitCount(t, carol, "the room is read-only: storage unavailable", 2)
	erin.WaitFor("the room is read-only: storage unavailable") // the bundled client
	erin.Type("erin tries\r")
	waitCount(t, erin, "the room is read-only: storage unavailable", 2)
	page := httpGet(t, s.MetricsURL+"/metrics")
	if v, ok := metric(page, "chatd_store_up"); !ok || v != 0 {
		t.Errorf("chatd_store_up = %v (%v) while read-only", v, ok)
	}
	if v, _ := metric(page, `chatd_store_read_only_total`); v != 1 {
		t.Errorf("chatd_store_read_only_total = %v", v)
	}
	up, _ := metric(page, `chatd_store_failures_total{reason="unreachable"}`)
	to, _ := metric(page, `chatd_store_failures_total{reason="timeout"}`)
	if up+to < 1 {
		t.Errorf("no store failure counted as unreachable or timeout:\n%s", grepLines(page, "chatd_store"))
	}

	nats = nats.Restart(t)
	restarted := time.Now()
	alice.Expect("*** the room is writable again: storage is back")
	t.Logf("writable %v after nats-server was ready again (read-only for %v)",
		time.Since(restarted).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	bob.Expect("*** the room is writable again: storage is back")
	carol.WaitFor("the room is writable again")
	erin.WaitFor("the room is writable again")
	alice.Send("stored after")
	bob.Expect("<alice> stored after")
	carol.WaitFor("alice: stored after")
	if v, _ := metric(httpGet(t, s.MetricsURL+"/metrics"), "chatd_store_up"); v != 1 {
		t.Errorf("chatd_store_up = %v once back", v)
	}

	dave := s.JoinWithOpenSSL(t, "dave")
	dave.Send("/quit")
	dave.WaitExit()
	history := dave.Output()
	for _, want := range []string{"<alice> stored before", "<alice> stored after"} {
		if !strings.Contains(history, want) {
			t.Errorf("dave's history lacks %q:\n%s", want, history)
		}
	}
	for _, lost := range []string{"lost during", "bob tries", "carol tries", "erin tries"} {
		if strings.Contains(history, lost) {
			t.Errorf("dave was shown %q, which was never stored:\n%s", lost, history)
		}
	}
	// Nor was any member watching live shown a refused line (review
	// finding 8); a member's own refused line may stay in her input.
	for nick, screen := range map[string]func() string{"bob": bob.Output, "carol": carol.Text, "erin": erin.Text} {
		for _, lost := range []string{"lost during", "bob tries", "carol tries", "erin tries"} {
			if !strings.HasPrefix(lost, nick) && strings.Contains(screen(), lost) {
				t.Errorf("%s was shown %q live, which was never stored:\n%s", nick, lost, screen())
			}
		}
	}
	out := s.Output()
	if n := strings.Count(out, "the room is read-only: its store failed"); n != 1 {
		t.Errorf("chatd logged the read-only turn %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "the room is writable again: its store is back"); n != 1 {
		t.Errorf("chatd logged the recovery %d times, want once:\n%s", n, out)
	}
}

// TestStoreStallNeverShowsARefusedLine: chatd's nats-server is stopped
// (SIGSTOP) while a member says a line: the append times out, the room
// turns read-only and the sender is told the line was refused. The server
// then runs again (SIGCONT) and stores the line it had been sent; chatd
// deletes it before the room is writable again: no member watching live,
// and no later joiner, is ever shown it (review findings 2 and 8).
func TestStoreStallNeverShowsARefusedLine(t *testing.T) {
	requireOpenSSL(t)
	bin := natsServerBinary(t)
	nats := testproc.StartNATS(t, bin, t.TempDir(), "")
	s := startChatd(t, t.TempDir(), "--nats", nats.URL())
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Expect("*** bob joined")
	alice.Send("stored before")
	bob.Expect("<alice> stored before")

	nats.Pause(t) // or the line might be stored before it stops
	alice.Send("lost in the stall")
	// After the store's timeout (5 s), which a loaded machine stretches.
	if !waitOutput(alice, "!!! the room is read-only: storage unavailable", 3*testproc.Wait) {
		t.Fatalf("alice's line was not refused; alice printed:\n%s\nbob printed:\n%s", alice.Output(), bob.Output())
	}
	bob.Expect("*** the room is read-only: storage unavailable")
	nats.Resume()
	alice.Expect("*** the room is writable again: storage is back")
	bob.Expect("*** the room is writable again: storage is back")
	alice.Send("stored after")
	bob.Expect("<alice> stored after")

	got := said(replayed(t, s, "carol"))
	if want := []string{"<alice> stored before", "<alice> stored after"}; !slices.Equal(got, want) {
		t.Errorf("carol's history after the stall: %q, want %q", got, want)
	}
	if strings.Contains(bob.Output(), "lost in the stall") {
		t.Errorf("bob was shown the refused line live:\n%s", bob.Output())
	}
	if out := s.Output(); !strings.Contains(out, "deleted events stored after their append had failed") {
		t.Errorf("chatd does not log that it deleted the line stored after its append failed:\n%s", out)
	}
}

// waitOutput waits up to d until p has printed want, and reports whether
// it did.
func waitOutput(p *testproc.Process, want string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !strings.Contains(p.Output(), want) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// waitCount waits until screen shows want at least n times.
func waitCount(t *testing.T, screen *testproc.Screen, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for strings.Count(screen.Text(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the screen does not show %q %d times:\n%s", want, n, screen.Text())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStoreUnreachableAtStart: with --nats on a server that does not
// answer, chatd does not start: it exits non-zero, naming the URL and what
// to do (a service manager restarts it).
func TestStoreUnreachableAtStart(t *testing.T) {
	url := "nats://127.0.0.1:1" // nothing listens on port 1
	p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", t.TempDir(), "--tls-addr", "127.0.0.1:0", "--ssh-addr", "", "--nats", url)
	if code := p.WaitExit(); code != 1 {
		t.Errorf("chatd exited %d, want 1", code)
	}
	out := p.Output()
	for _, want := range []string{url, "does not start without it", "start the NATS server or check --nats"} {
		if !strings.Contains(out, want) {
			t.Errorf("chatd's error lacks %q:\n%s", want, out)
		}
	}
}

// TestCorruptStoreIsAClearStartError: an embedded store whose stream the
// server cannot load refuses the start with an error naming the store
// and where its files were kept; the store is left as it was.
func TestCorruptStoreIsAClearStartError(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	s := startChatd(t, dataDir)
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("remember me")
	alice.Send("/quit")
	alice.WaitExit()
	s.Signal(syscall.SIGTERM)
	s.WaitExit()
	store := filepath.Join(dataDir, "nats")
	meta := filepath.Join(store, "jetstream", "$G", "streams", "CHATD_ROOM", "meta.inf")
	garbage := []byte("\x00garbage{{{")
	if err := os.WriteFile(meta, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", dataDir, "--tls-addr", "127.0.0.1:0", "--ssh-addr", "")
	if code := p.WaitExit(); code != 1 {
		t.Errorf("chatd exited %d on a corrupt store, want 1", code)
	}
	out := p.Output()
	if !strings.Contains(out, "chatd: the room's store: ") || !strings.Contains(out, store) || !strings.Contains(out, "could not load it") {
		t.Errorf("chatd's error does not name the store and the damage:\n%s", out)
	}
	if b, err := os.ReadFile(meta); err != nil || string(b) != string(garbage) {
		t.Errorf("the corrupt file was changed: %.40q, %v", b, err)
	}
	if entries, _ := filepath.Glob(filepath.Join(store, "jetstream", "$G", "streams", "CHATD_ROOM", "msgs", "*")); len(entries) == 0 {
		t.Error("the stream's messages were removed")
	}
}

// TestDiskFullIsVisibleAndRecovers: chatd's embedded store is on a small
// filesystem that fills up: the room turns read-only (members told, the
// metric says why: a write error); once space is freed, chatd is writable
// again by itself. Skipped where a tmpfs cannot be mounted.
func TestDiskFullIsVisibleAndRecovers(t *testing.T) {
	requireOpenSSL(t)
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root and mount permission): %v %s", err, out)
	}
	t.Cleanup(func() { // after chatd is stopped (cleanups run last first)
		if err := exec.Command("umount", disk).Run(); err != nil {
			exec.Command("umount", "-l", disk).Run()
		}
	})
	s := startChatd(t, filepath.Join(disk, "data"), "--metrics-addr", "127.0.0.1:0")
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Send("stored before")
	bob.Expect("<alice> stored before")

	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 64<<10); ; {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	long := strings.Repeat("z", 1500)
	for range 20 { // the first few may still fit in the last block's page
		alice.Send(long)
	}
	alice.Expect("!!! the room is read-only: storage unavailable")
	bob.Expect("*** the room is read-only: storage unavailable")
	page := httpGet(t, s.MetricsURL+"/metrics")
	if v, _ := metric(page, "chatd_store_up"); v != 0 {
		t.Errorf("chatd_store_up = %v on a full disk", v)
	}
	waitMetric(t, s, `chatd_store_failures_total{reason="write"}`)

	os.Remove(filler)
	alice.Expect("*** the room is writable again: storage is back")
	bob.Expect("*** the room is writable again: storage is back")
	alice.Send("stored after")
	bob.Expect("<alice> stored after")
}

// waitMetric waits until series is at least 1 on chatd's metrics page.
func waitMetric(t *testing.T, s *testproc.Chatd, series string) {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for {
		page := httpGet(t, s.MetricsURL+"/metrics")
		if v, _ := metric(page, series); v >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never counted:\n%s", series, grepLines(page, "chatd_store"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
