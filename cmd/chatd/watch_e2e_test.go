package main

import (
	"strings"
	"syscall"
	"testing"
)

// These tests check what chatd stores when it stops (student review 4).

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
