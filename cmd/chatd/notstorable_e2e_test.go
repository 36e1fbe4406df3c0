package main

import (
	"strings"
	"testing"
	"time"
)

// TestGrownLineKeepsTheRoomWritable: a line within --max-line that
// cleaning makes longer ("\xffa" x 1024: 2048 bytes, 4096 once each
// invalid byte is a 3-byte U+FFFD), sent over openssl to chatd with its
// embedded store, is refused to its sender as too long; a /quit with a
// parting message that grows to just under the limit is stored. The room
// never turns read-only: the other member
// is never shown a read-only notice, sees the next line, and the metrics
// count no store failure.
func TestGrownLineKeepsTheRoomWritable(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0")
	mallory := s.JoinWithOpenSSL(t, "mallory")
	bob := s.JoinWithOpenSSL(t, "bob")
	mallory.Expect("*** bob joined")
	line := strings.Repeat("\xffa", 1024)
	for range 3 {
		mallory.Send(line)
		mallory.Expect("line too long once cleaned")
	}
	mallory.Send("after the long lines")
	bob.Expect("<mallory> after the long lines")
	mallory.Send("/quit " + line[:1000]) // 2006 bytes once cleaned: within the limit, and stored

	bob.Expect("*** mallory left")
	time.Sleep(200 * time.Millisecond) // a read-only notice would be on its way
	if out := bob.Output(); strings.Contains(out, "read-only") || strings.Contains(out, "writable again") {
		t.Errorf("bob was told of the store:\n%s", out)
	}
	page := httpGet(t, s.MetricsURL+"/metrics")
	if v, _ := metric(page, "chatd_store_read_only_total"); v != 0 {
		t.Errorf("chatd_store_read_only_total = %v", v)
	}
	if v, ok := metric(page, "chatd_store_up"); !ok || v != 1 {
		t.Errorf("chatd_store_up = %v (%v)", v, ok)
	}
	for line := range strings.Lines(grepLines(page, "chatd_store_failures_total{")) {
		if !strings.HasSuffix(strings.TrimSpace(line), " 0") {
			t.Errorf("a store failure counted: %s", line)
		}
	}
	if v, _ := metric(page, `chatd_rejected_lines_total{reason="too long"}`); v != 3 {
		t.Errorf(`chatd_rejected_lines_total{reason="too long"} = %v, want 3`, v)
	}
}
