package sshgw

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// logRecords returns the JSON records of log with the message msg.
func logRecords(t *testing.T, log string, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(log) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestSSHIdentityIsLoggedAtJoin: an SSH member's identity, its transport,
// address and the fingerprint of the key it signed in with, is logged when
// it joins; the key is the one the connection's record names.
func TestSSHIdentityIsLoggedAtJoin(t *testing.T) {
	checkGoroutines(t)
	joined, closed := joinAndLeaveLogged(t, Config{})
	id, _ := joined["identity"].(map[string]any)
	key, _ := closed["key_fingerprint"].(string)
	if joined["nick"] != "alice" || id["transport"] != "ssh" || id["address"] != "127.0.0.1" ||
		!strings.HasPrefix(key, "SHA256:") || id["key_fingerprint"] != key {
		t.Errorf("joined record %v, want alice over ssh from 127.0.0.1 with key %s", joined, key)
	}
	if _, ok := id["cert_fingerprint"]; ok {
		t.Errorf("an SSH identity with a certificate: %v", id)
	}
}

// joinAndLeaveLogged runs a server with cfg and a JSON log, has alice (who
// offers a key) join over SSH and leave with Ctrl+C, and returns the
// log's "joined" and "connection closed" records, one of each.
func joinAndLeaveLogged(t *testing.T, cfg Config) (joined, closed map[string]any) {
	t.Helper()
	var log logBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	ts := startServerWith(t, cfg)
	term := ts.openTerminal(t, "alice")
	term.waitText("members (1)")
	term.send("\x03")
	if err := term.wait(); err != nil {
		t.Fatalf("session ended with %v", err)
	}
	term.close()
	waitFor(t, "the connection's log record", func() bool { return strings.Contains(log.String(), "connection closed") })
	joins := logRecords(t, log.String(), "joined")
	closes := logRecords(t, log.String(), "connection closed")
	if len(joins) != 1 || len(closes) != 1 {
		t.Fatalf("%d joined and %d closed records:\n%s", len(joins), len(closes), log.String())
	}
	return joins[0], closes[0]
}
