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
	var log logBuffer
	ts := startServerWith(t, Config{Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	term := ts.openTerminal(t, "alice")
	term.waitText("members (1)")
	term.send("\x03")
	if err := term.wait(); err != nil {
		t.Fatalf("session ended with %v", err)
	}
	term.close()
	waitFor(t, "the connection's log record", func() bool { return strings.Contains(log.String(), "connection closed") })

	joined := logRecords(t, log.String(), "joined")
	closed := logRecords(t, log.String(), "connection closed")
	if len(joined) != 1 || len(closed) != 1 {
		t.Fatalf("%d joined and %d closed records:\n%s", len(joined), len(closed), log.String())
	}
	id, _ := joined[0]["identity"].(map[string]any)
	key, _ := closed[0]["key_fingerprint"].(string)
	if joined[0]["nick"] != "alice" || id["transport"] != "ssh" || id["address"] != "127.0.0.1" ||
		!strings.HasPrefix(key, "SHA256:") || id["key_fingerprint"] != key {
		t.Errorf("joined record %v, want alice over ssh from 127.0.0.1 with key %s", joined[0], key)
	}
	if _, ok := id["cert_fingerprint"]; ok {
		t.Errorf("an SSH identity with a certificate: %v", id)
	}
}
