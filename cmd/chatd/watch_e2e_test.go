package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// These tests check what chatd makes of its store's changes while nobody
// talks (student review 2, 4 and 7): a NATS server lost and back, a
// stream the server lost, and a graceful stop.

// TestIdleStoreOutageIsToldAtOnce: chatd keeps its history on a real
// nats-server, which is killed while the room is idle: within a second or
// two, without anyone talking, every member is told the room is read-only,
// chatd_store_up is 0 and chatd's log names the server it lost. Once the
// server is back, the room is writable again by itself, and says so.
func TestIdleStoreOutageIsToldAtOnce(t *testing.T) {
	requireOpenSSL(t)
	bin := natsServerBinary(t)
	nats := testproc.StartNATS(t, bin, t.TempDir(), "")
	s := startChatd(t, t.TempDir(), "--nats", nats.URL(), "--metrics-addr", "127.0.0.1:0")
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Expect("*** bob joined")

	nats.Kill()
	killed := time.Now()
	alice.Expect("*** the room is read-only: storage unavailable; you can read")
	told := time.Since(killed)
	bob.Expect("*** the room is read-only: storage unavailable; you can read")
	t.Logf("members told %v after the kill", told.Round(time.Millisecond))
	if told > 3*time.Second {
		t.Errorf("members were told %v after the kill, want within a second or two", told)
	}
	if v, ok := metric(httpGet(t, s.MetricsURL+"/metrics"), "chatd_store_up"); !ok || v != 0 {
		t.Errorf("chatd_store_up = %v (%v) with the server gone", v, ok)
	}
	if out := s.Output(); !strings.Contains(out, "lost the NATS server") || !strings.Contains(out, nats.URL()) {
		t.Errorf("chatd's log does not say it lost %s:\n%s", nats.URL(), out)
	}
	bob.Send("while gone")
	bob.Expect("!!! the room is read-only: storage unavailable")

	nats = nats.Restart(t)
	back := time.Now()
	alice.Expect("*** the room is writable again: storage is back")
	bob.Expect("*** the room is writable again: storage is back")
	t.Logf("writable %v after nats-server was ready again", time.Since(back).Round(time.Millisecond))
	if v, _ := metric(httpGet(t, s.MetricsURL+"/metrics"), "chatd_store_up"); v != 1 {
		t.Errorf("chatd_store_up = %v once back", v)
	}
	alice.Send("stored after")
	bob.Expect("<alice> stored after")
	out := s.Output()
	if n := strings.Count(out, "the room is read-only: its store failed"); n != 1 {
		t.Errorf("chatd logged the read-only turn %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "outbound buffer") {
		t.Errorf("chatd's log speaks of nats.go's buffer, not of the lost connection:\n%s", out)
	}
	if !strings.Contains(out, "reconnected to the NATS server") {
		t.Errorf("chatd's log does not say it reconnected:\n%s", out)
	}
}

// TestStreamLostByTheServerIsRefusedAtStart: the NATS server comes back
// without the room's stream (an empty store): chatd, which created the
// stream there before, refuses to start, naming the server and what to do,
// and creates no stream on it.
func TestStreamLostByTheServerIsRefusedAtStart(t *testing.T) {
	requireOpenSSL(t)
	bin := natsServerBinary(t)
	nats := testproc.StartNATS(t, bin, t.TempDir(), "")
	dataDir := t.TempDir()
	s := startChatd(t, dataDir, "--nats", nats.URL())
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("remember me")
	alice.Send("/quit")
	alice.WaitExit()
	s.Signal(syscall.SIGTERM)
	s.WaitExit()
	nats.Kill()
	emptyStore := t.TempDir()
	nats = testproc.StartNATS(t, bin, emptyStore, nats.Port) // the server lost its store

	p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", dataDir, "--tls-addr", "127.0.0.1:0", "--ssh-addr", "", "--nats", nats.URL())
	if code := p.WaitExit(); code != 1 {
		t.Errorf("chatd exited %d on a server that lost its stream, want 1", code)
	}
	out := p.Output()
	for _, want := range []string{"CHATD_ROOM is not on " + nats.URL(), "restore the stream", filepath.Join(dataDir, "nats", "chatd-created-CHATD_ROOM")} {
		if !strings.Contains(out, want) {
			t.Errorf("chatd's refusal does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(emptyStore, "jetstream", "$G", "streams", "CHATD_ROOM")); err == nil {
		t.Error("the refused start created a stream on the server")
	}
}

// TestGracefulStopStoresTheLeaves: members present when chatd is stopped
// (SIGTERM) have their leaves stored, reason shutdown, so that the history
// after a restart shows them leave before they join again.
func TestGracefulStopStoresTheLeaves(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	s := startChatd(t, dataDir)
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Expect("*** bob joined")
	alice.Send("last words")
	bob.Expect("<alice> last words")
	s.Signal(syscall.SIGTERM)
	if code := s.WaitExit(); code != 0 {
		t.Fatalf("chatd exited %d on SIGTERM", code)
	}
	alice.Expect("The server is shutting down")
	if strings.Contains(alice.Output(), "alice left") || strings.Contains(alice.Output(), "bob left") {
		t.Errorf("alice was shown the leaves stored at shutdown:\n%s", alice.Output())
	}

	s = startChatd(t, dataDir)
	carol := s.JoinWithOpenSSL(t, "carol")
	carol.Send("/quit")
	carol.WaitExit()
	history := carol.Output()
	words := strings.Index(history, "<alice> last words")
	for _, want := range []string{"*** alice left (server shutting down)", "*** bob left (server shutting down)"} {
		if i := strings.Index(history, want); i < 0 || i < words {
			t.Errorf("carol's history lacks %q after alice's last words:\n%s", want, history)
		}
	}
}
